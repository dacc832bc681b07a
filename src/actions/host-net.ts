/**
 * The host side of NIC hotplug: the tap interface, the bridge it joins, and the `nic/NAME/SEQ`
 * record of which tap belongs to which NIC.
 *
 * Ganeti opens the tap itself (`/dev/net/tun`, TUNSETIFF) and passes the file descriptor to QEMU
 * over the QMP socket (SCM_RIGHTS). plugboard does the same for a QEMU that runs as another user or
 * chrooted (src/qmp/fdpass/: the tap is created as root and passed with `getfd`); for any other it
 * lets QEMU create the tap: `netdev_add {type: tap, ifname: TAP, script: no, downscript: no}` makes
 * QEMU (root) open `/dev/net/tun` with that name, which creates a NON-persistent tap owned by QEMU's
 * descriptor — exactly the lifetime of Ganeti's taps: it disappears with `netdev_del` and when QEMU
 * exits (instance stop, migration away), so nothing is left behind by Ganeti's own later actions
 * (`gnt-instance modify --net N:remove`, shutdown, migrate). A tap made with `ip tuntap add`
 * would be persistent: QEMU attaches to it, but it survives QEMU and cannot be made non-persistent
 * while QEMU holds it (`ip tuntap del` → `TUNSETIFF: Device or resource busy`: docs/qemu-ganeti-facts.md,
 * "NICs"), so every
 * stop or migration of the instance would leak it, still enslaved to the bridge.
 *
 * Once QEMU has the tap, plugboard configures it as Ganeti's `kvm-ifup` does for a bridged NIC
 * (`net-common` setup_bridge): the tap's own MAC gets first byte `fe` (so the bridge does not take
 * it as its address), link up, the bridge's MTU, then `master BRIDGE`. Commands run with
 * `child_process.execFile` (no shell), each with a timeout; link facts are read from `/sys/class/net`.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, readlink, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { messageOf, PlugboardError } from '../errors.js';
import { nicDirPath, nicFilePath } from '../runtime/root.js';
import { writeRuntimeFileAtomic } from '../runtime/write.js';
import { describeFdHost, isFdHostCommand } from '../qmp/fdpass/plan.js';
import type { HostCommand } from './types.js';

/** Linux: IFNAMSIZ 16 with the NUL. */
export const MAX_IFNAME_LENGTH = 15;
/** Each `ip` command's timeout. */
export const IP_TIMEOUT_MS = 5_000;
/** How long to wait for QEMU's tap to disappear after `netdev_del` (it closes the descriptor at once). */
export const TAP_GONE_TIMEOUT_MS = 2_000;
/** Ganeti `RUN_DIRS_MODE` (the `nic/NAME` directory). */
const NIC_DIR_MODE = 0o775;

const SYS_NET = '/sys/class/net';

/** A host-side step failed (an `ip` command, a `nic/` record). One line, says what and where. */
export class HostCommandError extends PlugboardError {
  override name = 'HostCommandError';
}

/** Why `name` cannot be a Linux interface name, or null. */
export function ifnameProblem(name: string): string | null {
  if (name === '') return 'empty';
  if (name.length > MAX_IFNAME_LENGTH) return `${name.length} characters long (a Linux interface name has at most ${MAX_IFNAME_LENGTH})`;
  if (name === '.' || name === '..') return 'not an interface name';
  if (/[\s/:]/.test(name) || name.includes('\0')) return "not an interface name (no whitespace, '/' or ':')";
  return null;
}

export type LinkKind = 'bridge' | 'tap' | 'openvswitch' | 'other' | 'missing';

/** What `/sys/class/net/NAME` says about an interface. */
export interface LinkInfo {
  name: string;
  kind: LinkKind;
  /** `/sys/class/net/NAME/mtu`. */
  mtu?: number;
  /** The interface it is enslaved to (`master` link), if any. */
  master?: string;
  /** IFF_UP is set. */
  up?: boolean;
  /** Its own MAC address. */
  address?: string;
}

async function readSys(name: string, file: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(SYS_NET, name, file), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** The interface `name` as the kernel shows it: a Linux bridge (`/sys/class/net/NAME/bridge`), a tap, Open vSwitch… */
export async function inspectLink(name: string): Promise<LinkInfo> {
  if (ifnameProblem(name) !== null || !(await exists(path.join(SYS_NET, name)))) return { name, kind: 'missing' };
  const [mtu, flags, address, uevent, master] = await Promise.all([
    readSys(name, 'mtu'),
    readSys(name, 'flags'),
    readSys(name, 'address'),
    readSys(name, 'uevent'),
    readlink(path.join(SYS_NET, name, 'master')).then(
      (t) => path.basename(t),
      () => undefined,
    ),
  ]);
  const devtype = /^DEVTYPE=(.*)$/m.exec(uevent ?? '')?.[1];
  let kind: LinkKind = 'other';
  if (await exists(path.join(SYS_NET, name, 'bridge'))) kind = 'bridge';
  else if (await exists(path.join(SYS_NET, name, 'tun_flags'))) kind = 'tap';
  else if (devtype === 'openvswitch') kind = 'openvswitch';
  const info: LinkInfo = { name, kind };
  const m = mtu !== undefined ? Number.parseInt(mtu, 10) : Number.NaN;
  if (Number.isInteger(m)) info.mtu = m;
  if (flags !== undefined) info.up = (Number.parseInt(flags, 16) & 1) === 1;
  if (address !== undefined) info.address = address;
  if (master !== undefined) info.master = master;
  return info;
}

/** Whether `p` is a character device (`/dev/net/tun`, `/dev/vhost-net`). */
export async function isCharDevice(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isCharacterDevice();
  } catch {
    return false;
  }
}

/** PATH for `ip`, as Ganeti runs kvm-ifup (`$PATH:/sbin:/usr/sbin`). */
function ipEnv(): NodeJS.ProcessEnv {
  const base = process.env['PATH'] ?? '/usr/bin:/bin';
  return { ...process.env, PATH: `${base}:/usr/sbin:/sbin`, LC_ALL: 'C' };
}

/** Runs `ip ARGS` (no shell) with a timeout; the error names the command and says ip's first line. */
export function runIp(args: readonly string[], opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
  const shown = `ip ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      args,
      { timeout: opts.timeoutMs ?? IP_TIMEOUT_MS, killSignal: 'SIGKILL', env: ipEnv(), encoding: 'utf8', ...(opts.signal ? { signal: opts.signal } : {}) },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        let why: string;
        if (e.code === 'ENOENT') why = 'the ip command (iproute2) is not installed or not in PATH';
        else if (e.killed || e.signal === 'SIGKILL') why = `no answer within ${opts.timeoutMs ?? IP_TIMEOUT_MS} ms`;
        else why = (stderr || e.message).trim().split('\n')[0] ?? 'failed';
        reject(new HostCommandError(`${shown}: ${why}`, { cause: error }));
      },
    );
  });
}

/** Ganeti's `fix_mac`: the tap's own address with first byte `fe`. */
export function fixedTapMac(address: string): string {
  return `fe${address.slice(2)}`;
}

/**
 * Configures the tap QEMU created for a bridged NIC, as Ganeti's kvm-ifup does: first byte of its
 * MAC `fe` (failure ignored, as Ganeti does), up, the bridge's MTU, `master BRIDGE`. Then checks
 * the tap is up and enslaved to the bridge.
 */
export async function configureBridgedTap(tap: string, bridge: string, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
  const done: string[] = [];
  const before = await inspectLink(tap);
  if (before.kind !== 'tap') {
    throw new HostCommandError(`tap ${tap} is not there after netdev_add (${before.kind === 'missing' ? 'no such interface' : `it is a ${before.kind} interface`})`);
  }
  const br = await inspectLink(bridge);
  if (br.kind !== 'bridge') {
    throw new HostCommandError(`bridge ${bridge} ${br.kind === 'missing' ? 'no longer exists' : `is not a Linux bridge (${br.kind})`}: tap ${tap} cannot join it`);
  }
  if (before.address) {
    const mac = fixedTapMac(before.address);
    try {
      await runIp(['link', 'set', 'dev', tap, 'address', mac], opts);
      done.push(`address ${mac}`);
    } catch {
      // Ganeti: `ip link set $INTERFACE address $FIXED_MAC || true`.
    }
  }
  await runIp(['link', 'set', 'dev', tap, 'up'], opts);
  done.push('up');
  if (br.mtu !== undefined && br.mtu !== before.mtu) {
    await runIp(['link', 'set', 'dev', tap, 'mtu', String(br.mtu)], opts);
    done.push(`mtu ${br.mtu}`);
  }
  await runIp(['link', 'set', 'dev', tap, 'master', bridge], opts);
  done.push(`master ${bridge}`);
  const after = await inspectLink(tap);
  if (after.master !== bridge || after.up !== true) {
    throw new HostCommandError(
      `tap ${tap} is not up on bridge ${bridge} after ip link set (master ${after.master ?? 'none'}, ${after.up ? 'up' : 'down'})`,
    );
  }
  return done;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits (bounded) until no interface `name` exists. True when it is gone. */
export async function waitLinkGone(name: string, timeoutMs = TAP_GONE_TIMEOUT_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let interval = 2;
  for (;;) {
    if (!(await exists(path.join(SYS_NET, name)))) return true;
    if (Date.now() >= deadline) return false;
    await delay(Math.min(interval, Math.max(1, deadline - Date.now())));
    interval = Math.min(interval * 2, 100);
  }
}

// ---------------------------------------------------------------------------------------------
// nic/NAME/SEQ records

/** The `nic/NAME/SEQ` records of an instance: SEQ → tap name. Empty when the directory is missing. */
export async function readNicRecords(root: string, name: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let entries: string[];
  try {
    entries = await readdir(nicDirPath(root, name));
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^(0|[1-9][0-9]{0,3})$/.test(e)) continue;
    try {
      const text = (await readFile(path.join(nicDirPath(root, name), e), 'utf8')).trim();
      if (text !== '' && ifnameProblem(text) === null) out.set(Number(e), text);
    } catch {
      // unreadable or a directory: not a record
    }
  }
  return out;
}

/** Writes `nic/NAME/SEQ` atomically with the tap name (no newline, as Ganeti writes it). */
export async function writeNicRecord(root: string, name: string, seq: number, tap: string): Promise<void> {
  const dir = nicDirPath(root, name);
  try {
    await mkdir(dir, { recursive: true, mode: NIC_DIR_MODE });
  } catch (error) {
    throw new HostCommandError(`cannot create ${dir}: ${messageOf(error)}`, { cause: error });
  }
  await writeRuntimeFileAtomic(nicFilePath(root, name, seq), tap);
}

async function unlinkIfThere(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Removes `nic/NAME/SEQ`. With `lastSeq` (the index of the last NIC before the removal), the
 * records after it move down by one (SEQ+1 → SEQ, …), so that record N stays the tap of the
 * runtime file's NIC N after the entry is taken out of the list — what Ganeti's readers assume
 * (`_ConfigureRoutedNICs` reads record N for NIC N).
 */
export async function removeNicRecord(root: string, name: string, seq: number, lastSeq?: number): Promise<void> {
  try {
    await unlinkIfThere(nicFilePath(root, name, seq));
    for (let j = seq + 1; lastSeq !== undefined && j <= lastSeq; j++) {
      const from = nicFilePath(root, name, j);
      const to = nicFilePath(root, name, j - 1);
      try {
        await rename(from, to);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await unlinkIfThere(to);
      }
    }
  } catch (error) {
    throw new HostCommandError(`cannot update ${nicDirPath(root, name)}: ${messageOf(error)}`, { cause: error });
  }
}

// ---------------------------------------------------------------------------------------------
// Host commands of a plan

/** The host steps NIC plans use. */
export const hostCommands = {
  /** Configure QEMU's new tap for a bridged NIC (kvm-ifup's setup_bridge). */
  tapConfigure: (tap: string, bridge: string): HostCommand => ({ host: 'tap-configure', detail: { tap, bridge, mode: 'bridged' } }),
  /** Make sure the tap is gone (after netdev_del): wait for it, bounded; never deletes someone else's. */
  tapGone: (tap: string): HostCommand => ({ host: 'tap-gone', detail: { tap } }),
  nicRecordWrite: (instance: string, seq: number, tap: string): HostCommand => ({
    host: 'nic-record-write',
    detail: { record: `nic/${instance}/${seq}`, instance, seq, tap },
  }),
  nicRecordRemove: (instance: string, seq: number, lastSeq?: number): HostCommand => ({
    host: 'nic-record-remove',
    detail: {
      record: `nic/${instance}/${seq}`,
      instance,
      seq,
      ...(lastSeq !== undefined && lastSeq > seq ? { renumber: `nic/${instance}/${seq + 1}..${lastSeq} move down by one`, lastSeq } : {}),
    },
  }),
};

/** One line for a host command, as in a plan or an outcome. */
export function describeHostCommand(c: HostCommand): string {
  if (isFdHostCommand(c)) return describeFdHost(c);
  const d = c.detail;
  switch (c.host) {
    case 'tap-configure':
      return `tap ${String(d['tap'])}: MAC fe:…, up, MTU of ${String(d['bridge'])}, master ${String(d['bridge'])}`;
    case 'tap-gone':
      return `tap ${String(d['tap'])} gone`;
    case 'nic-record-write':
      return `write ${String(d['record'])} = ${String(d['tap'])}`;
    case 'nic-record-remove':
      return `remove ${String(d['record'])}${d['renumber'] ? ` (${String(d['renumber'])})` : ''}`;
    default:
      return `${c.host} ${JSON.stringify(d)}`;
  }
}

function str(d: Record<string, unknown>, key: string, c: HostCommand): string {
  const v = d[key];
  if (typeof v !== 'string' || v === '') throw new HostCommandError(`host step ${c.host}: ${key} missing`);
  return v;
}

function int(d: Record<string, unknown>, key: string, c: HostCommand): number {
  const v = d[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new HostCommandError(`host step ${c.host}: ${key} missing`);
  return v;
}

/** Runs one host step of a plan. `root` is the node's root (for `nic/` records). */
export async function executeHostCommand(c: HostCommand, ctx: { root: string; signal?: AbortSignal }): Promise<void> {
  const d = c.detail;
  switch (c.host) {
    case 'tap-configure': {
      const tap = str(d, 'tap', c);
      const bridge = str(d, 'bridge', c);
      if (ifnameProblem(tap) || ifnameProblem(bridge)) throw new HostCommandError(`host step tap-configure: bad interface name`);
      await configureBridgedTap(tap, bridge, ctx.signal ? { signal: ctx.signal } : {});
      return;
    }
    case 'tap-gone': {
      const tap = str(d, 'tap', c);
      if (await waitLinkGone(tap)) return;
      const info = await inspectLink(tap);
      throw new HostCommandError(
        `tap ${tap} still exists ${TAP_GONE_TIMEOUT_MS / 1000} s after netdev_del${info.master ? ` (on ${info.master})` : ''}: ` +
          `another process holds it, or it is persistent; check with ip -d link show ${tap} before removing it`,
      );
    }
    case 'nic-record-write':
      await writeNicRecord(ctx.root, str(d, 'instance', c), int(d, 'seq', c), str(d, 'tap', c));
      return;
    case 'nic-record-remove': {
      const last = d['lastSeq'];
      await removeNicRecord(ctx.root, str(d, 'instance', c), int(d, 'seq', c), typeof last === 'number' ? last : undefined);
      return;
    }
    default:
      throw new HostCommandError(`unknown host step ${c.host}`);
  }
}

/** `/dev/net/tun` and `/dev/vhost-net`. */
export const TUN_DEVICE = '/dev/net/tun';
export const VHOST_NET_DEVICE = '/dev/vhost-net';
