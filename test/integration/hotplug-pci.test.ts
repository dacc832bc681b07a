/**
 * virtio-blk-pci disks through the executor and the CLI against a real QEMU 7.2: hot-add on a paused
 * VM (no guest needed), an unplug nobody acknowledges (paused VM: pending, runtime entry kept,
 * pending record, `show --live` says so, completed after `system_reset`), and an unplug the booted
 * test guest acknowledges (done, entry removed). Guest unplug latency is printed, not asserted.
 */
import { describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { readPending } from '../../src/live/pending.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { diskIds, startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';
import { cli } from '../helpers/actions.js';

useSandboxCleanup();



interface ShowLiveJson {
  drift: { ok: boolean; items: { code: string; id: string; message: string }[] };
}

const pciSlotOf = async (sb: TestSandbox, id: string): Promise<number | undefined> =>
  (await sb.probe()).pci.find((f) => f.qdevId === id)?.slot;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('virtio-blk-pci on a paused VM (no guest)', () => {
  it('hot-add puts it at the lowest free slot above the reservations; QEMU lists it there; no drift', async () => {
    const sb = await startSandbox({ name: 'vm1', diskType: 'paravirtual', disks: 1, nics: 1, extraKvmCmd: ['-nodefaults'] });
    // disk0 at 0xc, nic0 at 0xd (the sandbox's layout, as Ganeti 3.0 places them).
    const added = await runAction({ type: 'hot-add-disk', instance: 'vm1', path: await sb.image('new') }, { root: sb.root });
    expect(added.status).toBe('done');
    const id = added.plan.device.id;
    expect(added.plan.allocation).toEqual({ bus: 'pci.0', addr: '0xe' });
    expect(await pciSlotOf(sb, id)).toBe(0xe);
    const rf = await sb.load();
    expect(rf.disks[1]!.hvinfo).toEqual({ driver: 'virtio-blk-pci', id, bus: 'pci.0', addr: '0xe' });
    expect((await sb.drift()).items).toEqual([]);
  });

  it('unplug nobody acknowledges: pending (exit 1), entry and record kept, show --live says unplug-pending; after system_reset a second unplug finishes it', async () => {
    const sb = await startSandbox({ name: 'vm2', diskType: 'paravirtual', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const id = diskIds(await sb.load())[1]!;
    const before = sb.runtimeText();

    const first = await cli(sb, 'unplug', 'disk', 'vm2', id, '--timeout', '0.3');
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(new RegExp(`pending: unplug of ${id} is pending: the guest did not acknowledge the PCI unplug within 0\\.3 s`));
    expect(sb.runtimeText()).toBe(before);
    expect(await sb.peripheralIds()).toContain(id);
    expect(await readPending(sb.root, 'vm2')).toEqual([{ id, kind: 'disk', since: expect.any(String) }]);
    const since = (await readPending(sb.root, 'vm2'))[0]!.since;

    const show = await cli(sb, 'show', 'vm2', '--live', '--json');
    expect(show.code).toBe(0);
    const drift = (JSON.parse(show.stdout) as ShowLiveJson).drift;
    expect(drift.ok).toBe(false);
    expect(drift.items).toEqual([expect.objectContaining({ code: 'unplug-pending', id })]);
    const text = await cli(sb, 'show', 'vm2', '--live');
    expect(text.stdout).toMatch(new RegExp(`~ unplug-pending: ${id}: unplug requested at ${since} is still pending`));

    // Asking again while it is pending: QEMU says "already in the process of unplug"; still pending.
    const second = await cli(sb, 'unplug', 'disk', 'vm2', id, '--timeout', '0.2', '--json');
    expect(second.code).toBe(1);
    expect(JSON.parse(second.stdout)).toMatchObject({ status: 'pending', runtimeWritten: false });
    expect(sb.runtimeText()).toBe(before);
    expect((await readPending(sb.root, 'vm2'))[0]!.since).toBe(since);

    // system_reset completes pending unplugs (docs/qemu-ganeti-facts.md, "Unplug"); the next unplug only removes the entry.
    await sb.qmp((q) => q.execute('system_reset'));
    const third = await cli(sb, 'unplug', 'disk', 'vm2', id);
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(new RegExp(`done: unplugged ${id}`));
    expect(diskIds(await sb.load())).not.toContain(id);
    expect(await readPending(sb.root, 'vm2')).toEqual([]);
    expect((await sb.drift()).items).toEqual([]);
  });

  it('Ctrl-C while waiting for the guest: pending at once (not after the timeout), entry kept, record written', async () => {
    const sb = await startSandbox({ name: 'vm4', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const id = diskIds(await sb.load())[0]!;
    const before = sb.runtimeText();
    const ac = new AbortController();
    const started = performance.now();
    const outcome = await runAction(
      { type: 'unplug-disk', instance: 'vm4', device: id, timeoutMs: 20_000 },
      { root: sb.root, signal: ac.signal, onProgress: (e) => e.phase === 'waiting' && ac.abort(new Error('SIGINT')) },
    );
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(outcome.status).toBe('pending');
    expect(outcome.message).toMatch(/interrupted while waiting/);
    expect(sb.runtimeText()).toBe(before);
    expect((await readPending(sb.root, 'vm4')).map((p) => p.id)).toEqual([id]);
  });

  it('-blockdev: the node a pending unplug leaves behind is removed when the unplug is finished', async () => {
    const sb = await startSandbox(
      { name: 'vm3', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] },
      { deviceConfig: { blockdev: true } },
    );
    const id = diskIds(await sb.load())[0]!;
    const pending = await runAction({ type: 'unplug-disk', instance: 'vm3', device: id, timeoutMs: 300 }, { root: sb.root });
    expect(pending.status).toBe('pending');
    await sb.qmp(async (q) => {
      const mark = q.mark();
      await q.execute('system_reset');
      await q.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === id, { since: mark, timeoutMs: 5_000 });
    });
    expect(await sb.peripheralIds()).not.toContain(id);
    // The device is gone but its node stays, and query-block no longer lists it (unattached).
    expect(await sb.nodeNames()).toContain(id);
    expect(await sb.blocks()).toEqual([]);

    const t = new Transcript();
    const done = await runAction({ type: 'unplug-disk', instance: 'vm3', device: id, timeoutMs: 300 }, { root: sb.root, transcript: t });
    expect(done.status).toBe('done');
    expect(done.leftovers).toEqual([]);
    const sentCmds = t.entries().filter((e) => e.direction === 'out').map((e) => JSON.parse(e.json) as { execute: string; arguments?: unknown; id?: number });
    // The unplug's device_del is QEMU's answer to "is it there": DeviceNotFound, then planned again
    // from which devices QEMU has (none of that id) and which nodes are left.
    const del = sentCmds.filter((c) => c.execute === 'device_del');
    expect(del).toHaveLength(1);
    const delReply = t.entries().find((e) => e.direction === 'in' && (JSON.parse(e.json) as { id?: number }).id === del[0]!.id);
    expect(JSON.parse(delReply!.json)).toMatchObject({ error: { class: 'DeviceNotFound' } });
    expect(sentCmds.map((c) => c.execute)).toContain('query-named-block-nodes');
    expect(sentCmds.find((c) => c.execute === 'blockdev-del')?.arguments).toEqual({ 'node-name': id });
    expect(await sb.nodeNames()).toEqual([]);
    expect(diskIds(await sb.load())).toEqual([]);
    expect(await readPending(sb.root, 'vm3')).toEqual([]);
  });
});

describe('virtio-blk-pci with the booted test guest', () => {
  it('the guest acknowledges the unplug: done, entry removed, QEMU agrees; hot-add/unplug cycles in the running guest', { timeout: 120_000 }, async () => {
    const sb = await startSandbox({ name: 'guest1', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] }, { guest: true });
    const disk0 = diskIds(await sb.load())[0]!;
    expect(sb.serial?.output).toMatch(/modules:.*virtio_blk/);

    // The disk the guest booted with (bound to virtio_blk).
    const t0 = performance.now();
    const boot = await runAction({ type: 'unplug-disk', instance: 'guest1', device: disk0, timeoutMs: 20_000 }, { root: sb.root });
    const bootMs = performance.now() - t0;
    expect(boot.status).toBe('done');
    expect(diskIds(await sb.load())).toEqual([]);
    expect(await sb.peripheralIds()).not.toContain(disk0);
    expect(await readPending(sb.root, 'guest1')).toEqual([]);
    expect((await sb.drift()).items).toEqual([]);

    const add: number[] = [];
    const del: number[] = [];
    const img = await sb.image('hot');
    for (let i = 0; i < 5; i++) {
      let t = performance.now();
      const a = await runAction({ type: 'hot-add-disk', instance: 'guest1', path: img }, { root: sb.root });
      add.push(performance.now() - t);
      expect(a.status).toBe('done');
      expect(a.plan.allocation).toEqual({ bus: 'pci.0', addr: '0xc' });
      t = performance.now();
      const u = await runAction({ type: 'unplug-disk', instance: 'guest1', device: a.plan.device.id, timeoutMs: 20_000 }, { root: sb.root });
      del.push(performance.now() - t);
      expect(u.status).toBe('done');
    }
    expect((await sb.drift()).items).toEqual([]);
    console.log(
      `[hotplug timing] virtio-blk-pci in the booted TCG guest: unplug of the boot disk ${bootMs.toFixed(0)} ms; ` +
        `5 cycles: hot-add median ${median(add).toFixed(0)} ms, unplug median ${median(del).toFixed(0)} ms ` +
        `(min ${Math.min(...del).toFixed(0)}, max ${Math.max(...del).toFixed(0)})`,
    );
  });
});
