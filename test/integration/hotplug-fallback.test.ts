/**
 * A SCSI disk hot-add asks QEMU only which devices there are, what backs them and the addresses of
 * the SCSI devices the runtime file does not describe (src/usecases/run-action.ts probeFor); QEMU is
 * the arbiter of what was not asked: a `device_add` it refuses because the target is taken
 * ("lun already used by 'ID'") is undone, everything is probed, and the hot-add is planned and run
 * once more — or refused with the reason when QEMU refuses again. Against a real QEMU 7.2 (paused,
 * TCG): a SCSI device added by hand at the target plugboard would choose, before the hot-add, between
 * its probe and its device_add, and a disk the runtime file places at another target than QEMU has
 * it. In every case the hot-add ends correct and the runtime file is right.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { Outcome } from '../../src/actions/types.js';
import { computeDrift } from '../../src/live/drift.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { failure } from '../helpers/actions.js';
import { hmpSync } from '../helpers/net.js';
import { diskIds, startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';

useSandboxCleanup();

type Message = { execute?: string; arguments?: Record<string, unknown>; id?: unknown; error?: { class: string; desc: string } };

/** Every message sent (`out`) or received (`in`), parsed, in order. */
const messages = (t: Transcript): { dir: 'in' | 'out'; msg: Message }[] =>
  t.entries().map((e) => ({ dir: e.direction, msg: JSON.parse(e.json) as Message }));
/** The commands sent, with what they are about (`qom-get squat0 scsi-id`, `HMP drive_add`). */
const sent = (t: Transcript): string[] =>
  messages(t).flatMap(({ dir, msg }) => {
    if (dir !== 'out') return [];
    const a = msg.arguments ?? {};
    if (msg.execute === 'qom-get') return [`qom-get ${String(a['path']).replace('/machine/peripheral/', '')} ${String(a['property'])}`];
    if (msg.execute === 'human-monitor-command') return [`HMP ${String(a['command-line']).split(' ')[0]}`];
    return [String(msg.execute)];
  });

const monitor = (sb: TestSandbox) => path.join(sb.root, 'ctrl', `${sb.name}.monitor`);
const hotAdd = (sb: TestSandbox, img: string, opts: { transcript?: Transcript; onProgress?: (e: ProgressEvent) => void } = {}): Promise<Outcome> =>
  runAction({ type: 'hot-add-disk', instance: sb.name, path: img }, { root: sb.root, ...opts });

/** An empty SCSI CD-ROM (no backend needed) with id `id` at scsi.0 target `target`, over QMP. */
const squatQmp = (sb: TestSandbox, id: string, target: number) =>
  sb.qmp((q) => q.execute('device_add', { driver: 'scsi-cd', id, bus: 'scsi.0', 'scsi-id': target, lun: 0 }));
/** The same over the HMP monitor, synchronously: for an onProgress hook while the action holds QMP. */
const squatHmp = (sb: TestSandbox, id: string, target: number) =>
  expect(hmpSync(monitor(sb), `device_add scsi-cd,id=${id},bus=scsi.0,scsi-id=${target},lun=0`).trim()).toBe('');

/** Drift items as `code id`: what `show --live` would report. */
async function drift(sb: TestSandbox): Promise<string[]> {
  const [rf, live] = await Promise.all([sb.load(), sb.probe()]);
  return computeDrift(rf, live).items.map((i) => `${i.code} ${i.id}`);
}

/** The new disk is in the file at `target` with its image, and QEMU has it there with its drive. */
async function expectAddedAt(sb: TestSandbox, o: Outcome, img: string, target: number): Promise<void> {
  const id = o.plan.device.id;
  expect(o.status).toBe('done');
  expect(o.plan.allocation).toEqual({ bus: 'scsi.0', 'scsi-id': target, channel: 0, lun: 0 });
  const rf = await sb.load();
  const disk = rf.disks.find((d) => d.uuid === o.plan.device.uuid);
  expect(disk?.hvinfo).toEqual({ driver: 'scsi-hd', id, bus: 'scsi.0', channel: 0, 'scsi-id': target, lun: 0 });
  expect(disk?.link).toBe(img);
  const live = await sb.probe();
  expect(live.scsi.find((d) => d.id === id)).toMatchObject({ bus: 'scsi.0', scsiId: target, lun: 0 });
  expect(live.blocks.filter((b) => b.file === img)).toEqual([expect.objectContaining({ style: 'drive', device: id, deviceId: id })]);
}

describe('SCSI hot-add: QEMU is the arbiter of the targets plugboard did not ask about', () => {
  it('a device added by hand before the hot-add (not in the runtime file): only its address is asked, the next target is taken', async () => {
    const sb = await startSandbox({ name: 'fb1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 2, extraKvmCmd: ['-nodefaults'] });
    await squatQmp(sb, 'squat0', 2);
    const img = await sb.image('new');
    const t = new Transcript();
    const o = await hotAdd(sb, img, { transcript: t });
    await expectAddedAt(sb, o, img, 3);
    expect(o.plan.skipped).toEqual(['target 2 passed over: the running QEMU has scsi-cd (id squat0) here']);
    // The file's two disks are not asked about (their hvinfo gives their address); the unknown CD is.
    expect(sent(t)).toEqual([
      'qmp_capabilities',
      'qom-list',
      'query-block',
      'qom-get squat0 parent_bus',
      'qom-get squat0 scsi-id',
      'qom-get squat0 lun',
      'HMP drive_add',
      'device_add',
      `qom-get ${o.plan.device.id} scsi-id`,
    ]);
    expect(await drift(sb)).toEqual(['unknown-to-file squat0']);
  });

  it('a device added by hand at the planned target between the probe and device_add: refused, drive deleted, full probe, next target', async () => {
    const sb = await startSandbox({ name: 'fb2', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const before = diskIds(await sb.load());
    const img = await sb.image('new');
    const t = new Transcript();
    let plans = 0;
    const o = await hotAdd(sb, img, {
      transcript: t,
      onProgress: (e) => {
        if (e.phase === 'planned' && plans++ === 0) squatHmp(sb, 'squat1', 2);
      },
    });
    const id = o.plan.device.id;
    expect(plans).toBe(2);
    await expectAddedAt(sb, o, img, 3);
    expect(o.plan.notes).toContainEqual(
      `QEMU refused scsi.0 target 2 (lun already used by 'squat1'); undone: HMP drive_del ${id}; plugboard read QEMU's whole layout and planned again`,
    );
    const refusal = messages(t).find(({ dir, msg }) => dir === 'in' && msg.error !== undefined);
    expect(refusal?.msg.error).toEqual({ class: 'GenericError', desc: "lun already used by 'squat1'" });
    // The first attempt (its verification rode along with device_add), its undo, then the full probe:
    // query-pci and every SCSI device's address this time.
    const s = sent(t);
    const second = s.indexOf('query-pci');
    expect(s.slice(0, second)).toEqual([
      'qmp_capabilities',
      'qom-list',
      'query-block',
      'HMP drive_add',
      'device_add',
      `qom-get ${id} scsi-id`,
      'HMP drive_del',
    ]);
    expect(s.slice(second, second + 3)).toEqual(['query-pci', 'qom-list', 'query-block']);
    expect(s.filter((c) => /^qom-get .* parent_bus$/.test(c)).sort()).toEqual(
      [...before, 'squat1'].map((d) => `qom-get ${d} parent_bus`).sort(),
    );
    expect(s.slice(-3)).toEqual(['HMP drive_add', 'device_add', `qom-get ${id} scsi-id`]);
    expect(diskIds(await sb.load())).toEqual([...before, id]);
    expect(await drift(sb)).toEqual(['unknown-to-file squat1']);
  });

  it('the runtime file places a disk at another target than QEMU has it: QEMU refuses the target the file says is free, the next free in both is taken', async () => {
    const sb = await startSandbox({ name: 'fb3', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const rf0 = await sb.load();
    const moved = diskIds(rf0)[1]!;
    const file = rf0.disks[1]!.link!;
    // Move disk 1 from target 1 (where the file keeps it) to target 2, by hand: its drive goes with the
    // device, so a new one of the same name once QEMU has let go of the image.
    await sb.qmp((q) => q.execute('device_del', { id: moved }));
    await waitFor(async () => !(await sb.peripheralIds()).includes(moved) && (await sb.blocks()).every((b) => b.device !== moved), {
      timeoutMs: 5_000,
      what: `QEMU to drop ${moved} and its drive`,
    });
    await sb.qmp(async (q) => {
      await q.hmp(`drive_add dummy file=${file},if=none,id=${moved},format=raw`);
      await q.execute('device_add', { driver: 'scsi-hd', id: moved, drive: moved, bus: 'scsi.0', channel: 0, 'scsi-id': 2, lun: 0 });
    });
    expect(await drift(sb)).toEqual([`moved ${moved}`]);
    const fileBefore = (await sb.load()).disks[1]!.hvinfo;

    const img = await sb.image('new');
    const t = new Transcript();
    const o = await hotAdd(sb, img, { transcript: t });
    // Target 1 stays taken (the file has the disk there: a migration target would put it there),
    // target 2 is QEMU's: 3.
    await expectAddedAt(sb, o, img, 3);
    expect(o.plan.notes.join('\n')).toMatch(new RegExp(`QEMU refused scsi\\.0 target 2 \\(lun already used by '${moved}'\\)`));
    expect(sent(t).filter((c) => c === 'device_add')).toHaveLength(2);
    // The hot-add changed nothing else in the file: the moved disk's entry is as it was.
    expect((await sb.load()).disks[1]!.hvinfo).toEqual(fileBefore);
    expect(await drift(sb)).toEqual([`moved ${moved}`]);
  });

  it('refused again after the full probe (each target planned is taken meanwhile): rolled back with the reason, runtime file byte-identical', async () => {
    const sb = await startSandbox({ name: 'fb4', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const img = await sb.image('new');
    const squatted: number[] = [];
    const err = await failure(
      hotAdd(sb, img, {
        onProgress: (e) => {
          if (e.phase !== 'planned' || e.plan.allocation?.bus !== 'scsi.0') return;
          const target = e.plan.allocation['scsi-id'];
          squatted.push(target);
          squatHmp(sb, `squat${target}`, target);
        },
      }),
    );
    const id = err.outcome.plan.device.id;
    expect(squatted).toEqual([2, 3]);
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.message).toMatch(
      /lun already used by 'squat3'.* — QEMU refused the place it was given although plugboard had read its whole layout just before \(is something else adding devices to fb4 at the same time\?\); undone: HMP drive_del disk-/,
    );
    expect(err.outcome.undone).toEqual([`HMP drive_del ${id}`]);
    expect(sb.runtimeText()).toBe(before);
    expect(await sb.peripheralIds()).not.toContain(id);
    expect((await sb.blocks()).some((b) => b.device === id)).toBe(false);
  });
});
