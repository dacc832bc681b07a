/**
 * The view through Ganeti on the real one-node Ganeti 3.0 cluster (ink-testing-library, the real
 * RAPI through the test's relay, real jobs): the map with Ganeti's names, hot-add of a disk, a NIC
 * and both in one job through the Ganeti wizard, unplug through Ganeti from the map and from the
 * device detail, the what-if's -H change as a job (and back), the cluster list, both drift marks on
 * the map with the node-local repair, and the view refreshing while a Ganeti job runs without
 * touching the instance's QMP socket (the job ends hotplug:done). After each change Ganeti's CLI,
 * the runtime file, QEMU and what the view shows agree.
 *
 * Root only; skipped with the reason otherwise. Its own instance: pb-it-tui.example.com.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import { findGanetiNode } from '../../src/ganeti/node.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { deviceId } from '../../src/runtime/ids.js';
import { InstanceService } from '../../src/tui/service.js';
import type { InstanceView } from '../../src/tui/view.js';
import { GanetiSource } from '../../src/usecases/ganeti-source.js';
import { runAction } from '../../src/usecases/run-action.js';
import { KVM_ROOT, MASTER_NODE, RAPI_PASSWORD, RAPI_USER, ganetiSkipReason, useGanetiCluster } from '../helpers/ganeti-cluster.js';
import { expectAllAgree, gntInstanceInfo, type ShownGaneti } from '../helpers/ganeti-agree.js';
import { KEYS, renderTui, type Rendered } from '../unit/tui-helpers.js';
import { waitFor } from '../helpers/wait.js';

const skip = ganetiSkipReason();
if (skip) process.stderr.write(`ganeti-tui.test.tsx: ${skip}\n`);

const INST = 'pb-it-tui.example.com';
const SIZE = { columns: 130, rows: 40 };
const JOB_MS = 90_000;

/** What the view shows of Ganeti's side, in the shape the agreement check takes. */
function shownOf(view: InstanceView): ShownGaneti {
  const g = view.ganeti;
  if (g?.kind !== 'compared') throw new Error(`Ganeti not compared: ${g ? g.message : 'no Ganeti side'}`);
  return {
    ganeti: {
      known: true,
      ok: g.comparison.ok,
      marks: g.comparison.marks.map((m) => ({ code: m.code, id: m.id })),
      devices: g.comparison.devices.map((d) => ({
        kind: d.kind,
        id: d.id,
        uuid: d.uuid ?? '',
        label: d.label ?? null,
        ganeti: d.ganeti ? { name: d.ganeti.name, ...('size' in d.ganeti ? { size: d.ganeti.size } : { mac: d.ganeti.mac }) } : null,
        inQemu: d.inQemu === true,
        mark: d.mark ?? null,
      })),
    },
    drift: { ok: view.drift?.ok ?? false, items: view.drift?.items ?? [] },
  };
}

describe.skipIf(skip !== undefined)('the view through Ganeti, on the real cluster', { timeout: 240_000 }, () => {
  const cluster = useGanetiCluster();
  /** A test that needs RAPI up all along: another file's RAPI restart waits for it (and it for that). */
  const itUp = (name: string, fn: () => Promise<void>) => it(name, () => cluster.withRapiUp(fn));
  let source: GanetiSource;
  let service: InstanceService;
  let ui: Rendered | undefined;

  beforeAll(async () => {
    const env = {
      PLUGBOARD_RAPI: 'https://127.0.0.1:5080',
      PLUGBOARD_RAPI_SOCKET: cluster.socketPath,
      PLUGBOARD_RAPI_USER: RAPI_USER,
      PLUGBOARD_RAPI_PASSWORD: RAPI_PASSWORD,
      PLUGBOARD_NODE: MASTER_NODE,
    };
    // The node found as the view finds it: from the root, ssconf beside it, RAPI from the environment.
    const node = await findGanetiNode(KVM_ROOT, { env });
    if (!node) throw new Error(`${KVM_ROOT} is not a Ganeti node's root`);
    expect(node.problem).toBeNull();
    source = new GanetiSource(node);
  });

  afterEach(() => {
    ui?.unmount();
    ui = undefined;
    service?.dispose();
  });

  function open(first: Parameters<typeof App>[0]['first']): Rendered {
    service = new InstanceService({ root: KVM_ROOT, transcript: new Transcript(), ganeti: source, jobTimeoutMs: 120_000 });
    const r = renderTui(<App service={service} title="t" first={first} />, SIZE);
    // Frames that wait for RAPI (a preview, a view's Ganeti side) get 20 s: another test file may be
    // restarting RAPI at that moment (plugboard asks again for up to 5 s).
    ui = {
      ...r,
      waitFor: (expected, timeoutMs = 20_000) => r.waitFor(expected, timeoutMs),
      press: (keys, expected, timeoutMs = 20_000) => r.press(keys, expected, timeoutMs),
    };
    return ui;
  }

  /** The job's time as the result screen says it (`job 42: 1.6 s`): the suite's job timings. */
  function recordJob(frame: string, what: string): void {
    const m = /job \d+: ([\d.]+) s/.exec(frame);
    if (m) (cluster.timings[`TUI ${what}: job`] ??= []).push(Number(m[1]));
  }

  const typeText = async (r: Rendered, text: string, expected: string | RegExp) => {
    r.write(text);
    return r.waitFor(expected);
  };

  async function agree(): Promise<void> {
    await expectAllAgree(cluster, INST, shownOf(await service.loadView(INST)));
  }

  /** After an unplug the guest acknowledges a moment later: the views agree within a deadline. */
  async function waitForAgreement(): Promise<void> {
    await waitFor(async () => (await agree(), true), { timeoutMs: 30_000, intervalMs: 250, what: 'the views to agree after the unplug' });
  }

  itUp("the map carries Ganeti's names; a disk hot-added through the Ganeti wizard lands where the view said, with no false drift; u unplugs it through Ganeti", async () => {
    await cluster.ensureInstance(INST, { running: true });
    const r = open([{ kind: 'instances' }, { kind: 'instance', name: INST }]);
    await r.waitFor("✓ Ganeti's configuration (cluster cluster.example.com) and the node agree", 20_000);
    expect(r.frame()).toMatch(/scsi\.0 target 0: disk\/0 64 MiB file +disk-[0-9a-f-]{18} +scsi-hd/);
    expect(r.frame()).toContain('# not in Ganeti’s configuration');
    await r.press('a', 'Disk through Ganeti — Ganeti creates and hot-adds it (one job) · expected at scsi.0 target 1');
    await r.press(KEYS.enter, 'Size of the new disk');
    await typeText(r, '32M', '✓ 32 MiB');
    await r.press(KEYS.enter, 'Name of the disk in Ganeti');
    await typeText(r, 'data1', '✓ named data1');
    await r.press(KEYS.enter, 'Access mode of the disk');
    await r.press(KEYS.enter, `request: PUT /2/instances/${INST}/modify {"disks":[["add",-1,{"size":32,"name":"data1"}]],"hotplug":true}`);
    await r.waitFor('Send it? Ganeti creates the disk');
    await r.press('y', '> y');
    const done = await r.press(KEYS.enter, /✓ Ganeti job \d+ succeeded: disk\/1 \(data1\) hot-plugged at scsi\.0 target 1 \(disk-[0-9a-f-]{18}\)/, JOB_MS);
    expect(done).toContain('- INFO: Hotplug done.');
    recordJob(done, 'hot-add disk');
    const map = await r.press(KEYS.enter, /t1 +D1 +disk\/1 \(data1\) +disk-/, 20_000);
    await r.waitFor('✓ the runtime file and QEMU agree');
    // Ganeti's /dev/fdset-backed disk: no drift, no mark.
    expect(map).not.toMatch(/^~ (?!drift ·)/m);
    mkdirSync(path.join(process.cwd(), '.cache'), { recursive: true });
    writeFileSync(path.join(process.cwd(), '.cache', 'ganeti-tui-map.txt'), r.frame());
    await agree();

    await r.press('j', /scsi\.0 target 1: disk\/1 \(data1\) 32 MiB file/);
    await r.press('u', 'Ganeti hot-removes disk/1 (data1) and DELETES ITS DATA: type yes and Enter');
    await typeText(r, 'yes', '> yes');
    recordJob(await r.press(KEYS.enter, /✓ Ganeti job \d+ succeeded: disk\/1 \(data1\) hot-unplugged/, JOB_MS), 'unplug disk');
    await r.press(KEYS.enter, (f) => f.includes('✓ the runtime file and QEMU agree') && !f.includes('disk/1 (data1)'), 20_000);
    await agree();
  });

  itUp('a NIC hot-added through the wizard (Ganeti generates the MAC), unplugged from the device detail', async () => {
    await cluster.ensureInstance(INST, { running: true });
    const r = open([{ kind: 'instances' }, { kind: 'instance', name: INST }]);
    await r.waitFor("and the node agree", 20_000);
    await r.press('a', 'NIC through Ganeti');
    await r.press('j', '❯ NIC through Ganeti');
    await r.press(KEYS.enter, 'MAC of the new NIC');
    await r.press(KEYS.enter, 'Link of the NIC');
    await r.press(KEYS.enter, 'Name of the NIC in Ganeti');
    await typeText(r, 'eth1', '✓ named eth1');
    await r.press(KEYS.enter, 'Send it? Ganeti adds the NIC');
    await r.press('y', '> y');
    const done = await r.press(KEYS.enter, /✓ Ganeti job \d+ succeeded: nic\.1 aa:00:00:[0-9a-f:]{8} \(eth1\) hot-plugged at pci\.0 slot 0x([0-9a-f]+)/, JOB_MS);
    recordJob(done, 'hot-add NIC');
    const slot = parseInt(/hot-plugged at pci\.0 slot 0x([0-9a-f]+)/.exec(done)![1]!, 16);
    await r.press(KEYS.enter, 'and the node agree', 20_000);
    await agree();
    ui!.unmount();
    service.dispose();
    await cluster.waitGuestReady(INST);
    const d = open([{ kind: 'instance', name: INST }, { kind: 'detail', name: INST, place: { bus: 'pci.0', slot } }]);
    await d.waitFor(/Ganeti +nic\.1 aa:00:00:[0-9a-f:]{8} \(eth1\) · bridged gntbr0/, 20_000);
    await d.press('u', 'Ganeti hot-removes nic.1');
    await d.press('y', '> y');
    recordJob(await d.press(KEYS.enter, /hot-unplugged/, JOB_MS), 'unplug NIC');
    expect((await gntInstanceInfo(cluster, INST)).nics).toHaveLength(1);
    await agree();
  });

  itUp('a disk and a NIC in one job through the wizard', async () => {
    await cluster.ensureInstance(INST, { running: true });
    const r = open([{ kind: 'instances' }, { kind: 'instance', name: INST }]);
    await r.waitFor('and the node agree', 20_000);
    await r.press('a', 'Disk and NIC through Ganeti, in one job');
    await r.press(['j', 'j'], '❯ Disk and NIC through Ganeti');
    await r.press(KEYS.enter, 'Size of the new disk');
    await typeText(r, '16M', '✓ 16 MiB');
    await r.press(KEYS.enter, 'Name of the disk');
    await typeText(r, 'both1', '✓ named both1');
    await r.press(KEYS.enter, 'Access mode of the disk');
    await typeText(r, 'rw', '✓ read-write');
    await r.press(KEYS.enter, 'MAC of the new NIC');
    await r.press(KEYS.enter, 'Link of the NIC');
    await typeText(r, 'gntbr0', '✓ link gntbr0');
    await r.press(KEYS.enter, 'Name of the NIC');
    await typeText(r, 'both1n', '✓ named both1n');
    // The request line wraps: its end is on one line.
    await r.press(KEYS.enter, '{"link":"gntbr0","name":"both1n"}]],"hotplug":true}');
    // The request wraps where the width says; unwrapped, it is the whole request.
    expect(r.frame().replace(/\n {4}/g, '')).toContain(`modify {"disks":[["add",-1,{"size":16,"name":"both1","mode":"rw"}]],"nics":[["add",-1,`);
    await r.press('y', '> y');
    const done = await r.press(KEYS.enter, /✓ Ganeti job \d+ succeeded: disk\/1 \(both1\) hot-plugged at scsi\.0 target 1 .*; nic\.1 /, JOB_MS);
    expect(done.match(/job (\d+) submitted/g)).toHaveLength(1);
    recordJob(done, 'hot-add disk+NIC');
    await agree();
    await cluster.waitGuestReady(INST);
    const rm = await cluster.job(await cluster.client().modify(INST, { disks: [['remove', 'both1', {}]], nics: [['remove', 'both1n', {}]], hotplug: true }), 'hot-remove disk+NIC (one job)');
    expect(rm.devices.map((x) => x.hotplug)).toEqual(['done', 'done']);
  });

  itUp("the what-if's -H change as a job (it takes effect at the next start), and back against Ganeti's configuration", async () => {
    await cluster.ensureInstance(INST, { running: true });
    const r = open([{ kind: 'instances' }, { kind: 'instance', name: INST }]);
    await r.waitFor('and the node agree', 20_000);
    await r.press('w', '‹ scsi-hd', 20_000);
    await r.press(['j', 'j', 'l'], `gnt-instance modify -H kvm_pci_reservations=13 ${INST}  (s: send it to Ganeti)`);
    await r.press('s', "Send it? Ganeti's configuration changes now");
    expect(r.frame()).toContain(`request: PUT /2/instances/${INST}/modify {"hvparams":{"kvm_pci_reservations":13}}`);
    await r.press('y', '> y');
    try {
      recordJob(await r.press(KEYS.enter, "✓ in Ganeti's configuration; on the node at the next start", JOB_MS), 'what-if -H');
      expect((await gntInstanceInfo(cluster, INST)).hv['kvm_pci_reservations']).toBe('13');
      // Back: the runtime file's 12 differs from Ganeti's 13 now, so `s` sends 12.
      await r.press(KEYS.enter, 'and the node agree', 20_000);
      await r.press('w', '‹ scsi-hd', 20_000);
      await r.press(['j', 'j'], '▸ kvm_pci_reservations');
      await r.press('s', '{"hvparams":{"kvm_pci_reservations":12}}');
      await r.press('y', '> y');
      await r.press(KEYS.enter, "✓ in Ganeti's configuration; on the node at the next start", JOB_MS);
    } finally {
      const hv = (await gntInstanceInfo(cluster, INST)).hv['kvm_pci_reservations'];
      if (hv !== '12' && hv !== 'default (12)') await cluster.job(await cluster.client().modify(INST, { hvparams: { kvm_pci_reservations: 12 } }), 'hvparams back');
    }
    expect((await gntInstanceInfo(cluster, INST)).hv['kvm_pci_reservations']).toBe('12');
  });

  itUp('the cluster list (c): every instance with its primary node; Enter opens one that runs here, says why for the others', async () => {
    await cluster.ensureInstance(INST, { running: true });
    await cluster.ensureInstance('pb-it-stopped.example.com', { running: false });
    const r = open({ kind: 'instances' });
    await r.waitFor('c cluster');
    const list = await r.press('c', /cluster cluster\.example\.com · \d+ instances · this node: node1\.example\.com/, 20_000);
    await r.waitFor(/pb-it-stopped\.example\.com +node1\.example\.com +ADMIN_down +file +here/);
    expect(list).toContain('PRIMARY NODE');
    await r.press('/', 'filter:');
    await typeText(r, 'stopped', '(1 of');
    await r.press(KEYS.enter, 'pb-it-stopped.example.com has no runtime file on this node (ADMIN_down): there is no map to open here');
    await r.press(KEYS.escape, (f) => !f.includes('filter:'));
    await r.press('/', 'filter:');
    await typeText(r, 'pb-it-tui', '(1 of');
    await r.press(KEYS.enter, `${INST} · live: QEMU answered`, 20_000);
  });

  itUp("both marks on the map for real: # on a disk added behind Ganeti's back, ? below for a NIC Ganeti has and the node lacks; u removes the # disk on the node only", async () => {
    await cluster.ensureInstance(INST, { running: true });
    const image = path.join(os.tmpdir(), `pb-it-tui-behind-${process.pid}.img`);
    execFileSync('truncate', ['-s', '16M', image]);
    const uuid = '5ec0e1d2-bbbb-4ccc-8ddd-0123456789ab';
    const id = deviceId('disk', uuid);
    expect((await runAction({ type: 'hot-add-disk', instance: INST, path: image, uuid }, { root: KVM_ROOT })).status).toBe('done');
    await cluster.job(await cluster.client().modify(INST, { nics: [['add', -1, { name: 'cfgonly' }]] }), 'NIC add without hotplug');
    try {
      const r = open([{ kind: 'instances' }, { kind: 'instance', name: INST }]);
      const f = await r.waitFor(`# not in Ganeti's configuration: ${id} (scsi.0 target 1) is on the node but not in Ganeti's configuration`, 20_000);
      expect(f).toMatch(/t1 +D1# +not in Ganeti +disk-5ec0e1d2-bbbb-4cc/);
      expect(f).toMatch(/\? in Ganeti's configuration, not on the node: Ganeti's nic\.1 \(aa:00:00:[0-9a-f:]{8}, cfgonly, bridged gntbr0\)/);
      expect(f).toContain('it means:');
      writeFileSync(path.join(process.cwd(), '.cache', 'ganeti-tui-marks.txt'), f);
      await r.press('j', `scsi.0 target 1: # not in Ganeti's configuration  ${id}`);
      await r.press('u', `${id} is not in Ganeti's configuration (cluster cluster.example.com): it is removed on the node only, over QMP`);
      await r.waitFor(`Type yes and Enter to unplug disk ${id}`, 20_000);
      await typeText(r, 'yes', '> yes');
      await r.press(KEYS.enter, `✓ unplugged ${id}`, 30_000);
    } finally {
      await cluster.job(await cluster.client().modify(INST, { nics: [['remove', 'cfgonly', {}]] }), 'NIC remove without hotplug');
      rmSync(image, { force: true });
    }
    await agree();
  });

  itUp('a NIC removal the guest does not acknowledge: the result says the configuration changed and the node did not, shows the mark and offers the node-local repair', async () => {
    await cluster.ensureInstance(INST, { running: true });
    const add = await cluster.job(await cluster.client().modify(INST, { nics: [['add', -1, { name: 'noack' }]], hotplug: true }), 'hot-add NIC');
    expect(add.devices[0]?.hotplug).toBe('done');
    const rf = await cluster.runtimeFile(INST);
    const nic = rf.nics.find((n) => n.name === 'noack')!;
    const id = 'id' in nic.hvinfo ? String(nic.hvinfo.id) : '';
    const slot = 'addr' in nic.hvinfo ? parseInt(String(nic.hvinfo.addr), 16) : -1;
    const r = open([{ kind: 'instance', name: INST }, { kind: 'detail', name: INST, place: { bus: 'pci.0', slot } }]);
    await r.waitFor(/Ganeti +nic\.1 aa:00:00:[0-9a-f:]{8} \(noack\)/, 20_000);
    await cluster.qmp(INST, [{ execute: 'stop' }], 'kvmd');
    let result: string;
    try {
      await r.press('u', 'Ganeti hot-removes nic.1');
      await r.press('y', '> y');
      result = await r.press(KEYS.enter, '✗ the hotplug failed: Ganeti changed its configuration, the node did not', JOB_MS);
      recordJob(result, 'NIC removal the guest does not acknowledge');
    } finally {
      await cluster.qmp(INST, [{ execute: 'cont' }], 'kvmd');
    }
    expect(result).toContain(`# not in Ganeti's configuration: ${id}`);
    expect(result).toContain(`plugboard unplug nic ${INST} ${id} --via qmp`);
    // The repair: the map shows the mark; u on the NIC Ganeti no longer has removes it on the node only.
    await r.press(KEYS.enter, `# not in Ganeti's configuration: ${id}`, 20_000);
    ui!.unmount();
    service.dispose();
    const d = open([{ kind: 'instance', name: INST }, { kind: 'detail', name: INST, place: { bus: 'pci.0', slot } }]);
    await d.waitFor("u here removes it on the node only (over QMP: the node-local repair)", 20_000);
    await d.press('u', `${id} is not in Ganeti's configuration`);
    await d.waitFor(/y and Enter/, 20_000);
    await d.press('y', '> y');
    await d.press(KEYS.enter, /✓ unplugged|… pending/, 30_000);
    await waitForAgreement();
  });

  itUp('the view refreshing while a Ganeti job runs does not connect to the QMP socket; the job ends hotplug:done (a job of someone else, then one of the view)', async () => {
    await cluster.ensureInstance(INST, { running: true });
    service = new InstanceService({ root: KVM_ROOT, transcript: new Transcript(), ganeti: source });
    const transcript = service.transcript!;
    const sock = path.join(KVM_ROOT, 'ctrl', `${INST}.qmp`);
    const connects = () => transcript.entries().filter((e) => e.socket === sock && e.direction === 'out' && e.json.includes('qmp_capabilities')).length;
    // The refresh as fast as it goes (the open map does it every 3 s): a QMP connection each time the job allows it.
    // After a busy reading it pauses for a second, as the map's 3 s would: a connection that gave up
    // waiting for the greeting stays in QEMU's listen queue until QEMU accepts it, and two of them
    // fill the queue, so that Ganeti's connect fails at once (EAGAIN: "Can't connect to qmp socket").
    let stop = false;
    const seen: string[] = [];
    const loop = (async () => {
      while (!stop) {
        const v = await service.loadView(INST, { record: true });
        seen.push(v.liveStatus.kind);
        await new Promise((res) => setTimeout(res, v.liveStatus.kind === 'busy' ? 1_000 : 20));
      }
    })();
    try {
      await waitFor(() => connects() > 0, { timeoutMs: 30_000, what: 'the refresh to connect to the QMP socket while no job runs' });
      // Someone else's job (the master's CLI, another tool): seen in Ganeti's queue, the socket is left alone.
      const from = seen.length;
      const id = await cluster.client().modify(INST, { disks: [['add', -1, { size: 16, name: 'refresh1' }]], hotplug: true });
      const r1 = await cluster.job(id, 'hot-add disk while the view refreshes');
      expect(r1.devices[0]?.hotplug, `${r1.devices[0]?.detail ?? ''}; readings: ${seen.slice(from).join(' ')}`).toBe('done');
      // The readings while the job was in Ganeti's queue: each said so and none asked QEMU (every
      // reading that asks QEMU is `live`, one connection each; the loop makes one every ~50 ms).
      const during = seen.slice(from);
      const first = during.indexOf('ganeti-job');
      const last = during.lastIndexOf('ganeti-job');
      expect(first, during.join(' ')).toBeGreaterThanOrEqual(0);
      expect(during.slice(first, last + 1).every((k) => k === 'ganeti-job'), during.join(' ')).toBe(true);
      expect(last - first + 1).toBeGreaterThanOrEqual(3);
      // The view's own job: the instance counts as acting, nothing connects from submit to its end.
      let atSubmit = -1;
      let atEnd = -1;
      const r2 = await service.runGaneti(
        { kind: 'disk-remove', instance: INST, disk: 'refresh1' },
        {
          onProgress: (e) => {
            if (e.phase === 'submitted') atSubmit = connects();
            if (e.phase === 'reading') atEnd = connects();
          },
        },
      );
      expect(r2.ok && r2.outcome.status).toBe('done');
      expect(atSubmit).toBeGreaterThanOrEqual(0);
      expect(atEnd - atSubmit).toBe(0);
      cluster.timings['view refreshes during the jobs'] = [seen.length];
    } finally {
      stop = true;
      await loop;
    }
    await agree();
  });
});
