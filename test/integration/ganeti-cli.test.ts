/**
 * The CLI through Ganeti on the real one-node Ganeti 3.0 cluster: real jobs, and after each the
 * instance's four views agree (gnt-instance info, the runtime file, query-block/query-pci, plugboard's
 * show --live --json). The drift marks both ways produced for real and shown by show/show --live/
 * list/check; the faults (RAPI down, 401, 404, wrong_state, a job outliving the timeout, RAPI
 * restarted mid-job, a credentials file others can read, a certificate that does not match): one
 * clear line, exit 1 or 2, nothing of the node changed by plugboard, no password printed.
 *
 * The CLI runs in-process (main() with its own io and environment: RAPI through the test's relay).
 * Root only; skipped with the reason otherwise. Its own instance: pb-it-cli.example.com.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { deviceId } from '../../src/runtime/ids.js';
import { KVM_ROOT, MASTER_NODE, RAPI_PASSWORD, RAPI_USER, ganetiSkipReason, useGanetiCluster } from '../helpers/ganeti-cluster.js';
import { expectAllAgree, gntInstanceInfo, type ShownGaneti } from '../helpers/ganeti-agree.js';
import { waitFor } from '../helpers/wait.js';

/** A test that stops RAPI may first wait up to 300 s for other files' tests that need it up. */
const RAPI_STOP_MS = 360_000;

const skip = ganetiSkipReason();
if (skip) process.stderr.write(`ganeti-cli.test.ts: ${skip}\n`);

const INST = 'pb-it-cli.example.com';
const STOPPED = 'pb-it-stopped.example.com';
const WORK = path.join(os.tmpdir(), `pb-ganeti-cli-${process.pid}`);

describe.skipIf(skip !== undefined)('the CLI through Ganeti, on the real cluster', { timeout: 180_000 }, () => {
  const cluster = useGanetiCluster();
  /** A test that needs RAPI up all along: another file's RAPI restart waits for it (and it for that). */
  const itUp = (name: string, fn: () => Promise<void>) => it(name, () => cluster.withRapiUp(fn));

  const env = (over: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => ({
    PLUGBOARD_RAPI: 'https://127.0.0.1:5080',
    PLUGBOARD_RAPI_SOCKET: cluster.socketPath,
    PLUGBOARD_RAPI_USER: RAPI_USER,
    PLUGBOARD_RAPI_PASSWORD: RAPI_PASSWORD,
    PLUGBOARD_NODE: MASTER_NODE,
    ...over,
  });

  async function cli(args: string[], over: Record<string, string | undefined> = {}, onStderr?: (text: string) => void) {
    let out = '';
    let err = '';
    const io: CliIo = {
      stdout: (t) => void (out += t),
      stderr: (t) => {
        err += t;
        onStderr?.(err);
      },
      env: env(over),
    };
    const t0 = performance.now();
    const code = await main(['--root', KVM_ROOT, ...args], io);
    // The job's own time, as the outcome says it: the job timings of the suite.
    const job = /\(job \d+: ([\d.]+) s; in all ([\d.]+) s\)/.exec(out);
    if (job) (cluster.timings[`CLI ${args.slice(0, 2).join(' ')}: job`] ??= []).push(Number(job[1]));
    return { code, out, err, ms: performance.now() - t0 };
  }

  async function shown(): Promise<ShownGaneti> {
    const r = await cli(['show', INST, '--live', '--json']);
    expect(r.code, r.err).toBe(0);
    return JSON.parse(r.out) as ShownGaneti;
  }

  /** The one line of a failure: `plugboard: …`, no stack, no password. */
  function oneLine(r: { out: string; err: string }): string {
    const lines = r.err.trim().split('\n').filter((l) => !l.startsWith('plugboard: ganeti: '));
    expect(lines, r.err).toHaveLength(1);
    expect(`${r.out}${r.err}`).not.toContain(RAPI_PASSWORD);
    return lines[0]!;
  }

  const runtimeBytes = () => readFileSync(path.join(KVM_ROOT, 'conf', `${INST}.runtime`), 'utf8');

  itUp('hot-adds a disk through Ganeti: the exact request, the job log on stderr, where it landed; then removes it by name; the four views agree after each', async () => {
    await cluster.ensureInstance(INST, { running: true });
    await expectAllAgree(cluster, INST, await shown());
    const dry = await cli(['hotplug', 'disk', INST, '--size', '32M', '--name', 'data1', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`request: PUT /2/instances/${INST}/modify {"disks":[["add",-1,{"size":32,"name":"data1"}]],"hotplug":true}`);
    const add = await cli(['hotplug', 'disk', INST, '--size', '32M', '--name', 'data1']);
    cluster.timings['CLI: hot-add disk through Ganeti (whole command)'] = [...(cluster.timings['CLI: hot-add disk through Ganeti (whole command)'] ?? []), Math.round(add.ms) / 1000];
    expect(add.code, add.err).toBe(0);
    expect(add.err).toMatch(/plugboard: ganeti: job \d+: - INFO: Hotplug done\./);
    expect(add.out).toMatch(/^done: Ganeti job \d+ succeeded: disk\/1 \(data1\) hot-plugged at scsi\.0 target 1 \(disk-[0-9a-f-]{18}\)$/m);
    const info = await expectAllAgree(cluster, INST, await shown());
    expect(info.disks.map((d) => `${d.index} ${d.name ?? '-'} ${d.detail}`)).toEqual(['0 - 64M', '1 data1 32M']);
    // Ganeti hot-adds a disk as /dev/fdset/N: no false drift (show --live text says so too).
    const text = await cli(['show', INST, '--live']);
    expect(text.out).toContain('drift: none (the runtime file matches QEMU)');
    expect(text.out, text.out).toMatch(/target 1 +used +disk +disk-[0-9a-f-]{18} +scsi-hd \(data1\) +disk\/1 \(data1\) 32 MiB file/);
    expect(text.out).toContain("marks: none (the node and Ganeti's configuration agree)");

    const rm = await cli(['unplug', 'disk', INST, 'data1']);
    expect(rm.code, rm.err).toBe(0);
    expect(rm.out).toMatch(/^done: Ganeti job \d+ succeeded: disk\/1 \(data1\) hot-unplugged$/m);
    expect((await expectAllAgree(cluster, INST, await shown())).disks).toHaveLength(1);
  });

  itUp('hot-adds a NIC (name, the default link) and removes it by its device id; the four views agree after each', async () => {
    await cluster.ensureInstance(INST, { running: true });
    const add = await cli(['hotplug', 'nic', INST, '--name', 'eth1', '--link', 'gntbr0']);
    expect(add.code, add.err).toBe(0);
    expect(add.out).toMatch(/^done: Ganeti job \d+ succeeded: nic\.1 aa:00:00:[0-9a-f:]{8} \(eth1\) hot-plugged at pci\.0 slot 0x[0-9a-f]+ \(nic-[0-9a-f-]{18}\)$/m);
    const info = await expectAllAgree(cluster, INST, await shown());
    expect(info.nics.map((n) => `${n.index} ${n.name ?? '-'} ${n.link ?? ''}`)).toEqual(['0 - gntbr0', '1 eth1 gntbr0']);
    const id = deviceId('nic', info.nics[1]!.uuid);
    await cluster.waitGuestReady(INST);
    const rm = await cli(['unplug', 'nic', INST, id]);
    expect(rm.code, rm.err).toBe(0);
    expect(rm.out).toMatch(/hot-unplugged/);
    expect((await expectAllAgree(cluster, INST, await shown())).nics).toHaveLength(1);
  });

  itUp('a disk and a NIC in one job (hotplug devices), both removed in one job (unplug devices)', async () => {
    await cluster.ensureInstance(INST, { running: true });
    const add = await cli(['hotplug', 'devices', INST, '--disk', 'size=16M,name=both1', '--nic', 'name=both1n']);
    expect(add.code, add.err).toBe(0);
    expect(add.out).toContain('"disks":[["add",-1,{"size":16,"name":"both1"}]],"nics":[["add",-1,{"name":"both1n"}]],"hotplug":true');
    const jobs = new Set([...add.err.matchAll(/job (\d+) submitted/g)].map((m) => m[1]));
    expect(jobs.size).toBe(1);
    const info = await expectAllAgree(cluster, INST, await shown());
    expect([info.disks.length, info.nics.length]).toEqual([2, 2]);
    await cluster.waitGuestReady(INST);
    const rm = await cli(['unplug', 'devices', INST, '--disk', 'both1', '--nic', 'both1n', '--json']);
    expect(rm.code, rm.err).toBe(0);
    const j = JSON.parse(rm.out) as { status: string; landed: { label: string; hotplug: string }[] };
    expect(j.status).toBe('done');
    expect(j.landed.map((l) => `${l.label.replace(/ aa:[0-9a-f:]+/, '')} ${l.hotplug}`)).toEqual(['disk/1 (both1) done', 'nic.1 (both1n) done']);
    const after = await expectAllAgree(cluster, INST, await shown());
    expect([after.disks.length, after.nics.length]).toEqual([1, 1]);
  });

  itUp("whatif --submit sends the -H change as a job (at the next start; the running QEMU keeps its layout), and back", async () => {
    await cluster.ensureInstance(INST, { running: true });
    const before = runtimeBytes();
    const was = (await gntInstanceInfo(cluster, INST)).hv['kvm_pci_reservations'];
    const dry = await cli(['whatif', INST, '--kvm-pci-reservations', '13']);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`gnt-instance modify -H kvm_pci_reservations=13 ${INST}`);
    try {
      const r = await cli(['whatif', INST, '--kvm-pci-reservations', '13', '--submit']);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain('request: PUT /2/instances/pb-it-cli.example.com/modify {"hvparams":{"kvm_pci_reservations":13}}');
      expect(r.out).toMatch(/^next-start: Ganeti job \d+ succeeded: hv\/kvm_pci_reservations = 13; in Ganeti's configuration now, on the node at the next start/m);
      expect((await gntInstanceInfo(cluster, INST)).hv['kvm_pci_reservations']).toBe('13');
      expect(runtimeBytes()).toBe(before);
    } finally {
      // Back: against Ganeti's configuration (13 now), the runtime file's 12 is a change to send.
      const back = await cli(['whatif', INST, '--kvm-pci-reservations', '12', '--submit']);
      expect(back.code, back.err).toBe(0);
    }
    // The value is back (set on the instance now: `12` where it said `default (12)`).
    const value = (v: string | undefined) => v?.replace(/^default \((.*)\)$/, '$1');
    expect(value((await gntInstanceInfo(cluster, INST)).hv['kvm_pci_reservations'])).toBe(value(was));
  });

  itUp('the drift marks both ways, for real, in show, show --live, list and check (which fails on them); --via qmp warns; --path alone is refused on a Ganeti node', async () => {
    await cluster.ensureInstance(INST, { running: true });
    mkdirSync(WORK, { recursive: true });
    const image = path.join(WORK, 'behind.img');
    execFileSync('truncate', ['-s', '16M', image]);
    const refused = await cli(['hotplug', 'disk', INST, '--path', image]);
    expect(refused.code).toBe(2);
    expect(oneLine(refused)).toMatch(/--path: pb-it-cli\.example\.com is managed by Ganeti .* pass --via qmp$/);
    // Not in Ganeti's configuration: a disk added over QMP behind Ganeti's back.
    const behind = await cli(['hotplug', 'disk', INST, '--via', 'qmp', '--path', image, '--uuid', '5ec0e1d2-aaaa-4bbb-8ccc-0123456789ab']);
    expect(behind.code, behind.err).toBe(0);
    expect(behind.err).toContain("plugboard: warning: pb-it-cli.example.com is managed by Ganeti (cluster cluster.example.com) and this disk goes in over QMP: Ganeti will not know it");
    // In Ganeti's configuration but not on the node: a NIC added without hotplug.
    const noHot = await cluster.client().modify(INST, { nics: [['add', -1, { name: 'cfgonly' }]] });
    expect((await cluster.job(noHot, 'NIC add without hotplug')).status).toBe('success');
    try {
      const live = await cli(['show', INST, '--live']);
      expect(live.code).toBe(0);
      expect(live.out).toContain("# not in Ganeti's configuration: disk-5ec0e1d2-aaaa-4bbb (scsi.0 target 1) is on the node but not in Ganeti's configuration");
      expect(live.out).toMatch(/\? in Ganeti's configuration, not on the node: Ganeti's nic\.1 \(aa:00:00:[0-9a-f:]{8}, cfgonly, bridged gntbr0\) is in Ganeti's configuration but not on the node/);
      expect(live.out).toContain('what it means: Ganeti does not know this disk');
      expect(live.out).toContain(`what to do: to keep it, add a disk through Ganeti (plugboard hotplug disk ${INST} --size SIZE)`);
      writeFileSync(path.join(process.cwd(), '.cache', 'ganeti-show-live-both-marks.txt'), live.out);
      const json = JSON.parse((await cli(['show', INST, '--live', '--json'])).out) as ShownGaneti;
      expect(json.ganeti.marks.map((m) => m.code).sort()).toEqual(['not-in-ganeti', 'not-on-node']);
      // show without --live: the runtime file against Ganeti.
      const file = await cli(['show', INST]);
      expect(file.out).toContain("# not in Ganeti's configuration");
      const list = await cli(['list']);
      expect(list.out).toMatch(/pb-it-cli\.example\.com .* # ?1 \? ?1\s*$/m);
      const check = await cli(['check', INST]);
      expect(check.code).toBe(1);
      expect(check.out).toContain("NOT OK: the node and Ganeti's configuration disagree");
      // A device Ganeti does not have cannot be removed through Ganeti: the way to remove it is said.
      const viaGaneti = await cli(['unplug', 'disk', INST, 'disk-5ec0e1d2-aaaa-4bbb']);
      expect(viaGaneti.code).toBe(2);
      expect(oneLine(viaGaneti)).toContain('--via qmp');
    } finally {
      const rm = await cli(['unplug', 'disk', INST, 'disk-5ec0e1d2-aaaa-4bbb', '--via', 'qmp']);
      expect(rm.code, rm.err).toBe(0);
      // The node-local repair needs no warning: Ganeti does not have the device.
      expect(rm.err).not.toContain('warning');
      const back = await cluster.client().modify(INST, { nics: [['remove', 'cfgonly', {}]] });
      await cluster.job(back, 'NIC remove without hotplug');
      rmSync(image, { force: true });
    }
    await expectAllAgree(cluster, INST, await shown());
  });

  itUp('a NIC removal the guest does not acknowledge: exit 1, "the configuration changed, the node did not", the mark and the node-local repair, which works', async () => {
    await cluster.ensureInstance(INST, { running: true });
    const add = await cli(['hotplug', 'nic', INST, '--name', 'noack']);
    expect(add.code, add.err).toBe(0);
    const id = deviceId('nic', (await gntInstanceInfo(cluster, INST)).nics[1]!.uuid);
    await cluster.qmp(INST, [{ execute: 'stop' }], 'kvmd');
    let r: Awaited<ReturnType<typeof cli>>;
    try {
      r = await cli(['unplug', 'nic', INST, 'noack']);
    } finally {
      await cluster.qmp(INST, [{ execute: 'cont' }], 'kvmd');
    }
    cluster.timings['CLI: NIC removal the guest does not acknowledge (whole command)'] = [Math.round(r.ms) / 1000];
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^hotplug-failed: Ganeti job \d+ succeeded, but the hotplug of nic\/1 \(remove\) failed: Ganeti changed its configuration, the node did not$/m);
    expect(r.out).toContain(`# not in Ganeti's configuration: ${id}`);
    expect(r.out).toContain(`plugboard unplug nic ${INST} ${id} --via qmp`);
    // The repair the outcome offered: the node in line with Ganeti again.
    await waitFor(async () => !(await cluster.probe(INST)).peripherals.some((p) => p.id === id), { timeoutMs: 30_000, what: `QEMU to drop ${id} once the guest runs` });
    const repair = await cli(['unplug', 'nic', INST, id, '--via', 'qmp']);
    expect(repair.code, repair.err).toBe(0);
    await expectAllAgree(cluster, INST, await shown());
  });

  describe('faults: one clear line, exit 1 or 2, nothing changed on the node, no password printed', () => {
    it('RAPI down (exit 1), wrong password (exit 1), unknown instance (exit 2), hotplug on a stopped instance (exit 1: wrong_state)', async () => {
      await cluster.ensureInstance(INST, { running: true });
      await cluster.ensureInstance(STOPPED, { running: false });
      const before = runtimeBytes();
      const down = await cluster.withRapiStopped(() => cli(['hotplug', 'disk', INST, '--size', '16M']));
      expect(down.code).toBe(1);
      expect(oneLine(down)).toMatch(/^plugboard: RAPI at https:\/\/127\.0\.0\.1:5080 .* closed the connection .*: is ganeti-rapi running on the master node\?$/);
      await cluster.withRapiUp(async () => {
      const auth = await cli(['hotplug', 'disk', INST, '--size', '16M'], { PLUGBOARD_RAPI_PASSWORD: 'not-the-password' });
      expect(auth.code).toBe(1);
      expect(oneLine(auth)).toContain('refused user "plug" (401 Unauthorized');
      expect(`${auth.out}${auth.err}`).not.toContain('not-the-password');
      const nf = await cli(['hotplug', 'disk', 'nope.example.com', '--size', '16M']);
      expect(nf.code).toBe(2);
      expect(oneLine(nf)).toBe('plugboard: Ganeti (cluster cluster.example.com) has no instance nope.example.com: plugboard changes only Ganeti\'s instances through Ganeti; for an instance Ganeti does not manage pass --via qmp');
      const stopped = await cli(['hotplug', 'disk', STOPPED, '--size', '16M']);
      expect(stopped.code).toBe(1);
      expect(oneLine(stopped)).toMatch(/^plugboard: Ganeti job \d+ \(OP_INSTANCE_SET_PARAMS\) failed: OpPrereqError: Hotplug is not possible: .* \[wrong_state\]; Ganeti changed nothing$/);
      expect((await gntInstanceInfo(cluster, STOPPED)).disks).toHaveLength(1);
      expect(runtimeBytes()).toBe(before);
      });
    }, RAPI_STOP_MS);

    itUp('a credentials file others can read (exit 2, the chmod), a certificate that does not match (exit 1, nothing sent)', async () => {
      mkdirSync(WORK, { recursive: true });
      const conf = path.join(WORK, 'rapi.conf');
      writeFileSync(conf, `user = ${RAPI_USER}\npassword = ${RAPI_PASSWORD}\n`);
      chmodSync(conf, 0o644);
      const before = runtimeBytes();
      const mode = await cli(['hotplug', 'disk', INST, '--size', '16M'], { PLUGBOARD_RAPI_USER: undefined, PLUGBOARD_RAPI_PASSWORD: undefined, PLUGBOARD_RAPI_CONFIG: conf });
      expect(mode.code).toBe(2);
      expect(oneLine(mode)).toContain(`${conf}: holds the RAPI password but is readable by everyone (mode 0644): chmod 600 ${conf}`);
      const other = path.join(process.cwd(), 'test', 'fixtures', 'ganeti-rapi', 'tls', 'b.crt');
      const cert = await cli(['hotplug', 'disk', INST, '--size', '16M', '--rapi-cert', other]);
      expect(cert.code).toBe(1);
      expect(oneLine(cert)).toMatch(/is not the cluster's RAPI: its certificate is not the one in .*b\.crt .*nothing was sent/);
      expect(runtimeBytes()).toBe(before);
    });

    itUp('a job that outlives --job-timeout: its id and how to follow it (exit 1); the job really goes on', async () => {
      await cluster.ensureInstance(INST, { running: true });
      // A job holding the node's lock for 8 s makes the hot-add wait behind it.
      const delay = await cluster.exec(['gnt-debug', 'delay', '--submit', '-n', MASTER_NODE, '8']);
      expect(delay.code, delay.stderr).toBe(0);
      const r = await cli(['hotplug', 'disk', INST, '--size', '16M', '--name', 'late', '--job-timeout', '2']);
      expect(r.code).toBe(1);
      const line = oneLine(r);
      const id = /job (\d+) is still (?:waiting|queued|running) after 2 s: plugboard stopped waiting, Ganeti did not; follow it with 'gnt-job watch \1'/.exec(line)?.[1];
      expect(id, line).toBeDefined();
      const end = await cluster.job(Number(id), 'the timed-out hot-add, followed to its end');
      expect(end.devices[0]?.hotplug).toBe('done');
      const rm = await cli(['unplug', 'disk', INST, 'late']);
      expect(rm.code, rm.err).toBe(0);
    });

    it('RAPI restarted in the middle of the job: the CLI follows it to its end', async () => {
      await cluster.ensureInstance(INST, { running: true });
      let submitted!: () => void;
      const isSubmitted = new Promise<void>((resolve) => (submitted = resolve));
      let run!: ReturnType<typeof cli>;
      // The CLI starts once RAPI may be stopped (other files' tests may keep it up a while).
      const before = async () => {
        run = cli(['hotplug', 'disk', INST, '--size', '16M', '--name', 'restart'], {}, (err) => {
          if (/job \d+ submitted/.test(err)) submitted();
        });
        await isSubmitted;
      };
      await cluster.withRapiStopped(async () => undefined, { before });
      const r = await run;
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/disk\/1 \(restart\) hot-plugged/);
      await cluster.withRapiUp(async () => {
        const rm = await cli(['unplug', 'disk', INST, 'restart']);
        expect(rm.code, rm.err).toBe(0);
        await expectAllAgree(cluster, INST, await shown());
      });
      rmSync(WORK, { recursive: true, force: true });
    }, RAPI_STOP_MS);
  });

  itUp('list --cluster: every instance with its primary node and status; those on this node open here', async () => {
    const r = await cli(['list', '--cluster']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^cluster cluster\.example\.com · \d+ instances · this node: node1\.example\.com$/m);
    expect(r.out).toMatch(/^pb-it-cli\.example\.com +node1\.example\.com +running +file +1 +1 +here: plugboard show pb-it-cli\.example\.com --live$/m);
    expect(r.out).toMatch(/^pb-it-stopped\.example\.com +node1\.example\.com +ADMIN_down /m);
    const j = JSON.parse((await cli(['list', '--cluster', '--json'])).out) as { instances: { instance: string; here: boolean }[] };
    expect(j.instances.find((i) => i.instance === INST)?.here).toBe(true);
  });
});
