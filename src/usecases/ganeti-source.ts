/**
 * Ganeti's side of the read path, for a root that is Ganeti's (src/ganeti/node.ts): its view of an
 * instance, of every instance (the cluster list, the instance list's marks), and the jobs under
 * way, from RAPI, with short caches so that a view refreshing every few seconds, or a list of 200
 * instances, costs a few requests and not one per instance per refresh:
 *
 * - `instances()`: one `GET /2/instances?bulk=1`, kept `ttlMs`; `instance(name)` answers from it
 *   while it is fresh, else asks `GET /2/instances/NAME` (kept `ttlMs` too);
 * - `jobsOn(name)`: the jobs not yet ended that name the instance (one `PUT /2/query/job`, kept
 *   `jobsTtlMs`): while one runs, plugboard does not connect to the instance's QMP socket — Ganeti
 *   connects to it once per command, with a 5 s timeout and no retry, and a hotplug job whose
 *   connection is refused ends with hotplug:failed (docs/qemu-ganeti-facts.md);
 * - a failure (RAPI down, a timeout) is kept `failureTtlMs`: a view does not wait for a dead RAPI at
 *   every refresh; the next try after that asks again.
 *
 * Reads use a short request timeout (default 5 s): the node's own maps never wait long for Ganeti.
 */
import { firstLineOf, PlugboardError } from '../errors.js';
import { setTimeout as delay } from 'node:timers/promises';
import { RapiError, RapiNotFoundError } from '../ganeti/errors.js';
import type { GanetiNode } from '../ganeti/node.js';
import { jobTouches, type ActiveJob } from '../ganeti/rapi.js';
import { ganetiInstanceOf, type GanetiInstance } from '../ganeti/view.js';

export interface GanetiSourceOptions {
  /** How long an instance's view (or the bulk list) is reused (default 0: asked every time). */
  ttlMs?: number;
  /** How long the list of jobs under way is reused (default 0). */
  jobsTtlMs?: number;
  /** How long a failure is answered without asking again (default 3000 ms). */
  failureTtlMs?: number;
  /** Per-request timeout of the reads (default 5000 ms). */
  requestTimeoutMs?: number;
}

/** Ganeti jobs are changing the instance: plugboard does not connect to its QMP socket meanwhile. */
export class GanetiJobRunningError extends PlugboardError {
  override name = 'GanetiJobRunningError';
  constructor(
    readonly instance: string,
    readonly jobs: readonly ActiveJob[],
  ) {
    super(jobRunningMessage(instance, jobs));
  }
}

/** `Ganeti job 42 (INSTANCE_SET_PARAMS, running) is working on NAME: …` */
export function jobRunningMessage(instance: string, jobs: readonly ActiveJob[]): string {
  const list = jobs.map((j) => `${j.id} (${j.summary.map((s) => s.replace(/\(.*\)$/, '')).join(', ') || '?'}, ${j.status})`).join(', ');
  const first = jobs[0]?.id ?? 0;
  return (
    `Ganeti job${jobs.length === 1 ? '' : 's'} ${list} ${jobs.length === 1 ? 'is' : 'are'} working on ${instance}: plugboard does not connect to its QMP socket meanwhile ` +
    `(Ganeti connects once per command, without retry); try again when ${jobs.length === 1 ? 'it ends' : 'they end'} (gnt-job watch ${first})`
  );
}

interface Cached<T> {
  at: number;
  value?: T;
  error?: unknown;
}

export class GanetiSource {
  private readonly ttlMs: number;
  private readonly jobsTtlMs: number;
  private readonly failureTtlMs: number;
  private readonly requestTimeoutMs: number;
  private bulk: Cached<GanetiInstance[]> | undefined;
  private bulkInFlight: Promise<GanetiInstance[]> | undefined;
  private readonly single = new Map<string, Cached<GanetiInstance>>();
  private jobs: Cached<ActiveJob[]> | undefined;
  private jobsInFlight: Promise<ActiveJob[]> | undefined;

  constructor(
    readonly node: GanetiNode,
    options: GanetiSourceOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 0;
    this.jobsTtlMs = options.jobsTtlMs ?? 0;
    this.failureTtlMs = options.failureTtlMs ?? 3_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
  }

  /** This node's name in the cluster, when known. */
  get nodeName(): string | undefined {
    return this.node.nodeName;
  }

  get clusterName(): string {
    return this.node.ssconf.clusterName;
  }

  /** Why RAPI cannot be asked at all (its settings), or null. */
  get problem(): string | null {
    return this.node.problem ? this.node.problem.message : null;
  }

  /** Drops what is cached (after a change: the next read asks RAPI). */
  forget(): void {
    this.bulk = undefined;
    this.single.clear();
    this.jobs = undefined;
  }

  /**
   * Ganeti's view of `name`; RapiNotFoundError when Ganeti does not know it. `retryMs`: for a change
   * about to be planned, RAPI that cannot be reached (a daemon restart takes a second or two) is
   * asked again until then, past the cache. `timeoutMs`: this read's own timeout, for a read that
   * matters more than a quick answer (planning a change, the node after a job: a busy master may
   * take longer than a refresh of the view waits).
   */
  async instance(name: string, signal?: AbortSignal, options: { retryMs?: number; timeoutMs?: number } = {}): Promise<GanetiInstance> {
    if (options.retryMs !== undefined && options.retryMs > 0) {
      const deadline = Date.now() + options.retryMs;
      const once = options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {};
      for (;;) {
        this.single.delete(name);
        try {
          return await this.instance(name, signal, once);
        } catch (error) {
          if (!unreachable(error) || Date.now() >= deadline || signal?.aborted) throw error;
          await delay(250, undefined, signal ? { signal } : {}).catch(() => undefined);
        }
      }
    }
    const now = Date.now();
    const b = this.bulk;
    if (b?.value && now - b.at < this.ttlMs) {
      const hit = b.value.find((v) => v.name === name);
      if (hit) return hit;
    }
    const c = this.single.get(name);
    if (c && now - c.at < (c.error !== undefined ? this.failureFor(c.error) : this.ttlMs)) {
      if (c.error !== undefined) throw c.error;
      return c.value as GanetiInstance;
    }
    try {
      const view = ganetiInstanceOf(await this.node.client().instance(name, { signal, timeoutMs: options.timeoutMs ?? this.requestTimeoutMs }));
      this.single.set(name, { at: Date.now(), value: view });
      return view;
    } catch (error) {
      if (!signal?.aborted) this.single.set(name, { at: Date.now(), error });
      throw error;
    }
  }

  /** Every instance of the cluster (one bulk request, shared by concurrent callers). */
  async instances(signal?: AbortSignal): Promise<GanetiInstance[]> {
    const b = this.bulk;
    if (b && Date.now() - b.at < (b.error !== undefined ? this.failureFor(b.error) : this.ttlMs)) {
      if (b.error !== undefined) throw b.error;
      return b.value as GanetiInstance[];
    }
    this.bulkInFlight ??= this.node
      .client()
      .instances({ signal, timeoutMs: this.requestTimeoutMs })
      .then(
        (list) => {
          const value = list.map(ganetiInstanceOf);
          this.bulk = { at: Date.now(), value };
          return value;
        },
        (error: unknown) => {
          if (!signal?.aborted) this.bulk = { at: Date.now(), error };
          throw error;
        },
      )
      .finally(() => {
        this.bulkInFlight = undefined;
      });
    return this.bulkInFlight;
  }

  /** The jobs not yet ended whose summary names `name`. */
  async jobsOn(name: string, signal?: AbortSignal): Promise<ActiveJob[]> {
    const all = await this.activeJobs(signal);
    return all.filter((j) => jobTouches(j, name));
  }

  private async activeJobs(signal?: AbortSignal): Promise<ActiveJob[]> {
    const j = this.jobs;
    if (j && Date.now() - j.at < (j.error !== undefined ? this.failureTtlMs : this.jobsTtlMs)) {
      if (j.error !== undefined) throw j.error;
      return j.value as ActiveJob[];
    }
    this.jobsInFlight ??= this.node
      .client()
      .activeJobs({ signal, timeoutMs: this.requestTimeoutMs })
      .then(
        (value) => {
          this.jobs = { at: Date.now(), value };
          return value;
        },
        (error: unknown) => {
          if (!signal?.aborted) this.jobs = { at: Date.now(), error };
          throw error;
        },
      )
      .finally(() => {
        this.jobsInFlight = undefined;
      });
    return this.jobsInFlight;
  }

  /** A 404 is an answer (kept as long as an answer); other failures are kept `failureTtlMs`. */
  private failureFor(error: unknown): number {
    return error instanceof RapiNotFoundError ? this.ttlMs : this.failureTtlMs;
  }
}

/** RAPI not reached, or the connection lost (a daemon restart): a read may be asked again. */
export function unreachable(error: unknown): boolean {
  return error instanceof RapiError && (error.failure === 'unreachable' || error.failure === 'connection-lost');
}

/** One line for a failure to ask Ganeti, as the maps show it. */
export function ganetiProblemLine(error: unknown): string {
  return `Ganeti not asked: ${firstLineOf(error)}`;
}
