/**
 * Ganeti's view against the node, produced for real on the one-node Ganeti 3.0 cluster: each kind
 * of disagreement made by the means that make it in production, and the mark it must give; a
 * cleanly Ganeti-managed instance (with Ganeti-hotplugged, /dev/fdset-backed disks) gives none.
 * Root only; skipped with the reason otherwise.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { compareWithGaneti, type GanetiComparison } from '../../src/ganeti/compare.js';
import { planGanetiRequest } from '../../src/actions/plan-ganeti.js';
import { ganetiInstanceOf } from '../../src/ganeti/view.js';
import { readJobResult } from '../../src/ganeti/job.js';
import { computeDrift } from '../../src/live/drift.js';
import { QmpClient, withQmp } from '../../src/qmp/client.js';
import { QmpBusyError } from '../../src/qmp/errors.js';
import { qmpSocketClients } from '../../src/qmp/socket-holders.js';
import { qemuPidOption } from '../../src/runtime/root.js';
import { KVM_ROOT, MASTER_NODE, ganetiSkipReason, qemuSideOf, useGanetiCluster } from '../helpers/ganeti-cluster.js';
import { waitFor } from '../helpers/wait.js';

const skip = ganetiSkipReason();
if (skip) process.stderr.write(`ganeti-drift.test.ts: ${skip}\n`);

const INST = 'pb-it-drift.example.com';

describe.skipIf(skip !== undefined)("Ganeti's configuration against the node, on the real cluster", () => {
  const cluster = useGanetiCluster();

  /** Ganeti's view (RAPI), the runtime file and QEMU (plugboard's probe), compared. */
  async function compare(): Promise<GanetiComparison> {
    const view = ganetiInstanceOf(await cluster.client().instance(INST));
    const runtime = await cluster.runtimeFile(INST);
    const live = await cluster.probe(INST);
    return compareWithGaneti({ runtime, qemu: qemuSideOf(live), nodeName: MASTER_NODE }, view);
  }

  async function modify(body: Record<string, unknown>, what: string) {
    return cluster.job(await cluster.client().modify(INST, body), what);
  }

  it('a cleanly Ganeti-managed instance, also with a disk Ganeti hot-added (QEMU backs it with /dev/fdset/N): no mark, no drift', async () => {
    await cluster.ensureInstance(INST, { running: true });
    expect((await compare()).marks).toEqual([]);
    const add = planGanetiRequest({ kind: 'disk-add', instance: INST, disk: { size: 16, name: 'fd1' } }, { running: true });
    expect((await modify(add.request.body, 'hot-add disk')).devices[0]?.hotplug).toBe('done');
    const live = await cluster.probe(INST);
    const rf = await cluster.runtimeFile(INST);
    const added = rf.disks.find((d) => d.name === 'fd1');
    // What really holds: the runtime file names the disk link, QEMU an fd set.
    expect(added?.link).toBe(`/var/run/ganeti/instance-disks/${INST}:1`);
    expect(live.blocks.find((b) => b.deviceId === added?.hvinfo.id)?.file).toMatch(/^\/dev\/fdset\/\d+$/);
    const c = await compare();
    expect(c.marks).toEqual([]);
    expect(c.notes).toEqual([]);
    expect(c.devices.filter((d) => d.kind === 'disk').map((d) => d.label)).toEqual(['disk/0', 'disk/1 (fd1)']);
    // plugboard's own drift (what show --live and check report) sees none either.
    expect(computeDrift(rf, live).items).toEqual([]);
    expect((await modify(planGanetiRequest({ kind: 'disk-remove', instance: INST, disk: 'fd1' }, { running: true }).request.body, 'hot-remove disk')).devices[0]?.hotplug).toBe('done');
    expect((await compare()).ok).toBe(true);
  });

  it("a disk hot-added behind Ganeti's back (plugboard over QMP): not in Ganeti's configuration, until it is unplugged", async () => {
    await cluster.ensureInstance(INST, { running: true });
    const image = `/var/tmp/pb-it-drift-${process.pid}.img`;
    execFileSync('truncate', ['-s', '16M', image]);
    try {
      const uuid = '7d1c0e4a-3b2f-4c5d-9e8f-a0b1c2d3e4f5';
      const added = await cluster.time('plugboard hot-add disk over QMP', runAction({ type: 'hot-add-disk', instance: INST, path: image, uuid }, { root: KVM_ROOT }));
      expect(added.status).toBe('done');
      const c = await compare();
      expect(c.marks.map((m) => `${m.code} ${m.kind} ${m.id} ${m.node?.address ?? ''}`)).toEqual(['not-in-ganeti disk disk-7d1c0e4a-3b2f-4c5d scsi.0 target 1']);
      expect(c.marks[0]?.meaning).toContain('it vanishes from the guest at the next restart, is not replicated, does not follow a failover or migration');
      // Ganeti itself still counts one disk; the node has two.
      expect(ganetiInstanceOf(await cluster.client().instance(INST)).disks).toHaveLength(1);
      const gone = await cluster.time('plugboard unplug disk over QMP', runAction({ type: 'unplug-disk', instance: INST, device: 'disk-7d1c0e4a-3b2f-4c5d', timeoutMs: 10_000 }, { root: KVM_ROOT }));
      expect(gone.status).toBe('done');
      expect((await compare()).marks).toEqual([]);
    } finally {
      rmSync(image, { force: true });
    }
  });

  it('a NIC removal the guest does not acknowledge: the job succeeds with hotplug:failed, the node keeps what Ganeti dropped', async () => {
    await cluster.ensureInstance(INST, { running: true });
    const add = await modify(planGanetiRequest({ kind: 'nic-add', instance: INST, nic: { name: 'ack' } }, { running: true }).request.body, 'hot-add NIC');
    expect(add.devices[0]?.hotplug).toBe('done');
    expect((await compare()).marks).toEqual([]);
    const nicId = (await cluster.runtimeFile(INST)).nics[1]?.hvinfo;
    const id = nicId && 'id' in nicId ? nicId.id : '';
    // The guest cannot acknowledge the ACPI unplug while QEMU is paused (`stop` on the .kvmd socket).
    await cluster.qmp(INST, [{ execute: 'stop' }], 'kvmd');
    try {
      const r = await modify(planGanetiRequest({ kind: 'nic-remove', instance: INST, nic: 'ack' }, { running: true }).request.body, 'hot-remove NIC, guest paused (hotplug:failed)');
      expect(r.status).toBe('success');
      expect(r.hotplugFailed.map((d) => `${d.kind}/${d.index} ${d.action}`)).toEqual(['nic/1 remove']);
      expect(r.log.map((l) => l.message).join('\n')).toContain(`Device ${id} should have been removed but is still there`);
      const c = await compare();
      expect(c.marks.map((m) => `${m.code} ${m.kind} ${m.id}`)).toEqual([`not-in-ganeti nic ${id}`]);
      expect(c.marks[0]?.node).toMatchObject({ runtimeIndex: 1, inQemu: true });
    } finally {
      await cluster.qmp(INST, [{ execute: 'cont' }], 'kvmd');
    }
    // Running again, the guest acknowledges the pending unplug: QEMU lets the NIC go, the runtime file keeps it.
    await waitFor(async () => !(await cluster.probe(INST)).peripherals.some((p) => p.id === id), { timeoutMs: 30_000, what: `QEMU to drop ${id}` });
    const stale = await compare();
    expect(stale.marks.map((m) => `${m.code} ${m.id} inQemu=${String(m.node?.inQemu)}`)).toEqual([`not-in-ganeti ${id} inQemu=false`]);
    expect(stale.marks[0]?.repair).toEqual({ kind: 'unplug-on-node', device: 'nic', id });
    // The node-local repair: plugboard's unplug finds nothing to unplug in QEMU and drops the entry.
    const repaired = await cluster.time('plugboard unplug (repair of a stale NIC entry)', runAction({ type: 'unplug-nic', instance: INST, device: id, timeoutMs: 10_000 }, { root: KVM_ROOT }));
    expect(repaired.status).toBe('done');
    expect((await compare()).marks).toEqual([]);
  });

  it("a Ganeti hot-add that QEMU refuses: in Ganeti's configuration but not on the node (and the drive Ganeti left noted)", async () => {
    await cluster.ensureInstance(INST, { running: true });
    const blocker = `/var/tmp/pb-it-blocker-${process.pid}.img`;
    execFileSync('truncate', ['-s', '16M', blocker]);
    try {
      // Take the target Ganeti will choose (1, the runtime file's next) behind the runtime file's back.
      await cluster.qmp(INST, [
        { execute: 'human-monitor-command', arguments: { 'command-line': `drive_add dummy file=${blocker},if=none,id=pbblocker,format=raw` } },
        { execute: 'device_add', arguments: { driver: 'scsi-hd', id: 'pbblocker', drive: 'pbblocker', bus: 'scsi.0', channel: 0, 'scsi-id': 1, lun: 0 } },
      ]);
      const r = await modify(planGanetiRequest({ kind: 'disk-add', instance: INST, disk: { size: 16, name: 'refused' } }, { running: true }).request.body, 'hot-add disk refused by QEMU (hotplug:failed)');
      expect(r.status).toBe('success');
      expect(r.hotplugFailed.map((d) => `${d.kind}/${d.index} ${d.action}`)).toEqual(['disk/1 add']);
      expect(r.log.map((l) => l.message).join('\n')).toContain("lun already used by 'pbblocker'");
      const c = await compare();
      const missing = c.marks.find((m) => m.code === 'not-on-node');
      expect(missing?.message).toMatch(/^Ganeti's disk\/1 \(refused, 16 MiB\) is in Ganeti's configuration but not on the node/);
      expect(c.marks.filter((m) => m.code === 'not-in-ganeti').map((m) => m.id)).toEqual(['pbblocker']);
      expect(c.notes.join('\n')).toMatch(/QEMU holds drive disk-[0-9a-f-]{18} \(\/dev\/fdset\/\d+\) with no device/);
    } finally {
      // Undo: the blocker, the drive Ganeti left, and the disk Ganeti has (its hot-unplug fails: the node never had it).
      await cluster.qmp(INST, [{ execute: 'device_del', arguments: { id: 'pbblocker' } }]).catch(() => undefined);
      const orphan = (await cluster.probe(INST)).blocks.find((b) => b.style === 'drive' && b.deviceId === undefined && b.device.startsWith('disk-'));
      if (orphan) await cluster.qmp(INST, [{ execute: 'human-monitor-command', arguments: { 'command-line': `drive_del ${orphan.device}` } }]);
      await modify({ disks: [['remove', 'refused', {}]], hotplug: true }, 'hot-remove of a disk the node never had');
      rmSync(blocker, { force: true });
    }
    expect((await compare()).marks).toEqual([]);
  });

  it("anyone holding the instance's QMP socket during a Ganeti hotplug makes it fail: Ganeti does not retry (hotplug:failed, in the configuration, not on the node)", async () => {
    await cluster.ensureInstance(INST, { running: true });
    // QEMU serves one QMP client at a time. Ganeti's connect (5 s timeout) either fails at once
    // (EAGAIN: "Can't connect to qmp socket") or waits in the backlog for a greeting that does not come.
    const r = await withQmp(path.join(KVM_ROOT, 'ctrl', `${INST}.qmp`), {}, async () =>
      modify(planGanetiRequest({ kind: 'disk-add', instance: INST, disk: { size: 16, name: 'busy' } }, { running: true }).request.body, 'hot-add disk while QMP is held (hotplug:failed)'),
    );
    expect(r.status).toBe('success');
    expect(r.hotplugFailed.map((d) => `${d.kind}/${d.index} ${d.action}`)).toEqual(['disk/1 add']);
    expect(r.log.map((l) => l.message).join('\n')).toMatch(
      /Could not hotplug device: Error while executing backend function: (Can't connect to qmp socket|Timeout while receiving a QMP message: timed out)/,
    );
    const c = await compare();
    expect(c.marks.map((m) => `${m.code} ${m.kind}`)).toEqual(['not-on-node disk']);
    expect(c.notes).toEqual([]); // nothing reached QEMU: no drive left behind
    await modify({ disks: [['remove', 'busy', {}]], hotplug: true }, 'hot-remove of a disk the node never had');
    expect((await compare()).marks).toEqual([]);
  });

  it("plugboard asking while someone holds the QMP socket does not connect (it reads QEMU's socket table): Ganeti's hotplug waits its turn behind the holder and succeeds", async () => {
    await cluster.ensureInstance(INST, { running: true });
    const socket = path.join(KVM_ROOT, 'ctrl', `${INST}.qmp`);
    // QEMU runs in the cluster's network namespace: its listener is in its own table, found by its pid.
    const { qemuPid } = qemuPidOption(KVM_ROOT, INST);
    expect(qemuPid).toBeGreaterThan(0);
    await waitFor(() => qmpSocketClients(socket, qemuPid)?.connected === 0, { what: 'no client on the QMP socket' });
    const holder = await QmpClient.connect(socket, { qemuPid });
    let job: ReturnType<typeof cluster.job> | undefined;
    try {
      // What the view's refresh and show --live do, three times: busy, seen in the table, not queued.
      for (let i = 0; i < 3; i++) {
        const err = await withQmp(socket, { greetingTimeoutMs: 200, qemuPid }, () => Promise.resolve()).then(
          () => new Error('connected to a held socket'),
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(QmpBusyError);
        expect((err as QmpBusyError).seenHeld).toBe(true);
      }
      // Nothing of plugboard's waits in QEMU's queue. (A live connection may: Ganeti's own instance
      // info, asked by other tests' RAPI reads, connects to every instance's QMP socket.)
      expect(qmpSocketClients(socket, qemuPid)).toMatchObject({ connected: 1, closed: 0 });
      const id = await cluster.client().modify(INST, planGanetiRequest({ kind: 'disk-add', instance: INST, disk: { size: 16, name: 'turn' } }, { running: true }).request.body);
      job = cluster.job(id, 'hot-add disk behind a holder');
      job.catch(() => undefined); // awaited below; a failed wait must not leave it unhandled
      // The master logs this just before the node connects to QMP; Ganeti's connect (5 s timeout)
      // then waits in QEMU's queue, and the holder lets go.
      await waitFor(async () => readJobResult(await cluster.client().job(id)).log.some((l) => l.message.includes('Trying to hotplug device')), {
        timeoutMs: 30_000,
        intervalMs: 50,
        what: 'the job to start its hotplug',
      });
      await waitFor(() => (qmpSocketClients(socket, qemuPid)?.queued ?? 0) >= 1, { timeoutMs: 4_000, intervalMs: 5, what: "Ganeti's connect to wait behind the holder" });
    } finally {
      await holder.close();
    }
    const r = await job;
    expect(r.status).toBe('success');
    expect(r.hotplugFailed).toEqual([]);
    expect(r.devices[0]?.hotplug).toBe('done');
    expect((await compare()).marks).toEqual([]);
    expect((await modify(planGanetiRequest({ kind: 'disk-remove', instance: INST, disk: 'turn' }, { running: true }).request.body, 'hot-remove disk')).devices[0]?.hotplug).toBe('done');
  });

  it("a change made without hotplug on a running instance: in Ganeti's configuration, not on the node until the next start", async () => {
    await cluster.ensureInstance(INST, { running: true });
    const plan = planGanetiRequest({ kind: 'nic-add', instance: INST, nic: { name: 'later' } }, { running: false });
    expect(plan.request.body).toEqual({ nics: [['add', -1, { name: 'later' }]] });
    const r = await modify(plan.request.body, 'NIC add without hotplug');
    expect(r.status).toBe('success');
    expect(r.devices.map((d) => `${d.kind}/${d.index} ${d.action} ${String(d.hotplug)}`)).toEqual(['nic/1 add undefined']);
    const c = await compare();
    expect(c.marks.map((m) => `${m.code} ${m.kind}`)).toEqual(['not-on-node nic']);
    expect(c.marks[0]?.message).toMatch(/^Ganeti's nic\.1 \(aa:00:00:[0-9a-f:]{8}, later, bridged gntbr0\) is in Ganeti's configuration but not on the node/);
    // Ganeti refuses to remove it without hotplug on a running instance; with hotplug its unplug fails
    // (the node never had it) and the configuration drops it.
    const undo = await modify({ nics: [['remove', 'later', {}]], hotplug: true }, 'hot-remove of a NIC the node never had');
    expect(undo.hotplugFailed).toHaveLength(1);
    expect((await compare()).marks).toEqual([]);
  });
});
