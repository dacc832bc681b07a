/**
 * The migration dry-run: start a second QEMU from an instance's runtime file, paused and waiting
 * for an incoming migration (`-incoming defer`), and compare its device layout with the running
 * instance's. A live migration matches device state by place (PCI address, SCSI target), so every
 * difference found here is a migration that would fail (FACTS "Migration").
 *
 * The check QEMU runs on a production node beside the live instance, so it must not touch anything
 * of it. From the runtime file's command line (`kvm_cmd`, upgraded as Ganeti loads it, plus the
 * NIC and disk options Ganeti adds) it:
 * - drops `-daemonize`, `-pidfile` (it would overwrite the instance's pid file), `-monitor`, `-qmp`
 *   (its own QMP socket lives in a private temp dir), `-D`/`-trace` (log files), `-vnc`/`-spice`/
 *   `-display`/`-nographic` (ports, sockets), `-gdb`/`-s`, `-runas`, `-chroot`, `-incoming`,
 *   `-loadvm`, `-snapshot`, `-writeconfig`, `-mem-path`/`-mem-prealloc`/`-overcommit`, `-S`;
 * - replaces every character device backend by `null` (`-chardev null,id=SAME`, `-serial null`,
 *   `-parallel null`…), keeping their number, so that the serial ports are the same;
 * - replaces every disk backend by `null-co` with the same drive id / node name (`-drive
 *   if=none,id=ID,driver=null-co,read-zeroes=on`, `-blockdev driver=null-co,node-name=ID,…`), also
 *   cdroms, floppies, pflash and the `-hda`-style shorthands: no image of the instance is opened (no
 *   lock taken, nothing read); a regular file's size is kept (pflash needs it);
 * - puts every NIC on a `user` netdev (no taps, no bridges, no host forwarding), also `-net`/`-nic`;
 * - `-name NAME-plugboard-check` (never mistaken for the instance by its `-name`);
 * - memory: `-m 64` (memory size does not change the device layout), unless NUMA nodes, memory
 *   backends or DIMM slots need the real size: then kvm_cmd's `-m` stays (paused, never touched:
 *   QEMU does not allocate it), file/memfd backends become RAM backends;
 * - the accelerator: KVM when the command line asks for it and /dev/kvm is usable, else TCG (then
 *   `-cpu host` becomes `-cpu max`); the accelerator does not change the device layout;
 * - refuses (RefusedError, nothing started) what cannot run twice or be made harmless: host device
 *   pass-through (`vfio-*`, `vhost-*`, `usb-host`, `pci-assign`, `ivshmem*`, `virtio-input-host`,
 *   `u2f-passthru`), `-tpmdev`, `-readconfig`, `-set`, `-add-fd`.
 * `scsi-block`/`scsi-generic` need a real SCSI device: the check starts them as `scsi-hd` at the
 * same place and compares their driver as written (noted in the result).
 *
 * The check uses the instance's QMP socket briefly (connect → probe → close) and always stops its
 * QEMU and removes its temp dir, on errors and aborts too.
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { access, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { InputError, messageOf, PlugboardError, RefusedError } from '../../errors.js';
import { canonicalDriver, isPciDriver } from '../../bus/controllers.js';
import { computeDrift, type Drift } from '../../live/drift.js';
import { readPending } from '../../live/pending.js';
import { probeLive, type LiveState, type QmpExecutor } from '../../live/probe.js';
import { withQmp } from '../../qmp/client.js';
import { QmpAbortedError } from '../../qmp/errors.js';
import { loadRuntimeFile } from '../../runtime/load.js';
import { qmpSocketPath, runtimeFilePath, validateInstanceName } from '../../runtime/root.js';
import type { RuntimeFile } from '../../runtime/types.js';
import { type OptsPair, optsGet, parseOptsValue, parseQemuArgv } from '../../qemu/argv.js';
import { launchQemu, type QemuHandle } from '../../qemu/launch.js';
import { diskOptions, nicOptions, toArgv, upgradedKvmCmd, userNetdev } from '../../qemu/options.js';

// =============================================================================================
// Types

export type Accel = 'kvm' | 'tcg';

export interface MigrationCheckOptions {
  signal?: AbortSignal;
  /** The whole check, from reading the runtime file to the check QEMU gone (default 30000 ms). */
  timeoutMs?: number;
  /** Return the check QEMU's log (`-D`) and stderr in the result (`log`). Default false. */
  keepLog?: boolean;
  /** `auto` (default): KVM when the command line asks for it and /dev/kvm is usable, else TCG. */
  accel?: 'auto' | Accel;
  /** The QEMU binary of the check (default: the runtime file's kvm_cmd[0], as a migration target has). */
  binary?: string;
  /** Where the private temp dir is made (default os.tmpdir()). */
  tmpDir?: string;
  /** How long the instance's QMP socket may take to greet before it counts as busy (default 1000 ms). */
  greetingTimeoutMs?: number;
}

/** Where a device is, on one side of the comparison. */
export interface LayoutPlace {
  /** QEMU type (`virtio-blk-pci`, `lsi53c895a`…) when known: devices with an id, `-device`s without one on pci.0. */
  driver: string | undefined;
  /** In the operator's words: `slot 0xd`, `slot 0x1e → slot 0x1 function 2`, `scsi.0 target 2`. */
  address: string;
  pci?: { path: PciHop[]; vendorId: number; deviceId: number; classCode: number; classDesc: string | undefined };
  scsi?: { bus: string; channel: number; target: number; lun: number };
}

export interface PciHop {
  /** Root bus number for the first hop (0 = `pci.0`); later hops are behind bridges. */
  bus?: number;
  slot: number;
  function: number;
}

export type LayoutDifferenceCode =
  /** QEMU has it, a QEMU started from the runtime file would not. */
  | 'missing-from-target'
  /** A QEMU started from the runtime file would have it, the running QEMU does not. */
  | 'extra-in-target'
  /** Both have it, at different places. */
  | 'moved'
  /** Both have it at the same id or place, as different devices. */
  | 'driver-differs'
  /** Same place, same driver, but other PCI vendor/device/class ids (device properties differ). */
  | 'pci-id-differs'
  /** A different number of devices without id of a non-PCI type (USB tablet, …). */
  | 'count-differs';

export interface LayoutDifference {
  code: LayoutDifferenceCode;
  /** The device: its id, or `slot 0x2 (VGA controller 1234:1111)` for a device without id. */
  what: string;
  /** Where the running QEMU has it (null: it does not). */
  live: LayoutPlace | null;
  /** Where a QEMU started from the runtime file has it (null: it does not). */
  target: LayoutPlace | null;
  /** One line for the operator. */
  message: string;
}

export interface MigrationCheckResult {
  instance: string;
  /** No drift and no layout difference: a migration target started from the runtime file fits. */
  ok: boolean;
  /** The check QEMU has the same devices at the same places as the running QEMU. */
  layoutOk: boolean;
  differences: LayoutDifference[];
  /** The runtime file against the running QEMU (the same as `show --live` reports). */
  drift: Drift;
  /** What was compared. */
  compared: { pciFunctions: number; scsiDevices: number; devicesWithId: number };
  /** What the check did differently from a real target, and what it could not compare. */
  notes: string[];
  accel: Accel;
  /** The check QEMU's command line (binary first). */
  commandLine: string[];
  /** Wall time of the whole check. */
  durationMs: number;
  timings: { probeInstanceMs: number; startMs: number; probeCheckMs: number; stopMs: number };
  /** With `keepLog`: the check QEMU's `-D` log and stderr. */
  log?: string;
}

/** The check could not be made or did not finish (timeout, the check QEMU failed to start…). */
export class MigrationCheckError extends PlugboardError {
  override name = 'MigrationCheckError';
  constructor(
    message: string,
    /** The check QEMU's log and stderr, when it got that far. */
    readonly log?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const CHECK_NAME_SUFFIX = '-plugboard-check';
export const DEFAULT_CHECK_TIMEOUT_MS = 30_000;
/** Memory of the check QEMU (MiB): the device layout does not depend on it. */
export const CHECK_MEMORY_MB = 64;

// =============================================================================================
// The check QEMU's command line

export interface CheckArgvOptions {
  accel?: 'auto' | Accel;
  binary?: string;
  /** Whether /dev/kvm can be opened read-write (default: checked now). */
  kvmUsable?: boolean;
  /** Size in bytes of a regular file (null-co `size=`), undefined otherwise. Default: stat. */
  fileSize?: (file: string) => Promise<number | undefined>;
}

export interface CheckArgv {
  binary: string;
  accel: Accel;
  /** `-m` for the launcher; kvm_cmd's own `-m` stays in `argv` when `keepsMemory`. */
  memoryMb: number;
  keepsMemory: boolean;
  /** QEMU arguments after the launcher's own (`-machine pc,accel=…`, `-name`, `-m`, `-S`, `-display none`, `-qmp`, `-D`). */
  argv: string[];
  /** Devices the check starts with another driver than the file's: id → the file's driver. */
  substituted: Record<string, string>;
  notes: string[];
}

/** Options dropped: host-side only (no device of the guest), or they would touch the instance's files and ports. */
const DROPPED = new Set([
  'daemonize', 'pidfile', 'S', 'incoming', 'qmp', 'qmp-pretty', 'monitor', 'vnc', 'spice', 'display', 'nographic',
  'curses', 'sdl', 'full-screen', 'portrait', 'alt-grab', 'ctrl-grab', 'no-frame', 'show-cursor', 'D', 'trace',
  'gdb', 's', 'runas', 'chroot', 'run-with', 'loadvm', 'snapshot', 'writeconfig', 'mem-path', 'mem-prealloc',
  'overcommit', 'name', 'enable-kvm', 'disable-kvm', 'no-kvm', 'accel', 'preconfig', 'qtest', 'qtest-log',
]);

/** Options the check cannot make harmless: it refuses to start. */
const REFUSED: Readonly<Record<string, string>> = {
  readconfig: 'reads devices from a file plugboard cannot make safe',
  set: 'changes options after the fact, which plugboard cannot make safe',
  'add-fd': 'passes file descriptors only Ganeti holds',
  tpmdev: 'uses the host TPM or a TPM emulator that serves one QEMU only',
};

/** Device drivers that take a host resource a second QEMU must not (or cannot) take. */
const REFUSED_DEVICE = /^(?:vfio-|vhost-|usb-host$|(?:kvm-)?pci-assign$|ivshmem|virtio-input-host|u2f-passthru$)/;

/** Drivers that need a real SCSI device: started as scsi-hd at the same place. */
const SCSI_PASSTHROUGH = new Set(['scsi-block', 'scsi-generic']);

/** `-drive` keys kept on a null-co drive: those that place the device or are guest-visible. */
const DRIVE_KEEP = new Set([
  'if', 'index', 'bus', 'unit', 'media', 'id', 'serial', 'boot', 'readonly', 'read-only', 'addr', 'cyls', 'heads',
  'secs', 'trans', 'bios-chs-trans', 'node-name', 'werror', 'rerror',
]);

/** `-hda FILE` and friends: the `-drive` keys they stand for. */
const DRIVE_SHORTHANDS: Readonly<Record<string, string>> = {
  hda: 'if=ide,index=0,media=disk',
  hdb: 'if=ide,index=1,media=disk',
  hdc: 'if=ide,index=2,media=disk',
  hdd: 'if=ide,index=3,media=disk',
  cdrom: 'if=ide,index=2,media=cdrom',
  fda: 'if=floppy,index=0',
  fdb: 'if=floppy,index=1',
  mtdblock: 'if=mtd',
  sd: 'if=sd',
  pflash: 'if=pflash',
};

/** Character-device-taking options (`-serial X`): `none` stays, everything else becomes `null`. */
const CHARDEV_OPTIONS = new Set(['serial', 'parallel', 'debugcon', 'virtioconsole']);

const escOpt = (v: string): string => v.replace(/,/g, ',,');

/** QemuOpts text from pairs; the implied key (when first) is written bare. */
export function formatOpts(pairs: readonly OptsPair[], impliedKey?: string): string {
  return pairs
    .map((p, i) => (i === 0 && impliedKey !== undefined && p.key === impliedKey ? escOpt(p.value) : `${p.key}=${escOpt(p.value)}`))
    .join(',');
}

/**
 * The elements of a QemuOpts value as written (`,,` kept escaped), for edits that must not
 * rewrite the others (`-cpu host,+vmx`: `+vmx` is not `+vmx=on`).
 */
export function optsElements(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === ',' && value[i + 1] === ',') {
      cur += ',,';
      i++;
    } else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out.filter((e) => e !== '');
}

function isJson(value: string): boolean {
  return value.trimStart().startsWith('{');
}

function jsonObject(value: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch (err) {
    throw new RefusedError(`kvm_cmd has ${what} ${cut(value)}, which is not valid JSON: ${messageOf(err)}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new RefusedError(`kvm_cmd has ${what} ${cut(value)}, which is not a JSON object`);
  return v as Record<string, unknown>;
}

function cut(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

function strProp(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

/** Whether the command line asks for KVM (Ganeti: `-machine …,accel=kvm` or `-enable-kvm`; a binary named `kvm` prefers it). */
export function requestedAccel(argv: readonly string[]): Accel {
  let wanted: string | undefined;
  for (const o of parseQemuArgv(argv).options) {
    if (o.name === 'enable-kvm') wanted = 'kvm';
    else if (o.name === 'no-kvm' || o.name === 'disable-kvm') wanted = 'tcg';
    else if (o.name === 'accel' && o.value !== undefined) wanted = optsGet(parseOptsValue(o.value, 'accel'), 'accel') ?? wanted;
    else if ((o.name === 'machine' || o.name === 'M') && o.value !== undefined) {
      wanted = optsGet(parseOptsValue(o.value, 'type'), 'accel') ?? wanted;
    }
  }
  // QEMU 7.2 without an accelerator: `kvm:tcg` when the program name ends in "kvm", else `tcg:kvm`.
  if (wanted === undefined) return path.basename(argv[0] ?? '').endsWith('kvm') ? 'kvm' : 'tcg';
  return wanted.split(':')[0] === 'kvm' ? 'kvm' : 'tcg';
}

/** Whether this process can use KVM (/dev/kvm opens read-write). */
export function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function statSize(file: string): Promise<number | undefined> {
  if (/^[a-z][a-z0-9+.-]*:/i.test(file) && !file.startsWith('/')) return undefined; // a URL / protocol path
  try {
    const st = await stat(file);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The QEMU arguments of the check QEMU for a runtime file (see the module comment for every
 * rewrite). Pure except for `kvmUsable`/`fileSize` (injectable). Throws RefusedError for what
 * cannot be started safely beside the instance.
 */
export async function buildCheckArgv(rf: RuntimeFile, opts: CheckArgvOptions = {}): Promise<CheckArgv> {
  const kvmCmd = upgradedKvmCmd(rf.kvmCmd);
  const binary = opts.binary ?? kvmCmd[0];
  if (binary === undefined || binary === '') {
    throw new RefusedError(`${rf.source}: kvm_cmd is empty: no QEMU binary to start the check with`);
  }
  const parsed = parseQemuArgv(kvmCmd);
  if (parsed.missingArgument) {
    throw new RefusedError(`${rf.source}: kvm_cmd ends with ${parsed.missingArgument.spelled}, which needs an argument`);
  }
  const fileSize = opts.fileSize ?? statSize;
  const notes: string[] = [];
  const substituted: Record<string, string> = {};

  const requested = requestedAccel(kvmCmd);
  const mode = opts.accel ?? 'auto';
  let accel: Accel;
  if (mode === 'auto') {
    const usable = requested === 'kvm' && (opts.kvmUsable ?? kvmUsable());
    accel = usable ? 'kvm' : 'tcg';
    if (requested === 'kvm' && !usable) notes.push('the instance uses KVM, which is not usable here: the check QEMU runs on TCG (the device layout is the same)');
  } else {
    accel = mode;
  }

  // Memory: 64 MiB, unless something sized by it needs the real value.
  const options = parsed.options;
  const keepsMemory = options.some((o) => {
    if (o.name === 'numa') return true;
    if (o.name === 'm' && o.value !== undefined) return /(?:^|,)(?:slots|maxmem)=/.test(o.value);
    if (o.name === 'object' && o.value !== undefined) {
      const type = isJson(o.value) ? strProp(jsonObject(o.value, '-object'), 'qom-type') : optsGet(parseOptsValue(o.value, 'qom-type'), 'qom-type');
      return type?.startsWith('memory-backend') ?? false;
    }
    if (o.name === 'device' && o.value !== undefined) {
      const d = deviceDriver(o.value);
      return d !== undefined && /^(?:pc-dimm|nvdimm|virtio-mem|virtio-pmem)/.test(d);
    }
    return false;
  });
  if (keepsMemory) notes.push("kvm_cmd's -m is kept (NUMA nodes, memory backends or DIMMs are sized by it); the paused check QEMU does not allocate it");

  const out: string[] = [];
  const drive = async (value: string): Promise<string> => sanitizeDrive(value, fileSize);

  for (const o of options) {
    const v = o.value;
    if (Object.hasOwn(REFUSED, o.name)) {
      throw new RefusedError(
        `${rf.source}: kvm_cmd has ${o.spelled}${v !== undefined ? ` ${cut(v)}` : ''}, which ${REFUSED[o.name]}: the migration check cannot start a second QEMU beside the instance`,
      );
    }
    if (DROPPED.has(o.name)) continue;
    if (o.name === 'm') {
      if (keepsMemory && v !== undefined) out.push('-m', v);
      continue;
    }
    if (v === undefined) {
      out.push(`-${o.name}`);
      continue;
    }
    switch (o.name) {
      case '': // a bare image path: QEMU's -hda shorthand
        out.push('-drive', await drive(`${DRIVE_SHORTHANDS.hda},file=${escOpt(v)}`));
        break;
      case 'drive':
        out.push('-drive', await drive(v));
        break;
      case 'blockdev':
        out.push('-blockdev', sanitizeBlockdev(v));
        break;
      case 'chardev':
        out.push('-chardev', sanitizeChardev(v));
        break;
      case 'netdev':
        out.push('-netdev', sanitizeNetdev(v));
        break;
      case 'net':
        out.push('-net', sanitizeNet(v));
        break;
      case 'nic':
        out.push('-nic', sanitizeNic(v));
        break;
      case 'audiodev':
        out.push('-audiodev', sanitizeAudiodev(v));
        break;
      case 'object': {
        const obj = sanitizeObject(v, notes);
        if (obj !== null) out.push('-object', obj);
        break;
      }
      case 'device':
        out.push('-device', sanitizeDevice(v, rf.source, substituted));
        break;
      case 'machine':
      case 'M': {
        // The launcher's `-machine pc,accel=…` decides the accelerator; the rest is kept as written.
        const kept = optsElements(v).filter((e) => !e.startsWith('accel='));
        if (kept.length > 0) out.push('-machine', kept.join(','));
        break;
      }
      case 'cpu': {
        const els = optsElements(v);
        if (accel === 'tcg' && (els[0] === 'host' || els[0] === 'model=host')) {
          els[0] = 'max';
          notes.push('-cpu host needs KVM: the check QEMU (TCG) uses -cpu max (the CPU model does not change the device layout)');
        }
        out.push('-cpu', els.join(','));
        break;
      }
      default:
        if (CHARDEV_OPTIONS.has(o.name)) {
          out.push(`-${o.name}`, v === 'none' ? 'none' : 'null');
        } else if (Object.hasOwn(DRIVE_SHORTHANDS, o.name)) {
          out.push('-drive', await drive(`${DRIVE_SHORTHANDS[o.name]},file=${escOpt(v)}`));
        } else {
          out.push(`-${o.name}`, v);
        }
    }
  }

  // The devices of the runtime file, in Ganeti's order: NICs, -incoming, disks.
  for (const opt of nicOptions(rf, { netdevFor: userNetdev })) {
    out.push(opt.option, opt.option === '-device' ? sanitizeDevice(opt.value, rf.source, substituted) : opt.value);
  }
  out.push('-incoming', 'defer');
  for (const opt of diskOptions(rf)) {
    if (opt.option === '-drive') out.push('-drive', await drive(opt.value));
    else if (opt.option === '-blockdev') out.push('-blockdev', sanitizeBlockdev(opt.value));
    else if (opt.option === '-device') out.push('-device', sanitizeDevice(opt.value, rf.source, substituted));
    else out.push(...toArgv([opt]));
  }
  for (const [id, driver] of Object.entries(substituted)) {
    notes.push(`${id} is a ${driver}, which needs a real SCSI device: the check QEMU has it as scsi-hd at the same place`);
  }
  return { binary, accel, memoryMb: CHECK_MEMORY_MB, keepsMemory, argv: out, substituted, notes };
}

/** A `-drive` on a null-co backend: same if/index/bus/unit/media/id, no file opened. */
async function sanitizeDrive(value: string, fileSize: (file: string) => Promise<number | undefined>): Promise<string> {
  const pairs = parseOptsValue(value);
  const file = optsGet(pairs, 'file');
  // `file=` (empty) is a drive without medium (an empty cdrom): it stays empty.
  const hasMedium = (file !== undefined && file !== '') || optsGet(pairs, 'driver') !== undefined || pairs.some((p) => p.key.startsWith('file.'));
  const kept = pairs.filter((p) => DRIVE_KEEP.has(p.key));
  if (hasMedium) {
    kept.push({ key: 'driver', value: 'null-co' }, { key: 'read-zeroes', value: 'on' });
    const size = file !== undefined && file !== '' ? await fileSize(file) : undefined;
    if (size !== undefined && size > 0) kept.push({ key: 'size', value: String(size) });
  }
  return formatOpts(kept);
}

function sanitizeBlockdev(value: string): string {
  if (isJson(value)) {
    const o = jsonObject(value, '-blockdev');
    const out: Record<string, unknown> = { driver: 'null-co', 'read-zeroes': true };
    if (o['node-name'] !== undefined) out['node-name'] = o['node-name'];
    if (o['read-only'] !== undefined) out['read-only'] = o['read-only'];
    return JSON.stringify(out);
  }
  const pairs = parseOptsValue(value, 'driver');
  const out: OptsPair[] = [{ key: 'driver', value: 'null-co' }];
  for (const key of ['node-name', 'read-only']) {
    const v = optsGet(pairs, key);
    if (v !== undefined) out.push({ key, value: v });
  }
  out.push({ key: 'read-zeroes', value: 'on' });
  return formatOpts(out);
}

function sanitizeChardev(value: string): string {
  const pairs = parseOptsValue(value, 'backend');
  const out: OptsPair[] = [{ key: 'backend', value: 'null' }];
  for (const key of ['id', 'mux']) {
    const v = optsGet(pairs, key);
    if (v !== undefined) out.push({ key, value: v });
  }
  return formatOpts(out, 'backend');
}

function sanitizeNetdev(value: string): string {
  const id = isJson(value) ? strProp(jsonObject(value, '-netdev'), 'id') : optsGet(parseOptsValue(value, 'type'), 'id');
  return id === undefined ? 'user' : `user,id=${escOpt(id)}`;
}

function sanitizeNet(value: string): string {
  const pairs = parseOptsValue(value, 'type');
  const type = optsGet(pairs, 'type');
  if (type === 'nic' || type === 'none') return value;
  return formatOpts([{ key: 'type', value: 'user' }, ...pairs.filter((p) => p.key === 'id' || p.key === 'name')], 'type');
}

function sanitizeNic(value: string): string {
  const pairs = parseOptsValue(value, 'type');
  if (optsGet(pairs, 'type') === 'none') return value;
  return formatOpts([{ key: 'type', value: 'user' }, ...pairs.filter((p) => ['id', 'model', 'mac'].includes(p.key))], 'type');
}

function sanitizeAudiodev(value: string): string {
  const id = isJson(value) ? strProp(jsonObject(value, '-audiodev'), 'id') : optsGet(parseOptsValue(value, 'driver'), 'id');
  return id === undefined ? 'none' : `none,id=${escOpt(id)}`;
}

/** Objects: file/memfd memory backends become RAM backends; host-side filters and input grabbers go. */
function sanitizeObject(value: string, notes: string[]): string | null {
  const json = isJson(value);
  const o = json ? jsonObject(value, '-object') : undefined;
  const pairs = json ? [] : parseOptsValue(value, 'qom-type');
  const get = (key: string): string | undefined => {
    if (o) {
      const v = o[key];
      return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
    }
    return optsGet(pairs, key);
  };
  const type = get('qom-type') ?? '';
  const id = get('id');
  if (/^memory-backend-(?:file|memfd|epc)$/.test(type)) {
    const keep: OptsPair[] = [{ key: 'qom-type', value: 'memory-backend-ram' }];
    for (const key of ['id', 'size', 'merge', 'dump', 'x-use-canonical-path-for-ramblock-id']) {
      const v = get(key);
      if (v !== undefined) keep.push({ key, value: v });
    }
    notes.push(`${type} ${id ?? ''} is started as memory-backend-ram (no file, no shared memory with the instance)`);
    return formatOpts(keep, 'qom-type');
  }
  if (type.startsWith('memory-backend')) {
    // RAM backends: no preallocation, no host binding.
    if (o) {
      const copy = { ...o };
      for (const key of ['prealloc', 'prealloc-threads', 'host-nodes', 'policy', 'share']) delete copy[key];
      return JSON.stringify(copy);
    }
    return formatOpts(pairs.filter((p) => !['prealloc', 'prealloc-threads', 'host-nodes', 'policy', 'share'].includes(p.key)), 'qom-type');
  }
  if (type.startsWith('filter-') || ['colo-compare', 'input-linux', 'input-barrier', 'can-host-socketcan'].includes(type)) {
    notes.push(`-object ${type}${id !== undefined ? `,id=${id}` : ''} is left out of the check QEMU (host side only: no device of the guest)`);
    return null;
  }
  return value;
}

/** The driver of a `-device` value (QemuOpts or JSON). */
function deviceDriver(value: string): string | undefined {
  if (isJson(value)) {
    try {
      const o = JSON.parse(value) as unknown;
      return o !== null && typeof o === 'object' && typeof (o as Record<string, unknown>)['driver'] === 'string'
        ? ((o as Record<string, unknown>)['driver'] as string)
        : undefined;
    } catch {
      return undefined;
    }
  }
  return optsGet(parseOptsValue(value, 'driver'), 'driver');
}

function sanitizeDevice(value: string, source: string, substituted: Record<string, string>): string {
  const json = isJson(value);
  const o = json ? jsonObject(value, '-device') : undefined;
  const pairs = json ? [] : parseOptsValue(value, 'driver');
  const driver = (o ? strProp(o, 'driver') : optsGet(pairs, 'driver')) ?? '';
  const id = o ? strProp(o, 'id') : optsGet(pairs, 'id');
  if (REFUSED_DEVICE.test(driver)) {
    throw new RefusedError(
      `${source}: -device ${driver}${id !== undefined ? ` (${id})` : ''} takes a host device or resource that a second QEMU beside the running instance must not take: the migration check cannot run for this instance`,
    );
  }
  if (!SCSI_PASSTHROUGH.has(driver)) return value;
  if (id !== undefined) substituted[id] = driver;
  if (o) return JSON.stringify({ ...o, driver: 'scsi-hd' });
  return optsElements(value)
    .map((e, i) => (e.startsWith('driver=') || (i === 0 && !e.includes('=')) ? 'scsi-hd' : e))
    .join(',');
}

// =============================================================================================
// Probing a layout

/** One PCI function, on any bus (behind bridges too). */
export interface PciFunctionInfo {
  /** From the root bus down: the root bus number in the first hop, then slot/function per bus. */
  path: PciHop[];
  /** `0:0d.0`, `0:1e.0/01.2`: equal keys are the same place. */
  key: string;
  qdevId: string;
  /** QOM type: of devices with an id, and of those without one on pci.0 that `-device` created. */
  driver: string | undefined;
  vendorId: number;
  deviceId: number;
  classCode: number;
  classDesc: string | undefined;
}

/** What the comparison reads of one QEMU. */
export interface Layout {
  state: LiveState;
  /** Every PCI function, behind bridges too (LiveState.pci is pci.0 only). */
  pci: PciFunctionInfo[];
  /** QOM types of the devices without id (`/machine/peripheral-anon`). */
  anonymous: string[];
}

interface RawPciDevice {
  bus: number;
  slot: number;
  function: number;
  qdev_id: string;
  class_info: { class: number; desc?: string | undefined };
  id: { vendor: number; device: number };
  pci_bridge?: { devices?: RawPciDevice[] | undefined } | undefined;
}

const uint = z.int().min(0);
const rawPciDevice: z.ZodType<RawPciDevice> = z.lazy(() =>
  z.object({
    bus: uint,
    slot: uint.max(31),
    function: uint.max(7),
    qdev_id: z.string(),
    class_info: z.object({ class: uint, desc: z.string().optional() }),
    id: z.object({ vendor: uint, device: uint }),
    pci_bridge: z.object({ devices: z.array(rawPciDevice).optional() }).optional(),
  }),
);
const rawQueryPci = z.array(z.object({ bus: uint, devices: z.array(rawPciDevice) }));
const rawQomList = z.array(z.object({ name: z.string(), type: z.string() }));

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

function pciKey(path: readonly PciHop[]): string {
  return path.map((h, i) => `${i === 0 ? `${h.bus ?? 0}:` : ''}${hex2(h.slot)}.${h.function}`).join('/');
}

/** `slot 0xd`, `slot 0xd function 1`, `slot 0x1e → slot 0x1`, `PCI bus 1 slot 0x3`. */
export function formatPciPath(path: readonly PciHop[]): string {
  return path
    .map((h, i) => {
      const root = i === 0 && (h.bus ?? 0) !== 0 ? `PCI bus ${h.bus} ` : '';
      return `${root}slot 0x${h.slot.toString(16)}${h.function !== 0 ? ` function ${h.function}` : ''}`;
    })
    .join(' → ');
}

/** Flattens `query-pci` (all root buses, recursively behind bridges). */
export function flattenQueryPci(reply: unknown, driverOf: ReadonlyMap<string, string> = new Map()): PciFunctionInfo[] {
  const r = rawQueryPci.safeParse(reply);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new MigrationCheckError(`QEMU's reply to query-pci is not what plugboard expects: ${first ? `${first.path.join('.')}: ${first.message}` : 'unreadable'}`);
  }
  const out: PciFunctionInfo[] = [];
  const walk = (devices: readonly RawPciDevice[], parent: PciHop[], rootBus: number) => {
    for (const d of devices) {
      const hop: PciHop = parent.length === 0 ? { bus: rootBus, slot: d.slot, function: d.function } : { slot: d.slot, function: d.function };
      const path = [...parent, hop];
      out.push({
        path,
        key: pciKey(path),
        qdevId: d.qdev_id,
        driver: d.qdev_id === '' ? undefined : driverOf.get(d.qdev_id),
        vendorId: d.id.vendor,
        deviceId: d.id.device,
        classCode: d.class_info.class,
        classDesc: d.class_info.desc,
      });
      if (d.pci_bridge?.devices) walk(d.pci_bridge.devices, path, rootBus);
    }
  };
  for (const root of r.data) walk(root.devices, [], root.bus);
  return out;
}

/** Reads a QEMU's layout: probeLive (SCSI addresses, drivers) plus the whole PCI tree and the devices without id. */
export async function probeLayout(qmp: QmpExecutor, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Layout> {
  const call = { ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  const [state, queryPci, anonRaw] = await Promise.all([
    probeLive(qmp, call),
    qmp.execute('query-pci', undefined, call),
    qmp.execute('qom-list', { path: '/machine/peripheral-anon' }, call).catch((err: unknown) => {
      // No device without id was ever created: QEMU has no such container.
      if (err instanceof Error && 'errorClass' in err && (err as { errorClass: string }).errorClass === 'DeviceNotFound') return [];
      throw err;
    }),
  ]);
  const driverOf = new Map(state.peripherals.map((p) => [p.id, p.driver]));
  const anonList = rawQomList.safeParse(anonRaw);
  if (!anonList.success) throw new MigrationCheckError(`QEMU's reply to qom-list /machine/peripheral-anon is not what plugboard expects`);
  const anon = anonList.data.flatMap((p) => {
    const m = /^child<(.+)>$/.exec(p.type);
    return m ? [{ name: p.name, type: m[1]! }] : [];
  });
  const pci = flattenQueryPci(queryPci, driverOf);

  // Name the PCI devices without id on pci.0 (`-device virtio-balloon`): their devfn is `addr`.
  const typeAt = new Map<string, string>();
  await Promise.all(
    anon
      .filter((a) => isPciDriver(a.type))
      .map(async (a) => {
        const at = `/machine/peripheral-anon/${a.name}`;
        try {
          const [bus, devfn] = await Promise.all([
            qmp.execute('qom-get', { path: at, property: 'parent_bus' }, call),
            qmp.execute('qom-get', { path: at, property: 'addr' }, call),
          ]);
          if (typeof bus === 'string' && /\/pci\.0$/.test(bus) && typeof devfn === 'number') {
            typeAt.set(pciKey([{ bus: 0, slot: devfn >> 3, function: devfn & 7 }]), a.type);
          }
        } catch {
          // not a PCI device after all (no `addr`), or gone: it keeps its class description
        }
      }),
  );
  for (const f of pci) if (f.qdevId === '' && typeAt.has(f.key)) f.driver = typeAt.get(f.key);
  return { state, pci, anonymous: anon.map((a) => a.type) };
}

// =============================================================================================
// Comparing two layouts

interface IdPlace {
  id: string;
  driver: string;
  pci?: PciFunctionInfo;
  scsi?: { bus: string; channel: number; target: number; lun: number };
}

function idPlaces(layout: Layout, substituted: Readonly<Record<string, string>>): Map<string, IdPlace> {
  const out = new Map<string, IdPlace>();
  for (const p of layout.state.peripherals) out.set(p.id, { id: p.id, driver: substituted[p.id] ?? p.driver });
  for (const f of layout.pci) {
    const e = f.qdevId === '' ? undefined : out.get(f.qdevId);
    if (e) e.pci = f;
  }
  for (const s of layout.state.scsi) {
    const e = out.get(s.id);
    if (e) e.scsi = { bus: s.bus, channel: s.channel, target: s.scsiId, lun: s.lun };
  }
  return out;
}

const pciIds = (f: PciFunctionInfo): string => `${f.vendorId.toString(16).padStart(4, '0')}:${f.deviceId.toString(16).padStart(4, '0')}`;
const pciDesc = (f: PciFunctionInfo): string => `${f.driver ?? f.classDesc ?? `PCI class 0x${f.classCode.toString(16)}`} ${pciIds(f)}`;

function scsiAddress(s: NonNullable<IdPlace['scsi']>): string {
  const extra = s.channel !== 0 || s.lun !== 0 ? ` channel ${s.channel} lun ${s.lun}` : '';
  return `${s.bus} target ${s.target}${extra}`;
}

function addressOf(p: IdPlace): string {
  if (p.pci) return formatPciPath(p.pci.path);
  if (p.scsi) return scsiAddress(p.scsi);
  return 'no PCI or SCSI address';
}

function placeOf(p: IdPlace): LayoutPlace {
  const place: LayoutPlace = { driver: p.driver, address: addressOf(p) };
  if (p.pci) place.pci = pciPlace(p.pci);
  if (p.scsi) place.scsi = { ...p.scsi };
  return place;
}

function pciPlace(f: PciFunctionInfo): NonNullable<LayoutPlace['pci']> {
  return { path: f.path.map((h) => ({ ...h })), vendorId: f.vendorId, deviceId: f.deviceId, classCode: f.classCode, classDesc: f.classDesc };
}

function anonPlace(f: PciFunctionInfo): LayoutPlace {
  return { driver: f.driver, address: formatPciPath(f.path), pci: pciPlace(f) };
}

function samePlace(a: IdPlace, b: IdPlace): boolean {
  if (a.pci || b.pci) return a.pci !== undefined && b.pci !== undefined && a.pci.key === b.pci.key;
  if (a.scsi || b.scsi) {
    return (
      a.scsi !== undefined &&
      b.scsi !== undefined &&
      a.scsi.bus === b.scsi.bus &&
      a.scsi.channel === b.scsi.channel &&
      a.scsi.target === b.scsi.target &&
      a.scsi.lun === b.scsi.lun
    );
  }
  return true;
}

/** The file may say `lsi`, QEMU says `lsi53c895a`: bus/controllers' alias table. */
const sameQomType = (a: string, b: string): boolean => canonicalDriver(a) === canonicalDriver(b);

const FAIL = 'a migration would fail';

/**
 * The differences between the running QEMU (`live`) and a QEMU started from the runtime file
 * (`target`): devices with an id by id (driver, PCI place or SCSI address, PCI ids), PCI functions
 * without id by place (vendor/device/class), other devices without id by count per type.
 * `substituted`: ids the target has with another driver than the file's (scsi-block as scsi-hd).
 */
export function compareLayouts(live: Layout, target: Layout, substituted: Readonly<Record<string, string>> = {}): LayoutDifference[] {
  const out: LayoutDifference[] = [];
  const L = idPlaces(live, {});
  const T = idPlaces(target, substituted);

  for (const [id, l] of L) {
    const t = T.get(id);
    if (!t) {
      out.push({
        code: 'missing-from-target',
        what: id,
        live: placeOf(l),
        target: null,
        message: `${id} (${l.driver}) is at ${addressOf(l)} in QEMU but the runtime file would not start it: ${FAIL} (added without updating the runtime file?)`,
      });
      continue;
    }
    if (!sameQomType(l.driver, t.driver)) {
      out.push({
        code: 'driver-differs',
        what: id,
        live: placeOf(l),
        target: placeOf(t),
        message: `${id} is a ${l.driver} at ${addressOf(l)} in QEMU but the runtime file would start a ${t.driver} at ${addressOf(t)}: ${FAIL}`,
      });
    } else if (!samePlace(l, t)) {
      out.push({
        code: 'moved',
        what: id,
        live: placeOf(l),
        target: placeOf(t),
        message: `${id} is at ${addressOf(l)} in QEMU but the runtime file would start it at ${addressOf(t)}: ${FAIL}`,
      });
    } else if (l.pci && t.pci && (l.pci.vendorId !== t.pci.vendorId || l.pci.deviceId !== t.pci.deviceId || l.pci.classCode !== t.pci.classCode)) {
      out.push({
        code: 'pci-id-differs',
        what: id,
        live: placeOf(l),
        target: placeOf(t),
        message: `${id} at ${addressOf(l)} is ${pciDesc(l.pci)} in QEMU but ${pciDesc(t.pci)} when started from the runtime file (its properties differ): ${FAIL}`,
      });
    }
  }
  for (const [id, t] of T) {
    if (L.has(id)) continue;
    out.push({
      code: 'extra-in-target',
      what: id,
      live: null,
      target: placeOf(t),
      message: `the runtime file would start ${id} (${t.driver}) at ${addressOf(t)}, which QEMU does not have: ${FAIL}`,
    });
  }

  // PCI functions without id, by place.
  const liveAt = new Map(live.pci.map((f) => [f.key, f]));
  const targetAt = new Map(target.pci.map((f) => [f.key, f]));
  const occupant = (f: PciFunctionInfo | undefined): string =>
    f === undefined ? 'nothing' : f.qdevId !== '' ? `${f.qdevId}${f.driver ? ` (${f.driver})` : ''}` : `${pciDesc(f)} (without id)`;
  for (const l of live.pci) {
    if (l.qdevId !== '') continue;
    const t = targetAt.get(l.key);
    const where = formatPciPath(l.path);
    if (t && t.qdevId === '') {
      const otherType = l.driver !== undefined && t.driver !== undefined && !sameQomType(l.driver, t.driver);
      if (otherType || t.vendorId !== l.vendorId || t.deviceId !== l.deviceId || t.classCode !== l.classCode) {
        out.push({
          code: 'driver-differs',
          what: `${where} (${pciDesc(l)})`,
          live: anonPlace(l),
          target: anonPlace(t),
          message: `${where}: QEMU has ${pciDesc(l)} there, the runtime file would start ${pciDesc(t)} there: ${FAIL}`,
        });
      }
      continue;
    }
    out.push({
      code: 'missing-from-target',
      what: `${where} (${pciDesc(l)})`,
      live: anonPlace(l),
      target: null,
      message: `${where}: QEMU has ${pciDesc(l)} there (a device without id), the runtime file would put ${occupant(t)} there: ${FAIL}`,
    });
  }
  for (const t of target.pci) {
    if (t.qdevId !== '') continue;
    const l = liveAt.get(t.key);
    if (l && l.qdevId === '') continue; // compared above
    const where = formatPciPath(t.path);
    out.push({
      code: 'extra-in-target',
      what: `${where} (${pciDesc(t)})`,
      live: null,
      target: anonPlace(t),
      message: `${where}: the runtime file would start ${pciDesc(t)} there (a device without id), QEMU has ${occupant(l)} there: ${FAIL}`,
    });
  }

  // Devices without id that are not PCI functions (USB tablet, …): by count per type.
  const count = (types: readonly string[]) => {
    const m = new Map<string, number>();
    for (const t of types) if (!isPciDriver(t)) m.set(t, (m.get(t) ?? 0) + 1);
    return m;
  };
  const lc = count(live.anonymous);
  const tc = count(target.anonymous);
  for (const type of [...new Set([...lc.keys(), ...tc.keys()])].sort()) {
    const a = lc.get(type) ?? 0;
    const b = tc.get(type) ?? 0;
    if (a === b) continue;
    out.push({
      code: 'count-differs',
      what: type,
      live: null,
      target: null,
      message: `QEMU has ${a} ${type} without id, the runtime file would start ${b}: ${FAIL}`,
    });
  }
  return out;
}

// =============================================================================================
// The check

/**
 * Runs the migration dry-run for instance `name` under `root`: reads the runtime file, probes the
 * running QEMU (one short QMP connection), starts the check QEMU from the file (paused,
 * `-incoming defer`, nothing of the instance touched: see the module comment), probes it, compares,
 * and stops it. The check QEMU is stopped and its temp dir removed on every path.
 *
 * Throws InputError/NotFoundError for a bad name or runtime file, QMP errors when the instance is
 * not running or its socket is busy, RefusedError when the command line cannot be started safely,
 * MigrationCheckError when the check QEMU fails to start or the check runs out of time.
 *
 * The file is read before QEMU is probed: a hot-add or unplug running at the same time can only
 * make the check report a difference that is not there, never hide one.
 */
export async function checkMigration(root: string, name: string, opts: MigrationCheckOptions = {}): Promise<MigrationCheckResult> {
  const started = performance.now();
  const result = await runCheck(root, name, opts);
  // Stopping the check QEMU (in runCheck's finally) is part of the wall time.
  result.durationMs = Math.round(performance.now() - started);
  for (const k of Object.keys(result.timings) as (keyof MigrationCheckResult['timings'])[]) {
    result.timings[k] = Math.round(result.timings[k] * 10) / 10;
  }
  return result;
}

async function runCheck(root: string, name: string, opts: MigrationCheckOptions): Promise<MigrationCheckResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new InputError(`migration check timeout must be a positive number of ms, got ${timeoutMs}`);
  validateInstanceName(name);
  if (opts.signal?.aborted) throw new QmpAbortedError('migration check', qmpSocketPath(root, name), { cause: opts.signal.reason });

  // One signal for everything: the caller's abort, or our deadline.
  const deadline = Date.now() + timeoutMs;
  const controller = new AbortController();
  let timedOut = false;
  let step = 'reading the runtime file';
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new MigrationCheckError(`migration check timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  const onAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  const remaining = (): number => Math.max(1, deadline - Date.now());

  let dir: string | undefined;
  let qemu: QemuHandle | undefined;
  const logFile = (): string | undefined => (dir === undefined ? undefined : path.join(dir, 'qemu.log'));
  const readLog = async (): Promise<string> => {
    const parts: string[] = [];
    const f = logFile();
    if (f !== undefined) {
      const text = await readFile(f, 'utf8').catch(() => '');
      if (text.trim() !== '') parts.push(text.trimEnd());
    }
    const err = qemu?.stderrTail() ?? '';
    if (err.trim() !== '') parts.push(err.trimEnd());
    return parts.join('\n');
  };
  const timings = { probeInstanceMs: 0, startMs: 0, probeCheckMs: 0, stopMs: 0 };
  try {
    const rf = await loadRuntimeFile(runtimeFilePath(root, name), { instance: name });
    const pending = await readPending(root, name);
    step = 'building the check command line';
    const check = await buildCheckArgv(rf, {
      ...(opts.accel !== undefined ? { accel: opts.accel } : {}),
      ...(opts.binary !== undefined ? { binary: opts.binary } : {}),
    });
    if (check.binary.includes('/')) {
      try {
        await access(check.binary, fsConstants.X_OK);
      } catch {
        throw new RefusedError(`the runtime file's QEMU binary ${check.binary} cannot be run on this node: a migration target started from it would fail too`);
      }
    }

    step = `probing ${name}'s QEMU`;
    let t = performance.now();
    const live = await withQmp(
      qmpSocketPath(root, name),
      { greetingTimeoutMs: Math.min(opts.greetingTimeoutMs ?? 1_000, remaining()), commandTimeoutMs: remaining(), signal },
      (qmp) => probeLayout(qmp, { timeoutMs: remaining(), signal }),
    );
    timings.probeInstanceMs = performance.now() - t;
    const drift = computeDrift(rf, live.state, pending);

    step = 'starting the check QEMU';
    dir = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'plugboard-check-'));
    t = performance.now();
    qemu = await launchQemu({
      binary: check.binary,
      qmpSocket: path.join(dir, 'qmp.sock'),
      argv: check.argv,
      paused: true,
      accel: check.accel,
      memoryMb: check.memoryMb,
      name: `${name}${CHECK_NAME_SUFFIX}`,
      logFile: logFile()!,
      signal,
      startTimeoutMs: remaining(),
    }).catch(async (err: unknown) => {
      if (signal.aborted) throw err;
      const stderr = err instanceof Error && 'stderr' in err ? String((err as { stderr: unknown }).stderr) : '';
      const log = [await readLog(), stderr.trim()].filter((s) => s !== '').join('\n');
      throw new MigrationCheckError(
        `a QEMU started from ${rf.source} did not come up: ${messageOf(err)} — a migration target would not start either`,
        log,
        { cause: err },
      );
    });
    timings.startMs = performance.now() - t;

    step = 'probing the check QEMU';
    t = performance.now();
    const target = await withQmp(qemu.qmpSocket, { greetingTimeoutMs: remaining(), commandTimeoutMs: remaining(), signal }, (qmp) =>
      probeLayout(qmp, { timeoutMs: remaining(), signal }),
    );
    timings.probeCheckMs = performance.now() - t;

    const differences = compareLayouts(live, target, check.substituted);
    const notes = [...check.notes];
    if (live.pci.some((f) => f.path.length > 1)) notes.push('devices behind PCI bridges were compared by their path of slots');
    for (const n of [...live.state.notes]) notes.push(`instance: ${n}`);
    const ids = new Set(live.state.peripherals.map((p) => p.id));
    const result: MigrationCheckResult = {
      instance: name,
      ok: differences.length === 0 && drift.ok,
      layoutOk: differences.length === 0,
      differences,
      drift,
      compared: { pciFunctions: live.pci.length, scsiDevices: live.state.scsi.length, devicesWithId: ids.size },
      notes,
      accel: check.accel,
      commandLine: [...qemu.commandLine],
      durationMs: 0,
      timings,
    };
    if (opts.keepLog) result.log = await readLog();
    return result;
  } catch (err) {
    if (timedOut) {
      throw new MigrationCheckError(`the migration check of ${name} did not finish within ${timeoutMs} ms (while ${step})`, await readLog(), { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    const t = performance.now();
    try {
      if (qemu) await qemu.stop();
    } finally {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      timings.stopMs = performance.now() - t;
    }
  }
}
