/**
 * Ganeti's view of an instance and its comparison with the node, on answers recorded from the real
 * cluster (test/fixtures/ganeti-rapi/): every scenario there, with the marks it must and must not give.
 */
import { describe, expect, it } from 'vitest';
import { compareWithGaneti, type NodeSide } from '../../src/ganeti/compare.js';
import { describeJobResult, readJobResult } from '../../src/ganeti/job.js';
import { parseWith, rapiSchemas, type RapiInstance, type RapiInstanceInfo, type RapiJob } from '../../src/ganeti/schemas.js';
import { ganetiInstanceOf, ganetiLabel, isRunning, withStaticInfo } from '../../src/ganeti/view.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import type { RuntimeFile } from '../../src/runtime/types.js';
import { rapiFixture } from '../helpers/rapi-server.js';

function instance(name: string) {
  const r = parseWith(rapiSchemas().instance, rapiFixture(name));
  if (!r.ok) throw new Error(r.problem);
  return ganetiInstanceOf(r.value as RapiInstance);
}

function job(name: string): RapiJob {
  const r = parseWith(rapiSchemas().job, rapiFixture(name));
  if (!r.ok) throw new Error(r.problem);
  return r.value as RapiJob;
}

interface NodeFixture {
  runtime: unknown;
  'query-pci': { devices: { qdev_id?: string; class_info?: { desc?: string } }[] }[];
  'query-block': { device: string; qdev?: string; inserted?: { file?: string } }[];
}

/** The node side of a fixture: its runtime file and what QEMU had (ids with their kind, drives). */
function node(name: string, withQemu = true): NodeSide & { runtime: RuntimeFile } {
  const f = rapiFixture<NodeFixture>(name);
  const runtime = parseRuntimeText(JSON.stringify(f.runtime), `${name}.runtime`, 'pb-fx1.example.com');
  if (!withQemu) return { runtime, nodeName: 'node1.example.com' };
  const devices: { id: string; kind: 'disk' | 'nic' | 'other' }[] = [];
  for (const d of f['query-pci'][0]?.devices ?? []) {
    if (d.qdev_id) devices.push({ id: d.qdev_id, kind: d.qdev_id.startsWith('nic-') ? 'nic' : 'other' });
  }
  for (const b of f['query-block']) if (b.qdev && !b.qdev.startsWith('/machine')) devices.push({ id: b.qdev, kind: 'disk' });
  const drives = f['query-block'].filter((b) => b.inserted && b.device !== '').map((b) => ({ id: b.device, attached: b.qdev !== undefined, file: b.inserted?.file }));
  return { runtime, qemu: { devices, drives }, nodeName: 'node1.example.com' };
}

describe("Ganeti's view of an instance", () => {
  it('reads the parallel lists into devices, in Ganeti order', () => {
    const v = instance('instance-ganeti-hotplugged');
    expect(v).toMatchObject({ name: 'pb-fx1.example.com', status: 'running', primaryNode: 'node1.example.com', diskTemplate: 'file' });
    expect(v.disks.map((d) => [d.index, d.name, d.size, d.template])).toEqual([
      [0, null, 64, 'file'],
      [1, 'data1', 32, 'file'],
    ]);
    expect(v.nics.map((n) => [n.index, n.name, n.mode, n.link, n.network])).toEqual([
      [0, null, 'bridged', 'gntbr0', null],
      [1, 'eth1', 'bridged', 'gntbr0', null],
    ]);
    expect(v.disks.map(ganetiLabel)).toEqual(['disk/0', 'disk/1 (data1)']);
    expect(ganetiLabel(v.nics[1]!)).toMatch(/^nic\.1 aa:00:00:[0-9a-f:]{8} \(eth1\)$/);
    expect(isRunning(v)).toBe(true);
    expect(isRunning(instance('instance-stopped'))).toBe(false);
  });

  it('adds disk mode, the disk template and path, NIC vlan from the static info job', () => {
    const v = instance('instance-clean');
    const info = readJobResult(job('job-instance-info')).opresult?.[0] as RapiInstanceInfo;
    const full = withStaticInfo(v, info['pb-fx1.example.com']!);
    expect(full.disks[0]).toMatchObject({ mode: 'rw', template: 'file' });
    expect(full.disks[0]?.path).toMatch(/^\/srv\/ganeti\/file-storage\/pb-fx1\.example\.com\/[0-9a-f-]{36}\.file\.disk0$/);
    expect(full.nics[0]?.vlan).toBe('');
  });

  it('the bulk list gives the same view per instance', () => {
    const r = parseWith(rapiSchemas().instances, rapiFixture('instances-bulk'));
    expect(r.ok).toBe(true);
    const all = (r.ok ? r.value : []).map((a) => ganetiInstanceOf(a as RapiInstance));
    expect(all.map((i) => `${i.name} ${i.status} ${i.primaryNode}`)).toEqual([
      'inst1.example.com running node1.example.com',
      'pb-fx1.example.com running node1.example.com',
      'pb-fx2.example.com ADMIN_down node1.example.com',
    ]);
  });
});

describe('comparison with the node: the marks, for real drift only', () => {
  it('a cleanly Ganeti-managed instance: no mark, every device labelled with Ganeti\'s name', () => {
    const c = compareWithGaneti(node('node-clean'), instance('instance-clean'));
    expect(c.ok).toBe(true);
    expect(c.marks).toEqual([]);
    expect(c.notes).toEqual([]);
    expect(c.devices.map((d) => [d.kind, d.label, d.runtimeIndex, d.inQemu])).toEqual([
      ['disk', 'disk/0', 0, true],
      ['nic', expect.stringMatching(/^nic\.0 aa:00:00:/), 0, true],
    ]);
  });

  it('disks hot-added by Ganeti (QEMU backs them with /dev/fdset/N): no false drift', () => {
    const n = node('node-ganeti-hotplugged');
    const fdset = n.qemu?.drives?.find((d) => d.file === '/dev/fdset/0');
    expect(fdset?.attached).toBe(true); // the fixture really has an fdset-backed disk
    const c = compareWithGaneti(n, instance('instance-ganeti-hotplugged'));
    expect(c.marks).toEqual([]);
    expect(c.notes).toEqual([]);
    expect(c.devices.filter((d) => d.kind === 'disk').map((d) => d.label)).toEqual(['disk/0', 'disk/1 (data1)']);
  });

  it('a disk hot-added behind Ganeti\'s back: not in Ganeti\'s configuration, with what it means and what to do', () => {
    const c = compareWithGaneti(node('node-qmp-added'), instance('instance-qmp-added'));
    expect(c.marks.map((m) => `${m.code} ${m.kind} ${m.id}`)).toEqual(['not-in-ganeti disk disk-0b5e4f3c-6a1d-4e2b']);
    const m = c.marks[0]!;
    expect(m.message).toBe("disk-0b5e4f3c-6a1d-4e2b (scsi.0 target 1) is on the node but not in Ganeti's configuration");
    expect(m.meaning).toContain('vanishes from the guest at the next restart, is not replicated, does not follow a failover or migration');
    expect(m.action).toBe(
      'to keep it, add a disk through Ganeti (plugboard hotplug disk pb-fx1.example.com --size SIZE) and copy the data over; to drop it, unplug it on the node only: plugboard unplug disk pb-fx1.example.com disk-0b5e4f3c-6a1d-4e2b --via qmp',
    );
    expect(m.repair).toEqual({ kind: 'unplug-on-node', device: 'disk', id: 'disk-0b5e4f3c-6a1d-4e2b' });
    // The runtime file alone (no QEMU probe) gives the same mark.
    expect(compareWithGaneti(node('node-qmp-added', false), instance('instance-qmp-added')).marks.map((x) => x.id)).toEqual(['disk-0b5e4f3c-6a1d-4e2b']);
  });

  it('a NIC removal the guest did not acknowledge (hotplug:failed): the node keeps a NIC Ganeti dropped', () => {
    const c = compareWithGaneti(node('node-nic-remove-failed'), instance('instance-nic-remove-failed'));
    expect(c.marks).toHaveLength(1);
    expect(c.marks[0]).toMatchObject({ code: 'not-in-ganeti', kind: 'nic', node: { runtimeIndex: 1, inQemu: true, address: 'pci.0 slot 0xd' } });
    expect(c.marks[0]?.message).toMatch(/^nic-[0-9a-f-]{18} \(pci\.0 slot 0xd\) is on the node but not in Ganeti's configuration$/);
  });

  it('…and once the guest acknowledged it: a stale runtime-file entry, to be removed on the node', () => {
    const c = compareWithGaneti(node('node-nic-remove-failed-acked'), instance('instance-nic-remove-failed'));
    expect(c.marks).toHaveLength(1);
    const m = c.marks[0]!;
    expect(m.node).toMatchObject({ runtimeIndex: 1, inQemu: false });
    expect(m.message).toMatch(/is in the runtime file \(QEMU no longer has it\) but not in Ganeti's configuration$/);
    expect(m.meaning).toMatch(/^a leftover: Ganeti removed this NIC from its configuration and QEMU let it go, but the runtime file still lists it/);
    expect(m.action).toBe(`remove the entry on the node only: plugboard unplug nic pb-fx1.example.com ${m.id} --via qmp (QEMU has nothing left to unplug)`);
  });

  it('a Ganeti hot-add QEMU refused (hotplug:failed): in Ganeti\'s configuration but not on the node, and the orphan drive noted', () => {
    const n = node('node-disk-add-failed');
    const c = compareWithGaneti(n, instance('instance-disk-add-failed'));
    const codes = c.marks.map((m) => `${m.code} ${m.kind}`);
    // The blocker put on the target over QMP is itself a disk Ganeti does not know.
    expect(codes.sort()).toEqual(['not-in-ganeti disk', 'not-on-node disk']);
    const missing = c.marks.find((m) => m.code === 'not-on-node')!;
    expect(missing.message).toMatch(/^Ganeti's disk\/1 \(refused, 16 MiB\) is in Ganeti's configuration but not on the node \(no disk-[0-9a-f-]{18} in the runtime file or QEMU\)$/);
    expect(missing.meaning).toContain("Ganeti's hot-add of it failed (the job ended with hotplug:failed)");
    expect(missing.action).toContain('gnt-instance reboot pb-fx1.example.com');
    expect(missing.action).toContain('gnt-instance modify --hotplug --disk 1:remove pb-fx1.example.com');
    expect(missing.repair).toMatchObject({ kind: 'hot-add-on-node', device: 'disk', size: 16, name: 'refused' });
    expect(c.marks.find((m) => m.code === 'not-in-ganeti')?.id).toBe('fxblocker');
    expect(c.notes).toEqual([expect.stringMatching(/^QEMU holds drive disk-[0-9a-f-]{18} \(\/dev\/fdset\/0\) with no device: left by a Ganeti hot-add that failed after drive_add/)]);
  });

  it('an instance that does not run here: nothing compared, the reason given', () => {
    const stopped = compareWithGaneti({ runtime: null, nodeName: 'node1.example.com' }, instance('instance-stopped'));
    expect(stopped).toMatchObject({ compared: false, ok: true, marks: [] });
    expect(stopped.notes).toEqual(['pb-fx2.example.com is not running (Ganeti: ADMIN_down, primary node node1.example.com): there is nothing on a node to compare']);
    const elsewhere = compareWithGaneti({ runtime: null, nodeName: 'node2.example.com' }, instance('instance-clean'));
    expect(elsewhere.notes).toEqual(['pb-fx1.example.com runs on node1.example.com, not on this node (node2.example.com): open it there']);
  });

  it('a change made without hotplug: matched, the differing attributes noted, no mark', () => {
    const v = instance('instance-clean');
    const changed = { ...v, nics: v.nics.map((n) => ({ ...n, link: 'br1' })), disks: v.disks.map((d) => ({ ...d, size: 128 })) };
    const c = compareWithGaneti(node('node-clean'), changed);
    expect(c.marks).toEqual([]);
    expect(c.devices.map((d) => d.differences.map((x) => `${x.field}: ${x.ganeti} / ${x.node}`))).toEqual([['size: 128 MiB / 64 MiB'], ['link: br1 / gntbr0']]);
    expect(c.notes[0]).toBe("disk/0: Ganeti's configuration says size 128 MiB, the node size 64 MiB (a change made without hotplug takes effect at the next start)");
  });

  it('a NIC the runtime file has without Ganeti\'s UUID (an old file) is matched by MAC', () => {
    const n = node('node-clean', false);
    const nic = n.runtime.nics[0]!;
    const runtime: RuntimeFile = { ...n.runtime, nics: [{ ...nic, uuid: '11111111-2222-4333-8444-555555555555', hvinfo: {} }] };
    const c = compareWithGaneti({ ...n, runtime }, instance('instance-clean'));
    expect(c.marks).toEqual([]);
    expect(c.devices.find((d) => d.kind === 'nic')?.matchedByMac).toBe(true);
  });
});

describe('what a job did', () => {
  it('hot-add of a disk and a NIC in one job: both done', () => {
    const r = readJobResult(job('job-add-disk-nic'));
    expect(r.devices.map((d) => [d.kind, d.index, d.action, d.hotplug])).toEqual([
      ['disk', 1, 'add', 'done'],
      ['nic', 1, 'add', 'done'],
    ]);
    expect(r.hotplugFailed).toEqual([]);
    expect(r.failure).toBeUndefined();
    expect(describeJobResult(r)).toBe(`Ganeti job ${r.id} succeeded: disk/1 add (hot-plugged), nic/1 add (hot-plugged)`);
    expect(r.log.map((l) => l.message)).toContain('- INFO: Hotplug done.');
  });

  it('a successful job whose hotplug failed is not a success for the node', () => {
    const nic = readJobResult(job('job-remove-nic-failed'));
    expect(nic.status).toBe('success');
    expect(nic.hotplugFailed.map((d) => `${d.kind}/${d.index} ${d.action}`)).toEqual(['nic/1 remove']);
    expect(describeJobResult(nic)).toBe(`Ganeti job ${nic.id} succeeded: nic/1 remove (HOTPLUG FAILED: the configuration changed, the node did not)`);
    expect(nic.log.map((l) => l.message).join('\n')).toMatch(/Could not hotplug device: .* Device nic-[0-9a-f-]{18} should have been removed but is still there/);
    const disk = readJobResult(job('job-add-disk-failed'));
    expect(disk.hotplugFailed.map((d) => `${d.kind}/${d.index} ${d.detail}`)).toEqual(['disk/1 add:size=16,mode=rw']);
    expect(disk.log.map((l) => l.message).join('\n')).toContain("lun already used by 'fxblocker'");
  });

  it('removal, hvparams (a number, not a string) and a failed job', () => {
    expect(readJobResult(job('job-remove-disk')).devices).toEqual([{ kind: 'disk', index: 1, action: 'remove', detail: 'remove', hotplug: 'done', assembleFailed: false }]);
    const hv = readJobResult(job('job-hvparams'));
    expect(hv.changes).toEqual([{ item: 'hv/kvm_pci_reservations', change: '13', device: undefined }]);
    expect(describeJobResult(hv)).toBe(`Ganeti job ${hv.id} succeeded: hv/kvm_pci_reservations=13`);
    const failed = readJobResult(job('job-prereq-wrong-state'));
    expect(failed.error?.code).toBe('wrong_state');
    expect(failed.failure?.jobId).toBe(failed.id);
  });
});
