/**
 * The RAPI client against a local HTTPS server (test/helpers/rapi-server.ts) answering with what the
 * real Ganeti 3.0.2 RAPI sent (test/fixtures/ganeti-rapi/). The same client against the real cluster:
 * test/integration/ganeti-rapi.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { JobTimeoutError, RapiAbortedError, RapiError, RapiNotFoundError, RapiSetupError } from '../../src/ganeti/errors.js';
import { RapiClient, type RapiLogRecord } from '../../src/ganeti/rapi.js';
import { RapiCredentials, readPinnedCertificate, type RapiSettings } from '../../src/ganeti/settings.js';
import { rapiFixture, startRapiServer, TLS_DIR, type FakeRapi, type RapiReply, type RecordedRequest } from '../helpers/rapi-server.js';

let servers: FakeRapi[] = [];
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pb-rapi-'));
});
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  rmSync(dir, { recursive: true, force: true });
});

async function serve(handler: (req: RecordedRequest) => RapiReply | Promise<RapiReply>, cert: 'a' | 'b' = 'a', socketPath?: string): Promise<FakeRapi> {
  const s = await startRapiServer({ cert, handler, ...(socketPath ? { socketPath } : {}) });
  servers.push(s);
  return s;
}

async function settingsFor(srv: { url: string; socketPath?: string | undefined }, over: Partial<RapiSettings> = {}): Promise<RapiSettings> {
  return {
    url: new URL(srv.url),
    socketPath: srv.socketPath,
    credentials: new RapiCredentials('plug', 'secret'),
    tls: await readPinnedCertificate(path.join(TLS_DIR, 'a-with-key.pem'), 'test'),
    node: undefined,
    from: { url: 'test', credentials: 'test', tls: 'test' },
    ...over,
  };
}

async function clientFor(srv: FakeRapi, over: Partial<RapiSettings> = {}, log?: RapiLogRecord[]): Promise<RapiClient> {
  return new RapiClient({ settings: await settingsFor(srv, over), requestTimeoutMs: 3000, ...(log ? { onRequest: (r) => log.push(r) } : {}) });
}

const caught = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
};

describe('reading', () => {
  it('GET /2/info, /2/instances/NAME, /2/instances?bulk=1: real answers parsed, Basic auth sent', async () => {
    const srv = await serve((req) => {
      if (req.path === '/2/info') return { status: 200, body: rapiFixture('info') };
      if (req.path === '/2/instances/pb-fx1.example.com') return { status: 200, body: rapiFixture('instance-ganeti-hotplugged') };
      if (req.path === '/2/instances?bulk=1') return { status: 200, body: rapiFixture('instances-bulk') };
      return { status: 404, body: rapiFixture<{ body: unknown }>('error-404-instance').body };
    });
    const log: RapiLogRecord[] = [];
    const c = await clientFor(srv, {}, log);
    const info = await c.info();
    expect([info.name, info.master, info.software_version]).toEqual(['cluster.example.com', 'node1.example.com', '3.0.2']);
    const inst = await c.instance('pb-fx1.example.com');
    expect(inst['disk.names']).toEqual([null, 'data1']);
    expect((await c.instances()).map((i) => i.name)).toEqual(['inst1.example.com', 'pb-fx1.example.com', 'pb-fx2.example.com']);
    expect(srv.requests[0]?.headers['authorization']).toBe(`Basic ${Buffer.from('plug:secret').toString('base64')}`);
    // The RAPI log: method, path, status, time; nothing secret.
    expect(log.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual(['GET /2/info 200', 'GET /2/instances/pb-fx1.example.com 200', 'GET /2/instances?bulk=1 200']);
    expect(JSON.stringify(log)).not.toMatch(/secret|Basic/);
  });

  it('over a Unix socket (a relay), the URL still naming the server', async () => {
    const sock = path.join(dir, 'rapi.sock');
    const srv = await serve(() => ({ status: 200, body: rapiFixture('info') }), 'a', sock);
    const c = await clientFor(srv);
    expect((await c.info()).name).toBe('cluster.example.com');
    expect(srv.requests[0]?.headers['host']).toBe('127.0.0.1:5080');
  });

  it('refuses an instance name that is not a DNS name before sending anything', async () => {
    const srv = await serve(() => ({ status: 200, body: {} }));
    const c = await clientFor(srv);
    const err = await caught(c.instance('../2/jobs'));
    expect(err).toBeInstanceOf(RapiSetupError);
    expect(err.message).toBe(`instance name "../2/jobs" contains '/'`);
    expect(srv.connections).toBe(0);
  });
});

describe('failures: one line each, nothing secret', () => {
  it('a server whose certificate is not the pinned one: refused in the handshake, the request never sent', async () => {
    const srv = await serve(() => ({ status: 200, body: rapiFixture('info') }), 'b');
    const c = await clientFor(srv);
    const err = await caught(c.info());
    expect(err).toBeInstanceOf(RapiError);
    expect((err as RapiError).failure).toBe('tls');
    expect(err.message).toMatch(/^the server at https:\/\/127\.0\.0\.1:\d+ is not the cluster's RAPI: its certificate is not the one in .*a-with-key\.pem \(DEPTH_ZERO_SELF_SIGNED_CERT\); nothing was sent\./);
    expect(srv.connections).toBe(1);
    expect(srv.requests).toEqual([]);
  });

  it('the same certificate subject but other bytes is caught by the pin, not only by the chain', async () => {
    // Trust both test certificates as CAs, pin `a`, and let the server present `b`: only the pin refuses it.
    const a = await readPinnedCertificate(path.join(TLS_DIR, 'a.crt'), 'a');
    const b = await readPinnedCertificate(path.join(TLS_DIR, 'b.crt'), 'b');
    const srv = await serve(() => ({ status: 200, body: rapiFixture('info') }), 'b');
    const c = await clientFor(srv, { tls: { ...a, certPem: a.certPem + b.certPem } });
    const err = await caught(c.info());
    expect(err.message).toContain(`(the server's certificate (SHA-256 ${b.fingerprint256}) is not the pinned one)`);
    expect(srv.requests).toEqual([]);
  });

  it('--rapi-insecure talks to any certificate', async () => {
    const srv = await serve(() => ({ status: 200, body: rapiFixture('info') }), 'b');
    const c = await clientFor(srv, { tls: { kind: 'insecure' } });
    expect((await c.info()).name).toBe('cluster.example.com');
  });

  it('401 (Ganeti\'s own answer): the user named, the password not', async () => {
    const body = rapiFixture<{ status: number; body: unknown }>('error-401');
    const srv = await serve(() => ({ status: body.status, body: body.body }));
    const err = await caught((await clientFor(srv)).info());
    expect((err as RapiError).failure).toBe('auth');
    expect(err.message).toBe(
      `RAPI at ${srv.url} refused user "plug" (401 Unauthorized: No permission -- see authorization schemes): wrong user or password (from test)`,
    );
    expect(err.message).not.toContain('secret');
    const none = await caught((await clientFor(srv, { credentials: null })).info());
    expect(none.message).toContain('wants a user and password (401 Unauthorized');
  });

  it('404 for an instance: RapiNotFoundError, exit 2', async () => {
    const srv = await serve(() => ({ status: 404, body: rapiFixture<{ body: unknown }>('error-404-instance').body }));
    const err = await caught((await clientFor(srv)).instance('nope.example.com'));
    expect(err).toBeInstanceOf(RapiNotFoundError);
    expect((err as RapiNotFoundError).exitCode).toBe(ExitCode.badInput);
    expect(err.message).toBe(`Ganeti has no instance nope.example.com (404 from RAPI at ${srv.url})`);
  });

  it('an unknown job: Ganeti answers 200 with every field null, read as not found', async () => {
    const srv = await serve(() => ({ status: 200, body: rapiFixture<{ body: unknown }>('error-404-job').body }));
    const err = await caught((await clientFor(srv)).job(999999));
    expect(err).toBeInstanceOf(RapiNotFoundError);
    expect(err.message).toBe(`Ganeti has no job 999999 (archived, or never submitted) (RAPI at ${srv.url})`);
  });

  it('4xx/5xx with RAPI\'s explanation quoted on one printable line', async () => {
    const srv = await serve(() => ({ status: 400, body: { code: 400, message: 'Bad Request', explain: 'Parameter disks:\n bad\x1b[2J value' } }));
    const err = await caught((await clientFor(srv)).modify('inst1.example.com', { disks: [] }));
    expect((err as RapiError).failure).toBe('refused');
    expect(err.message).toBe(`RAPI at ${srv.url} refused PUT /2/instances/inst1.example.com/modify: 400 Bad Request: Parameter disks: bad\\x1b[2J value`);
  });

  it('an answer that is not JSON, or not the expected shape', async () => {
    let reply: RapiReply = { status: 200, raw: '<html>oops' };
    const srv = await serve(() => reply);
    const c = await clientFor(srv);
    expect((await caught(c.info())).message).toBe(`RAPI's answer to GET /2/info is not JSON ("<html>oops"; from ${srv.url})`);
    const broken = { ...rapiFixture<Record<string, unknown>>('instance-clean'), 'disk.sizes': [64, 32] };
    reply = { status: 200, body: broken };
    expect((await caught(c.instance('pb-fx1.example.com'))).message).toBe(
      `RAPI's answer to GET /2/instances/pb-fx1.example.com is not what plugboard expects: ["disk.sizes"]: has 2 items, disk.uuids has 1 (from ${srv.url})`,
    );
  });

  it('an answer cut short (the daemon died mid-answer): the connection was lost, not bad JSON', async () => {
    const srv = await serve(() => ({ cut: '{"name": "cluster.exa' }));
    const err = await caught((await clientFor(srv)).info());
    expect((err as RapiError).failure).toBe('connection-lost');
    expect(err.message).toBe(`RAPI at ${srv.url} closed the connection during GET /2/info (ECONNRESET): is ganeti-rapi running on the master node?`);
  });

  it('no answer within the timeout', async () => {
    const srv = await serve(() => ({ never: true }));
    const c = await clientFor(srv);
    const t0 = Date.now();
    const err = await caught(c.info({ timeoutMs: 300 }));
    expect((err as RapiError).failure).toBe('timeout');
    expect(err.message).toBe(`no answer to GET /2/info from RAPI at ${srv.url} within 300 ms`);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('an AbortSignal cancels a request in flight', async () => {
    const srv = await serve(() => ({ never: true }));
    const c = await clientFor(srv);
    const ac = new AbortController();
    const p = c.info({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('Ctrl-C')), 50);
    const err = await caught(p);
    expect(err).toBeInstanceOf(RapiAbortedError);
    expect(err.message).toBe(`cancelled while waiting for GET /2/info from ${srv.url}`);
  });

  it('nothing listens (connection refused), and a hang-up mid-request', async () => {
    const srv = await serve(() => ({ hangUp: true }));
    const c = await clientFor(srv);
    const lost = await caught(c.info());
    expect((lost as RapiError).failure).toBe('connection-lost');
    expect((lost as RapiError).transient).toBe(true);
    expect(lost.message).toContain('is ganeti-rapi running on the master node?');
    await srv.close();
    servers = [];
    const refused = await caught(c.info());
    expect((refused as RapiError).failure).toBe('unreachable');
    expect(refused.message).toBe(`nothing listens at ${srv.url} (connection refused): is ganeti-rapi running on the master node?`);
  });
});

describe('following a job', () => {
  /** Replays the /wait answers the real cluster gave for job 47 (a disk and a NIC hot-added in one job). */
  function replayJob(opts: { hangUps?: number } = {}) {
    const waits = rapiFixture<{ request: unknown; answer: unknown }[]>('wait-add-disk-nic');
    const job = rapiFixture<{ id: number }>('job-add-disk-nic');
    let i = 0;
    let hangUps = opts.hangUps ?? 0;
    return {
      job,
      waits,
      handler: (req: RecordedRequest): RapiReply => {
        if (req.path === `/2/jobs/${job.id}/wait`) {
          if (hangUps > 0 && i === 2) {
            hangUps--;
            return { hangUp: true };
          }
          return { status: 200, body: waits[Math.min(i++, waits.length - 1)]?.answer };
        }
        if (req.path === `/2/jobs/${job.id}`) return { status: 200, body: job };
        return { status: 404, body: {} };
      },
    };
  }

  it('streams each log line once, in order, sends previous_job_info and previous_log_serial, and reads the result', async () => {
    const r = replayJob();
    const srv = await serve(r.handler);
    const c = await clientFor(srv);
    const lines: string[] = [];
    const statuses: string[] = [];
    const result = await c.waitForJob(r.job.id, { onLog: (e) => lines.push(`${e.serial} ${e.message}`), onStatus: (s) => statuses.push(s) });
    expect(lines).toEqual([
      // Ganeti's own order: the disk's hotplug is logged before its "* disk 1" line.
      '1 - INFO: Trying to hotplug device...',
      '2 - INFO: Hotplug done.',
      '3 * disk 1, size 32M',
      '4 - INFO: Trying to hotplug device...',
      '5 - INFO: Hotplug done.',
      '6 - INFO: Waiting for instance pb-fx1.example.com to sync disks',
      "7 - INFO: Instance pb-fx1.example.com's disks are in sync",
    ]);
    expect(statuses.at(-1)).toBe('success');
    expect(result.devices.map((d) => `${d.kind}/${d.index} ${d.action} ${d.hotplug}`)).toEqual(['disk/1 add done', 'nic/1 add done']);
    // Each wait told Ganeti what was already seen, as the real exchange recorded in the fixture did.
    const waitBodies = srv.requests.filter((q) => q.path.endsWith('/wait')).map((q) => q.body);
    expect(waitBodies).toEqual(r.waits.map((w) => w.request));
  });

  it('survives a RAPI daemon restart mid-job (the wait connection dropped): retries and finishes', async () => {
    const r = replayJob({ hangUps: 2 });
    const srv = await serve(r.handler);
    const c = await clientFor(srv);
    const retries: string[] = [];
    const lines: number[] = [];
    const result = await c.waitForJob(r.job.id, { onRetry: (m) => retries.push(m), onLog: (e) => lines.push(e.serial), retryDelayMs: 10 });
    expect(result.status).toBe('success');
    expect(retries).toHaveLength(2);
    expect(retries[0]).toMatch(/closed the connection during GET \/2\/jobs\/47\/wait \(ECONNRESET\): is ganeti-rapi running on the master node\?; retrying the wait of job 47$/);
    expect(lines).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('a job that outlives the timeout: its id and how to follow it, and it is not pretended finished', async () => {
    const srv = await serve((req) =>
      req.path.endsWith('/wait') ? { status: 200, body: (req.body as { previous_job_info: unknown }).previous_job_info === null ? { job_info: ['running'], log_entries: [] } : null, delayMs: 20 } : { status: 500, body: {} },
    );
    const c = await clientFor(srv);
    const err = await caught(c.waitForJob(77, { timeoutMs: 400 }));
    expect(err).toBeInstanceOf(JobTimeoutError);
    expect(err.message).toBe(
      "job 77 is still running after 0.4 s: plugboard stopped waiting, Ganeti did not; follow it with 'gnt-job watch 77' (or 'gnt-job info 77') on the master node",
    );
    expect(srv.requests.filter((q) => q.path === '/2/jobs/77')).toEqual([]);
  });

  it('a wait that Ganeti holds past the job deadline is the job timing out, not a request timeout', async () => {
    const srv = await serve(() => ({ never: true }));
    const c = await clientFor(srv);
    const err = await caught(c.waitForJob(78, { timeoutMs: 300 }));
    expect(err).toBeInstanceOf(JobTimeoutError);
    expect((err as JobTimeoutError).jobId).toBe(78);
    // No status was ever read: it does not claim one.
    expect(err.message).toMatch(/^job 78 has not finished after 0\.3 s: plugboard stopped waiting, Ganeti did not; follow it with 'gnt-job watch 78'/);
  });

  it('an AbortSignal stops following; the job goes on in Ganeti', async () => {
    const srv = await serve(() => ({ never: true }));
    const c = await clientFor(srv);
    const ac = new AbortController();
    const p = c.waitForJob(79, { signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    const err = await caught(p);
    expect(err).toBeInstanceOf(RapiAbortedError);
    expect(err.message).toBe("stopped following job 79; it goes on in Ganeti: 'gnt-job watch 79' follows it");
  });

  it('a failed job is returned with its error (OpPrereqError wrong_state), not thrown', async () => {
    const job = rapiFixture<{ id: number; status: string }>('job-prereq-wrong-state');
    const srv = await serve((req) => (req.path.endsWith('/wait') ? { status: 200, body: { job_info: [job.status], log_entries: [] } } : { status: 200, body: job }));
    const result = await (await clientFor(srv)).waitForJob(job.id);
    expect(result.status).toBe('error');
    expect(result.error).toEqual({
      errorClass: 'OpPrereqError',
      message: 'Hotplug is not possible: Hotplug is not supported: Instance is probably down: Hotplug is not supported: Instance is probably down',
      code: 'wrong_state',
    });
    expect(result.failure?.message).toBe(
      `Ganeti job ${job.id} (OP_INSTANCE_SET_PARAMS) failed: OpPrereqError: Hotplug is not possible: Hotplug is not supported: Instance is probably down: Hotplug is not supported: Instance is probably down [wrong_state]; Ganeti changed nothing`,
    );
  });

  it('an unknown job: the wait says 404', async () => {
    const srv = await serve(() => ({ status: 404, body: { code: 404, message: 'Not Found', explain: 'Nothing matches the given URI' } }));
    const err = await caught((await clientFor(srv)).waitForJob(5));
    expect(err).toBeInstanceOf(RapiNotFoundError);
    expect(err.message).toBe(`Ganeti has no job 5 (archived, or never submitted) (404 from RAPI at ${srv.url})`);
  });
});
