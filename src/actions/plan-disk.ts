/**
 * Pure planners for disk hot-add and unplug. Input: the runtime file, the bus model (with the live
 * state overlaid when QEMU answers), what QEMU reports, and facts about the host path. Output: a Plan
 * or a RefusedError/InputError that says why — before anything is sent.
 */
import { InputError, InternalError, RefusedError } from '../errors.js';
import { allocate } from '../bus/allocate.js';
import type { BusModel } from '../bus/types.js';
import { DISK_TYPES, diskDriver, isScsiDiskType, HOTPLUGGABLE_DISK_TYPES } from '../runtime/hvparams.js';
import { checkNodeName, checkQemuId, deviceId, isUuid } from '../runtime/ids.js';
import { withDisk, withoutDisk } from '../runtime/edit.js';
import type { JsonObject, RuntimeDisk, RuntimeFile } from '../runtime/types.js';
import type { LiveState } from '../live/probe.js';
import { backendOf } from '../live/backend.js';
import type { FdInputError } from '../qmp/fdpass/errors.js';
import type { CheckedDiskPath } from '../qmp/fdpass/inspect.js';
import { chooseFdset, diskFdSteps, fdPassingReason, needsDirect, qemuUserCheckStep, unplugFdsetStep } from '../qmp/fdpass/plan.js';
import type { HostPathInfo } from './host.js';
import type { Action, Allocation, BackendStyle, Plan, PlanStep, QmpCommand } from './types.js';
import { refuseIfQemuNamesItOtherwise } from './unplug-guard.js';

export interface DiskPlanContext {
  rf: RuntimeFile;
  /** The bus model: from the runtime file, with the live state overlaid when QEMU answered. */
  model: BusModel;
  /** What QEMU reports; absent for `--dry-run --runtime-file` planning. */
  live?: LiveState;
  /** Backend style detected from the instance's own disks, when known. */
  detectedBackend?: BackendStyle;
  hostPath?: HostPathInfo;
  /**
   * The disk path as checked for descriptor passing (checkDiskPath: what it is, where it resolves,
   * its device and inode), or why it cannot be a disk: used when the plan passes a descriptor.
   */
  checkedPath?: { ok: true; path: CheckedDiskPath } | { ok: false; error: FdInputError };
  /**
   * Names of the block nodes QEMU has (`query-named-block-nodes`), when asked: for an unplug whose
   * device is already gone (a pending unplug the guest acknowledged later, a `system_reset`) but whose
   * `-blockdev`/`blockdev-add` node is still there — `query-block` does not list unattached nodes.
   */
  nodeNames?: readonly string[];
  /**
   * For an unplug: whether QEMU has the device, as its answer to the `device_del` the executor sent
   * right behind the probe said (accepted, or DeviceNotFound). Wins over `live.peripherals`, which
   * that probe does not read.
   */
  present?: boolean;
  newUuid: () => string;
}

type HotAddDisk = Extract<Action, { type: 'hot-add-disk' }>;
type UnplugDisk = Extract<Action, { type: 'unplug-disk' }>;

const hmp = (commandLine: string): QmpCommand => ({
  execute: 'human-monitor-command',
  arguments: { 'command-line': commandLine },
});

/** Ganeti 3.0's `_GenerateDiskAioCacheParameters` + discard, as appended to `drive_add`. */
export function driveTuning(rf: RuntimeFile): string {
  const h = rf.hvparams;
  let out = '';
  if (h.disk_aio === 'native') out += ',aio=native,cache=none';
  else if (!h.disk_cache || h.disk_cache === 'default') out += ',aio=threads';
  else out += `,aio=threads,cache=${h.disk_cache}`;
  if (h.disk_discard && h.disk_discard !== 'default') out += `,discard=${h.disk_discard}`;
  return out;
}

/**
 * Why a disk hot-add to this instance passes a descriptor (file-descriptor passing), or undefined
 * when QEMU opens the path itself: QEMU runs as another user or chrooted (the runtime file's
 * hvparams), or the instance's own disks are fdset-backed in QEMU (hot-added by a newer Ganeti),
 * so that the new disk matches them.
 */
export function diskFdReason(rf: RuntimeFile, live: LiveState | undefined): string | undefined {
  const files = live ? rf.disks.map((d) => backendOf(live, diskId(d))?.file) : [];
  return fdPassingReason(rf.hvparams, 'disk', files);
}

function blockdevFile(rf: RuntimeFile, path: string, host: HostPathInfo | undefined): Record<string, unknown> {
  const h = rf.hvparams;
  const file: Record<string, unknown> = {
    driver: host?.type === 'block' ? 'host_device' : 'file',
    filename: path,
  };
  if (h.disk_aio === 'native') {
    file.aio = 'native';
  }
  return file;
}

function blockdevCache(rf: RuntimeFile): Record<string, unknown> | undefined {
  const h = rf.hvparams;
  if (h.disk_aio === 'native' || h.disk_cache === 'none') return { direct: true, 'no-flush': false };
  if (h.disk_cache === 'unsafe') return { direct: false, 'no-flush': true };
  return undefined;
}

export function planDiskHotAdd(action: HotAddDisk, ctx: DiskPlanContext): Plan {
  const { rf } = ctx;
  const diskType = action.diskType ?? rf.hvparams.disk_type;
  if (!(DISK_TYPES as readonly string[]).includes(diskType)) {
    throw new InputError(`--disk-type ${diskType}: not a disk_type (one of ${DISK_TYPES.join(', ')})`);
  }
  if (diskType === 'scsi') {
    throw new RefusedError(
      `${rf.instance} has disk_type=scsi, the deprecated "-drive if=scsi" model: its disks cannot be hot-added. ` +
        `Hot-add needs disk_type=scsi-hd (gnt-instance modify -H disk_type=scsi-hd ${rf.instance}, effective at the next start), ` +
        `or pass --disk-type scsi-hd if the instance already has a SCSI controller; plugboard will not plug a virtio disk instead.`,
    );
  }
  if (!(HOTPLUGGABLE_DISK_TYPES as readonly string[]).includes(diskType)) {
    throw new RefusedError(
      `disk_type ${diskType} cannot be hot-plugged (hot-pluggable: ${HOTPLUGGABLE_DISK_TYPES.join(', ')})`,
    );
  }
  const fdReason = diskFdReason(rf, ctx.live);
  const host = ctx.hostPath;
  let checked: CheckedDiskPath | undefined;
  if (fdReason !== undefined) {
    const c = ctx.checkedPath;
    if (!c) throw new InternalError('a disk hot-add passing a descriptor was planned without checking the path');
    if (!c.ok) throw c.error;
    checked = c.path;
  } else if (host) {
    checkHostPathFor(diskType, host);
  }

  const uuid = action.uuid ?? ctx.newUuid();
  if (!isUuid(uuid)) throw new InputError(`--uuid ${uuid}: not a UUID (like 9e7c85f6-b6e5-4243-b27d-680b78c6d203)`);
  if (rf.disks.some((d) => d.uuid === uuid) || rf.nics.some((n) => n.uuid === uuid)) {
    throw new InputError(`--uuid ${uuid}: already used by a device of ${rf.instance}`);
  }
  const id = deviceId('disk', uuid);
  const idProblem = checkQemuId(id) ?? checkNodeName(id);
  if (idProblem) throw new InputError(`device id ${id}: ${idProblem}`);
  if (ctx.live?.peripherals.some((p) => p.id === id)) {
    throw new RefusedError(`QEMU already has a device with id ${id} (uuid ${uuid}): pick another --uuid`);
  }
  const taken = [...rf.disks, ...rf.nics].find((d) => 'id' in d.hvinfo && d.hvinfo.id === id);
  if (taken) throw new InputError(`device id ${id} is already in the runtime file (uuid ${taken.uuid})`);

  const result = allocate(ctx.model, rf, { kind: 'disk', type: diskType });
  if (!result.ok) throw new RefusedError(`cannot hot-add a ${diskType} disk to ${rf.instance}: ${result.error}`);
  const a = result.allocation;
  const allocation: Allocation =
    a.bus === 'pci.0' ? { bus: 'pci.0', addr: a.addr } : { bus: 'scsi.0', 'scsi-id': a['scsi-id'], channel: 0, lun: 0 };
  const skipped =
    a.bus === 'pci.0'
      ? a.skipped.map((s) => `slot 0x${s.slot.toString(16)} passed over: ${s.reason}`)
      : a.skipped.map((s) => `target ${s.target} passed over: ${s.reason}`);

  const driver = diskDriver(diskType);
  const hvinfo: JsonObject =
    allocation.bus === 'pci.0'
      ? { driver, id, bus: 'pci.0', addr: allocation.addr }
      : { driver, id, bus: 'scsi.0', channel: 0, 'scsi-id': allocation['scsi-id'], lun: 0 };

  const notes: string[] = [];
  let backend: BackendStyle;
  if (action.backend) backend = action.backend;
  else if (ctx.detectedBackend) {
    backend = ctx.detectedBackend;
    notes.push(`backend: ${backend === 'drive' ? 'drive_add (named drive)' : 'blockdev-add (node)'}, as the instance's own disks`);
  } else {
    backend = 'drive';
    notes.push(
      ctx.live
        ? 'backend: drive_add, as Ganeti 3.0 does (the instance has no disks to detect the style from)'
        : 'backend: drive_add, as Ganeti 3.0 does (not detected: QEMU was not asked)',
    );
  }

  const steps: PlanStep[] = [];
  let fdPassing: Plan['fdPassing'];
  if (checked && fdReason !== undefined) {
    fdPassing = { reason: fdReason };
    const userCheck = qemuUserCheckStep(rf.instance, rf.hvparams);
    if (userCheck) steps.push(userCheck);
    const fdset = chooseFdset(ctx.live?.fdsets ?? []);
    const file = rf.hvparams.disk_aio === 'native' ? { aio: 'native' } : {};
    steps.push(
      ...diskFdSteps({
        id,
        fdset,
        backend,
        open: { typed: action.path, path: checked.path, kind: checked.kind, direct: needsDirect(rf.hvparams), dev: checked.dev, ino: checked.ino },
        driveOptions: `,if=none,id=${id},format=raw,auto-read-only=off${driveTuning(rf)}`,
        blockdev: blockdevArgs(rf, id, file),
      }),
    );
    notes.push(
      `descriptor passing: ${fdReason}, so plugboard opens ${checked.path} as root and hands QEMU the descriptor ` +
        `(add-fd, fdset ${fdset}); the runtime file records ${action.path}`,
    );
    if (!ctx.live) notes.push(`fdset ${fdset} is assumed free (QEMU was not asked); the run takes the lowest free one`);
    else if (ctx.live.running === false) {
      notes.push("QEMU is paused: QEMU 7.2 closes plugboard's copy of the descriptor (given back with remove-fd) only once the instance runs");
    }
  } else if (backend === 'drive') {
    steps.push({
      purpose: `create the drive ${id} for ${action.path}`,
      command: hmp(`drive_add dummy file=${escapeDriveValue(action.path)},if=none,id=${id},format=raw,auto-read-only=off${driveTuning(rf)}`),
      check: { kind: 'hmp-empty-or', ok: ['OK'] },
      undo: [hmp(`drive_del ${id}`)],
    });
  } else {
    steps.push({
      purpose: `create the block node ${id} for ${action.path}`,
      command: { execute: 'blockdev-add', arguments: blockdevArgs(rf, id, blockdevFile(rf, action.path, host)) },
      undo: [{ execute: 'blockdev-del', arguments: { 'node-name': id } }],
    });
  }
  const deviceArgs: Record<string, unknown> = { drive: id, ...hvinfo };
  steps.push({
    purpose: `add ${driver} ${id} at ${allocationText(allocation)}`,
    command: { execute: 'device_add', arguments: deviceArgs },
    undo: [{ execute: 'device_del', arguments: { id } }],
  });

  const index = rf.disks.length;
  const kind = checked?.kind ?? host?.type;
  const sizeBytes = checked ? checked.sizeBytes : host?.sizeBytes;
  const entry: JsonObject = {
    dev_type: kind === 'block' ? 'blockdev' : 'file',
    logical_id: kind === 'block' ? ['manual', action.path] : ['loop', action.path],
    iv_name: `disk/${index}`,
    mode: 'rw',
    params: {},
    size: sizeBytes !== undefined ? Math.floor(sizeBytes / (1024 * 1024)) : 0,
    uuid,
    hvinfo,
  };
  const runtimeAfter = withDisk(rf, { disk: entry, link: action.path, uri: null });
  return {
    action,
    instance: rf.instance,
    device: { id, uuid, kind: 'disk', driver },
    allocation,
    skipped,
    steps,
    verify: { kind: 'present', id, allocation },
    runtimeAfter,
    runtimeChange: `add disks[${index}] ${id} (${driver} at ${allocationText(allocation)}, ${action.path})`,
    notes,
    ...(fdPassing ? { fdPassing } : {}),
  };
}

/** `blockdev-add`'s arguments for a raw node on `file` (the protocol node's arguments), with the instance's cache and discard. */
function blockdevArgs(rf: RuntimeFile, id: string, file: Record<string, unknown>): Record<string, unknown> {
  const args: Record<string, unknown> = { driver: 'raw', 'node-name': id, file };
  const cache = blockdevCache(rf);
  if (cache) args.cache = cache;
  if (rf.hvparams.disk_discard && rf.hvparams.disk_discard !== 'default') args.discard = rf.hvparams.disk_discard === 'on' ? 'unmap' : rf.hvparams.disk_discard;
  return args;
}

export function findDisk(rf: RuntimeFile, ref: string): RuntimeDisk {
  const found = rf.disks.find((d) => d.uuid === ref || diskId(d) === ref);
  if (!found) {
    const known = rf.disks.map((d) => `${diskId(d)} (${d.uuid})`).join(', ') || 'none';
    throw new InputError(`${rf.instance} has no disk ${ref} (its disks: ${known})`);
  }
  return found;
}

export function diskId(d: RuntimeDisk): string {
  return 'id' in d.hvinfo && typeof d.hvinfo.id === 'string' ? d.hvinfo.id : deviceId('disk', d.uuid);
}

export function planDiskUnplug(action: UnplugDisk, ctx: DiskPlanContext): Plan {
  const { rf } = ctx;
  const disk = findDisk(rf, action.device);
  const id = diskId(disk);
  if (!('bus' in disk.hvinfo)) {
    throw new RefusedError(
      `${id} has no bus in its hvinfo (a ${rf.hvparams.disk_type} disk from the command line): it cannot be unplugged`,
    );
  }
  const hv = disk.hvinfo;
  const allocation: Allocation =
    'addr' in hv
      ? { bus: 'pci.0', addr: hv.addr }
      : { bus: 'scsi.0', 'scsi-id': hv['scsi-id'], channel: 0, lun: 0 };
  const needsGuest = allocation.bus === 'pci.0';
  const notes: string[] = [];
  const steps: PlanStep[] = [];
  const after: PlanStep[] = [];
  const present = ctx.present ?? (ctx.live ? ctx.live.peripherals.some((p) => p.id === id) : true);
  if (present) {
    steps.push({ purpose: `ask QEMU to remove ${id}`, command: { execute: 'device_del', arguments: { id } } });
  } else {
    refuseIfQemuNamesItOtherwise(ctx.live, allocation, id, rf.instance);
    notes.push(`QEMU no longer has ${id}: nothing to unplug, its runtime file entry is removed`);
  }
  const node = ctx.live ? backendOf(ctx.live, id) : undefined;
  if (node?.kind === 'blockdev') {
    after.push({
      purpose: `remove the block node ${node.nodeName} once QEMU has released it`,
      command: { execute: 'blockdev-del', arguments: { 'node-name': node.nodeName } },
    });
  } else if (node === undefined && ctx.nodeNames?.includes(id)) {
    // Hot-added and -blockdev nodes are named after the device id; a named drive's node is `#blockN`.
    after.push({
      purpose: `remove the block node ${id}, which QEMU still has without its device`,
      command: { execute: 'blockdev-del', arguments: { 'node-name': id } },
    });
  } else if (!ctx.live) {
    notes.push('backend not detected (QEMU was not asked): a blockdev node, if any, is removed after the device');
  }
  // A disk hot-added by descriptor (by plugboard or Ganeti): its fdset goes after the backend.
  const fdsetStep = unplugFdsetStep(node?.file, ctx.live?.fdsets);
  if (fdsetStep) {
    after.push(fdsetStep);
    notes.push(`${id} was passed to QEMU by descriptor (${node?.file}): its fdset is released after the device`);
  }
  if (needsGuest && present) {
    notes.push('a PCI unplug needs the guest to acknowledge it; without that it stays pending and the runtime entry is kept');
  }
  return {
    action,
    instance: rf.instance,
    device: { id, uuid: disk.uuid, kind: 'disk', driver: hv.driver },
    allocation,
    skipped: [],
    steps,
    unplugWait: present ? { id, timeoutMs: action.timeoutMs, needsGuest } : undefined,
    after,
    verify: { kind: 'absent', id },
    runtimeAfter: withoutDisk(rf, disk.uuid),
    runtimeChange: `remove disks[${disk.index}] ${id} (${hv.driver} at ${allocationText(allocation)})`,
    notes,
  };
}

export function allocationText(a: Allocation): string {
  return a.bus === 'pci.0' ? `pci.0 slot ${a.addr}` : `scsi.0 target ${a['scsi-id']}`;
}

/** In QEMU's option syntax a comma inside a value is written twice. */
function escapeDriveValue(value: string): string {
  return value.replaceAll(',', ',,');
}

function checkHostPathFor(diskType: string, host: HostPathInfo): void {
  if (host.type === 'missing') throw new InputError(`--path ${host.path}: ${host.error ?? 'does not exist'}`);
  if (diskType === 'scsi-block' && host.type !== 'block') {
    throw new InputError(`--path ${host.path}: scsi-block passes a host SCSI disk through and needs a block device (/dev/sdX), not a ${host.type}`);
  }
  if (diskType === 'scsi-generic' && host.type !== 'char') {
    throw new InputError(`--path ${host.path}: scsi-generic needs a SCSI generic character device (/dev/sgN), not a ${host.type}`);
  }
  if (!isScsiDiskType(diskType) || diskType === 'scsi-hd' || diskType === 'scsi-cd') {
    if (host.type !== 'block' && host.type !== 'file') {
      throw new InputError(`--path ${host.path}: a disk must be a block device or a regular file, not a ${host.type}`);
    }
  }
}
