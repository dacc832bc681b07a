/**
 * Concurrency between real processes: the CLI (`node bin/plugboard.js`, compiled by `npm run
 * build`) run as child processes against one real QEMU 7.2 sandbox.
 * - two `plugboard hotplug` at once, and twenty at once: never the same slot or target, never an
 *   entry lost; the runtime file and QEMU agree afterwards;
 * - hot-adds and an unplug at once: the file ends with exactly the survivors;
 * - a CLI SIGKILLed while it holds the instance lock (during an unplug wait, and between device_add
 *   and the runtime-file write): the next CLI takes the stale lock over and works, and
 *   `show --live` tells the truth about what the killed one left.
 * (In-process concurrency and the lock's own multi-process tests are in
 * test/integration/hotplug-safety.test.ts and test/unit/runtime-lock.test.ts.)
 */
import { existsSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readPending } from '../../src/live/pending.js';
import { lockFilePath } from '../../src/runtime/lock.js';
import { diskIds, startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';
import { ensureCliBuilt, FigureCounter, killCliChildren, QmpProxy, runCli, startCli } from '../hostile/lib.js';

useSandboxCleanup();
const figures = new FigureCounter('concurrency (CLI processes)');
afterAll(() => figures.report());
const proxies: QmpProxy[] = [];
afterEach(async () => {
  killCliChildren();
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
beforeAll(() => ensureCliBuilt(), 240_000);

interface Added {
  status: string;
  plan: { device: { id: string }; allocation: { bus: string; addr?: string; 'scsi-id'?: number } };
}

/** The file and QEMU agree, and every id in `expected` is in both, each at one place. */
async function agree(sb: TestSandbox, expected: string[]): Promise<void> {
  const rf = await sb.load();
  const ids = diskIds(rf);
  for (const id of expected) if (!ids.includes(id)) figures.dataLost++;
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of expected) expect(ids).toContain(id);
  const places = rf.disks.map((d) => JSON.stringify({ ...d.hvinfo, id: undefined, driver: undefined }));
  expect(new Set(places).size).toBe(places.length);
  expect((await sb.drift()).items).toEqual([]);
}

describe('hot-adds from separate processes', () => {
  it('two `plugboard hotplug` at once: both done, different targets, both in the file and in QEMU at the file\'s places', async () => {
    const sb = await startSandbox({ name: 'pp1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const [a, b] = await Promise.all([sb.image('a'), sb.image('b')]);
    figures.inputs += 2;
    const runs = await Promise.all([a, b].map((p) => runCli(sb.root, ['hotplug', 'disk', 'pp1', '--path', p, '--json'])));
    expect(runs.map((r) => [r.code, r.stderr])).toEqual([
      [0, ''],
      [0, ''],
    ]);
    const outs = runs.map((r) => JSON.parse(r.stdout) as Added);
    expect(outs.map((o) => o.status)).toEqual(['done', 'done']);
    expect(outs.map((o) => o.plan.allocation['scsi-id']).sort()).toEqual([1, 2]);
    await agree(sb, outs.map((o) => o.plan.device.id));
  });

  it('seventeen `plugboard hotplug` at once on an instance with 1 disk: 15 done at 15 distinct slots, 2 refused at Ganeti\'s 16, none lost', { timeout: 120_000 }, async () => {
    const sb = await startSandbox({ name: 'pp2', diskType: 'paravirtual', reservations: 5, disks: 1, extraKvmCmd: ['-nodefaults'] });
    const images = await Promise.all(Array.from({ length: 17 }, (_, i) => sb.image(`p${i}`)));
    figures.inputs += 17;
    const runs = await Promise.all(images.map((p) => runCli(sb.root, ['hotplug', 'disk', 'pp2', '--path', p, '--json'])));
    const done = runs.filter((r) => r.code === 0);
    const refused = runs.filter((r) => r.code !== 0);
    expect(done).toHaveLength(15);
    for (const r of refused) {
      expect(r.code).toBe(1);
      expect(r.stderr).toBe('plugboard: cannot hot-add a paravirtual disk to pp2: the instance already has 16 disks, Ganeti\'s maximum is 16\n');
    }
    const outs = done.map((r) => JSON.parse(r.stdout) as Added);
    const slots = outs.map((o) => Number.parseInt(o.plan.allocation.addr!, 16));
    // Reservations 5, disk0 at 0x5, -nodefaults + balloon at 0x2: the fifteen take 0x6–0x14.
    expect([...slots].sort((x, y) => x - y)).toEqual(Array.from({ length: 15 }, (_, i) => 0x6 + i));
    expect((await sb.load()).disks).toHaveLength(16);
    await agree(sb, outs.map((o) => o.plan.device.id));
    expect(readdirSync(path.join(sb.root, 'plugboard-lock'))).toEqual([]);
  });

  it('twenty rounds in a loop of a hot-add and an unplug at once (scsi-hd on virtio-scsi-pci): every round ends with exactly the expected disks', { timeout: 180_000 }, async () => {
    const sb = await startSandbox({ name: 'pp4', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const [keep, first] = diskIds(await sb.load()) as [string, string];
    let last = first;
    for (let round = 0; round < 20; round++) {
      figures.inputs += 2;
      const img = await sb.image(`r${round}`);
      const [add, del] = await Promise.all([
        runCli(sb.root, ['hotplug', 'disk', 'pp4', '--path', img, '--json']),
        runCli(sb.root, ['unplug', 'disk', 'pp4', last, '--json']),
      ]);
      expect([add.code, add.stderr, del.code, del.stderr]).toEqual([0, '', 0, '']);
      const added = (JSON.parse(add.stdout) as Added).plan.device.id;
      const ids = diskIds(await sb.load());
      if (!ids.includes(keep) || !ids.includes(added)) figures.dataLost++;
      expect(ids.sort()).toEqual([keep, added].sort());
      last = added;
    }
    await agree(sb, [keep, last]);
  });

  it('three hot-adds and an unplug at once (scsi-hd on megasas): the file ends with exactly the survivors', async () => {
    const sb = await startSandbox({ name: 'pp3', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const [keep, gone] = diskIds(await sb.load()) as [string, string];
    const images = await Promise.all(['x', 'y', 'z'].map((n) => sb.image(n)));
    figures.inputs += 4;
    const runs = await Promise.all([
      ...images.map((p) => runCli(sb.root, ['hotplug', 'disk', 'pp3', '--path', p, '--json'])),
      runCli(sb.root, ['unplug', 'disk', 'pp3', gone, '--json']),
    ]);
    for (const r of runs) expect([r.code, r.stderr]).toEqual([0, '']);
    const added = runs.slice(0, 3).map((r) => (JSON.parse(r.stdout) as Added).plan.device.id);
    const ids = diskIds(await sb.load());
    expect(ids.sort()).toEqual([keep, ...added].sort());
    await agree(sb, [keep, ...added]);
  });
});

describe('a CLI killed while it holds the lock', () => {
  it('SIGKILLed during an unplug wait: the next hotplug takes the stale lock over; the unplug is still in QEMU and the file, and a new unplug finds it pending', async () => {
    const sb = await startSandbox({ name: 'st1', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const id = diskIds(await sb.load())[0]!;
    const first = startCli(sb.root, ['unplug', 'disk', 'st1', id, '--timeout', '60']);
    await first.waitForOutput(new RegExp(`waiting for ${id} to go`), 'the unplug to wait');
    expect(existsSync(lockFilePath(sb.root, 'st1'))).toBe(true);
    figures.faults++;
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // The killed holder's lock is left behind.
    const holder = JSON.parse(readFileSync(lockFilePath(sb.root, 'st1'), 'utf8')) as { pid: number };
    expect(holder.pid).toBe(first.child.pid);

    const before = sb.runtimeText();
    const next = await runCli(sb.root, ['hotplug', 'disk', 'st1', '--path', await sb.image('n'), '--json']);
    expect([next.code, next.stderr]).toEqual([0, '']);
    const added = (JSON.parse(next.stdout) as Added).plan.device.id;
    expect(sb.runtimeText()).not.toBe(before);
    expect(readdirSync(path.join(sb.root, 'plugboard-lock'))).toEqual([]);
    // The device whose unplug was requested is still in QEMU and in the file: no drift to hide.
    await agree(sb, [id, added]);
    // Asking again: QEMU says the unplug is under way → pending, recorded, exit 1.
    const again = await runCli(sb.root, ['unplug', 'disk', 'st1', id, '--timeout', '0.3']);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(new RegExp(`^pending: unplug of ${id} is pending`, 'm'));
    expect((await readPending(sb.root, 'st1')).map((p) => p.id)).toEqual([id]);
  });

  it('SIGKILLed between device_add and the runtime-file write: show --live names the orphan, the next hotplug passes over its slot', async () => {
    const sb = await startSandbox({ name: 'st2', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const real = path.join(sb.root, 'ctrl', 'st2.real.qmp');
    renameSync(sb.qmpSocket, real);
    let queryPci = 0;
    // Hold the verification (the second query-pci): device_add has been carried out by then.
    const proxy = await QmpProxy.start(sb.qmpSocket, real, (c) => (c.execute === 'query-pci' && ++queryPci === 2 ? 'hold' : 'forward'));
    proxies.push(proxy);
    const first = startCli(sb.root, ['hotplug', 'disk', 'st2', '--path', await sb.image('orphan')]);
    await proxy.waitForCommand('device_add');
    await first.waitForOutput(/add virtio-blk-pci/, 'the plan to be printed');
    await waitFor(() => queryPci === 2, { what: 'the verification query-pci' });
    figures.faults++;
    first.child.kill('SIGKILL');
    await first.exited;
    proxy.release();
    expect(sb.runtimeText()).toBe(before);

    const known = diskIds(await sb.load());
    const orphan = (await sb.peripheralIds()).find((p) => p.startsWith('disk-') && !known.includes(p));
    expect(orphan).toBeDefined();
    const live = await runCli(sb.root, ['show', 'st2', '--live']);
    expect(live.code).toBe(0);
    expect(live.stdout).toMatch(new RegExp(`unknown-to-file: .*${orphan}`));
    const next = await runCli(sb.root, ['hotplug', 'disk', 'st2', '--path', await sb.image('next'), '--json']);
    expect([next.code, next.stderr]).toEqual([0, '']);
    const out = JSON.parse(next.stdout) as Added & { plan: { skipped: string[] } };
    // 0xc disk0, 0xd the orphan (QEMU has it): the new disk goes to 0xe.
    expect(out.plan.allocation.addr).toBe('0xe');
    expect(out.plan.skipped.join('\n')).toMatch(/0xd/);
  });
});
