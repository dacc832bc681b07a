/**
 * Checks of what an operator types in the hot-add wizard, as they type: the host path of a disk,
 * a MAC address, a bridge. Each answers in one line what is wrong or what was found, so the field can
 * say it right under itself. Nothing here changes anything.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { inspectHostPath } from '../actions/host.js';
import type { RuntimeFile } from '../runtime/types.js';

export interface FieldCheck {
  /** Whether the value can be used as it is. */
  ok: boolean;
  /** One line for the operator: what is wrong, or what was found (`regular file, 8 MiB`). */
  message: string;
}

const MIB = 1024 * 1024;

function sizeText(bytes: number): string {
  if (bytes >= 1024 * MIB) return `${(bytes / (1024 * MIB)).toFixed(1)} GiB`;
  if (bytes >= MIB) return `${Math.round(bytes / MIB)} MiB`;
  return `${bytes} bytes`;
}

/** Syntax only (no file system access): why `p` cannot be a disk path, or null. */
export function diskPathSyntaxProblem(p: string): string | null {
  if (p === '') return 'enter the host path of the disk: a block device (/dev/…) or a raw image file';
  if (p.includes('\0') || /[\r\n]/.test(p)) return 'the path holds a control character';
  if (!path.isAbsolute(p)) return 'use an absolute path (QEMU opens it as given, from its own directory)';
  return null;
}

/**
 * Whether `p` can be hot-added as a disk of type `diskType` to the instance of `rf`: it exists, is
 * a block device or a regular file (scsi-block: a block device; scsi-generic: a character device),
 * and is not already one of the instance's disks (QEMU would refuse the second writer).
 */
export async function checkDiskPath(p: string, diskType: string, rf?: RuntimeFile): Promise<FieldCheck> {
  const syntax = diskPathSyntaxProblem(p);
  if (syntax) return { ok: false, message: syntax };
  const normal = path.normalize(p);
  const same = rf?.disks.find((d) => path.normalize(d.link) === normal || (d.uri !== null && d.uri === p));
  if (same) return { ok: false, message: `already disk/${same.index} of ${rf!.instance}: QEMU would refuse a second writer` };
  const info = await inspectHostPath(p);
  switch (info.type) {
    case 'missing':
      return { ok: false, message: `${info.error ?? 'does not exist'}` };
    case 'directory':
      return { ok: false, message: 'is a directory: give a block device or a raw image file' };
    case 'other':
      return { ok: false, message: 'is neither a block device nor a regular file' };
    case 'block':
      if (diskType === 'scsi-generic') return { ok: false, message: 'scsi-generic needs a SCSI generic character device (/dev/sgN), this is a block device' };
      return { ok: true, message: 'block device' };
    case 'char':
      if (diskType === 'scsi-generic') return { ok: true, message: 'character device (SCSI generic)' };
      return { ok: false, message: 'is a character device: only scsi-generic takes one (/dev/sgN)' };
    case 'file':
      if (diskType === 'scsi-block') return { ok: false, message: 'scsi-block passes a host SCSI disk through and needs a block device (/dev/sdX), not a file' };
      if (diskType === 'scsi-generic') return { ok: false, message: 'scsi-generic needs a SCSI generic character device (/dev/sgN), not a file' };
      if (info.sizeBytes === 0) return { ok: true, message: 'regular file, empty (0 bytes): the guest sees a disk of size 0' };
      return { ok: true, message: `regular file, ${sizeText(info.sizeBytes ?? 0)}` };
    default: {
      const never: never = info.type;
      return { ok: false, message: `unexpected path type ${String(never)}` };
    }
  }
}

const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

/** A MAC address for a new NIC; empty means "let plugboard generate one". */
export function checkMac(mac: string): FieldCheck {
  if (mac === '') return { ok: true, message: 'empty: a fresh MAC address is generated' };
  if (!MAC_RE.test(mac)) return { ok: false, message: 'six hex pairs separated by ":", like aa:00:00:12:34:56' };
  const first = Number.parseInt(mac.slice(0, 2), 16);
  if (first & 1) return { ok: false, message: 'a multicast address (lowest bit of the first byte set): a NIC needs a unicast one' };
  if (/^(?:00:){5}00$/.test(mac)) return { ok: false, message: 'the all-zero address is not a NIC address' };
  return { ok: true, message: 'unicast MAC address' };
}

/** Linux interface names: 1–15 characters, no '/', no whitespace, not '.' or '..'. */
export function checkLink(link: string): FieldCheck {
  if (link === '') return { ok: true, message: "empty: the instance's nicparams default (as Ganeti would)" };
  if (link.length > 15) return { ok: false, message: `${link.length} characters: a Linux interface name has at most 15` };
  if (/[\s/:]/.test(link) || link === '.' || link === '..') return { ok: false, message: "not a Linux interface name (no spaces, '/' or ':')" };
  return { ok: true, message: `bridge ${link}` };
}

/**
 * Completion of a path being typed: the entries of its directory that start with what follows the
 * last '/'. Directories end in '/'. At most `limit` entries, sorted; [] when the directory cannot be read.
 */
export async function completePath(prefix: string, limit = 50): Promise<string[]> {
  if (!prefix.startsWith('/')) return [];
  const slash = prefix.lastIndexOf('/');
  const dir = prefix.slice(0, slash + 1);
  const stem = prefix.slice(slash + 1);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (!e.name.startsWith(stem)) continue;
    if (stem === '' && e.name.startsWith('.')) continue;
    out.push(`${dir}${e.name}${e.isDirectory() ? '/' : ''}`);
  }
  out.sort();
  return out.slice(0, limit);
}

/** The longest common prefix of `items` ('' for none). */
export function commonPrefix(items: readonly string[]): string {
  if (items.length === 0) return '';
  let p = items[0]!;
  for (const s of items) {
    let i = 0;
    while (i < p.length && i < s.length && p[i] === s[i]) i++;
    p = p.slice(0, i);
  }
  return p;
}
