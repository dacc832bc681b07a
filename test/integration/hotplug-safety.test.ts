/**
 * What must hold when things go wrong or happen at once, against a real QEMU 7.2 (paused TCG):
 * a busy QMP socket changes nothing; a refused hot-add sends nothing that changes QEMU; a device_add
 * QEMU refuses after the backend was created is rolled back (backend removed, runtime file
 * byte-identical); concurrent hot-adds never share a slot/target and never lose an entry; the CLI's
 * exit codes and `--dry-run --json --runtime-file`.
 */
import { appendFileSync, copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import type { Outcome, PlanJson } from '../../src/actions/types.js';
import { RefusedError } from '../../src/errors.js';
import { readPending } from '../../src/live/pending.js';
import { QmpClient } from '../../src/qmp/client.js';
import { QmpBusyError } from '../../src/qmp/errors.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { diskIds, startSandbox, useSandboxCleanup } from '../helpers/sandbox.js';
import { sentCommands, failure, cli } from '../helpers/actions.js';

useSandboxCleanup();

/** Commands that change QEMU's devices or backends. */
const CHANGING = new Set(['device_add', 'device_del', 'blockdev-add', 'blockdev-del', 'human-monitor-command']);



describe('busy QMP socket', () => {
  it('another client holds the socket: QmpBusyError within ~1 s, nothing changed, the lock released', async () => {
    const sb = await startSandbox({ name: 'busy1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const img = await sb.image('new');
    const holder = await QmpClient.connect(sb.qmpSocket);
    try {
      const started = performance.now();
      await expect(runAction({ type: 'hot-add-disk', instance: 'busy1', path: img }, { root: sb.root })).rejects.toBeInstanceOf(QmpBusyError);
      const ms = performance.now() - started;
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(2_500);
      expect(sb.runtimeText()).toBe(before);
      const ids = await holder.execute<{ name: string }[]>('qom-list', { path: '/machine/peripheral' });
      expect(ids.map((p) => p.name).filter((n) => n.startsWith('disk-'))).toEqual(diskIds(await sb.load()));
    } finally {
      await holder.close();
    }
    // Once the socket is free the same action runs (the instance lock was released).
    const ok = await runAction({ type: 'hot-add-disk', instance: 'busy1', path: img }, { root: sb.root, lockTimeoutMs: 100 });
    expect(ok.status).toBe('done');
  });
});

describe('refused before anything is sent', () => {
  it('lsi with targets 0–7 in use: RefusedError, QEMU was only queried, runtime file untouched', async () => {
    const sb = await startSandbox({ name: 'full1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 8, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const t = new Transcript();
    const err = await runAction({ type: 'hot-add-disk', instance: 'full1', path: await sb.image('new') }, { root: sb.root, transcript: t }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as Error).message).toMatch(/scsi\.0 is full: controller lsi accepts scsi-id 0–7 only/);
    const sent = sentCommands(t).map((c) => c.execute);
    // A SCSI hot-add asks which devices there are and what backs them; the 8 disks' addresses are
    // the runtime file's (QEMU lists them under the ids the file gives): no qom-get, no query-pci.
    expect(sent).toEqual(['qmp_capabilities', 'qom-list', 'query-block']);
    expect(sent.filter((c) => CHANGING.has(c))).toEqual([]);
    expect(sb.runtimeText()).toBe(before);
  });
});

describe('rollback', () => {
  // The path of a disk the instance already has: QEMU opens it for the backend, then device_add
  // fails on the image's write lock — a real failure after the backend was created.
  it('drive_add then a device_add QEMU refuses: drive_del undoes the drive, runtime file byte-identical', async () => {
    const sb = await startSandbox({ name: 'rb1', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const blocksBefore = await sb.blocks();
    const t = new Transcript();
    const err = await failure(runAction({ type: 'hot-add-disk', instance: 'rb1', path: sb.instance.diskImages[0]! }, { root: sb.root, transcript: t }));
    const id = err.outcome.plan.device.id;
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.message).toMatch(/QEMU refused device_add: Failed to get "write" lock/);
    expect(err.outcome.undone).toEqual([`HMP drive_del ${id}`]);
    expect(err.outcome.leftovers).toEqual([]);
    expect(err.outcome.runtimeWritten).toBe(false);
    expect(sentCommands(t).filter((c) => CHANGING.has(c.execute)).map((c) => c.execute)).toEqual([
      'human-monitor-command', // drive_add
      'device_add',
      'human-monitor-command', // drive_del
    ]);
    expect(sb.runtimeText()).toBe(before);
    expect(await sb.blocks()).toEqual(blocksBefore);
    expect(await sb.peripheralIds()).not.toContain(id);
    expect((await sb.drift()).items).toEqual([]);
    // Nothing leaked: the target is free for the next hot-add.
    const next = await runAction({ type: 'hot-add-disk', instance: 'rb1', path: await sb.image('new') }, { root: sb.root });
    expect(next.plan.allocation).toEqual({ bus: 'scsi.0', 'scsi-id': 1, channel: 0, lun: 0 });
  });

  it('blockdev-add then a device_add QEMU refuses: blockdev-del undoes the node, runtime file byte-identical', async () => {
    const sb = await startSandbox(
      { name: 'rb2', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] },
      { deviceConfig: { blockdev: true } },
    );
    const before = sb.runtimeText();
    const nodesBefore = await sb.nodeNames();
    const t = new Transcript();
    const err = await failure(runAction({ type: 'hot-add-disk', instance: 'rb2', path: sb.instance.diskImages[0]! }, { root: sb.root, transcript: t }));
    const id = err.outcome.plan.device.id;
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.outcome.undone).toEqual([`blockdev-del {"node-name":"${id}"}`]);
    expect(sentCommands(t).filter((c) => CHANGING.has(c.execute)).map((c) => c.execute)).toEqual(['blockdev-add', 'device_add', 'blockdev-del']);
    expect(sb.runtimeText()).toBe(before);
    expect(await sb.nodeNames()).toEqual(nodesBefore);
    expect((await sb.probe()).pci.map((f) => f.qdevId)).not.toContain(id);
  });

  // The runtime file is rewritten by someone else while the action runs (after QEMU verified the new
  // device): the write is refused, so the device that was added must go again.
  it('runtime file changed under the action (scsi-hd, -blockdev): device_del, wait until gone, blockdev-del; QEMU as before', async () => {
    const sb = await startSandbox(
      { name: 'rb4', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] },
      { deviceConfig: { blockdev: true } },
    );
    const nodesBefore = await sb.nodeNames();
    const err = await failure(
      runAction(
        { type: 'hot-add-disk', instance: 'rb4', path: await sb.image('new') },
        { root: sb.root, onProgress: (e) => e.phase === 'verified' && appendFileSync(sb.runtimeFile, '\n') },
      ),
    );
    const id = err.outcome.plan.device.id;
    expect(err.message).toMatch(/runtime file could not be written/);
    expect(err.outcome.leftovers).toEqual([]);
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.outcome.undone).toEqual([`device_del {"id":"${id}"}`, `blockdev-del {"node-name":"${id}"}`]);
    expect(await sb.peripheralIds()).not.toContain(id);
    expect(await sb.nodeNames()).toEqual(nodesBefore);
  });

  it('runtime file changed under the action (virtio-blk-pci, paused, no guest): the device cannot go, and the outcome says so', async () => {
    const sb = await startSandbox({ name: 'rb5', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const err = await failure(
      runAction(
        { type: 'hot-add-disk', instance: 'rb5', path: await sb.image('new') },
        { root: sb.root, undoUnplugTimeoutMs: 500, onProgress: (e) => e.phase === 'verified' && appendFileSync(sb.runtimeFile, '\n') },
      ),
    );
    const id = err.outcome.plan.device.id;
    // Nobody acknowledges the PCI unplug: the device stays, so this is not a clean rollback.
    expect(await sb.peripheralIds()).toContain(id);
    expect(err.outcome.status).toBe('failed');
    expect(err.outcome.leftovers.join('\n')).toMatch(new RegExp(`${id} is still in QEMU: its unplug is pending`));
    expect(err.message).toMatch(/could not undo everything/);
    // Recorded as a pending unplug, so show --live explains the device the runtime file does not list.
    expect((await readPending(sb.root, 'rb5')).map((p) => p.id)).toEqual([id]);
    expect((await sb.drift()).items).toEqual([expect.objectContaining({ code: 'unplug-pending', id })]);
  });

  it('Ctrl-C in the middle of a hot-add: what was done is undone over the same connection', async () => {
    const sb = await startSandbox({ name: 'rb6', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const ac = new AbortController();
    const err = await failure(
      runAction(
        { type: 'hot-add-disk', instance: 'rb6', path: await sb.image('new') },
        // Abort as the device_add goes out: the steps finish, then the rest is cancelled and undone.
        { root: sb.root, signal: ac.signal, onProgress: (e) => e.phase === 'step' && e.index === 1 && ac.abort(new Error('SIGINT')) },
      ),
    );
    const id = err.outcome.plan.device.id;
    expect(err.outcome.status).toBe('rolled-back');
    // drive_del either removes the drive or finds it already gone with its device (QEMU finalizes
    // the device ~55 ms after it left the tree): both leave nothing behind.
    expect(err.outcome.undone).toHaveLength(2);
    expect(err.outcome.undone[0]).toBe(`device_del {"id":"${id}"}`);
    expect(err.outcome.undone[1]).toMatch(new RegExp(`^HMP drive_del ${id}( \\(already gone with its device\\))?$`));
    expect(sb.runtimeText()).toBe(before);
    expect(await sb.peripheralIds()).not.toContain(id);
    expect((await sb.blocks()).map((b) => b.device)).not.toContain(id);
  });

  it('a --uuid whose id QEMU already uses as a drive name: the first step fails, nothing to undo', async () => {
    const sb = await startSandbox({ name: 'rb3', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const uuid = 'feedface-0000-4000-8000-000000000001';
    const squat = await sb.image('squat');
    await sb.qmp((q) => q.hmp(`drive_add dummy file=${squat},if=none,id=disk-feedface-0000-4000,format=raw`));
    const before = sb.runtimeText();
    const err = await failure(runAction({ type: 'hot-add-disk', instance: 'rb3', path: await sb.image('new'), uuid }, { root: sb.root }));
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.message).toMatch(/Duplicate ID 'disk-feedface-0000-4000' for drive; nothing had changed; runtime file untouched/);
    expect(sb.runtimeText()).toBe(before);
    // The drive that was there before is left alone.
    expect((await sb.blocks()).map((b) => b.device)).toContain('disk-feedface-0000-4000');
  });
});

describe('concurrent hot-adds on one instance', () => {
  it('two at once get different targets; both are in the runtime file and in QEMU at the file\'s places', async () => {
    const sb = await startSandbox({ name: 'cc1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const [a, b] = await Promise.all([sb.image('a'), sb.image('b')]);
    const outcomes = await Promise.all([
      runAction({ type: 'hot-add-disk', instance: 'cc1', path: a }, { root: sb.root }),
      runAction({ type: 'hot-add-disk', instance: 'cc1', path: b }, { root: sb.root }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['done', 'done']);
    const targets = outcomes.map((o) => (o.plan.allocation as { 'scsi-id': number })['scsi-id']).sort();
    expect(targets).toEqual([1, 2]);
    const rf = await sb.load();
    expect(diskIds(rf)).toHaveLength(3);
    expect(diskIds(rf)).toEqual(expect.arrayContaining(outcomes.map((o) => o.plan.device.id)));
    expect((await sb.drift()).items).toEqual([]);
  });

  it('ten at once (virtio-blk-pci): ten distinct slots, none lost, file and QEMU agree', async () => {
    const sb = await startSandbox({ name: 'cc2', diskType: 'paravirtual', disks: 1, nics: 1, extraKvmCmd: ['-nodefaults'] });
    const images = await Promise.all(Array.from({ length: 10 }, (_, i) => sb.image(`p${i}`)));
    const outcomes: Outcome[] = await Promise.all(
      images.map((p) => runAction({ type: 'hot-add-disk', instance: 'cc2', path: p }, { root: sb.root, lockTimeoutMs: 20_000 })),
    );
    expect(outcomes.every((o) => o.status === 'done')).toBe(true);
    const addrs = outcomes.map((o) => (o.plan.allocation as { addr: string }).addr);
    expect(new Set(addrs).size).toBe(10);
    // disk0 0xc, nic0 0xd: the ten take 0xe–0x17.
    expect(addrs.map((a) => Number.parseInt(a, 16)).sort((x, y) => x - y)).toEqual(Array.from({ length: 10 }, (_, i) => 0xe + i));
    const rf = await sb.load();
    expect(rf.disks).toHaveLength(11);
    expect(rf.disks.map((d) => d.link).sort()).toEqual([sb.instance.diskImages[0]!, ...images].sort());
    const live = await sb.probe();
    for (const o of outcomes) {
      expect(live.pci.find((f) => f.qdevId === o.plan.device.id)?.slot).toBe(Number.parseInt((o.plan.allocation as { addr: string }).addr, 16));
    }
    expect((await sb.drift()).items).toEqual([]);
  });
});

describe('CLI', () => {
  it('exit codes: 0 done, 1 failed or refused, 2 bad input; errors are one line, no stack', async () => {
    const sb = await startSandbox({ name: 'cli1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const img = await sb.image('new');

    const missing = await cli(sb, 'hotplug', 'disk', 'cli1', '--path', path.join(sb.root, 'nope.img'));
    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toBe(`plugboard: --path ${path.join(sb.root, 'nope.img')}: does not exist\n`);
    expect((await cli(sb, 'hotplug', 'disk', 'cli1', '--path', img, '--uuid', 'xyz')).code).toBe(2);
    expect((await cli(sb, 'hotplug', 'disk', 'cli1', '--path', img, '--backend', 'qcow')).code).toBe(2);
    expect((await cli(sb, 'hotplug', 'disk', 'cli1', '--path', img, '--runtime-file', sb.runtimeFile)).code).toBe(2);
    expect((await cli(sb, 'unplug', 'disk', 'cli1', 'disk-nope')).code).toBe(2);
    expect((await cli(sb, 'unplug', 'disk', 'cli1', 'disk-nope', '--timeout', 'soon')).code).toBe(2);
    expect((await cli(sb, 'hotplug', 'disk', 'no_such!', '--path', img)).code).toBe(2);

    const legacy = await cli(sb, 'hotplug', 'disk', 'cli1', '--path', img, '--disk-type', 'scsi');
    expect(legacy.code).toBe(1);
    expect(legacy.stderr).toMatch(/^plugboard: .*disk_type=scsi.*scsi-hd.*\n$/);

    const failed = await cli(sb, 'hotplug', 'disk', 'cli1', '--path', sb.instance.diskImages[0]!);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/undone: HMP drive_del disk-/);
    expect(failed.stderr).not.toMatch(/\n\s+at /);

    const before = sb.runtimeText();
    const added = await cli(sb, 'hotplug', 'disk', 'cli1', '--path', img, '--json');
    expect(added.code).toBe(0);
    const out = JSON.parse(added.stdout) as { status: string; runtimeWritten: boolean; plan: PlanJson; ms: number };
    expect(out).toMatchObject({ status: 'done', runtimeWritten: true, plan: { allocation: { bus: 'scsi.0', 'scsi-id': 1 } } });
    expect(sb.runtimeText()).not.toBe(before);

    const removed = await cli(sb, 'unplug', 'disk', 'cli1', out.plan.device.uuid);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^done: unplugged disk-/m);
    expect(diskIds(await sb.load())).toHaveLength(1);
  });

  it('--dry-run --json --runtime-file: the plan, and nothing changes in QEMU or the file', async () => {
    const sb = await startSandbox({ name: 'cli2', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const copy = path.join(sb.root, 'copy-of-cli2.runtime');
    copyFileSync(sb.runtimeFile, copy);
    const before = readFileSync(copy, 'utf8');
    const img = await sb.image('new');
    const dry = await cli(sb, 'hotplug', 'disk', 'cli2', '--path', img, '--dry-run', '--json', '--runtime-file', copy);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as PlanJson;
    expect(plan).toMatchObject({
      action: 'hot-add-disk',
      allocation: { bus: 'scsi.0', 'scsi-id': 2, channel: 0, lun: 0 },
      qmp: [
        { execute: 'human-monitor-command', arguments: { 'command-line': expect.stringMatching(new RegExp(`^drive_add dummy file=${img},if=none,id=${plan.device.id},format=raw`)) } },
        { execute: 'device_add', arguments: { driver: 'scsi-hd', id: plan.device.id, bus: 'scsi.0', 'scsi-id': 2 } },
      ],
      runtime: expect.stringMatching(/^add disks\[2\] disk-/),
    });
    expect(plan.notes).toContain('planned from the runtime file only (QEMU not asked)');
    expect(readFileSync(copy, 'utf8')).toBe(before);
    expect(await sb.peripheralIds()).not.toContain(plan.device.id);

    const id = diskIds(await sb.load())[1]!;
    const dryUnplug = await cli(sb, 'unplug', 'disk', 'cli2', id, '--dry-run', '--json', '--runtime-file', copy);
    expect(dryUnplug.code).toBe(0);
    expect(JSON.parse(dryUnplug.stdout)).toMatchObject({
      action: 'unplug-disk',
      allocation: { bus: 'scsi.0', 'scsi-id': 1 },
      qmp: [{ execute: 'device_del', arguments: { id } }],
      then: { wait: { id, needsGuest: false } },
    });
    // --dry-run against the live instance asks QEMU but changes nothing either.
    const live = await cli(sb, 'unplug', 'disk', 'cli2', id, '--dry-run');
    expect(live.code).toBe(0);
    expect(live.stdout).toMatch(new RegExp(`device_del \\{"id":"${id}"\\}`));
    expect(await sb.peripheralIds()).toContain(id);
    expect(diskIds(await sb.load())).toContain(id);
  });
});
