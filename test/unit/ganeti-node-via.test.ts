/**
 * Which root asks Ganeti, and which way a change goes (src/ganeti/node.ts, usecases/via.ts,
 * usecases/ganeti-source.ts, usecases/run-ganeti.ts refOf): a sandbox root never asks Ganeti, even
 * on a machine that is a Ganeti node (this one is, when the cluster is up); a sandbox laid out like a
 * node is a node of its own (fake) cluster; through Ganeti is the default for an instance Ganeti
 * knows, and every refusal is one line that says how to go on. Against a local HTTPS server that
 * answers with RAPI answers recorded from the real cluster.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { ExitCode, InputError } from '../../src/errors.js';
import { RapiError } from '../../src/ganeti/errors.js';
import { findGanetiNode, ganetiDataDirOf, type GanetiNode } from '../../src/ganeti/node.js';
import { ganetiInstanceOf } from '../../src/ganeti/view.js';
import { createRoot, createSandboxInstance } from '../../src/demo/sandbox.js';
import { hvparamsOf } from '../../src/tui/whatif.js';
import { GanetiSource } from '../../src/usecases/ganeti-source.js';
import { CHANGE_READ, refOf } from '../../src/usecases/run-ganeti.js';
import { chooseVia } from '../../src/usecases/via.js';
import type { RapiInstance } from '../../src/ganeti/schemas.js';
import { rapiFixture, startRapiServer, TLS_DIR, type FakeRapi } from '../helpers/rapi-server.js';

const INST = 'pb-fx1.example.com';
const clean = rapiFixture<RapiInstance>('instance-clean');

describe("the root decides whether Ganeti is asked", () => {
  it("only Ganeti's own KVM directory has a Ganeti data directory beside it", () => {
    expect(ganetiDataDirOf('/var/run/ganeti/kvm-hypervisor')).toBe('/var/lib/ganeti');
    expect(ganetiDataDirOf('/run/ganeti/kvm-hypervisor/')).toBe('/var/lib/ganeti');
    expect(ganetiDataDirOf('/usr/local/var/run/ganeti/kvm-hypervisor')).toBe('/usr/local/var/lib/ganeti');
    expect(ganetiDataDirOf('/tmp/x/var/run/ganeti/kvm-hypervisor')).toBe('/tmp/x/var/lib/ganeti');
    expect(ganetiDataDirOf('/tmp/pb-tui-abc')).toBeNull();
    expect(ganetiDataDirOf('/var/run/ganeti')).toBeNull();
    expect(ganetiDataDirOf('/var/run/ganeti/kvm-hypervisor/conf')).toBeNull();
  });

  it('a sandbox root is no Ganeti node, even on a machine that is one', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'pb-sandbox-'));
    try {
      await createRoot(root);
      // With the cluster up this machine has /var/lib/ganeti/ssconf_cluster_name: it must not matter.
      expect(await findGanetiNode(root, { env: {} })).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('a sandbox laid out like a Ganeti node, with a fake RAPI', () => {
  let base: string;
  let root: string;
  let rapi: FakeRapi;
  let node: GanetiNode;
  let jobs: unknown[] = [];
  /** How long the fake RAPI takes to answer GET /2/instances/NAME (a busy master). */
  let slowMs = 0;

  beforeAll(async () => {
    base = mkdtempSync(path.join(os.tmpdir(), 'pb-fake-node-'));
    root = path.join(base, 'var', 'run', 'ganeti', 'kvm-hypervisor');
    const data = path.join(base, 'var', 'lib', 'ganeti');
    mkdirSync(data, { recursive: true });
    await createRoot(root);
    for (const [k, v] of Object.entries({ cluster_name: 'cluster.example.com', master_node: 'node1.example.com', node_list: 'node1.example.com' })) {
      writeFileSync(path.join(data, `ssconf_${k}`), `${v}\n`);
    }
    copyFileSync(path.join(TLS_DIR, 'a-with-key.pem'), path.join(data, 'rapi.pem'));
    rapi = await startRapiServer({
      cert: 'a',
      handler: (req) => {
        if (req.method === 'GET' && req.path === `/2/instances/${INST}`) return { status: 200, body: clean, ...(slowMs > 0 ? { delayMs: slowMs } : {}) };
        if (req.method === 'GET' && req.path === '/2/instances?bulk=1') return { status: 200, body: [clean] };
        if (req.method === 'PUT' && req.path === '/2/query/job') return { status: 200, body: { data: jobs, fields: [] } };
        return { status: 404, body: { code: 404, message: 'Not Found', explain: 'Nothing matches the given URI' } };
      },
    });
    const found = await findGanetiNode(root, {
      env: { PLUGBOARD_RAPI: rapi.url, PLUGBOARD_RAPI_USER: 'plug', PLUGBOARD_RAPI_PASSWORD: 'pw', PLUGBOARD_RAPI_CONFIG: undefined },
    });
    if (!found) throw new Error('the sandbox node was not found');
    node = found;
  });

  afterAll(async () => {
    await rapi.close();
    rmSync(base, { recursive: true, force: true });
  });

  it("is a node of its cluster: ssconf read beside the root, its rapi.pem pinned, this node's name from ssconf", () => {
    expect(node.dataDir).toBe(path.join(base, 'var', 'lib', 'ganeti'));
    expect(node.ssconf.clusterName).toBe('cluster.example.com');
    expect(node.problem).toBeNull();
    expect(node.settings?.tls.kind === 'pinned' && node.settings.tls.certFile).toBe(path.join(node.dataDir, 'rapi.pem'));
  });

  it('through Ganeti by default for an instance Ganeti knows; --via qmp says what Ganeti will not know', async () => {
    const source = new GanetiSource(node);
    expect((await chooseVia(INST, undefined, source, 'add-disk')).via).toBe('ganeti');
    const direct = await chooseVia(INST, 'qmp', source, 'add-disk');
    expect(direct.via).toBe('qmp');
    expect(direct.warning).toMatch(/^pb-fx1\.example\.com is managed by Ganeti \(cluster cluster\.example\.com\) and this disk goes in over QMP: Ganeti will not know it/);
    // Removing over QMP a device Ganeti has: Ganeti puts it back; one it lacks: no warning (the repair).
    expect((await chooseVia(INST, 'qmp', source, 'remove-disk', undefined, 'disk/0')).warning).toMatch(/Ganeti puts it back at the next start$/);
    expect((await chooseVia(INST, 'qmp', source, 'remove-disk', undefined, 'disk-0b5e4f3c-6a1d-4e2b')).warning).toBeNull();
  });

  it("refuses, with how to go on: an instance Ganeti does not know (exit 2), RAPI that cannot be set up (exit 2), --via ganeti off a Ganeti node", async () => {
    const source = new GanetiSource(node);
    const unknown = await chooseVia('nope.example.com', undefined, source, 'add-disk').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(InputError);
    expect((unknown as InputError).exitCode).toBe(ExitCode.badInput);
    expect((unknown as Error).message).toBe("Ganeti (cluster cluster.example.com) has no instance nope.example.com: plugboard changes only Ganeti's instances through Ganeti; for an instance Ganeti does not manage pass --via qmp");
    const broken = await findGanetiNode(root, { env: { PLUGBOARD_RAPI: rapi.url }, certFile: path.join(base, 'absent.pem') });
    const setup = await chooseVia(INST, undefined, new GanetiSource(broken!), 'add-nic').catch((e: unknown) => e);
    expect((setup as InputError).exitCode).toBe(ExitCode.badInput);
    expect((setup as Error).message).toMatch(/^this is a node of Ganeti cluster cluster\.example\.com: .* cannot reach its RAPI: --rapi-cert: cannot read the RAPI certificate .*absent\.pem \(ENOENT\); or pass --via qmp/);
    await expect(chooseVia(INST, 'ganeti', null, 'add-disk')).rejects.toThrow(/^--via ganeti: the root is not a Ganeti node's/);
    expect((await chooseVia(INST, undefined, null, 'add-disk')).via).toBe('qmp');
  });

  it('the Ganeti source: views kept for their ttl, one bulk list serves every instance, the jobs under way by instance', async () => {
    const source = new GanetiSource(node, { ttlMs: 60_000, jobsTtlMs: 60_000 });
    const count = (p: string) => rapi.requests.filter((r) => r.path === p).length;
    const single = count(`/2/instances/${INST}`);
    await source.instance(INST);
    await source.instance(INST);
    expect(count(`/2/instances/${INST}`)).toBe(single + 1);
    source.forget();
    const bulk = count('/2/instances?bulk=1');
    await source.instances();
    await source.instance(INST);
    expect([count('/2/instances?bulk=1'), count(`/2/instances/${INST}`)]).toEqual([bulk + 1, single + 1]);
    jobs = [
      [[0, 12], [0, 'running'], [0, [`INSTANCE_SET_PARAMS(${INST})`]]],
      [[0, 13], [0, 'queued'], [0, ['INSTANCE_SET_PARAMS(other.example.com)']]],
      [[0, 14], [0, 'waiting'], [0, ['TEST_DELAY(8)']]],
    ];
    expect((await source.jobsOn(INST)).map((j) => `${j.id} ${j.status}`)).toEqual(['12 running']);
    const query = rapi.requests.filter((r) => r.path === '/2/query/job').at(-1);
    expect(query?.body).toEqual({ fields: ['id', 'status', 'summary'], qfilter: ['|', ['=', 'status', 'queued'], ['=', 'status', 'waiting'], ['=', 'status', 'running'], ['=', 'status', 'canceling']] });
    jobs = [];
  });

  it("a busy master: the view's refresh gives up after its short timeout; a change's reads wait as long as any RAPI request", async () => {
    slowMs = 400;
    try {
      const source = new GanetiSource(node, { requestTimeoutMs: 100, failureTtlMs: 0 });
      const refresh = await source.instance(INST).catch((e: unknown) => e);
      expect(refresh).toBeInstanceOf(RapiError);
      expect((refresh as RapiError).failure).toBe('timeout');
      expect((await source.instance(INST, undefined, { timeoutMs: 5_000 })).name).toBe(INST);
      // Choosing the way of a change reads with CHANGE_READ: it waits for the slow answer.
      expect(CHANGE_READ.timeoutMs).toBeGreaterThan(slowMs);
      expect((await chooseVia(INST, undefined, source, 'add-disk')).via).toBe('ganeti');
    } finally {
      slowMs = 0;
    }
  });

  it('the CLI on this sandbox node: list has the GANETI column with the marks', async () => {
    await createSandboxInstance(root, { name: INST, diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci' }, '/usr/bin/qemu-system-x86_64');
    let out = '';
    const io: CliIo = { stdout: (t) => void (out += t), stderr: () => undefined, env: { PLUGBOARD_RAPI: rapi.url, PLUGBOARD_RAPI_USER: 'plug', PLUGBOARD_RAPI_PASSWORD: 'pw' } };
    expect(await main(['--root', root, 'list'], io)).toBe(0);
    expect(out).toMatch(/^INSTANCE +STATUS .* GANETI$/m);
    // The sandbox's instance has none of the disk and NIC Ganeti has: in Ganeti's configuration, not on the node.
    expect(out).toMatch(/^pb-fx1\.example\.com +stopped +scsi-hd .* \?2$/m);
    expect(out).toContain("? in Ganeti's configuration, not on the node");
  });
});

describe('words from RAPI reach the terminal escaped', () => {
  it("a disk name holding terminal control sequences (Ganeti's answer is data) is shown escaped by show, and exact in --json", async () => {
    const base = mkdtempSync(path.join(os.tmpdir(), 'pb-fake-node-'));
    const root = path.join(base, 'var', 'run', 'ganeti', 'kvm-hypervisor');
    const data = path.join(base, 'var', 'lib', 'ganeti');
    mkdirSync(data, { recursive: true });
    writeFileSync(path.join(data, 'ssconf_cluster_name'), 'cluster.example.com\n');
    writeFileSync(path.join(data, 'ssconf_master_node'), 'node1.example.com\n');
    copyFileSync(path.join(TLS_DIR, 'a-with-key.pem'), path.join(data, 'rapi.pem'));
    const evil = '\u001b]0;pwned\u0007\u001b[2J';
    const hostile = { ...clean, 'disk.names': [evil] };
    const rapi = await startRapiServer({ cert: 'a', handler: () => ({ status: 200, body: hostile }) });
    try {
      await createSandboxInstance(root, { name: INST }, '/usr/bin/qemu-system-x86_64');
      const run = async (args: string[]) => {
        let out = '';
        let err = '';
        const io: CliIo = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env: { PLUGBOARD_RAPI: rapi.url, PLUGBOARD_RAPI_USER: 'plug', PLUGBOARD_RAPI_PASSWORD: 'pw' } };
        const code = await main(['--root', root, ...args], io);
        return { code, out, err };
      };
      const text = await run(['show', INST]);
      expect(text.code).toBe(0);
      expect(text.out).toContain("Ganeti's disk/0 (\\x1b]0;pwned\\x07\\x1b[2J, 64 MiB)");
      expect(text.out).not.toContain('\u001b');
      expect(text.err).toMatch(/characters from outside plugboard .* are shown escaped/);
      const json = await run(['show', INST, '--json']);
      const marks = (JSON.parse(json.out) as { ganeti: { marks: { ganeti: { name: string } }[] } }).ganeti.marks;
      expect(marks[0]?.ganeti.name).toBe(evil);
    } finally {
      await rapi.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('device references and hypervisor parameters against Ganeti', () => {
  const view = ganetiInstanceOf(rapiFixture<RapiInstance>('instance-ganeti-hotplugged'));

  it("a device is named by its index, disk/N or nic.N, its name, its UUID or plugboard's device id; always sent as the UUID", () => {
    const [d0, d1] = view.disks;
    const [, n1] = view.nics;
    expect(d1?.name).toBe('data1');
    for (const ref of ['1', 'disk/1', 'data1', d1!.uuid, `disk-${d1!.uuid.slice(0, 18)}`]) expect(refOf('disk', ref, view, null)).toBe(d1!.uuid);
    expect(refOf('disk', 0, view, null)).toBe(d0!.uuid);
    for (const ref of ['nic.1', '1', 'eth1']) expect(refOf('nic', ref, view, null)).toBe(n1!.uuid);
  });

  it('a device Ganeti does not have is refused with what Ganeti has, or with how to remove it on the node', () => {
    expect(() => refOf('disk', '5', view, null)).toThrow(/^Ganeti's pb-fx1\.example\.com has no disk\/5 \(it has disk\/0, disk\/1 \(data1\)\)$/);
    expect(() => refOf('nic', 'disk/1', view, null)).toThrow(/has no NIC "disk\/1"/);
    const rf = { disks: [{ index: 2, uuid: '0b5e4f3c-6a1d-4e2b-9c8d-7f6e5d4c3b2a', hvinfo: { id: 'disk-0b5e4f3c-6a1d-4e2b' } }], nics: [] } as never;
    expect(() => refOf('disk', 'disk-0b5e4f3c-6a1d-4e2b', view, rf)).toThrow(
      /is on the node \(the runtime file's disk\/2\) but not in Ganeti's configuration .*: plugboard unplug disk pb-fx1\.example\.com disk-0b5e4f3c-6a1d-4e2b --via qmp$/,
    );
  });

  it("the what-if's -H change: against the runtime file, or against Ganeti's configuration when it is known", () => {
    const current = { diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', reservations: 12 };
    expect(hvparamsOf({ params: { ...current, reservations: 13 }, current })).toEqual({ kvm_pci_reservations: 13 });
    expect(hvparamsOf({ params: current, current })).toEqual({});
    // Ganeti says 13 (a change not yet started): the runtime file's 12 is a change to send.
    expect(hvparamsOf({ params: current, current }, { kvm_pci_reservations: 13, disk_type: 'scsi-hd', scsi_controller_type: 'virtio-scsi-pci' })).toEqual({ kvm_pci_reservations: 12 });
  });
});

it('this machine: a sandbox root on a Ganeti node still changes over QMP (Ganeti-only options refused, --via ganeti refused)', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pb-sandbox-'));
  try {
    await createSandboxInstance(root, { name: 'web1' }, '/usr/bin/qemu-system-x86_64');
    const run = async (args: string[]) => {
      let err = '';
      const code = await main(['--root', root, ...args], { stdout: () => undefined, stderr: (t) => void (err += t), env: {} });
      return { code, err };
    };
    const size = await run(['hotplug', 'disk', 'web1', '--size', '1G']);
    expect(size).toEqual({ code: 2, err: 'plugboard: --size: for a change through Ganeti (Ganeti creates the disk or NIC); over QMP give --path\n' });
    const via = await run(['hotplug', 'disk', 'web1', '--via', 'ganeti', '--size', '1G']);
    expect(via.code).toBe(2);
    expect(via.err).toMatch(/^plugboard: --via ganeti: the root is not a Ganeti node's/);
    expect(existsSync(path.join(root, 'conf', 'web1.runtime'))).toBe(true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
