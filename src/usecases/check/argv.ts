/**
 * The command line of the migration check's QEMU (see run.ts for the whole check).
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
 */
import { accessSync, constants as fsConstants } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { RefusedError, messageOf } from '../../errors.js';
import type { RuntimeFile } from '../../runtime/types.js';
import { escOpt, formatOpts, optsElements, optsGet, parseOptsValue, parseQemuArgv, type OptsPair } from '../../qemu/argv.js';
import { diskOptions, nicOptions, toArgv, upgradedKvmCmd, userNetdev } from '../../qemu/options.js';

export type Accel = 'kvm' | 'tcg';

/** Memory of the check QEMU (MiB): the device layout does not depend on it. */
export const CHECK_MEMORY_MB = 64;

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
