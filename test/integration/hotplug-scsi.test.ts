/**
 * SCSI disk hot-add and unplug through runAction (src/usecases/run-action.ts, the executor in src/executor/) against a real QEMU
 * 7.2 (paused TCG, no guest: SCSI unplugs need none), on each SCSI controller, with both backend
 * styles (Ganeti 3.0's `-drive`/`drive_add` and newer Ganeti's `-blockdev`/`blockdev-add`).
 * After every action the runtime file and QEMU must agree (no drift), and an unplugged disk's
 * backend must be gone. Timings are printed (no timed assertions).
 */
import { describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import type { Outcome } from '../../src/actions/types.js';
import { computeDrift } from '../../src/live/drift.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { waitFor } from '../helpers/wait.js';
import { diskIds, startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';

useSandboxCleanup();

const hotAdd = (sb: TestSandbox, path: string, transcript?: Transcript): Promise<Outcome> =>
  runAction({ type: 'hot-add-disk', instance: sb.name, path }, { root: sb.root, ...(transcript ? { transcript } : {}) });
const unplug = (sb: TestSandbox, device: string, transcript?: Transcript, timeoutMs = 5_000): Promise<Outcome> =>
  runAction({ type: 'unplug-disk', instance: sb.name, device, timeoutMs }, { root: sb.root, ...(transcript ? { transcript } : {}) });

/** Every message sent (`out`) or received (`in`) as parsed JSON, in order. */
function messages(t: Transcript): { dir: 'in' | 'out'; msg: Record<string, unknown> }[] {
  return t.entries().map((e) => ({ dir: e.direction, msg: JSON.parse(e.json) as Record<string, unknown> }));
}
const sent = (t: Transcript): string[] => messages(t).flatMap((m) => (m.dir === 'out' ? [String(m.msg['execute'])] : []));

/** Asserts the runtime file and QEMU agree: the drift `show --live` computes is empty. */
async function expectNoDrift(sb: TestSandbox): Promise<void> {
  const [rf, live] = await Promise.all([sb.load(), sb.probe()]);
  expect(computeDrift(rf, live).items).toEqual([]);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

describe.each(['lsi', 'megasas', 'virtio-scsi-pci'])('scsi-hd on %s (drive_add, as Ganeti 3.0)', (controller) => {
  it('hot-add takes the next free target, unplug removes device and drive; file and QEMU agree after each; the image is free again at once', async () => {
    const sb = await startSandbox({
      name: 'web1.example.com',
      diskType: 'scsi-hd',
      scsiControllerType: controller,
      disks: 2,
      nics: 1,
      extraKvmCmd: ['-nodefaults'],
    });
    await expectNoDrift(sb);
    const before = diskIds(await sb.load());
    const img = await sb.image('new');

    const added = await hotAdd(sb, img);
    expect(added.status).toBe('done');
    expect(added.runtimeWritten).toBe(true);
    const id = added.plan.device.id;
    expect(added.plan.allocation).toEqual({ bus: 'scsi.0', 'scsi-id': 2, channel: 0, lun: 0 });
    const rf = await sb.load();
    expect(diskIds(rf)).toEqual([...before, id]);
    expect(rf.disks[2]!.hvinfo).toEqual({ driver: 'scsi-hd', id, bus: 'scsi.0', channel: 0, 'scsi-id': 2, lun: 0 });
    expect(rf.disks[2]!.link).toBe(img);
    const live = await sb.probe();
    expect(live.scsi.find((d) => d.id === id)).toMatchObject({ driver: 'scsi-hd', bus: 'scsi.0', scsiId: 2, channel: 0, lun: 0 });
    expect(live.blocks.find((b) => b.deviceId === id)).toMatchObject({ style: 'drive', device: id, file: img });
    expect(computeDrift(rf, live).items).toEqual([]);

    const removed = await unplug(sb, id);
    expect(removed.status).toBe('done');
    expect(removed.runtimeWritten).toBe(true);
    expect(diskIds(await sb.load())).toEqual(before);
    expect(await sb.peripheralIds()).not.toContain(id);
    // The drive goes with its device: QEMU closes it when it finalizes the device (~55 ms after
    // `done`, which does not wait for that); then query-block no longer lists it.
    await waitFor(async () => (await sb.blocks()).every((b) => b.device !== id && b.qdev !== id), {
      timeoutMs: 2_000,
      what: `query-block to drop ${id}`,
    });
    await expectNoDrift(sb);

    // The same path can be hot-added right away: the hot-add waits for QEMU to release the old backend.
    const again = await hotAdd(sb, img);
    expect(again.status).toBe('done');
    expect(again.plan.allocation).toEqual({ bus: 'scsi.0', 'scsi-id': 2, channel: 0, lun: 0 });
    await expectNoDrift(sb);
  });
});

describe('scsi-hd with -blockdev (newer Ganeti)', () => {
  it('hot-add uses blockdev-add; unplug runs blockdev-del only after DEVICE_DELETED; the node is gone', async () => {
    const sb = await startSandbox(
      { name: 'bd1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] },
      { deviceConfig: { blockdev: true } },
    );
    await expectNoDrift(sb);
    const disk0 = diskIds(await sb.load())[0]!;
    expect(await sb.nodeNames()).toContain(disk0); // the instance's own disk is a block node
    const img = await sb.image('new');

    const addT = new Transcript();
    const added = await hotAdd(sb, img, addT);
    expect(added.status).toBe('done');
    const id = added.plan.device.id;
    expect(added.plan.notes.join('\n')).toMatch(/blockdev-add \(node\), as the instance's own disks/);
    expect(sent(addT)).toContain('blockdev-add');
    expect(sent(addT)).not.toContain('human-monitor-command');
    const blockdevAdd = messages(addT).find((m) => m.msg['execute'] === 'blockdev-add')!.msg;
    expect(blockdevAdd['arguments']).toMatchObject({ driver: 'raw', 'node-name': id, file: { driver: 'file', filename: img } });
    expect(await sb.nodeNames()).toContain(id);
    expect((await sb.blocks()).find((b) => b.qdev === id)).toMatchObject({ device: '', nodeName: id });
    await expectNoDrift(sb);

    const delT = new Transcript();
    const removed = await unplug(sb, id, delT);
    expect(removed.status).toBe('done');
    expect(removed.leftovers).toEqual([]);
    const m = messages(delT);
    const deviceDel = m.findIndex((x) => x.dir === 'out' && x.msg['execute'] === 'device_del');
    const deleted = m.findIndex(
      (x) => x.dir === 'in' && x.msg['event'] === 'DEVICE_DELETED' && (x.msg['data'] as Record<string, unknown>)['device'] === id,
    );
    const blockdevDel = m.findIndex((x) => x.dir === 'out' && x.msg['execute'] === 'blockdev-del');
    expect(deviceDel).toBeGreaterThan(-1);
    expect(deleted).toBeGreaterThan(deviceDel);
    expect(blockdevDel).toBeGreaterThan(deleted);
    expect(m[blockdevDel]!.msg['arguments']).toEqual({ 'node-name': id });
    expect(await sb.nodeNames()).not.toContain(id);
    expect(diskIds(await sb.load())).toEqual([disk0]);
    await expectNoDrift(sb);
  });
});

describe('live allocation', () => {
  it('a target taken behind the runtime file\'s back is passed over, with the reason', async () => {
    const sb = await startSandbox({ name: 'web2', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const other = await sb.image('other');
    await sb.qmp(async (q) => {
      await q.hmp(`drive_add dummy file=${other},if=none,id=intruder,format=raw`);
      await q.execute('device_add', { driver: 'scsi-hd', id: 'intruder', drive: 'intruder', bus: 'scsi.0', 'scsi-id': 2 });
    });
    const added = await hotAdd(sb, await sb.image('new'));
    expect(added.status).toBe('done');
    expect(added.plan.allocation).toEqual({ bus: 'scsi.0', 'scsi-id': 3, channel: 0, lun: 0 });
    expect(added.plan.skipped).toEqual([expect.stringMatching(/^target 2 passed over: the running QEMU has scsi-hd \(id intruder\)/)]);
    const live = await sb.probe();
    expect(live.scsi.find((d) => d.id === added.plan.device.id)?.scsiId).toBe(3);
  });
});

describe('timings (printed, not asserted)', () => {
  it('20 hot-add/unplug cycles of one image on virtio-scsi-pci all succeed', async () => {
    const sb = await startSandbox({ name: 'bench1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const img = await sb.image('cycle');
    const add: number[] = [];
    const del: number[] = [];
    for (let i = 0; i < 20; i++) {
      let t = performance.now();
      const a = await hotAdd(sb, img);
      add.push(performance.now() - t);
      expect(a.status).toBe('done');
      t = performance.now();
      const u = await unplug(sb, a.plan.device.id);
      del.push(performance.now() - t);
      expect(u.status).toBe('done');
    }
    expect(diskIds(await sb.load())).toHaveLength(1);
    await expectNoDrift(sb);
    console.log(
      `[hotplug timing] scsi-hd on virtio-scsi-pci, end to end (lock, connect, probe, plan, steps, verify, write), median of 20: ` +
        `hot-add ${median(add).toFixed(1)} ms (min ${Math.min(...add).toFixed(1)}, max ${Math.max(...add).toFixed(1)}), ` +
        `unplug ${median(del).toFixed(1)} ms (min ${Math.min(...del).toFixed(1)}, max ${Math.max(...del).toFixed(1)})`,
    );
  });
});
