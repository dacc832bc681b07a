/**
 * The pure disk planners (src/actions/plan-disk.ts) and the plan's JSON form (plan-json.ts): the
 * exact QMP commands, the allocation, the runtime-file change, and every refusal that must happen
 * before anything is sent to QEMU.
 */
import { describe, expect, it } from 'vitest';
import { planDiskHotAdd, planDiskUnplug, type DiskPlanContext } from '../../src/actions/plan-disk.js';
import { planJson, renderPlanText } from '../../src/actions/plan-json.js';
import type { HostPathInfo } from '../../src/actions/host.js';
import type { Action } from '../../src/actions/types.js';
import { buildBusModel } from '../../src/bus/model.js';
import { baseHvparams } from '../../src/demo/sandbox.js';
import { InputError, RefusedError } from '../../src/errors.js';
import { FdInputError } from '../../src/qmp/fdpass/errors.js';
import type { LiveState } from '../../src/live/probe.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import type { Json, JsonObject, RuntimeFile } from '../../src/runtime/types.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const NEW_UUID = '0c0ffee0-1234-4abc-8def-0123456789ab';
const NEW_ID = 'disk-0c0ffee0-1234-4abc';
const IMG = '/srv/images/new.img';

type HotAdd = Extract<Action, { type: 'hot-add-disk' }>;
type Unplug = Extract<Action, { type: 'unplug-disk' }>;

interface DiskSpec {
  uuid: string;
  hvinfo: JsonObject;
}

/** UUID number n (distinct, valid): 00000001-0000-4000-8000-000000000001 … */
const uuidN = (n: number): string => {
  const h = n.toString(16).padStart(8, '0');
  return `${h}-0000-4000-8000-${h.padStart(12, '0')}`;
};
const idOf = (uuid: string): string => `disk-${uuid.split('-').slice(0, 3).join('-')}`;

const pciDisk = (n: number, slot: number): DiskSpec => ({
  uuid: uuidN(n),
  hvinfo: { driver: 'virtio-blk-pci', id: idOf(uuidN(n)), bus: 'pci.0', addr: `0x${slot.toString(16)}` },
});
const scsiDisk = (n: number, target: number, driver = 'scsi-hd'): DiskSpec => ({
  uuid: uuidN(n),
  hvinfo: { driver, id: idOf(uuidN(n)), bus: 'scsi.0', channel: 0, 'scsi-id': target, lun: 0 },
});

/** A runtime file as Ganeti 3.0 writes it (`-nodefaults`, so slot 2 has no VGA). */
function runtime(
  opts: {
    diskType?: string;
    controller?: string | null;
    reservations?: number;
    disks?: DiskSpec[];
    hv?: JsonObject;
  } = {},
): RuntimeFile {
  const controller = opts.controller === undefined ? null : opts.controller;
  const kvmCmd: Json[] = [QEMU, '-name', 'web1', '-m', 64, '-nodefaults', '-machine', 'pc'];
  if (controller) kvmCmd.push('-device', `${controller},id=scsi`);
  const hv: JsonObject = { ...baseHvparams(QEMU), disk_type: opts.diskType ?? 'paravirtual', ...opts.hv };
  if (controller) hv.scsi_controller_type = controller;
  if (opts.reservations !== undefined) hv.kvm_pci_reservations = opts.reservations;
  const disks = (opts.disks ?? []).map((d, i) => [
    { dev_type: 'plain', iv_name: `disk/${i}`, mode: 'rw', size: 1024, uuid: d.uuid, params: {}, logical_id: ['xenvg', `${d.uuid}.disk${i}`], hvinfo: d.hvinfo },
    `/var/run/ganeti/instance-disks/web1:${i}`,
    null,
  ]);
  return parseRuntimeText(JSON.stringify([kvmCmd, [], hv, disks]), 'conf/web1.runtime', 'web1');
}

const FILE: HostPathInfo = { path: IMG, type: 'file', sizeBytes: 512 * 1024 * 1024 };
const BLOCK: HostPathInfo = { path: '/dev/sdb', type: 'block' };
const CHAR: HostPathInfo = { path: '/dev/sg2', type: 'char' };

function ctx(rf: RuntimeFile, extra: Partial<DiskPlanContext> = {}): DiskPlanContext {
  return { rf, model: buildBusModel(rf), hostPath: FILE, newUuid: () => NEW_UUID, ...extra };
}

const hotAdd = (extra: Partial<HotAdd> = {}): HotAdd => ({ type: 'hot-add-disk', instance: 'web1', path: IMG, ...extra });
const unplug = (device: string, timeoutMs = 10_000): Unplug => ({ type: 'unplug-disk', instance: 'web1', device, timeoutMs });

/** A LiveState where QEMU has exactly these devices, each with its backend. */
function liveWith(devs: { id: string; driver: string; backend: 'drive' | 'blockdev' | 'none' }[]): LiveState {
  return {
    pci: [],
    peripherals: devs.map((d) => ({ id: d.id, driver: d.driver })),
    scsi: [],
    blocks: devs
      .filter((d) => d.backend !== 'none')
      .map((d) =>
        d.backend === 'drive'
          ? { device: d.id, style: 'drive' as const, qdev: d.id, deviceId: d.id, nodeName: '#block123', file: '/x' }
          : { device: '', style: 'blockdev' as const, qdev: d.id, deviceId: d.id, nodeName: d.id, file: '/x' },
      ),
    controller: null,
    notes: [],
  };
}

/** Runs `fn` and returns what it threw (fails the test when it does not throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the planner to refuse, but it returned a plan');
}

describe('planDiskHotAdd: the plan', () => {
  it('SCSI hot-add: JSON has the allocation {bus, scsi-id, channel, lun}, drive_add + device_add, and the runtime change', () => {
    const rf = runtime({ diskType: 'scsi-hd', controller: 'lsi', disks: [scsiDisk(1, 0), scsiDisk(2, 1)] });
    const plan = planDiskHotAdd(hotAdd(), ctx(rf, { detectedBackend: 'drive' }));
    const json = planJson(plan);
    expect(json).toMatchObject({
      action: 'hot-add-disk',
      instance: 'web1',
      device: { id: NEW_ID, uuid: NEW_UUID, kind: 'disk', driver: 'scsi-hd' },
      allocation: { bus: 'scsi.0', 'scsi-id': 2, channel: 0, lun: 0 },
      host: [],
      verify: { kind: 'present', id: NEW_ID },
    });
    expect(json.qmp).toEqual([
      {
        execute: 'human-monitor-command',
        arguments: {
          'command-line': `drive_add dummy file=${IMG},if=none,id=${NEW_ID},format=raw,auto-read-only=off,aio=threads,discard=ignore`,
        },
      },
      {
        execute: 'device_add',
        arguments: { drive: NEW_ID, driver: 'scsi-hd', id: NEW_ID, bus: 'scsi.0', channel: 0, 'scsi-id': 2, lun: 0 },
      },
    ]);
    expect(json.rollback).toEqual([
      { execute: 'device_del', arguments: { id: NEW_ID } },
      { execute: 'human-monitor-command', arguments: { 'command-line': `drive_del ${NEW_ID}` } },
    ]);
    expect(json.runtime).toBe(`add disks[2] ${NEW_ID} (scsi-hd at scsi.0 target 2, ${IMG})`);
    expect(json.then).toBeUndefined();
    // JSON-serializable as printed by --dry-run --json.
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it('PCI hot-add: allocation {bus: pci.0, addr} is the lowest free slot at/above the reservations', () => {
    const rf = runtime({ disks: [pciDisk(1, 12), pciDisk(2, 13)] });
    const plan = planDiskHotAdd(hotAdd(), ctx(rf, { detectedBackend: 'drive' }));
    expect(planJson(plan).allocation).toEqual({ bus: 'pci.0', addr: '0xe' });
    expect(planJson(plan).qmp[1]).toEqual({
      execute: 'device_add',
      arguments: { drive: NEW_ID, driver: 'virtio-blk-pci', id: NEW_ID, bus: 'pci.0', addr: '0xe' },
    });
    expect(plan.verify).toEqual({ kind: 'present', id: NEW_ID, allocation: { bus: 'pci.0', addr: '0xe' } });
  });

  it('the runtime file after the hot-add has the new disk appended with its hvinfo; the input is untouched', () => {
    const rf = runtime({ disks: [pciDisk(1, 12)] });
    const plan = planDiskHotAdd(hotAdd(), ctx(rf));
    expect(rf.disks).toHaveLength(1);
    expect(plan.runtimeAfter.disks).toHaveLength(2);
    const added = plan.runtimeAfter.disks[1]!;
    expect(added.uuid).toBe(NEW_UUID);
    expect(added.link).toBe(IMG);
    expect(added.hvinfo).toEqual({ driver: 'virtio-blk-pci', id: NEW_ID, bus: 'pci.0', addr: '0xd' });
    expect(added.raw).toMatchObject({ dev_type: 'file', size: 512, iv_name: 'disk/1', mode: 'rw' });
    expect(plan.runtimeAfter.disks[0]!.raw).toEqual(rf.disks[0]!.raw);
  });

  it('a block device path becomes a blockdev entry (size left to QEMU) and host_device in blockdev-add', () => {
    const rf = runtime({ disks: [pciDisk(1, 12)] });
    const plan = planDiskHotAdd(hotAdd({ path: '/dev/sdb' }), ctx(rf, { hostPath: BLOCK, detectedBackend: 'blockdev' }));
    expect(plan.runtimeAfter.disks[1]!.raw).toMatchObject({ dev_type: 'blockdev', logical_id: ['manual', '/dev/sdb'], size: 0 });
    expect(planJson(plan).qmp[0]).toEqual({
      execute: 'blockdev-add',
      arguments: { driver: 'raw', 'node-name': NEW_ID, file: { driver: 'host_device', filename: '/dev/sdb' }, discard: 'ignore' },
    });
  });

  it('the text plan names every command, the rollback and the runtime change', () => {
    const rf = runtime({ diskType: 'scsi-hd', controller: 'megasas' });
    const text = renderPlanText(planDiskHotAdd(hotAdd(), ctx(rf)));
    expect(text).toContain(`plan: hot-add disk ${NEW_ID} (scsi-hd) on web1`);
    expect(text).toContain('address: scsi.0 target 0');
    expect(text).toContain('drive_add dummy');
    expect(text).toContain(`on failure: device_del {"id":"${NEW_ID}"}; HMP drive_del ${NEW_ID}; runtime file untouched`);
  });

  it('a comma in the path is doubled in drive_add (QEMU option syntax), not taken as another option', () => {
    const rf = runtime({ diskType: 'scsi-hd', controller: 'lsi' });
    const plan = planDiskHotAdd(hotAdd({ path: '/srv/a,format=qcow2' }), ctx(rf, { hostPath: { ...FILE, path: '/srv/a,format=qcow2' } }));
    expect(planJson(plan).qmp[0]!.arguments!['command-line']).toContain('file=/srv/a,,format=qcow2,if=none');
  });
});

describe('planDiskHotAdd: drive_add or blockdev-add, as the instance was started', () => {
  const rf = runtime({ diskType: 'scsi-hd', controller: 'virtio-scsi-pci', disks: [scsiDisk(1, 0)] });

  it("detected 'drive' (Ganeti 3.0's -drive): HMP drive_add, undone by drive_del", () => {
    const plan = planDiskHotAdd(hotAdd(), ctx(rf, { detectedBackend: 'drive' }));
    expect(plan.steps[0]!.command).toMatchObject({ execute: 'human-monitor-command' });
    expect(plan.steps[0]!.undo).toEqual([{ execute: 'human-monitor-command', arguments: { 'command-line': `drive_del ${NEW_ID}` } }]);
    expect(plan.notes.join('\n')).toMatch(/drive_add \(named drive\), as the instance's own disks/);
  });

  it("detected 'blockdev' (-blockdev): blockdev-add of a raw node named after the device, undone by blockdev-del", () => {
    const plan = planDiskHotAdd(hotAdd(), ctx(rf, { detectedBackend: 'blockdev' }));
    expect(plan.steps.map((s) => ('execute' in s.command ? s.command.execute : s.command.host))).toEqual(['blockdev-add', 'device_add']);
    expect(plan.steps[0]!.command).toEqual({
      execute: 'blockdev-add',
      arguments: { driver: 'raw', 'node-name': NEW_ID, file: { driver: 'file', filename: IMG }, discard: 'ignore' },
    });
    expect(plan.steps[0]!.undo).toEqual([{ execute: 'blockdev-del', arguments: { 'node-name': NEW_ID } }]);
    expect(plan.steps[1]!.command).toMatchObject({ execute: 'device_add', arguments: { drive: NEW_ID } });
  });

  it('nothing detected: drive_add as Ganeti 3.0 does, and a note says it was not detected', () => {
    const plan = planDiskHotAdd(hotAdd(), ctx(rf));
    expect(plan.steps[0]!.command).toMatchObject({ execute: 'human-monitor-command' });
    expect(plan.notes.join('\n')).toMatch(/not detected/);
  });

  it('--backend overrides what was detected', () => {
    const plan = planDiskHotAdd(hotAdd({ backend: 'blockdev' }), ctx(rf, { detectedBackend: 'drive' }));
    expect(plan.steps[0]!.command).toMatchObject({ execute: 'blockdev-add' });
  });

  it("disk_aio=native: drive_add gets aio=native,cache=none and blockdev-add cache.direct + file.aio, as Ganeti's", () => {
    const native = runtime({ diskType: 'scsi-hd', controller: 'lsi', hv: { disk_aio: 'native', disk_discard: 'unmap' } });
    const drive = planJson(planDiskHotAdd(hotAdd(), ctx(native, { detectedBackend: 'drive' })));
    expect(drive.qmp[0]!.arguments!['command-line']).toMatch(/,aio=native,cache=none,discard=unmap$/);
    const node = planJson(planDiskHotAdd(hotAdd(), ctx(native, { detectedBackend: 'blockdev' })));
    expect(node.qmp[0]!.arguments).toEqual({
      driver: 'raw',
      'node-name': NEW_ID,
      file: { driver: 'file', filename: IMG, aio: 'native' },
      cache: { direct: true, 'no-flush': false },
      discard: 'unmap',
    });
  });
});

describe('planDiskHotAdd: refusals before anything is sent', () => {
  it('disk_type=scsi (legacy -drive if=scsi): refused, explains scsi-hd, never plans a virtio disk', () => {
    const rf = runtime({ diskType: 'scsi', controller: null, disks: [{ uuid: uuidN(1), hvinfo: {} }] });
    const err = thrown(() => planDiskHotAdd(hotAdd(), ctx(rf)));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toMatch(/disk_type=scsi/);
    expect(err.message).toMatch(/scsi-hd/);
    expect(err.message).toMatch(/will not plug a virtio disk instead/);
    // Asking for a virtio disk on such an instance is refused too (Ganeti rebuilds it as if=scsi).
    const asVirtio = thrown(() => planDiskHotAdd(hotAdd({ diskType: 'paravirtual' }), ctx(rf)));
    expect(asVirtio).toBeInstanceOf(RefusedError);
    expect(asVirtio.message).toMatch(/disk_type scsi/);
    // --disk-type scsi on any instance is the legacy type as well.
    const forced = thrown(() => planDiskHotAdd(hotAdd({ diskType: 'scsi' }), ctx(runtime())));
    expect(forced).toBeInstanceOf(RefusedError);
  });

  it('a SCSI disk type on an instance without a SCSI controller in kvm_cmd', () => {
    const rf = runtime({ diskType: 'paravirtual', controller: null });
    const err = thrown(() => planDiskHotAdd(hotAdd({ diskType: 'scsi-hd' }), ctx(rf)));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toMatch(/no SCSI controller in kvm_cmd/);
  });

  it('scsi-block on a regular file, scsi-generic on a block device: the host path is not the right kind', () => {
    const rf = runtime({ diskType: 'scsi-hd', controller: 'virtio-scsi-pci' });
    const block = thrown(() => planDiskHotAdd(hotAdd({ diskType: 'scsi-block' }), ctx(rf, { hostPath: FILE })));
    expect(block).toBeInstanceOf(InputError);
    expect(block.message).toMatch(new RegExp(`--path ${IMG}: scsi-block .* needs a block device .*not a file`));
    const generic = thrown(() => planDiskHotAdd(hotAdd({ diskType: 'scsi-generic', path: '/dev/sdb' }), ctx(rf, { hostPath: BLOCK })));
    expect(generic).toBeInstanceOf(InputError);
    expect(generic.message).toMatch(/scsi-generic needs a SCSI generic character device .*not a block/);
    // The right kinds plan fine.
    expect(planDiskHotAdd(hotAdd({ diskType: 'scsi-block', path: '/dev/sdb' }), ctx(rf, { hostPath: BLOCK })).device.driver).toBe('scsi-block');
    expect(planDiskHotAdd(hotAdd({ diskType: 'scsi-generic', path: '/dev/sg2' }), ctx(rf, { hostPath: CHAR })).device.driver).toBe('scsi-generic');
  });

  it('a char device or a directory as a plain disk', () => {
    const rf = runtime();
    expect(thrown(() => planDiskHotAdd(hotAdd(), ctx(rf, { hostPath: CHAR })))).toBeInstanceOf(InputError);
    const dir = thrown(() => planDiskHotAdd(hotAdd({ path: '/srv' }), ctx(rf, { hostPath: { path: '/srv', type: 'directory' } })));
    expect(dir.message).toMatch(/--path \/srv: a disk must be a block device or a regular file, not a directory/);
  });

  it('a path that does not exist', () => {
    const err = thrown(() =>
      planDiskHotAdd(hotAdd({ path: '/srv/nope.img' }), ctx(runtime(), { hostPath: { path: '/srv/nope.img', type: 'missing', error: 'does not exist' } })),
    );
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe('--path /srv/nope.img: does not exist');
  });

  it('a --uuid the instance already uses, or one that is not a UUID', () => {
    const rf = runtime({ disks: [pciDisk(1, 12)] });
    const dup = thrown(() => planDiskHotAdd(hotAdd({ uuid: uuidN(1) }), ctx(rf)));
    expect(dup).toBeInstanceOf(InputError);
    expect(dup.message).toMatch(/already used by a device of web1/);
    const bad = thrown(() => planDiskHotAdd(hotAdd({ uuid: 'disk-1' }), ctx(rf)));
    expect(bad).toBeInstanceOf(InputError);
    expect(bad.message).toMatch(/--uuid disk-1: not a UUID/);
  });

  it('a uuid whose device id QEMU already has (a device the file does not list)', () => {
    const rf = runtime({ diskType: 'scsi-hd', controller: 'lsi' });
    const err = thrown(() =>
      planDiskHotAdd(hotAdd(), ctx(rf, { live: liveWith([{ id: NEW_ID, driver: 'scsi-hd', backend: 'drive' }]) })),
    );
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toMatch(/QEMU already has a device with id/);
  });

  it('a full bus: lsi with targets 0–7 taken (not Ganeti\'s 16), pci.0 with every slot above the reservations taken', () => {
    const lsi = runtime({ diskType: 'scsi-hd', controller: 'lsi', disks: [0, 1, 2, 3, 4, 5, 6, 7].map((t) => scsiDisk(t + 1, t)) });
    const scsiFull = thrown(() => planDiskHotAdd(hotAdd(), ctx(lsi)));
    expect(scsiFull).toBeInstanceOf(RefusedError);
    expect(scsiFull.message).toMatch(/scsi\.0 is full: controller lsi accepts scsi-id 0–7 only/);
    expect(scsiFull.message).toMatch(/Ganeti 3\.0 would choose scsi-id 8/);
    const pci = runtime({ reservations: 30, disks: [pciDisk(1, 30), pciDisk(2, 31)] });
    const pciFull = thrown(() => planDiskHotAdd(hotAdd(), ctx(pci)));
    expect(pciFull).toBeInstanceOf(RefusedError);
    expect(pciFull.message).toMatch(/pci\.0 is full/);
  });

  it("an instance at Ganeti's 16 disks, even with free targets", () => {
    const rf = runtime({
      diskType: 'scsi-hd',
      controller: 'virtio-scsi-pci',
      disks: Array.from({ length: 16 }, (_, t) => scsiDisk(t + 1, t)),
    });
    const err = thrown(() => planDiskHotAdd(hotAdd(), ctx(rf)));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toMatch(/already has 16 disks, Ganeti's maximum is 16/);
  });

  it('a disk type that is not hot-pluggable, or not a disk type', () => {
    expect(thrown(() => planDiskHotAdd(hotAdd({ diskType: 'ide' }), ctx(runtime())))).toBeInstanceOf(RefusedError);
    const unknown = thrown(() => planDiskHotAdd(hotAdd({ diskType: 'nvme' }), ctx(runtime())));
    expect(unknown).toBeInstanceOf(InputError);
    expect(unknown.message).toMatch(/--disk-type nvme: not a disk_type/);
  });
});

describe('planDiskUnplug', () => {
  const rf = runtime({ diskType: 'scsi-hd', controller: 'lsi', disks: [scsiDisk(1, 0), scsiDisk(2, 3)] });
  const pciRf = runtime({ disks: [pciDisk(1, 12)] });
  const id2 = idOf(uuidN(2));

  it('SCSI disk by device id: device_del, wait (no guest needed), runtime entry removed', () => {
    const plan = planDiskUnplug(unplug(id2), ctx(rf, { live: liveWith([{ id: id2, driver: 'scsi-hd', backend: 'drive' }]) }));
    const json = planJson(plan);
    expect(json).toMatchObject({
      action: 'unplug-disk',
      allocation: { bus: 'scsi.0', 'scsi-id': 3, channel: 0, lun: 0 },
      qmp: [{ execute: 'device_del', arguments: { id: id2 } }],
      then: { wait: { id: id2, timeoutMs: 10_000, needsGuest: false }, qmp: [] },
      runtime: `remove disks[1] ${id2} (scsi-hd at scsi.0 target 3)`,
      verify: { kind: 'absent', id: id2 },
    });
    expect(plan.runtimeAfter.disks.map((d) => d.uuid)).toEqual([uuidN(1)]);
  });

  it('by UUID; a PCI disk needs the guest; a blockdev backend is removed with blockdev-del after the device', () => {
    const id1 = idOf(uuidN(1));
    const plan = planDiskUnplug(unplug(uuidN(1), 3000), ctx(pciRf, { live: liveWith([{ id: id1, driver: 'virtio-blk-pci', backend: 'blockdev' }]) }));
    expect(plan.unplugWait).toEqual({ id: id1, timeoutMs: 3000, needsGuest: true });
    expect(planJson(plan).then?.qmp).toEqual([{ execute: 'blockdev-del', arguments: { 'node-name': id1 } }]);
    expect(plan.notes.join('\n')).toMatch(/needs the guest to acknowledge/);
  });

  it('a device QEMU no longer has: no device_del, no wait; its left-over block node is still removed', () => {
    const id1 = idOf(uuidN(1));
    const gone = planDiskUnplug(unplug(id1), ctx(pciRf, { live: liveWith([]), nodeNames: [id1, '#block042'] }));
    expect(gone.steps).toEqual([]);
    expect(gone.unplugWait).toBeUndefined();
    expect(planJson(gone).then?.qmp).toEqual([{ execute: 'blockdev-del', arguments: { 'node-name': id1 } }]);
    expect(gone.notes.join('\n')).toMatch(/QEMU no longer has/);
    // A named drive's node is #blockN: nothing to delete when no node carries the device's id.
    const driveGone = planDiskUnplug(unplug(id1), ctx(pciRf, { live: liveWith([]), nodeNames: ['#block042'] }));
    expect(driveGone.after).toEqual([]);
  });

  it('an unknown disk lists the disks the instance has; a disk without bus cannot be unplugged', () => {
    const err = thrown(() => planDiskUnplug(unplug('disk-nope'), ctx(rf)));
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toContain(`web1 has no disk disk-nope (its disks: ${idOf(uuidN(1))} (${uuidN(1)}), ${id2} (${uuidN(2)}))`);
    const legacy = runtime({ diskType: 'scsi', disks: [{ uuid: uuidN(5), hvinfo: {} }] });
    expect(thrown(() => planDiskUnplug(unplug(uuidN(5)), ctx(legacy)))).toBeInstanceOf(RefusedError);
  });
});

describe('hot-add and unplug passing the disk by descriptor (QEMU -runas / -chroot, fdset-backed disks)', () => {
  const CHECKED: DiskPlanContext['checkedPath'] = { ok: true, path: { typed: IMG, path: '/srv/images/real.img', kind: 'file', dev: 2049, ino: 77, sizeBytes: 64 * 1024 * 1024 } };
  const withFdsets = (live: LiveState, ids: number[], running = true): LiveState => ({ ...live, fdsets: ids.map((id) => ({ id, fds: [] })), running });

  it.each([
    ['use_chroot=true', { use_chroot: true }, 'QEMU runs chrooted (use_chroot=true)', false],
    ['security_model=user', { security_model: 'user', security_domain: 'kvm1' }, 'QEMU runs as another user (security_model=user, kvm1)', true],
    ['security_model=pool', { security_model: 'pool' }, 'QEMU runs as another user (security_model=pool)', true],
  ] as const)('%s: the path is opened as root and passed (add-fd into the lowest free fdset), the drive is on /dev/fdset/N; the runtime file records the path', (_, hv, reason, userCheck) => {
    const rf = runtime({ disks: [pciDisk(1, 12)], hv: { ...hv } });
    const plan = planDiskHotAdd(hotAdd(), ctx(rf, { checkedPath: CHECKED, live: withFdsets(liveWith([]), [0, 2]) }));
    const json = planJson(plan);
    const hostSteps = json.host.map((h) => h.host);
    expect(hostSteps).toEqual(userCheck ? ['fd-check-user', 'fd-open-disk'] : ['fd-open-disk']);
    expect(json.qmp).toEqual([
      { execute: 'add-fd', arguments: { 'fdset-id': 1, opaque: `plugboard:${NEW_ID}` } },
      { execute: 'human-monitor-command', arguments: { 'command-line': `drive_add dummy file=/dev/fdset/1,if=none,id=${NEW_ID},format=raw,auto-read-only=off,aio=threads,discard=ignore` } },
      { execute: 'remove-fd', arguments: { 'fdset-id': 1 } },
      { execute: 'device_add', arguments: { drive: NEW_ID, driver: 'virtio-blk-pci', id: NEW_ID, bus: 'pci.0', addr: '0xd' } },
    ]);
    // The open: the resolved path, its device and inode as checked; no O_DIRECT for cache=default.
    expect(json.host.find((h) => h.host === 'fd-open-disk')?.detail).toEqual({ handle: NEW_ID, typed: IMG, path: '/srv/images/real.img', kind: 'file', direct: false, dev: 2049, ino: 77 });
    // The descriptor is in the sequence, on the command that carries it.
    expect(json.sequence?.find((e) => 'qmp' in e && e.qmp.execute === 'add-fd')).toMatchObject({ passFd: { handle: NEW_ID, what: 'descriptor of /srv/images/real.img' } });
    expect(json.fdPassing).toEqual({ reason });
    expect(json.rollback).toEqual([
      { execute: 'device_del', arguments: { id: NEW_ID } },
      { execute: 'human-monitor-command', arguments: { 'command-line': `drive_del ${NEW_ID}` } },
      { execute: 'remove-fd', arguments: { 'fdset-id': 1 } },
    ]);
    expect(json.hostRollback).toEqual([{ host: 'fd-drop', detail: { handle: NEW_ID } }]);
    expect(plan.notes.join('\n')).toContain(`descriptor passing: ${reason}, so plugboard opens /srv/images/real.img as root and hands QEMU the descriptor (add-fd, fdset 1); the runtime file records ${IMG}`);
    // The runtime file has the path as typed, never an fdset.
    const entry = plan.runtimeAfter.disks.at(-1)!;
    expect(entry.link).toBe(IMG);
    expect(entry.raw).toMatchObject({ dev_type: 'file', logical_id: ['loop', IMG], size: 64 });
    expect(JSON.stringify(plan.runtimeAfter.raw)).not.toContain('fdset');
    const text = renderPlanText(plan);
    expect(text).toContain(`add-fd {"fdset-id":1,"opaque":"plugboard:${NEW_ID}"} + descriptor of /srv/images/real.img (SCM_RIGHTS)`);
    expect(text).toContain(`host: open /srv/images/real.img (regular file) read-write as root (${IMG} → /srv/images/real.img)`);
  });

  it('a blockdev instance with cache=none: blockdev-add on the fdset with the driver of what the path is, O_DIRECT; a paused QEMU is noted', () => {
    const rf = runtime({ diskType: 'scsi-hd', controller: 'virtio-scsi-pci', disks: [scsiDisk(1, 0)], hv: { use_chroot: true, disk_cache: 'none' } });
    const block: DiskPlanContext['checkedPath'] = { ok: true, path: { typed: '/dev/loop9', path: '/dev/loop9', kind: 'block', dev: 5, ino: 900 } };
    const live = withFdsets(liveWith([{ id: idOf(uuidN(1)), driver: 'scsi-hd', backend: 'blockdev' }]), [], false);
    const plan = planDiskHotAdd(hotAdd({ path: '/dev/loop9' }), ctx(rf, { checkedPath: block, live, detectedBackend: 'blockdev' }));
    const json = planJson(plan);
    expect(json.qmp[1]).toEqual({
      execute: 'blockdev-add',
      arguments: { driver: 'raw', 'node-name': NEW_ID, file: { driver: 'host_device', filename: '/dev/fdset/0' }, cache: { direct: true, 'no-flush': false }, discard: 'ignore' },
    });
    expect(json.host[0]).toMatchObject({ host: 'fd-open-disk', detail: { direct: true, kind: 'block' } });
    expect(plan.runtimeAfter.disks.at(-1)!.raw).toMatchObject({ dev_type: 'blockdev', logical_id: ['manual', '/dev/loop9'] });
    expect(plan.notes.join('\n')).toMatch(/QEMU is paused: QEMU 7\.2 closes plugboard's copy of the descriptor/);
  });

  it("an unconfined instance whose own disks are fdset-backed (hot-added by a newer Ganeti): the new disk matches them; otherwise QEMU opens the path", () => {
    const rf = runtime({ disks: [pciDisk(1, 12)] });
    const live = liveWith([{ id: idOf(uuidN(1)), driver: 'virtio-blk-pci', backend: 'drive' }]);
    live.blocks[0]!.file = '/dev/fdset/4';
    const plan = planDiskHotAdd(hotAdd(), ctx(rf, { checkedPath: CHECKED, live: withFdsets(live, [4]) }));
    expect(plan.fdPassing).toEqual({ reason: "the instance's disks are fdset-backed (/dev/fdset/4), as Ganeti hot-adds them" });
    expect(planJson(plan).qmp[0]).toEqual({ execute: 'add-fd', arguments: { 'fdset-id': 0, opaque: `plugboard:${NEW_ID}` } });
    // The same instance with path-backed disks: QEMU opens the path, no descriptor, no note.
    const direct = planDiskHotAdd(hotAdd(), ctx(rf, { checkedPath: CHECKED, live: liveWith([{ id: idOf(uuidN(1)), driver: 'virtio-blk-pci', backend: 'drive' }]) }));
    expect(direct.fdPassing).toBeUndefined();
    expect(planJson(direct).qmp[0]).toMatchObject({ execute: 'human-monitor-command', arguments: { 'command-line': expect.stringMatching(new RegExp(`^drive_add dummy file=${IMG},`)) as string } });
    expect(direct.notes.join('\n')).not.toMatch(/descriptor/);
  });

  it('the path as checked for descriptor passing is what is refused: the checker\'s one line (FdInputError, exit 2)', () => {
    const rf = runtime({ hv: { security_model: 'user', security_domain: 'kvm1' } });
    const bad = new FdInputError('--path /srv: a directory; a disk is a block device or a regular file');
    const err = thrown(() => planDiskHotAdd(hotAdd({ path: '/srv' }), ctx(rf, { checkedPath: { ok: false, error: bad } })));
    expect(err).toBe(bad);
    expect(err).toBeInstanceOf(InputError);
  });

  it('unplug of a disk backed by /dev/fdset/N: its fdset is released after the device ("not found" is fine); a path-backed one has no such step', () => {
    const rf = runtime({ diskType: 'scsi-hd', controller: 'virtio-scsi-pci', disks: [scsiDisk(1, 0), scsiDisk(2, 1)] });
    const [id1, id2] = [idOf(uuidN(1)), idOf(uuidN(2))];
    const live = liveWith([
      { id: id1, driver: 'scsi-hd', backend: 'drive' },
      { id: id2, driver: 'scsi-hd', backend: 'blockdev' },
    ]);
    live.blocks[1]!.file = '/dev/fdset/3';
    const plan = planDiskUnplug(unplug(id2), ctx(rf, { live }));
    expect(plan.after).toEqual([
      { purpose: `remove the block node ${id2} once QEMU has released it`, command: { execute: 'blockdev-del', arguments: { 'node-name': id2 } } },
      { purpose: 'release fdset 3, which backed the disk', command: { execute: 'remove-fd', arguments: { 'fdset-id': 3 } }, check: { kind: 'gone-ok' } },
    ]);
    expect(planDiskUnplug(unplug(id1), ctx(rf, { live })).after).toEqual([]);
  });
});
