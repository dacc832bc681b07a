/**
 * Finding the cluster and the RAPI client, against the real one-node Ganeti 3.0 cluster
 * (test/helpers/ganeti-cluster.ts): real jobs, real failures. Root only; skipped with the reason
 * otherwise.
 */
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JobResult } from '../../src/ganeti/job.js';
import { JobTimeoutError, RapiError, RapiNotFoundError } from '../../src/ganeti/errors.js';
import { compareWithGaneti } from '../../src/ganeti/compare.js';
import { planGanetiRequest } from '../../src/actions/plan-ganeti.js';
import { RapiClient } from '../../src/ganeti/rapi.js';
import { RapiCredentials, readPinnedCertificate, resolveRapiSettings } from '../../src/ganeti/settings.js';
import { readSsconf } from '../../src/ganeti/ssconf.js';
import { ganetiInstanceOf, withStaticInfo } from '../../src/ganeti/view.js';
import { CLUSTER_NAME, MASTER_NODE, RAPI_CERT, RAPI_PASSWORD, RAPI_USER, ganetiSkipReason, qemuSideOf, useGanetiCluster } from '../helpers/ganeti-cluster.js';
import { TLS_DIR } from '../helpers/rapi-server.js';
import { waitFor } from '../helpers/wait.js';

/** A test that stops RAPI may first wait up to 300 s for other files' tests that need it up. */
const RAPI_STOP_MS = 360_000;

const skip = ganetiSkipReason();
if (skip) process.stderr.write(`ganeti-rapi.test.ts: ${skip}\n`);

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WORK = path.join(REPO, '.cache', 'ganeti-it');
const INST = 'pb-it-rapi.example.com';
const STOPPED = 'pb-it-stopped.example.com';

const caught = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
};

describe.skipIf(skip !== undefined)('Ganeti RAPI on the real cluster', () => {
  const cluster = useGanetiCluster();
  /** A test that needs RAPI up: another file's test that stops RAPI waits for it (withRapiUp). */
  const itUp = (name: string, fn: () => Promise<void>) => it(name, () => cluster.withRapiUp(fn));

  /** Submits `gnt-debug delay --no-locks SECONDS` (a job that just takes its time); returns its id. */
  async function delayJob(seconds: number): Promise<number> {
    const r = await cluster.exec(['gnt-debug', 'delay', '--submit', '--no-locks', String(seconds)]);
    const m = /JobID: (\d+)/.exec(r.stdout + r.stderr); // gnt-debug prints it on stderr
    if (!m) throw new Error(`gnt-debug delay: ${r.stdout} ${r.stderr}`);
    return Number(m[1]);
  }

  describe('finding the cluster from the node', () => {
    itUp('reads the ssconf files the cluster wrote and pins its own RAPI certificate', async () => {
      const ss = await readSsconf();
      expect(ss).toMatchObject({ clusterName: CLUSTER_NAME, masterNode: MASTER_NODE, masterIp: '198.51.100.100', nodes: [MASTER_NODE], releaseVersion: '3.0.2' });
      // From the root namespace the machine is `vm`, not a node name: the default endpoint is the cluster name.
      const s = await resolveRapiSettings({ ssconf: ss, env: {}, defaultConfigFile: path.join(WORK, 'absent.conf') });
      expect(s.url.href).toBe(`https://${CLUSTER_NAME}:5080/`);
      expect(s.node).toBeUndefined();
      expect(s.tls).toMatchObject({ kind: 'pinned', certFile: RAPI_CERT, subject: 'CN=ganeti.example.com' });
      // …which does not resolve outside the cluster's namespace: said in one line.
      const err = await caught(new RapiClient({ settings: s, requestTimeoutMs: 5000 }).info());
      expect(err).toBeInstanceOf(RapiError);
      expect(err.message).toMatch(/^cannot resolve cluster\.example\.com \((ENOTFOUND|EAI_AGAIN)\): pass --rapi with a name or address this node can reach$/);
    });

    itUp('from the root namespace through the relay, configured by environment only (how a CLI child of a test reaches RAPI)', async () => {
      const env = {
        PLUGBOARD_RAPI: 'https://127.0.0.1:5080',
        PLUGBOARD_RAPI_SOCKET: cluster.socketPath,
        PLUGBOARD_RAPI_USER: RAPI_USER,
        PLUGBOARD_RAPI_PASSWORD: RAPI_PASSWORD,
        PLUGBOARD_NODE: MASTER_NODE,
      };
      const s = await resolveRapiSettings({ ssconf: await readSsconf(), env, defaultConfigFile: path.join(WORK, 'absent.conf') });
      expect([s.node, s.from.url, s.from.credentials, s.from.tls]).toEqual([MASTER_NODE, 'PLUGBOARD_RAPI', 'PLUGBOARD_RAPI_USER/PLUGBOARD_RAPI_PASSWORD', RAPI_CERT]);
      expect((await new RapiClient({ settings: s }).info()).master).toBe(MASTER_NODE);
    });

    itUp('with no configuration inside the node\'s namespaces: this node is the master, RAPI on localhost, rapi.pem pinned, credentials from a mode-600 file', async () => {
      mkdirSync(WORK, { recursive: true });
      const entry = path.join(WORK, 'discover.ts');
      const src = (m: string) => JSON.stringify(path.join(REPO, 'src', 'ganeti', m));
      writeFileSync(
        entry,
        `import { readSsconf } from ${src('ssconf.js')};
import { resolveRapiSettings } from ${src('settings.js')};
import { RapiClient } from ${src('rapi.js')};
try {
  const s = await resolveRapiSettings({ ssconf: await readSsconf() });
  const c = new RapiClient({ settings: s });
  const info = await c.info();
  console.log(JSON.stringify({ url: s.url.href, node: s.node, from: s.from, cluster: info.name, master: info.master }));
} catch (err) {
  console.log(JSON.stringify({ error: err.name, message: err.message }));
}
`,
      );
      const out = path.join(WORK, 'discover.mjs');
      await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: out, logLevel: 'silent' });
      const conf = path.join(WORK, 'rapi.conf');
      writeFileSync(conf, `# test\nuser = ${RAPI_USER}\npassword = ${RAPI_PASSWORD}\n`);
      chmodSync(conf, 0o600);
      const inNode = async () => {
        const r = await cluster.exec(['env', `PLUGBOARD_RAPI_CONFIG=${conf}`, process.execPath, out]);
        return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
      };
      expect(await inNode()).toEqual({
        url: 'https://localhost:5080/',
        node: MASTER_NODE,
        from: { url: `ssconf (this node, ${MASTER_NODE}, is the master)`, credentials: conf, tls: RAPI_CERT },
        cluster: CLUSTER_NAME,
        master: MASTER_NODE,
      });
      // The same file readable by its group: refused before anything is sent, with the fix.
      chmodSync(conf, 0o640);
      expect(await inNode()).toEqual({
        error: 'RapiSetupError',
        message: `${conf}: holds the RAPI password but is readable by its group (mode 0640): chmod 600 ${conf}`,
      });
    });
  });

  describe('the client against the real RAPI', () => {
    itUp('GET /2/info, /2/instances/NAME and /2/instances?bulk=1', async () => {
      await cluster.ensureInstance(INST, { running: true });
      const c = cluster.client();
      expect(await cluster.time('GET /2/info', c.info())).toMatchObject({ name: CLUSTER_NAME, master: MASTER_NODE, software_version: '3.0.2' });
      const inst = ganetiInstanceOf(await cluster.time('GET /2/instances/NAME', c.instance(INST)));
      expect(inst).toMatchObject({ name: INST, status: 'running', primaryNode: MASTER_NODE, diskTemplate: 'file' });
      expect(inst.disks.map((d) => d.size)).toEqual([64]);
      const all = await cluster.time('GET /2/instances?bulk=1', c.instances());
      expect(all.map((i) => i.name)).toContain(INST);
      // The static info job: what the plain GET does not say (disk mode, the disk's own template and path).
      const full = withStaticInfo(inst, await cluster.time('instance info job (static)', c.instanceInfo(INST)));
      expect(full.disks[0]).toMatchObject({ mode: 'rw', template: 'file' });
      expect(full.disks[0]?.path).toMatch(new RegExp(`^/srv/ganeti/file-storage/${INST.replace(/\./g, '\\.')}/[0-9a-f-]{36}\\.file\\.disk0$`));
    });

    itUp('a disk hot-added and removed through Ganeti: real jobs followed to their end, their log streamed, Ganeti and the node agree', async () => {
      await cluster.ensureInstance(INST, { running: true });
      const c = cluster.client();
      const add = planGanetiRequest({ kind: 'disk-add', instance: INST, disk: { size: '32M', name: 'it-data' } }, { running: true });
      const lines: string[] = [];
      const statuses: string[] = [];
      const id = await c.modify(INST, add.request.body);
      const r = await cluster.job(id, 'hot-add disk', { onLog: (e) => lines.push(e.message), onStatus: (s) => statuses.push(s) });
      expect(r.status).toBe('success');
      expect(r.devices.map((d) => `${d.kind}/${d.index} ${d.action} ${d.hotplug}`)).toEqual(['disk/1 add done']);
      expect(lines).toContain('- INFO: Hotplug done.');
      expect(lines).toContain('* disk 1, size 32M');
      expect(statuses.at(-1)).toBe('success');
      // Ganeti's disk/1 is in the runtime file and in QEMU, by its UUID.
      const view = ganetiInstanceOf(await c.instance(INST));
      const rf = await cluster.runtimeFile(INST);
      const live = await cluster.probe(INST);
      expect(rf.disks.map((d) => d.uuid)).toEqual(view.disks.map((d) => d.uuid));
      const cmp = compareWithGaneti({ runtime: rf, qemu: qemuSideOf(live), nodeName: MASTER_NODE }, view);
      expect(cmp.marks).toEqual([]);
      expect(cmp.devices.filter((d) => d.kind === 'disk').map((d) => [d.label, d.inQemu])).toEqual([
        ['disk/0', true],
        ['disk/1 (it-data)', true],
      ]);

      const remove = planGanetiRequest({ kind: 'disk-remove', instance: INST, disk: 'it-data' }, { running: true });
      const r2 = await cluster.job(await c.modify(INST, remove.request.body), 'hot-remove disk');
      expect(r2.devices.map((d) => `${d.kind}/${d.index} ${d.action} ${d.hotplug}`)).toEqual(['disk/1 remove done']);
      expect((await cluster.runtimeFile(INST)).disks).toHaveLength(1);
      expect(ganetiInstanceOf(await c.instance(INST)).disks).toHaveLength(1);
    });

    itUp('a disk and a NIC in one job, then both removed in one job', async () => {
      await cluster.ensureInstance(INST, { running: true });
      const c = cluster.client();
      const both = planGanetiRequest(
        { kind: 'devices', instance: INST, disks: [{ op: 'add', disk: { size: 16, name: 'it-d2' } }], nics: [{ op: 'add', nic: { name: 'it-n2' } }] },
        { running: true },
      );
      const r = await cluster.job(await c.modify(INST, both.request.body), 'hot-add disk+NIC (one job)');
      expect(r.devices.map((d) => `${d.kind}/${d.index} ${d.action} ${d.hotplug}`)).toEqual(['disk/1 add done', 'nic/1 add done']);
      const rf = await cluster.runtimeFile(INST);
      expect([rf.disks.length, rf.nics.length]).toEqual([2, 2]);
      const gone = planGanetiRequest(
        { kind: 'devices', instance: INST, disks: [{ op: 'remove', disk: 'it-d2' }], nics: [{ op: 'remove', nic: 'it-n2' }] },
        { running: true },
      );
      const r2 = await cluster.job(await c.modify(INST, gone.request.body), 'hot-remove disk+NIC (one job)');
      expect(r2.devices.map((d) => `${d.kind}/${d.index} ${d.action} ${d.hotplug}`)).toEqual(['disk/1 remove done', 'nic/1 remove done']);
      const after = await cluster.runtimeFile(INST);
      expect([after.disks.length, after.nics.length]).toEqual([1, 1]);
    });

    itUp('hotplug on an instance that is not running: OpPrereqError wrong_state, one line, nothing changed', async () => {
      await cluster.ensureInstance(STOPPED, { running: false });
      const c = cluster.client();
      const plan = planGanetiRequest({ kind: 'disk-add', instance: STOPPED, disk: { size: 16 } }, { running: true });
      const r = await cluster.job(await c.modify(STOPPED, plan.request.body), 'hotplug on a stopped instance (error)');
      expect(r.status).toBe('error');
      expect(r.error).toMatchObject({ errorClass: 'OpPrereqError', code: 'wrong_state' });
      expect(r.failure?.message).toMatch(/^Ganeti job \d+ \(OP_INSTANCE_SET_PARAMS\) failed: OpPrereqError: Hotplug is not possible: .*Instance is probably down.* \[wrong_state\]; Ganeti changed nothing$/);
      expect(ganetiInstanceOf(await c.instance(STOPPED)).disks).toHaveLength(1);
    });
  });

  describe('faults: one clear line each, nothing secret', () => {
    itUp('a wrong password: 401', async () => {
      const c = await cluster.rawClient({ credentials: new RapiCredentials(RAPI_USER, 'not-the-password-4711') });
      const err = await caught(c.info());
      expect((err as RapiError).failure).toBe('auth');
      expect(err.message).toBe(`RAPI at ${c.endpoint} refused user "plug" (401 Unauthorized: No permission -- see authorization schemes): wrong user or password (from test)`);
      expect(err.message).not.toContain('4711');
    });

    itUp('an unknown instance (404) and an unknown job', async () => {
      const c = await cluster.rawClient();
      const err = await caught(c.instance('pb-nope.example.com'));
      expect(err).toBeInstanceOf(RapiNotFoundError);
      expect(err.message).toBe(`Ganeti has no instance pb-nope.example.com (404 from RAPI at ${c.endpoint})`);
      expect((await caught(c.job(9_999_999))).message).toBe(`Ganeti has no job 9999999 (archived, or never submitted) (RAPI at ${c.endpoint})`);
    });

    itUp('a certificate that does not match: refused in the handshake, no request reached RAPI', async () => {
      // RAPI logs the request line of every answered request (`GET /2/info?pbmarker=… HTTP/1.1 200`).
      const marker = `pbtls${Date.now()}`;
      const c = await cluster.rawClient({ tls: await readPinnedCertificate(path.join(TLS_DIR, 'a.crt'), 'test') });
      const err = await caught(c.request('GET', `/2/info?pbmarker=${marker}`, null));
      expect((err as RapiError).failure).toBe('tls');
      expect(err.message).toMatch(/^the server at https:\/\/127\.0\.0\.1:5080 \(through .*\) is not the cluster's RAPI: its certificate is not the one in .*a\.crt \(DEPTH_ZERO_SELF_SIGNED_CERT\); nothing was sent\./);
      // With the cluster's own certificate the same request reaches RAPI and is logged; the first never was.
      await (await cluster.rawClient()).request('GET', `/2/info?pbmarker=${marker}-ok`, null);
      const logged = () => readFileSync('/var/log/ganeti/rapi-daemon.log', 'utf8');
      await waitFor(() => logged().includes(`${marker}-ok`), { what: 'RAPI to log the request' });
      expect(logged()).not.toContain(`pbmarker=${marker} `);
    });

    it('RAPI stopped: says so in one line, and answers again once it is back', async () => {
      const c = await cluster.rawClient();
      const err = await cluster.withRapiStopped(() => caught(c.info()));
      expect(err).toBeInstanceOf(RapiError);
      // Through the relay the connection is accepted and closed at once (nothing listens behind it).
      expect(['connection-lost', 'unreachable']).toContain((err as RapiError).failure);
      expect(err.message).toMatch(/is ganeti-rapi running on the master node\?$/);
      expect((await c.info()).name).toBe(CLUSTER_NAME);
    }, RAPI_STOP_MS);

    itUp('a job that outlives the timeout: its id and how to follow it; the job really goes on', async () => {
      const id = await delayJob(4);
      const c = await cluster.rawClient();
      const err = await caught(cluster.time('job timeout (1 s)', c.waitForJob(id, { timeoutMs: 1000 })));
      expect(err).toBeInstanceOf(JobTimeoutError);
      // Under load the first answer of /wait may not come within the second: the status is then unknown.
      expect(err.message).toMatch(new RegExp(`^job ${id} (is still (queued|waiting|running)|has not finished) after 1 s: plugboard stopped waiting, Ganeti did not; follow it with 'gnt-job watch ${id}'`));
      expect(['queued', 'waiting', 'running']).toContain((await c.job(id)).status);
      expect((await c.waitForJob(id, { timeoutMs: 60_000 })).status).toBe('success');
    });

    it('survives a RAPI daemon restart in the middle of a job', async () => {
      const c = await cluster.rawClient();
      const retries: string[] = [];
      const statuses: string[] = [];
      let id = 0;
      let following!: Promise<JobResult>;
      // The job starts once RAPI may be stopped (other files' tests may keep it up a while).
      const before = async () => {
        id = await delayJob(8);
        following = c.waitForJob(id, { timeoutMs: 120_000, onRetry: (m) => retries.push(m), onStatus: (s) => statuses.push(s) });
        await waitFor(() => statuses.includes('running'), { timeoutMs: 30_000, what: `job ${id} to run` });
      };
      await cluster.withRapiStopped(() => waitFor(() => retries.length > 0, { timeoutMs: 30_000, what: 'the wait loop to notice RAPI is gone' }), { before });
      const r = await following;
      expect(r.status).toBe('success');
      // Ganeti's HTTP server finishes the request it holds before it stops, so the outage hits the
      // next wait call or the final read of the job, depending on the timing.
      expect(retries[0]).toMatch(new RegExp(`is ganeti-rapi running on the master node\\?; retrying the (wait|read) of job ${id}$`));
    }, RAPI_STOP_MS);
  });
});
