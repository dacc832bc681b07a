/**
 * The per-device QEMU options Ganeti adds when it starts an instance from its runtime file:
 * Ganeti 3.0 `_ExecuteKVMRuntime` (NICs) and `_GenerateKVMBlockDevicesOptions` (disks), to the
 * character where Ganeti defines it. kvm_cmd already holds everything else (the SCSI controller
 * `-device TYPE,id=scsi` too: it is not repeated here).
 *
 * NICs, in order (or `-net none` when there are none):
 *   -netdev type=tap,id=NETDEV,fd=N[,vhostfd=M][,vhost=on]          (fds=a:b / vhostfds= with multiqueue)
 *   -device <hvinfo>,netdev=NETDEV,mac=MAC[,mq=on,vectors=2N+2]
 * where <hvinfo> is `driver` then every other hvinfo key in the file's order (`_GenerateDeviceHVInfoStr`)
 * and NETDEV is the hvinfo id (a NIC without hvinfo: `-device <model>` without addr, `netdev<SEQ>`).
 *
 * Disks, in order, for paravirtual and scsi-* disk types (QEMU -device drivers):
 *   [-boot c before the first, when boot_order=disk and no kernel_path]
 *   -device <hvinfo>,drive=ID
 *   -drive file=PATH,format=raw,if=none[,aio=…][,cache=…][,discard=…],id=ID[,auto-read-only=off]
 * and for the legacy types (ide, scsi, sd, mtd, pflash): only `-drive file=PATH,format=raw,if=TYPE…`
 * (no id, no -device). PATH is the disk symlink, or the URI for `params.access=userspace` disks.
 * Cache/aio: `_GenerateDiskAioCacheParameters` (aio native → `aio=native,cache=none`; else
 * `aio=threads` plus `cache=X` unless disk_cache is `default`; shared-storage templates except rbd
 * force cache=none). A read-only disk is refused, as Ganeti does.
 *
 * `{blockdev: true}` gives the `-blockdev` form newer Ganeti uses (and that matches plugboard's
 * `blockdev-add` hot-add): `-device <hvinfo>,drive=ID,write-cache=on|off[,bootindex=1]` and
 * `-blockdev driver=raw,node-name=ID[,discard=…],cache.direct=…,cache.no-flush=off,file.driver=host_device|file,file.filename=PATH,file.aio=…[,auto-read-only=off]`.
 *
 * For a QEMU that plugboard itself starts (the migration check), `netdevFor` replaces Ganeti's
 * tap file descriptors by any netdev (`type=user`, a tap by ifname); see `userNetdev`/`tapNetdev`.
 */

import { RuntimeFileError, type InputIssue } from '../errors.js';
import type { Hvinfo, Json, JsonObject, RuntimeDisk, RuntimeFile, RuntimeNic } from '../runtime/types.js';
import { pyNumber } from '../runtime/json.js';
import { nicDriver } from '../runtime/hvparams.js';
import { argvStrings } from './argv.js';

/** One option with its value, as Ganeti would pass it. */
export interface StartOption {
  /** `-netdev`, `-device`, `-drive`, `-blockdev`, `-net`, `-boot`. */
  option: string;
  value: string;
  /** The disk or NIC it belongs to (index in the runtime file's list; id when it has one). */
  device?: { kind: 'disk' | 'nic'; index: number; id?: string };
}

export interface DeviceOptionsConfig {
  /** `-blockdev` + `-device …,write-cache=` instead of Ganeti 3.0's `-drive` (default false). */
  blockdev?: boolean;
  /**
   * Append `auto-read-only=off` (Ganeti does when `kvm --help` lists it: QEMU ≥ 3.1). Default true.
   */
  autoReadOnlyOff?: boolean;
  /** Old QEMUs whose `-drive` had `boot=on|off`: Ganeti adds `,boot=on` to the first disk. Default false. */
  bootFlag?: boolean;
  /**
   * The whole `-netdev` value for a NIC (`netdevId` is the id the `-device` refers to). Default:
   * Ganeti's tap with file descriptors (see `tapFds`).
   */
  netdevFor?: (nic: RuntimeNic, seq: number, netdevId: string) => string;
  /**
   * The tap (and vhost) file descriptors Ganeti would pass for a NIC (`queues` of each; vhost ones
   * only when vhost is on). Default: numbered from 3 in the order Ganeti opens them (per NIC, per
   * queue: tap, then vhost), as in a process with nothing else open.
   */
  tapFds?: (nic: RuntimeNic, seq: number, queues: number, vhost: boolean) => TapFds;
  /** blockdev form: the protocol driver of a disk's path. Default: `file` for the file, sharedfile and gluster templates, else `host_device`. */
  fileDriverFor?: (disk: RuntimeDisk, path: string) => 'host_device' | 'file';
}

/** File descriptors as written in `fd=`/`fds=`/`vhostfd=`/`vhostfds=` (numbers, or placeholders). */
export interface TapFds {
  fds: (number | string)[];
  vhostfds: (number | string)[];
}

/**
 * A `tapFds` with placeholders instead of numbers: `TAPFD0`, `TAPFD1`… and `VHOSTFD0`… counted
 * across NICs in the order Ganeti opens them (the names test/compat/ganeti_runtime.py prints).
 */
export function symbolicTapFds(): NonNullable<DeviceOptionsConfig['tapFds']> {
  let tap = 0;
  let vhost = 0;
  return (_nic, _seq, queues, withVhost) => {
    const fds: string[] = [];
    const vhostfds: string[] = [];
    for (let q = 0; q < queues; q++) {
      fds.push(`TAPFD${tap++}`);
      if (withVhost) vhostfds.push(`VHOSTFD${vhost++}`);
    }
    return { fds, vhostfds };
  };
}

/** A `-netdev` value for `netdevFor`: QEMU's user-mode network (no tap, no root needed). */
export const userNetdev = (_nic: RuntimeNic, _seq: number, netdevId: string): string => `user,id=${netdevId}`;

/** A `netdevFor` that opens a tap by name (`script=no,downscript=no`), e.g. for a migration-check QEMU. */
export function tapNetdev(ifnameFor: (nic: RuntimeNic, seq: number) => string) {
  return (nic: RuntimeNic, seq: number, netdevId: string): string =>
    `tap,id=${netdevId},ifname=${ifnameFor(nic, seq)},script=no,downscript=no`;
}

/** Ganeti `DTS_EXT_MIRROR` (shared storage): KVM forces cache=none for these, except rbd. */
const DTS_EXT_MIRROR = new Set(['blockdev', 'diskless', 'ext', 'gluster', 'rbd', 'sharedfile']);
/** Ganeti `DTS_FILEBASED`. */
const DTS_FILEBASED = new Set(['file', 'gluster', 'sharedfile']);
/** Disk types Ganeti 3.0 starts with `-device` (the driver is in QEMU's device list). */
const DEVICE_DISK_TYPES = new Set(['paravirtual', 'scsi-hd', 'scsi-block', 'scsi-generic', 'scsi-cd']);

/** Python's `str()` of a JSON value, as Ganeti's `"%s" % v` writes it. */
function pyStr(v: Json): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return pyNumber(v);
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

function rawHvinfo(raw: JsonObject, typed: Hvinfo): JsonObject {
  const h = raw.hvinfo;
  if (h !== null && typeof h === 'object' && !Array.isArray(h)) return h;
  return typed as unknown as JsonObject;
}

/** Ganeti `_GenerateDeviceHVInfoStr`: `driver`, then `,key=value` for every other key in order. */
export function hvinfoDeviceString(hvinfo: JsonObject): string {
  const driver = hvinfo.driver;
  let out = pyStr(driver ?? null);
  for (const [k, v] of Object.entries(hvinfo)) {
    if (k === 'driver') continue;
    out += `,${k}=${pyStr(v)}`;
  }
  return out;
}

function str(raw: JsonObject, key: string, dflt: string): string {
  const v = raw[key];
  return typeof v === 'string' ? v : dflt;
}

function hvparamNumber(raw: JsonObject, key: string, dflt: number): number {
  const v = raw[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

/** Ganeti `_GenerateDiskAioCacheParameters`. */
export function aioCacheParameters(diskAio: string | undefined, diskCache: string | undefined, devType: string | undefined): string {
  let cache = diskCache ?? 'default';
  if (devType !== undefined && DTS_EXT_MIRROR.has(devType) && devType !== 'rbd') cache = 'none';
  const aio = diskAio === undefined || diskAio === '' ? 'threads' : diskAio;
  if (aio === 'native') return ',aio=native,cache=none';
  return cache === 'default' ? ',aio=threads' : `,aio=threads,cache=${cache}`;
}

/** Newer Ganeti `kvm_utils.GetCacheSettings`: (writeback, direct, no_flush). */
function cacheSettings(diskCache: string | undefined, devType: string | undefined): [boolean, boolean, boolean] {
  let cache = diskCache ?? 'default';
  if (devType !== undefined && DTS_EXT_MIRROR.has(devType) && devType !== 'rbd') cache = 'none';
  if (cache === 'none') return [true, true, false];
  if (cache === 'writethrough') return [false, false, false];
  return [true, false, false];
}

const onOff = (b: boolean): string => (b ? 'on' : 'off');

/** Ganeti `_GetDriveURI`: the URI for userspace-access disks that have one, else the symlink. */
export function driveUri(disk: RuntimeDisk): string {
  const params = disk.raw.params;
  const access =
    params !== null && typeof params === 'object' && !Array.isArray(params) && typeof params.access === 'string'
      ? params.access
      : 'kernelspace';
  return disk.uri && access === 'userspace' ? disk.uri : disk.link;
}

function isUserspace(disk: RuntimeDisk): boolean {
  return driveUri(disk) !== disk.link;
}

/** blockdev `file.*` keys for a userspace URI (newer Ganeti `ParseStorageUriToBlockdevParam`). */
function uriBlockdevKeys(uri: string, where: string, source: string): string[] {
  const gluster = /^gluster:\/\/(?<host>[a-z0-9-.]+):(?<port>\d+)\/(?<volume>[^/]+)\/(?<path>.+)$/.exec(uri);
  if (gluster?.groups) {
    const g = gluster.groups;
    return [
      'file.driver=gluster',
      'file.server.0.type=inet',
      `file.server.0.host=${g.host}`,
      `file.server.0.port=${g.port}`,
      `file.volume=${g.volume}`,
      `file.path=${g.path}`,
    ];
  }
  const rbd = /^rbd:(?<pool>\w+)\/(?<image>[a-z0-9-.]+)$/.exec(uri);
  if (rbd?.groups) return ['file.driver=rbd', `file.pool=${rbd.groups.pool}`, `file.image=${rbd.groups.image}`];
  throw new RuntimeFileError(source, [
    { path: where, message: `userspace URI ${JSON.stringify(uri)} has no -blockdev form (gluster://HOST:PORT/VOLUME/PATH or rbd:POOL/IMAGE)` },
  ]);
}

function defaultTapFds(): NonNullable<DeviceOptionsConfig['tapFds']> {
  let next = 3;
  return (_nic, _seq, queues, vhost) => {
    const fds: number[] = [];
    const vhostfds: number[] = [];
    for (let q = 0; q < queues; q++) {
      fds.push(next++);
      if (vhost) vhostfds.push(next++);
    }
    return { fds, vhostfds };
  };
}

/** The NIC options (`_ExecuteKVMRuntime`): `-net none`, or `-netdev` + `-device` per NIC. */
export function nicOptions(rf: RuntimeFile, cfg: DeviceOptionsConfig = {}): StartOption[] {
  if (rf.nics.length === 0) return [{ option: '-net', value: 'none' }];
  const h = rf.hvparams;
  const paravirtual = h.nic_type === 'paravirtual';
  const vhost = paravirtual && h.vhost_net;
  const queues = vhost ? Math.max(1, Math.trunc(hvparamNumber(rf.hvparamsRaw, 'virtio_net_queues', 1))) : 1;
  const mq = vhost && queues > 1;
  const nicExtra = mq ? `,mq=on,vectors=${2 * queues + 2}` : '';
  const tapExtra = vhost ? ',vhost=on' : '';
  const nicModel = nicDriver(h.nic_type);
  const tapFds = cfg.tapFds ?? defaultTapFds();
  const out: StartOption[] = [];
  rf.nics.forEach((nic, seq) => {
    const hv = rawHvinfo(nic.raw, nic.hvinfo);
    const hasId = Object.hasOwn(hv, 'id');
    const netdev = hasId ? pyStr(hv.id!) : `netdev${seq}`;
    let nicVal = hasId ? hvinfoDeviceString(hv) : nicModel;
    nicVal += `,netdev=${netdev},mac=${nic.mac}${nicExtra}`;
    let tapVal: string;
    if (cfg.netdevFor) {
      tapVal = cfg.netdevFor(nic, seq, netdev);
    } else {
      const { fds, vhostfds } = tapFds(nic, seq, mq ? queues : 1, vhost);
      const tapfd = `${fds.length > 1 ? 'fds=' : 'fd='}${fds.join(':')}`;
      const vhostfd = vhostfds.length > 0 ? `${vhostfds.length > 1 ? ',vhostfds=' : ',vhostfd='}${vhostfds.join(':')}` : '';
      tapVal = `type=tap,id=${netdev},${tapfd}${vhostfd}${tapExtra}`;
    }
    const device: StartOption['device'] = { kind: 'nic', index: nic.index };
    if (hasId) device.id = netdev;
    out.push({ option: '-netdev', value: tapVal, device }, { option: '-device', value: nicVal, device });
  });
  return out;
}

/** The disk options (`_GenerateKVMBlockDevicesOptions`). Throws RuntimeFileError for what Ganeti refuses. */
export function diskOptions(rf: RuntimeFile, cfg: DeviceOptionsConfig = {}): StartOption[] {
  const h = rf.hvparams;
  const raw = rf.hvparamsRaw;
  const kernelPath = str(raw, 'kernel_path', '');
  let bootDisk = kernelPath === '' && str(raw, 'boot_order', 'disk') === 'disk';
  const diskType = h.disk_type;
  const deviceModel = DEVICE_DISK_TYPES.has(diskType);
  const iface = diskType === 'paravirtual' ? 'virtio' : diskType;
  const ifVal = deviceModel ? ',if=none' : `,if=${iface}`;
  const discard = h.disk_discard ?? 'default';
  const discardVal = discard === 'default' ? '' : `,discard=${discard}`;
  const autoRo = cfg.autoReadOnlyOff ?? true;
  const issues: InputIssue[] = [];
  const out: StartOption[] = [];

  if (cfg.blockdev && !deviceModel) {
    throw new RuntimeFileError(rf.source, [
      { path: 'hvparams.disk_type', message: `disk_type ${diskType} has no -blockdev form (Ganeti 3.0 starts it as -drive if=${iface})` },
    ]);
  }

  for (const disk of rf.disks) {
    const where = `disks[${disk.index}][0]`;
    const mode = disk.raw.mode;
    if (mode !== undefined && mode !== 'rw') {
      issues.push({ path: `${where}.mode`, message: `disk/${disk.index} is read-only (${pyStr(mode)}): Ganeti refuses to start KVM instances with read-only disks` });
      continue;
    }
    const hv = rawHvinfo(disk.raw, disk.hvinfo);
    const id = typeof hv.id === 'string' ? hv.id : undefined;
    if (deviceModel && (id === undefined || typeof hv.driver !== 'string')) {
      issues.push({
        path: `${where}.hvinfo`,
        message: `disk/${disk.index} has no hvinfo ${id === undefined ? 'id' : 'driver'}: Ganeti cannot build the -device of a ${diskType} disk without it`,
      });
      continue;
    }
    const device: StartOption['device'] = { kind: 'disk', index: disk.index };
    if (deviceModel && id !== undefined) device.id = id;
    const path = driveUri(disk);

    if (cfg.blockdev) {
      const [writeback, direct, noFlush] = cacheSettings(h.disk_cache, disk.devType);
      let devVal = `${hvinfoDeviceString(hv)},drive=${id!},write-cache=${onOff(writeback)}`;
      if (bootDisk) {
        devVal += ',bootindex=1';
        bootDisk = false;
      }
      out.push({ option: '-device', value: devVal, device });
      const keys = [`driver=raw`, `node-name=${id!}`];
      if (discard !== 'default') keys.push(`discard=${discard}`);
      keys.push(`cache.direct=${onOff(direct)}`, `cache.no-flush=${onOff(noFlush)}`);
      if (isUserspace(disk)) {
        keys.push(...uriBlockdevKeys(path, `disks[${disk.index}][2]`, rf.source));
      } else {
        const fileDriver = cfg.fileDriverFor
          ? cfg.fileDriverFor(disk, path)
          : disk.devType !== undefined && DTS_FILEBASED.has(disk.devType)
            ? 'file'
            : 'host_device';
        keys.push(`file.driver=${fileDriver}`, `file.filename=${path}`, `file.aio=${h.disk_aio || 'threads'}`);
      }
      if (autoRo) keys.push('auto-read-only=off');
      out.push({ option: '-blockdev', value: keys.join(','), device });
      continue;
    }

    const aioCache = aioCacheParameters(h.disk_aio, h.disk_cache, disk.devType);
    let bootVal = '';
    if (bootDisk) {
      out.push({ option: '-boot', value: 'c' });
      bootDisk = false;
      if (cfg.bootFlag && diskType !== 'ide') bootVal = ',boot=on';
    }
    let driveVal = `file=${path},format=raw${ifVal}${bootVal}${aioCache}${discardVal}`;
    if (deviceModel) {
      driveVal += `,id=${id!}`;
      out.push({ option: '-device', value: `${hvinfoDeviceString(hv)},drive=${id!}`, device });
    }
    if (autoRo) driveVal += ',auto-read-only=off';
    out.push({ option: '-drive', value: driveVal, device });
  }
  if (issues.length > 0) throw new RuntimeFileError(rf.source, issues);
  return out;
}

/** NIC options then disk options: what Ganeti adds for the devices of the runtime file. */
export function deviceOptions(rf: RuntimeFile, cfg: DeviceOptionsConfig = {}): StartOption[] {
  return [...nicOptions(rf, cfg), ...diskOptions(rf, cfg)];
}

/** The argv form: `['-netdev', 'type=tap,…', '-device', '…', …]`. */
export function toArgv(options: readonly StartOption[]): string[] {
  return options.flatMap((o) => [o.option, o.value]);
}

/**
 * kvm_cmd as Ganeti 3.0 uses it after loading (`_UpgradeSerializedRuntime`): the first
 * `-localtime` becomes `-rtc base=localtime`, the first `-balloon X[,ARGS]` becomes
 * `-device virtio-balloon[,ARGS]` (whatever X is), and `-vnc …,tls[,x509=D|x509verify=D]` becomes
 * a `-object tls-creds-*` plus `-vnc …,tls-creds=vnctls0`. Numbers become strings.
 */
export function upgradedKvmCmd(kvmCmd: readonly (string | number)[]): string[] {
  const cmd = argvStrings(kvmCmd);
  let idx = cmd.indexOf('-localtime');
  if (idx >= 0) cmd.splice(idx, 1, '-rtc', 'base=localtime');
  idx = cmd.indexOf('-balloon');
  if (idx >= 0 && idx + 1 < cmd.length) {
    const args = cmd[idx + 1]!.split(',').slice(1);
    cmd.splice(idx, 2, '-device', `virtio-balloon${args.length > 0 ? `,${args.join(',')}` : ''}`);
  }
  idx = cmd.indexOf('-vnc');
  if (idx >= 0 && idx + 1 < cmd.length) {
    const vncArgs: string[] = [];
    let tlsObj: string | null = null;
    const tlsObjArgs = ['id=vnctls0', 'endpoint=server'];
    for (const arg of cmd[idx + 1]!.split(',')) {
      if (arg === 'tls') {
        tlsObj = 'tls-creds-anon';
        vncArgs.push('tls-creds=vnctls0');
        continue;
      } else if (arg.startsWith('x509verify=') || arg.startsWith('x509=')) {
        const pki = arg.slice(arg.indexOf('=') + 1);
        tlsObj = 'tls-creds-x509';
        tlsObjArgs.push(`dir=${pki}`);
        tlsObjArgs.push(arg.startsWith('x509verify=') ? 'verify-peer=yes' : 'verify-peer=no');
        continue;
      }
      vncArgs.push(arg);
    }
    if (tlsObj !== null) cmd.splice(idx, 2, '-object', `${tlsObj},${tlsObjArgs.join(',')}`, '-vnc', vncArgs.join(','));
  }
  return cmd;
}

export interface StartArgvExtras {
  /** `-runas USER` right after kvm_cmd (security_model=user: the security_domain). */
  runas?: string;
  /** `-k KEYMAP`. */
  keymap?: string;
  /** The `-incoming` value (`tcp:HOST:PORT`, `defer`, `unix:PATH`). */
  incoming?: string;
  /** `-qmp` values (Ganeti: `unix:…/NAME.qmp,server,nowait` and the kvmd one). */
  qmp?: readonly string[];
}

/**
 * The whole command line in Ganeti 3.0's order (`_ExecuteKVMRuntime`): kvm_cmd (upgraded), `-runas`,
 * `-k`, the NIC options, `-incoming`, `-qmp`s, the disk options, and `-S` unless kvm_cmd has it or
 * the QEMU is a migration target.
 */
export function startArgv(rf: RuntimeFile, cfg: DeviceOptionsConfig = {}, extras: StartArgvExtras = {}): string[] {
  const cmd = upgradedKvmCmd(rf.kvmCmd);
  if (extras.runas !== undefined) cmd.push('-runas', extras.runas);
  if (extras.keymap !== undefined && extras.keymap !== '') cmd.push('-k', extras.keymap);
  cmd.push(...toArgv(nicOptions(rf, cfg)));
  if (extras.incoming !== undefined) cmd.push('-incoming', extras.incoming);
  for (const q of extras.qmp ?? []) cmd.push('-qmp', q);
  cmd.push(...toArgv(diskOptions(rf, cfg)));
  if (!cmd.includes('-S') && extras.incoming === undefined) cmd.push('-S');
  return cmd;
}
