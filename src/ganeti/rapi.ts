/**
 * A client for Ganeti's remote API (RAPI, version 2) over node:https, as plugboard needs it on a
 * node: read the cluster and its instances, submit `modify` jobs and follow them to their end.
 *
 * - Every request has a timeout and an AbortSignal; its answer is bounded in size.
 * - The server is checked against the pinned certificate (settings.ts) inside the TLS handshake:
 *   when it does not match, the connection is closed before the request (and its Authorization
 *   header) is written.
 * - Failures are RapiError with a `failure` kind and one line naming the request and the endpoint;
 *   RAPI's own error text (`{"code", "message", "explain"}`) is quoted, made printable and cut.
 * - Answers are parsed with zod (schemas.ts) before use.
 * - An optional `onRequest` hook sees each request's method, path, status and duration (a RAPI log
 *   like the QMP transcript); it never sees headers or credentials.
 *
 * The job wait loop (`waitForJob`) uses `GET /2/jobs/ID/wait` (Ganeti blocks up to 10 s per call
 * and answers null when nothing changed), streams new log entries to a callback, survives a RAPI
 * daemon restart (connection refused/reset: it retries until the job's deadline) and, past the
 * deadline, throws JobTimeoutError naming the job and `gnt-job watch ID`: the job goes on.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { PeerCertificate } from 'node:tls';
import { setTimeout as delay } from 'node:timers/promises';
import { instanceNameProblem } from '../runtime/root.js';
import { JobTimeoutError, RapiAbortedError, RapiError, RapiNotFoundError, RapiSetupError, RapiSocketSignal, type RapiFailure } from './errors.js';
import { readJobResult, type JobLogEntry, type JobResult, logEntryOf, FINAL_JOB_STATUSES } from './job.js';
import { parseWith, rapiSchemas, type RapiInfo, type RapiInstance, type RapiInstanceInfo, type RapiJob } from './schemas.js';
import { serverNameOf, type RapiSettings } from './settings.js';
import { oneLine } from './text.js';

/** Default per-request timeout. RAPI answers reads in tens of milliseconds on an idle master. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
/** Ganeti's own limit for one `/2/jobs/ID/wait` call (`rlib2._WFJC_TIMEOUT`). */
export const RAPI_WAIT_SECONDS = 10;
/** Default time to follow a job. A hotplug job takes 1.3–2.5 s on the test cluster; disks may be wiped or synced. */
export const DEFAULT_JOB_TIMEOUT_MS = 300_000;
/** Largest answer read (a bulk instance list of a big cluster is a few MB). */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** Job statuses before the end: the job may still act on an instance. */
export const ACTIVE_JOB_STATUSES = ['queued', 'waiting', 'running', 'canceling'] as const;

/** A job not yet ended, as `activeJobs()` lists it. */
export interface ActiveJob {
  id: number;
  status: string;
  /** One per opcode: `INSTANCE_SET_PARAMS(inst1.example.com)` (made printable). */
  summary: string[];
}

/** Whether one of the job's opcodes names the instance (`OP_SUMMARY(NAME)`, as Ganeti writes a summary). */
export function jobTouches(job: ActiveJob, instance: string): boolean {
  return job.summary.some((s) => s.endsWith(`(${instance})`));
}

export interface RequestOptionsBase {
  signal?: AbortSignal | undefined;
  /** Per-request timeout (ms); default the client's. */
  timeoutMs?: number | undefined;
}

/** One line of the RAPI log: what was asked and how it went. No headers, no body, no credentials. */
export interface RapiLogRecord {
  method: HttpMethod;
  path: string;
  /** HTTP status, or undefined when no answer came. */
  status: number | undefined;
  ms: number;
  /** The failure kind, when the request failed. */
  failure?: RapiFailure;
}

export interface RapiClientOptions {
  settings: RapiSettings;
  /** Per-request timeout (default 15 s). */
  requestTimeoutMs?: number;
  onRequest?: (record: RapiLogRecord) => void;
}

export interface WaitForJobOptions {
  signal?: AbortSignal | undefined;
  /** Give up following the job after this long (default 300 s): JobTimeoutError, the job goes on. */
  timeoutMs?: number | undefined;
  /** Each new log line of the job, once, in order. */
  onLog?: ((entry: JobLogEntry) => void) | undefined;
  /** The job's status when it changes (`queued`, `waiting`, `running`, …). */
  onStatus?: ((status: string) => void) | undefined;
  /** RAPI could not be reached for a moment and plugboard retries (a daemon restart): one line. */
  onRetry?: ((message: string) => void) | undefined;
  /** First pause before a retry (default 250 ms; doubles up to 2 s). */
  retryDelayMs?: number | undefined;
}

/** A RAPI endpoint with its credentials and certificate. One instance can serve many requests. */
export class RapiClient {
  readonly settings: RapiSettings;
  /** `https://host:port` for messages (no credentials). */
  readonly endpoint: string;
  private readonly requestTimeoutMs: number;
  private readonly onRequest: ((record: RapiLogRecord) => void) | undefined;

  constructor(options: RapiClientOptions) {
    this.settings = options.settings;
    this.endpoint = options.settings.url.origin + (options.settings.socketPath ? ` (through ${options.settings.socketPath})` : '');
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.onRequest = options.onRequest;
  }

  /** `GET /2/info`: the cluster's name, master and Ganeti version. */
  async info(options: RequestOptionsBase = {}): Promise<RapiInfo> {
    return this.getParsed('/2/info', rapiSchemas().info, options);
  }

  /** `GET /2/instances/NAME`: Ganeti's configuration and state of one instance. 404 → RapiNotFoundError. */
  async instance(name: string, options: RequestOptionsBase = {}): Promise<RapiInstance> {
    return this.getParsed(`/2/instances/${instancePathName(name)}`, rapiSchemas().instance, options, `Ganeti has no instance ${name}`);
  }

  /** `GET /2/instances?bulk=1`: every instance of the cluster. */
  async instances(options: RequestOptionsBase = {}): Promise<RapiInstance[]> {
    return this.getParsed('/2/instances?bulk=1', rapiSchemas().instances, options);
  }

  /**
   * `GET /2/instances/NAME/info?static=1` followed to its end: Ganeti's full view of the disks
   * (mode, dev_type, logical_id) and NICs (vlan) that the plain GET does not give. It is a job
   * (~0.3–1 s), so use it for a detail view, not for every refresh.
   */
  async instanceInfo(name: string, options: WaitForJobOptions = {}): Promise<RapiInstanceInfo[string]> {
    const id = await this.submit('GET', `/2/instances/${instancePathName(name)}/info?static=1`, null, options, `Ganeti has no instance ${name}`);
    const result = await this.waitForJob(id, options);
    if (result.status !== 'success') throw result.failure ?? new RapiError('protocol', `job ${id}`, this.endpoint, `job ${id} (instance info of ${name}) ended ${result.status}`);
    const first = Array.isArray(result.opresult) ? result.opresult[0] : undefined;
    const parsed = parseWith(rapiSchemas().instanceInfo, first);
    if (!parsed.ok) throw this.protocolError(`job ${id}`, `the instance info of ${name} is not what plugboard expects: ${parsed.problem}`);
    const info = parsed.value[name];
    if (info === undefined) throw this.protocolError(`job ${id}`, `the instance info job answered for ${Object.keys(parsed.value).slice(0, 3).join(', ') || 'nothing'}, not ${name}`);
    return info;
  }

  /**
   * The jobs that are queued, waiting or running, with their summaries (`INSTANCE_SET_PARAMS(NAME)`):
   * one `PUT /2/query/job` with a status filter (Ganeti's query resource; light, unlike
   * `/2/jobs?bulk=1`, which carries every job's opcodes).
   */
  async activeJobs(options: RequestOptionsBase = {}): Promise<ActiveJob[]> {
    const path = '/2/query/job';
    const body = {
      fields: ['id', 'status', 'summary'],
      qfilter: ['|', ...ACTIVE_JOB_STATUSES.map((st) => ['=', 'status', st])],
    };
    const answer = await this.request('PUT', path, body, options);
    const parsed = parseWith(rapiSchemas().jobQuery, answer);
    if (!parsed.ok) throw this.protocolError(`PUT ${path}`, `RAPI's answer to PUT ${path} is not what plugboard expects: ${parsed.problem}`);
    const out: ActiveJob[] = [];
    for (const row of parsed.value.data) {
      const [id, status, summary] = row.map(([, v]) => v);
      if (typeof id !== 'number' || typeof status !== 'string') continue;
      const summaries = Array.isArray(summary) ? summary.filter((x): x is string => typeof x === 'string').map((x) => oneLine(x, 200)) : [];
      out.push({ id, status: oneLine(status, 20), summary: summaries });
    }
    return out;
  }

  /** `PUT /2/instances/NAME/modify` with `body`: submits an OpInstanceSetParams job; returns its id. */
  async modify(name: string, body: Record<string, unknown>, options: RequestOptionsBase = {}): Promise<number> {
    return this.submit('PUT', `/2/instances/${instancePathName(name)}/modify`, body, options, `Ganeti has no instance ${name}`);
  }

  /** Submits a request that answers with a job id (modify, startup, shutdown, info…). */
  async submit(method: HttpMethod, path: string, body: unknown, options: RequestOptionsBase = {}, notFound?: string): Promise<number> {
    const answer = await this.request(method, path, body, options, notFound);
    const parsed = parseWith(rapiSchemas().jobId, answer);
    if (!parsed.ok) throw this.protocolError(`${method} ${path}`, `RAPI answered ${method} ${pathForMessage(path)} without a job id: ${parsed.problem}`);
    return parsed.value;
  }

  /** `GET /2/jobs/ID`: the job with its status, opresult and log. */
  async job(id: number, options: RequestOptionsBase = {}): Promise<RapiJob> {
    const path = `/2/jobs/${jobPathId(id)}`;
    const notFound = `Ganeti has no job ${id} (archived, or never submitted)`;
    const job = await this.getParsed(path, rapiSchemas().job, options, notFound);
    // Ganeti 3.0 answers an unknown job id with 200 and every field null.
    if (job.status === null) throw new RapiNotFoundError('not-found', `GET ${path}`, this.endpoint, `${notFound} (RAPI at ${this.endpoint})`);
    return job as RapiJob;
  }

  /**
   * Follows job `id` to its end with `GET /2/jobs/ID/wait`, then reads it whole (`GET /2/jobs/ID`)
   * and returns what it did (job.ts). A job that ends as `error` or `canceled` is returned, not
   * thrown: `result.failure` holds the JobFailedError for callers that want to throw it.
   */
  async waitForJob(id: number, options: WaitForJobOptions = {}): Promise<JobResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const firstRetryMs = options.retryDelayMs ?? 250;
    let retryMs = firstRetryMs;
    let prevInfo: unknown[] | null = null;
    let prevSerial: number | null = null;
    let status: string | undefined;
    const signal = options.signal;
    const seen = (entry: JobLogEntry) => {
      if (prevSerial !== null && entry.serial <= prevSerial) return;
      prevSerial = entry.serial;
      options.onLog?.(entry);
    };
    const stopped = () =>
      new RapiAbortedError(`stopped following job ${id}${status ? ` (${status})` : ''}; it goes on in Ganeti: 'gnt-job watch ${id}' follows it`, {
        cause: signal?.reason,
      });

    // Retries a step while RAPI is unreachable, until the deadline.
    const retrying = async <T>(what: string, step: (timeoutMs: number) => Promise<T>): Promise<T> => {
      for (;;) {
        if (signal?.aborted) throw stopped();
        const left = deadline - Date.now();
        if (left <= 0) throw new JobTimeoutError(id, status, timeoutMs);
        try {
          const r = await step(left);
          retryMs = firstRetryMs;
          return r;
        } catch (err) {
          if (err instanceof RapiAbortedError) throw stopped();
          if (!(err instanceof RapiError) || !err.transient) throw err;
          if (Date.now() >= deadline) throw new JobTimeoutError(id, status, timeoutMs, { cause: err });
          options.onRetry?.(`${err.message}; retrying ${what} of job ${id}`);
          try {
            await delay(Math.min(retryMs, Math.max(0, deadline - Date.now())), undefined, { signal });
          } catch {
            throw stopped();
          }
          retryMs = Math.min(retryMs * 2, 2_000);
        }
      }
    };

    for (;;) {
      const answer = await retrying('the wait', (left) =>
        this.request(
          'GET',
          `/2/jobs/${jobPathId(id)}/wait`,
          { fields: ['status'], previous_job_info: prevInfo, previous_log_serial: prevSerial },
          // Ganeti holds the call up to 10 s; our timeout must outlast that, but not the job's deadline.
          { signal, timeoutMs: Math.min(left, RAPI_WAIT_SECONDS * 1000 + this.requestTimeoutMs) },
          `Ganeti has no job ${id} (archived, or never submitted)`,
        ).catch((err: unknown) => {
          // The wait call ran into the job's own deadline: that is the job timing out.
          if (err instanceof RapiError && err.failure === 'timeout' && Date.now() >= deadline - 5) throw new JobTimeoutError(id, status, timeoutMs, { cause: err });
          throw err;
        }),
      );
      const parsed = parseWith(rapiSchemas().jobWait, answer);
      if (!parsed.ok) throw this.protocolError(`GET /2/jobs/${id}/wait`, `RAPI's answer to the wait for job ${id} is not what plugboard expects: ${parsed.problem}`);
      if (parsed.value === null) continue; // nothing changed within Ganeti's 10 s
      for (const e of parsed.value.log_entries) seen(logEntryOf(e));
      prevInfo = parsed.value.job_info;
      const s = parsed.value.job_info[0];
      if (typeof s === 'string' && s !== status) {
        status = s;
        options.onStatus?.(s);
      }
      if (status !== undefined && FINAL_JOB_STATUSES.has(status)) break;
    }
    const job = await retrying('the read', (left) => this.job(id, { signal, timeoutMs: Math.min(left, this.requestTimeoutMs) }));
    // Log lines the last wait answer did not carry (the job's own log is complete).
    for (const e of (job.oplog ?? []).flat()) seen(logEntryOf(e));
    return readJobResult(job);
  }

  private async getParsed<T>(path: string, schema: import('zod').ZodType<T>, options: RequestOptionsBase, notFound?: string): Promise<T> {
    const answer = await this.request('GET', path, null, options, notFound);
    const parsed = parseWith(schema, answer);
    if (!parsed.ok) throw this.protocolError(`GET ${path}`, `RAPI's answer to GET ${pathForMessage(path)} is not what plugboard expects: ${parsed.problem}`);
    return parsed.value;
  }

  private protocolError(request: string, message: string): RapiError {
    return new RapiError('protocol', request, this.endpoint, `${message} (from ${this.endpoint})`);
  }

  /**
   * One request; resolves with the parsed JSON of a 200 answer. `notFound` is the message for a
   * 404 (default: RAPI has no such resource).
   */
  async request(method: HttpMethod, path: string, body: unknown, options: RequestOptionsBase = {}, notFound?: string): Promise<unknown> {
    if (!path.startsWith('/2/') && path !== '/version') throw new RapiSetupError(`RAPI path ${JSON.stringify(path)} does not start with /2/`);
    const what = `${method} ${pathForMessage(path)}`;
    const signal = options.signal;
    if (signal?.aborted) throw new RapiAbortedError(`cancelled before ${what} was sent to ${this.endpoint}`, { cause: signal.reason });
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const started = performance.now();
    const payload = body === null || body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const { url, socketPath, credentials, tls } = this.settings;

    // `host` explicitly: through a Unix socket Node would send `localhost`.
    const headers: Record<string, string> = { host: url.host, accept: 'application/json', 'user-agent': 'plugboard' };
    if (credentials) headers['authorization'] = credentials.authorization();
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const opts: RequestOptions = {
      method,
      path,
      headers,
      agent: false,
      servername: serverNameOf(url),
      ...(socketPath ? { socketPath } : { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) }),
    };
    if (tls.kind === 'pinned') {
      opts.ca = [tls.certPem];
      opts.rejectUnauthorized = true;
      opts.checkServerIdentity = (_host: string, cert: PeerCertificate) => {
        if (cert.raw !== undefined && Buffer.compare(cert.raw, tls.der) === 0) return undefined;
        return new RapiSocketSignal('PLUGBOARD_CERT_MISMATCH', `the server's certificate (SHA-256 ${cert.fingerprint256 ?? '?'}) is not the pinned one`);
      };
    } else {
      opts.rejectUnauthorized = false;
    }

    const log = (status: number | undefined, failure?: RapiFailure) => {
      this.onRequest?.({ method, path, status, ms: Math.round((performance.now() - started) * 10) / 10, ...(failure ? { failure } : {}) });
    };

    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: Error | null, value?: unknown, status?: number) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        log(status, err instanceof RapiError ? err.failure : undefined);
        if (err) {
          req.destroy();
          reject(err);
        } else resolve(value);
      };
      const onAbort = () => finish(new RapiAbortedError(`cancelled while waiting for ${what} from ${this.endpoint}`, { cause: signal?.reason }));

      const req = httpsRequest(opts, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            finish(new RapiError('protocol', what, this.endpoint, `RAPI's answer to ${what} is larger than ${MAX_ANSWER_BYTES >> 20} MiB; refused (from ${this.endpoint})`, { status }));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) => finish(this.socketError(what, err, tls.kind === 'pinned' ? tls.certFile : undefined)));
        // The connection closed before the whole answer came (after 'end' this is a no-op: settled).
        res.on('close', () => {
          if (!res.complete) finish(this.socketError(what, new RapiSocketSignal('ECONNRESET', 'answer cut short'), undefined));
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (status === 200) {
            let value: unknown;
            try {
              value = JSON.parse(text);
            } catch {
              finish(new RapiError('protocol', what, this.endpoint, `RAPI's answer to ${what} is not JSON (${describeText(text)}; from ${this.endpoint})`, { status }), undefined, status);
              return;
            }
            finish(null, value, status);
            return;
          }
          finish(this.statusError(what, status, text, notFound), undefined, status);
        });
      });
      req.on('error', (err) => finish(this.socketError(what, err, tls.kind === 'pinned' ? tls.certFile : undefined)));
      timer = setTimeout(
        () => finish(new RapiError('timeout', what, this.endpoint, `no answer to ${what} from RAPI at ${this.endpoint} within ${formatMs(timeoutMs)}`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      req.end(payload);
    });
  }

  private statusError(what: string, status: number, text: string, notFound: string | undefined): RapiError {
    const parsed = (() => {
      try {
        const body = parseWith(rapiSchemas().errorBody, JSON.parse(text));
        return body.ok ? body.value : undefined;
      } catch {
        return undefined;
      }
    })();
    const said = [parsed?.message, typeof parsed?.explain === 'string' ? parsed.explain : undefined].filter((s): s is string => !!s);
    const quoted = said.length > 0 ? oneLine(said.join(': '), 240) : describeText(text);
    const at = `RAPI at ${this.endpoint}`;
    if (status === 401) {
      const user = this.settings.credentials?.user;
      return new RapiError(
        'auth',
        what,
        this.endpoint,
        user === undefined
          ? `${at} wants a user and password (401 ${quoted}); set user and password in /etc/plugboard/rapi.conf (mode 600) or PLUGBOARD_RAPI_USER/PLUGBOARD_RAPI_PASSWORD`
          : `${at} refused user ${JSON.stringify(user)} (401 ${quoted}): wrong user or password (from ${this.settings.from.credentials})`,
        { status },
      );
    }
    if (status === 403) {
      const user = this.settings.credentials?.user ?? '(none)';
      return new RapiError('auth', what, this.endpoint, `${at} does not let user ${JSON.stringify(user)} do ${what} (403 ${quoted}): it needs "write" in Ganeti's RAPI users file`, { status });
    }
    if (status === 404) return new RapiNotFoundError('not-found', what, this.endpoint, `${notFound ?? `RAPI has no ${pathForMessage(what.split(' ')[1] ?? '')}`} (404 from ${at})`, { status });
    if (status >= 400 && status < 600) return new RapiError('refused', what, this.endpoint, `${at} refused ${what}: ${status} ${quoted}`, { status });
    return new RapiError('protocol', what, this.endpoint, `${at} answered ${what} with HTTP ${status} (${describeText(text)})`, { status });
  }

  private socketError(what: string, err: Error, certFile: string | undefined): RapiError {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const at = this.endpoint;
    const hint = 'is ganeti-rapi running on the master node?';
    switch (code) {
      case 'ECONNREFUSED':
        return new RapiError('unreachable', what, at, `nothing listens at ${at} (connection refused): ${hint}`, { cause: err });
      case 'ENOENT':
        return new RapiError('unreachable', what, at, `no socket at ${this.settings.socketPath ?? at} (ENOENT): is the relay running?`, { cause: err });
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return new RapiError('unreachable', what, at, `cannot resolve ${this.settings.url.hostname} (${code}): pass --rapi with a name or address this node can reach`, { cause: err });
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
      case 'EADDRNOTAVAIL':
        return new RapiError('unreachable', what, at, `cannot reach ${at} (${code})`, { cause: err });
      case 'ECONNRESET':
      case 'EPIPE':
      case 'ECONNABORTED':
        return new RapiError('connection-lost', what, at, `RAPI at ${at} closed the connection during ${what} (${code}): ${hint}`, { cause: err });
      case 'PLUGBOARD_CERT_MISMATCH':
      case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      case 'SELF_SIGNED_CERT_IN_CHAIN':
      case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
      case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      case 'CERT_SIGNATURE_FAILURE':
      case 'ERR_TLS_CERT_ALTNAME_INVALID':
        return new RapiError(
          'tls',
          what,
          at,
          `the server at ${at} is not the cluster's RAPI: its certificate is not the one in ${certFile ?? 'the pinned file'} (${code === 'PLUGBOARD_CERT_MISMATCH' ? err.message : code}); nothing was sent. ` +
            `If the cluster's certificate was renewed (gnt-cluster renew-crypto), copy the new one`,
          { cause: err },
        );
      case 'CERT_HAS_EXPIRED':
      case 'CERT_NOT_YET_VALID':
        return new RapiError('tls', what, at, `RAPI's certificate at ${at} ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'} (${certFile ?? ''}): renew it with 'gnt-cluster renew-crypto --new-rapi-certificate'`, { cause: err });
      default:
        if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /ssl|tls|secure/i.test(err.message)) {
          // E.g. "Client network socket disconnected before secure TLS connection was established":
          // the server (or a relay in front of it) closed the connection during the handshake.
          const lost = /disconnected|socket hang up/i.test(err.message);
          return new RapiError(lost ? 'connection-lost' : 'tls', what, at, `${lost ? `RAPI at ${at} closed the connection before TLS was set up` : `TLS with ${at} failed`} (${code || oneLine(err.message, 120)}): ${lost ? hint : 'is it RAPI (https) at that port?'}`, { cause: err });
        }
        if (/socket hang up/i.test(err.message)) return new RapiError('connection-lost', what, at, `RAPI at ${at} closed the connection during ${what} (socket hang up): ${hint}`, { cause: err });
        return new RapiError('unreachable', what, at, `cannot talk to RAPI at ${at} (${code || oneLine(err.message, 120)})`, { cause: err });
    }
  }
}

/** The instance name as a RAPI path segment; a name that is not a DNS name is refused before any request. */
export function instancePathName(name: string): string {
  const problem = instanceNameProblem(name);
  if (problem) throw new RapiSetupError(problem);
  return encodeURIComponent(name);
}

function jobPathId(id: number): string {
  if (!Number.isSafeInteger(id) || id < 0) throw new RapiSetupError(`job id ${String(id)} is not a non-negative integer`);
  return String(id);
}

/** Paths in messages: printable, and the query kept short. */
function pathForMessage(path: string): string {
  return oneLine(path, 160);
}

function describeText(text: string): string {
  if (text.trim() === '') return 'an empty body';
  return JSON.stringify(oneLine(text, 80));
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}
