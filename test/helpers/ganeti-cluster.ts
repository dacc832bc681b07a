/**
 * The real one-node Ganeti 3.0 cluster (../shared/ganeti/one-node-cluster.sh) for integration tests.
 *
 *   const skip = ganetiSkipReason();           // "skipped: … needs root", or undefined
 *   if (skip) console.warn(`my.test.ts: ${skip}`);
 *   describe.skipIf(skip !== undefined)('…', () => {
 *     const cluster = useGanetiCluster();      // beforeAll: cluster up, RAPI relay; afterAll: relay gone
 *     it('…', async () => {
 *       const inst = await cluster.ensureInstance('pb-it-clean.example.com', { running: true });
 *       const id = await cluster.client().modify(inst.name, {…});
 *       await cluster.job(id, 'hot-add');       // followed to its end, timed
 *     });
 *   });
 *
 * - **Up/down**: the first file that needs the cluster brings it up (`up`, retried once: right after
 *   `gnt-cluster init` the script's `gnt-cluster verify` can fail with "the master node cannot reach
 *   the master IP (not configured?)"); a running cluster is reused; the suite takes it down at the
 *   end only if it brought it up (test/setup/ganeti-lease.ts, test/setup/ganeti-global.ts).
 * - **RAPI from the root namespace**: RAPI listens on 127.0.0.1:5080 inside netns `ganeti` only. Each
 *   test file starts a relay, `ip netns exec ganeti socat UNIX-LISTEN:<tmp>/rapi.sock,fork
 *   TCP:127.0.0.1:5080`: a Unix socket (files are shared between namespaces) served by a process
 *   inside the namespace. Nothing listens on TCP in the root namespace, so `up`/`smoke`'s isolation
 *   check (root-namespace TCP/UDP listeners of Ganeti or QEMU) is not affected. The client reaches
 *   it with `socketPath` (PLUGBOARD_RAPI_SOCKET for a CLI child). The relay is killed (by its process
 *   group id) in afterAll; `down` would otherwise warn about processes left in the namespace.
 * - **Instances**: `ensureInstance(name, {running})` creates one (file template, one 64 MiB disk, one
 *   NIC, the tiny guest) or reuses it when it is exactly that and Ganeti and the node agree; anything
 *   else (a test that died half-way) is removed and created again.
 * - **Timings**: `cluster.time(what, promise)` records how long each step took; the file's afterAll
 *   prints them (`ganeti timings: …`) and appends them to .cache/ganeti-timings.jsonl.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, inject } from 'vitest';
import { compareWithGaneti } from '../../src/ganeti/compare.js';
import { qemuSideOf } from '../../src/live/qemu-side.js';
import { RapiError, RapiNotFoundError } from '../../src/ganeti/errors.js';
import type { JobResult } from '../../src/ganeti/job.js';
import { RapiClient, type HttpMethod, type RequestOptionsBase } from '../../src/ganeti/rapi.js';
import { RapiCredentials, readPinnedCertificate, type RapiSettings } from '../../src/ganeti/settings.js';
import { ganetiInstanceOf, type GanetiInstance } from '../../src/ganeti/view.js';
import { probeLive, type LiveState } from '../../src/live/probe.js';
import { withQmp } from '../../src/qmp/client.js';
import { loadRuntimeFile } from '../../src/runtime/load.js';
import type { RuntimeFile } from '../../src/runtime/types.js';
import { findClusterScript, ganetiSkipReason, withLease, withLeaseLock, withRapiUp, type GanetiRun } from '../setup/ganeti-lease.js';
import { waitFor, within } from './wait.js';

export { ganetiSkipReason, findClusterScript };

export const KVM_ROOT = '/var/run/ganeti/kvm-hypervisor';
export const CLUSTER_NAME = 'cluster.example.com';
export const MASTER_NODE = 'node1.example.com';
/** The RAPI user the cluster script configures (write access). */
export const RAPI_USER = 'plug';
export const RAPI_PASSWORD = 'secret';
export const RAPI_CERT = '/var/lib/ganeti/rapi.pem';
/** RAPI inside the namespace. */
export const RAPI_URL = 'https://127.0.0.1:5080';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TIMINGS_FILE = path.join(REPO_ROOT, '.cache', 'ganeti-timings.jsonl');

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface GanetiCluster {
  script: string;
  /** The relay's Unix socket (RAPI through it). */
  socketPath: string;
  /** Settings for the relay: pinned to the cluster's real certificate, user plug. */
  settings(over?: Partial<RapiSettings>): Promise<RapiSettings>;
  /**
   * A client through the relay that retries a request the cluster never received (RAPI briefly down
   * while another test restarts it). For fault tests use `rawClient`.
   */
  client(): RapiClient;
  rawClient(over?: Partial<RapiSettings>): Promise<RapiClient>;
  /** `one-node-cluster.sh exec ARGS…` (inside the cluster's namespaces). */
  exec(args: string[], options?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Follows a job to its end through the relay and records its time under `what`. */
  job(id: number, what: string, options?: Parameters<RapiClient['waitForJob']>[1]): Promise<JobResult>;
  /** Records how long `work` took under `what`. */
  time<T>(what: string, work: Promise<T>): Promise<T>;
  ensureInstance(name: string, options: { running: boolean }): Promise<GanetiInstance>;
  removeInstance(name: string): Promise<void>;
  /** QMP commands on the instance's `qmp` socket (or `kvmd`, which Ganeti leaves unused). */
  qmp(instance: string, commands: { execute: string; arguments?: Record<string, unknown> }[], socket?: 'qmp' | 'kvmd'): Promise<unknown[]>;
  /** plugboard's own probe of the instance's QEMU. */
  probe(instance: string): Promise<LiveState>;
  runtimeFile(instance: string): Promise<RuntimeFile>;
  waitGuestReady(instance: string, timeoutMs?: number): Promise<void>;
  /**
   * Stops ganeti-rapi, runs `work`, starts it again (always), waits until it answers. Holds the
   * lease lock meanwhile, and starts only when no test needs RAPI up (`withRapiUp`). `before` runs
   * once that moment has come, RAPI still up, just before it is stopped: start there what the stop
   * must fall in the middle of (a job), so that waiting for other files cannot let it end first.
   * `before` runs under the lease lock: no change through `cluster.client()` in it (exec and a CLI
   * child are fine).
   */
  withRapiStopped<T>(work: () => Promise<T>, options?: { before?: () => Promise<void> }): Promise<T>;
  /** Runs `work` with RAPI kept up (a `withRapiStopped` of another file waits for it). Never nest a `withRapiStopped` inside. */
  withRapiUp<T>(work: () => Promise<T>): Promise<T>;
  timings: Record<string, number[]>;
}

/** QEMU's devices and drives as compare.ts takes them, from plugboard's probe (src/live/qemu-side.ts). */
export { qemuSideOf } from '../../src/live/qemu-side.js';

function run(cmd: string, args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: String(err) });
    });
  });
}

/**
 * Retries requests RAPI certainly did not receive (nothing listening, or closed before TLS) and
 * GETs that failed on the way. A request that changes something (PUT/POST/DELETE) is sent holding
 * the lease lock, which `withRapiStopped` holds while RAPI is down: a job is never submitted into a
 * restart, and never submitted twice.
 */
class RetryingRapiClient extends RapiClient {
  override async request(method: HttpMethod, p: string, body: unknown, options: RequestOptionsBase = {}, notFound?: string): Promise<unknown> {
    if (method !== 'GET') return withLeaseLock(() => this.retrying(method, p, body, options, notFound), 300_000);
    return this.retrying(method, p, body, options, notFound);
  }

  private async retrying(method: HttpMethod, p: string, body: unknown, options: RequestOptionsBase, notFound: string | undefined): Promise<unknown> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        return await super.request(method, p, body, options, notFound);
      } catch (err) {
        const unsent = err instanceof RapiError && (err.failure === 'unreachable' || (err.failure === 'connection-lost' && /before TLS/.test(err.message)));
        const retry = unsent || (method === 'GET' && err instanceof RapiError && err.transient);
        if (!retry || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }
}

const CREATE_BODY = (name: string, start: boolean) => ({
  __version__: 1,
  mode: 'create',
  instance_name: name,
  os_type: 'noop',
  disk_template: 'file',
  disks: [{ size: 64 }],
  nics: [{}],
  beparams: { memory: 128, vcpus: 1 },
  pnode: MASTER_NODE,
  name_check: false,
  ip_check: false,
  start,
});

/** Registers beforeAll/afterAll in the calling describe block; see the module comment. */
export function useGanetiCluster(): GanetiCluster {
  const script = findClusterScript() ?? '';
  let relay: ChildProcess | undefined;
  let relayDir = '';
  const timings: Record<string, number[]> = {};
  let client: RapiClient | undefined;
  let settingsCache: RapiSettings | undefined;

  const record = (what: string, ms: number) => {
    (timings[what] ??= []).push(Math.round(ms) / 1000);
  };
  const exec = (args: string[], options: { timeoutMs?: number } = {}) => run(script, ['exec', ...args], options.timeoutMs ?? 120_000);
  const rapiAnswers = async (): Promise<boolean> => {
    const r = await exec(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '-u', `${RAPI_USER}:${RAPI_PASSWORD}`, `${RAPI_URL}/2/info`], { timeoutMs: 20_000 });
    return r.code === 0 && r.stdout.trim() === '200';
  };

  const settings = async (over: Partial<RapiSettings> = {}): Promise<RapiSettings> => {
    settingsCache ??= {
      url: new URL(RAPI_URL),
      socketPath: path.join(relayDir, 'rapi.sock'),
      credentials: new RapiCredentials(RAPI_USER, RAPI_PASSWORD),
      tls: await readPinnedCertificate(RAPI_CERT, RAPI_CERT),
      node: MASTER_NODE,
      from: { url: 'test relay', credentials: 'test', tls: RAPI_CERT },
    };
    return { ...settingsCache, ...over };
  };

  const cluster: GanetiCluster = {
    script,
    get socketPath() {
      return path.join(relayDir, 'rapi.sock');
    },
    settings,
    client: () => {
      if (!client) throw new Error('the cluster is not set up (useGanetiCluster in a describe block; call client() inside a test)');
      return client;
    },
    rawClient: async (over) => new RapiClient({ settings: await settings(over) }),
    exec,
    async time<T>(what: string, work: Promise<T>): Promise<T> {
      const t0 = performance.now();
      try {
        return await work;
      } finally {
        record(what, performance.now() - t0);
      }
    },
    async job(id, what, options) {
      return cluster.time(what, cluster.client().waitForJob(id, { timeoutMs: 180_000, ...options }));
    },
    async removeInstance(name) {
      const c = cluster.client();
      try {
        await c.instance(name);
      } catch (err) {
        if (err instanceof RapiNotFoundError) return;
        throw err;
      }
      // Stop it at once first: DELETE shuts down gracefully (ACPI, up to 120 s), which a paused or
      // busy guest never acknowledges; RAPI's DELETE has no shutdown timeout, its shutdown does.
      const down = await c.submit('PUT', `/2/instances/${encodeURIComponent(name)}/shutdown`, { timeout: 0 });
      await cluster.job(down, 'shutdown (timeout 0)');
      const id = await c.submit('DELETE', `/2/instances/${encodeURIComponent(name)}`, null);
      const r = await cluster.job(id, 'remove instance');
      if (r.status !== 'success') throw new Error(`removing ${name}: ${r.failure?.message ?? r.status}`);
    },
    async ensureInstance(name, { running }) {
      const c = cluster.client();
      let reuse = false;
      try {
        const a = await c.instance(name);
        const v = ganetiInstanceOf(a);
        reuse = v.disks.length === 1 && v.nics.length === 1 && (running ? v.status === 'running' : v.status === 'ADMIN_down');
        if (reuse && running) {
          const rf = await cluster.runtimeFile(name);
          const live = await cluster.probe(name);
          const [status] = (await cluster.qmp(name, [{ execute: 'query-status' }])) as { status: string }[];
          const cmp = compareWithGaneti({ runtime: rf, qemu: qemuSideOf(live), nodeName: MASTER_NODE }, v);
          reuse = cmp.ok && cmp.notes.length === 0 && rf.disks.length === 1 && rf.nics.length === 1 && status?.status === 'running';
        }
        if (!reuse) await cluster.removeInstance(name);
      } catch (err) {
        if (!(err instanceof RapiNotFoundError)) throw err;
      }
      if (!reuse) {
        const id = await c.submit('POST', '/2/instances', CREATE_BODY(name, running));
        const r = await cluster.job(id, running ? 'create instance (started)' : 'create instance (not started)');
        if (r.status !== 'success') throw new Error(`creating ${name}: ${r.failure?.message ?? r.status}`);
      }
      if (running) await cluster.time('guest ready', cluster.waitGuestReady(name));
      return ganetiInstanceOf(await c.instance(name));
    },
    async qmp(instance, commands, socket = 'qmp') {
      return withQmp(path.join(KVM_ROOT, 'ctrl', `${instance}.${socket}`), { greetingTimeoutMs: 5000 }, async (q) => {
        const out: unknown[] = [];
        for (const c of commands) out.push(await q.execute(c.execute, c.arguments));
        return out;
      });
    },
    async probe(instance) {
      return withQmp(path.join(KVM_ROOT, 'ctrl', `${instance}.qmp`), { greetingTimeoutMs: 5000 }, (q) => probeLive(q));
    },
    async runtimeFile(instance) {
      return loadRuntimeFile(path.join(KVM_ROOT, 'conf', `${instance}.runtime`), { instance });
    },
    async waitGuestReady(instance, timeoutMs = 120_000) {
      const sock = path.join(KVM_ROOT, 'ctrl', `${instance}.serial`);
      const deadline = Date.now() + timeoutMs;
      let text = '';
      let ready: () => void = () => undefined;
      const seen = new Promise<void>((resolve) => (ready = resolve));
      const onData = (d: Buffer) => {
        text = (text + d.toString('latin1')).slice(-4096);
        if (text.includes('gnt-tiny-guest: ready')) ready();
      };
      // The socket file exists from QEMU's bind(2); a connect before its listen(2) is refused: try
      // again until it is taken.
      const s = await waitFor(() => connectUnlessRefused(sock, onData), { timeoutMs, what: `QEMU to listen on ${sock}` });
      try {
        await within(seen, Math.max(1, deadline - Date.now()), `the guest of ${instance} to print 'gnt-tiny-guest: ready'`);
      } finally {
        s.destroy();
      }
    },
    async withRapiStopped(work, options = {}) {
      // Under the lease lock, once no test of another file needs RAPI up (withRapiUp).
      const deadline = Date.now() + 300_000;
      for (;;) {
        const ran = await withLease(async (state) => {
          if ((state.rapiUsers ?? []).length > 0) return { ran: false as const };
          await options.before?.();
          const stop = await exec(['/usr/lib/ganeti/daemon-util', 'stop', 'ganeti-rapi']);
          if (stop.code !== 0) throw new Error(`daemon-util stop ganeti-rapi: ${stop.stderr}`);
          const restart = async () => {
            const t0 = performance.now();
            const start = await exec(['/usr/lib/ganeti/daemon-util', 'start', 'ganeti-rapi']);
            if (start.code !== 0) throw new Error(`daemon-util start ganeti-rapi: ${start.stderr}`);
            await waitFor(rapiAnswers, { timeoutMs: 60_000, intervalMs: 200, what: 'RAPI to answer again after its restart' });
            record('RAPI daemon start until it answers', performance.now() - t0);
          };
          let result: Awaited<ReturnType<typeof work>>;
          try {
            result = await work();
          } catch (err) {
            // RAPI is started again either way; the test's own failure is the one reported.
            await restart().catch(() => undefined);
            throw err;
          }
          await restart();
          return { ran: true as const, result };
        }, 300_000);
        if (ran.ran) return ran.result;
        if (Date.now() > deadline) throw new Error('withRapiStopped: other tests kept RAPI in use for 300 s');
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    withRapiUp: (work) => withRapiUp(work),
    timings,
  };

  beforeAll(async () => {
    if (!script) throw new Error('one-node-cluster.sh not found');
    let ganetiRun: GanetiRun | undefined;
    try {
      ganetiRun = inject('ganetiRun');
    } catch {
      ganetiRun = undefined;
    }
    // Up (or reuse), under the lease lock so that two runs never run `up` at once.
    await withLease(async (state) => {
      if (ganetiRun && !state.runs.some((r) => r.token === ganetiRun.token)) state.runs.push(ganetiRun);
      if (await rapiAnswers()) {
        record('cluster check (already up)', 0);
        return;
      }
      const log = path.join(REPO_ROOT, '.cache', 'ganeti-up.log');
      mkdirSync(path.dirname(log), { recursive: true });
      const stale = removeStalePidFiles();
      if (stale.length > 0) appendFileSync(log, `\n=== stale Ganeti pid files removed before up: ${stale.join(', ')}\n`);
      for (let attempt = 1; ; attempt++) {
        const t0 = performance.now();
        const r = await run(script, ['up'], 900_000);
        appendFileSync(log, `\n=== up (attempt ${attempt}) exit ${String(r.code)}\n${r.stdout}${r.stderr}`);
        record(attempt === 1 ? 'cluster up' : 'cluster up (again)', performance.now() - t0);
        if (r.code === 0 && (await rapiAnswers())) break;
        // Instances a killed run left "running" in Ganeti's configuration are down (ERROR_down), and
        // the script's verify fails on that alone. The tests recreate their instances; accept it.
        if (r.code !== 0 && (await rapiAnswers())) {
          const v = await run(script, ['exec', 'gnt-cluster', 'verify', '-I', 'ENODESSH', '-I', 'ENODESETUP', '-I', 'EINSTANCEDOWN'], 120_000);
          appendFileSync(log, `=== verify without EINSTANCEDOWN exit ${String(v.code)}\n`);
          if (v.code === 0) break;
        }
        if (attempt === 2) throw new Error(`one-node-cluster.sh up failed twice (see ${log}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      }
      state.broughtUp = true;
    }, 900_000);

    // The RAPI relay: a Unix socket served from inside the namespace.
    relayDir = mkdtempSync(path.join(os.tmpdir(), 'pb-ganeti-rapi-'));
    const sock = path.join(relayDir, 'rapi.sock');
    relay = spawn('ip', ['netns', 'exec', 'ganeti', 'socat', `UNIX-LISTEN:${sock},fork,mode=600,unlink-early`, 'TCP:127.0.0.1:5080'], {
      stdio: 'ignore',
      detached: true,
    });
    await waitFor(() => existsSync(sock), { timeoutMs: 10_000, what: `the RAPI relay at ${sock}` });
    client = new RetryingRapiClient({ settings: await settings() });
    await cluster.time('GET /2/info', client.info());
  }, 960_000);

  afterAll(async () => {
    if (relay?.pid !== undefined) {
      const exited = new Promise<void>((resolve) => {
        if (relay?.exitCode !== null) resolve();
        else relay.once('exit', () => resolve());
      });
      try {
        process.kill(-relay.pid, 'SIGTERM'); // socat and its per-connection children (one process group)
      } catch {
        // already gone
      }
      await exited;
    }
    if (relayDir) rmSync(relayDir, { recursive: true, force: true });
    const line = Object.entries(timings)
      .map(([k, v]) => `${k} ${v.map((s) => `${s.toFixed(2)} s`).join(', ')}`)
      .join('; ');
    if (line) {
      process.stderr.write(`ganeti timings: ${line}\n`);
      mkdirSync(path.dirname(TIMINGS_FILE), { recursive: true });
      appendFileSync(TIMINGS_FILE, `${JSON.stringify({ at: new Date().toISOString(), timings })}\n`);
    }
  }, 60_000);

  return cluster;
}

/**
 * A connection to `sock` that feeds `onData`, or undefined while nothing listens there yet (no
 * file, or ECONNREFUSED); any other error rejects.
 */
function connectUnlessRefused(sock: string, onData: (d: Buffer) => void): Promise<net.Socket | undefined> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    s.on('data', onData);
    s.once('connect', () => resolve(s));
    s.on('error', (err: NodeJS.ErrnoException) => {
      s.destroy();
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(undefined);
      else reject(err);
    });
  });
}

/**
 * Ganeti's pid files whose process is gone (a run killed before `down`, or a machine whose processes
 * were stopped under it). The shared script's `up` then fails: start-stop-daemon refuses "matching
 * only on non-root pidfile … is insecure" for the daemons that run as their own users. Only called
 * while RAPI does not answer, under the lease lock; a pid file naming a live process is kept.
 */
function removeStalePidFiles(dir = '/var/run/ganeti'): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pid'));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    } catch {
      continue;
    }
    if (Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${String(pid)}`)) continue;
    rmSync(file, { force: true });
    removed.push(name);
  }
  return removed;
}
