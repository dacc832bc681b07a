/**
 * The second executor: a Ganeti plan (actions/plan-ganeti.ts: one RAPI request that submits an
 * OpInstanceSetParams job) run for real — the request sent, the job followed to its end
 * (`/2/jobs/ID/wait`), its log lines and status changes reported as they come, what it did read
 * from its opresult (ganeti/job.ts). Ganeti does the work on the node (QMP, the runtime file, taps,
 * disks); plugboard sends nothing to QEMU here.
 *
 * - A submission whose connection broke after the request was written may have created the job:
 *   the error says so and how to look (`gnt-job list`); it is never sent twice.
 * - A job that fails (`error`, `canceled`) is returned: its `failure` (JobFailedError) is the caller's
 *   to throw. A job that outlives `jobTimeoutMs` throws JobTimeoutError (its id, `gnt-job watch ID`):
 *   the job goes on in Ganeti. RAPI restarting meanwhile is retried until that deadline.
 */
import type { GanetiPlan } from '../../actions/plan-ganeti.js';
import { RapiError } from '../../ganeti/errors.js';
import type { JobLogEntry, JobResult } from '../../ganeti/job.js';
import type { RapiClient } from '../../ganeti/rapi.js';
import { setTimeout as delay } from 'node:timers/promises';

export type GanetiProgressEvent =
  | { phase: 'planned'; plan: GanetiPlan }
  | { phase: 'submitted'; jobId: number; request: string }
  | { phase: 'job-status'; jobId: number; status: string }
  | { phase: 'job-log'; jobId: number; entry: JobLogEntry }
  /** RAPI could not be reached for a moment; the wait goes on. */
  | { phase: 'retry'; message: string }
  /** The job ended: plugboard reads the node again (runtime file, QEMU, Ganeti's view). */
  | { phase: 'reading' };

export interface GanetiRunOptions {
  signal?: AbortSignal;
  /**
   * How long a submission RAPI certainly did not receive (nothing listening, the connection closed
   * before TLS: a daemon restart) is tried again (default 5000 ms). One that may have reached
   * Ganeti is never sent twice.
   */
  submitRetryMs?: number;
  /** How long to follow the job (default: the client's, 300 s). */
  jobTimeoutMs?: number;
  onProgress?: (event: GanetiProgressEvent) => void;
}

/** Submits the plan's request and follows the job to its end. */
export async function runGanetiPlan(client: RapiClient, plan: GanetiPlan, opts: GanetiRunOptions = {}): Promise<JobResult> {
  const { method, path, body } = plan.request;
  let jobId: number;
  const deadline = Date.now() + (opts.submitRetryMs ?? 5_000);
  try {
    for (;;) {
      try {
        jobId = await client.submit(method, path, body, { signal: opts.signal });
        break;
      } catch (error) {
        const unsent = error instanceof RapiError && (error.failure === 'unreachable' || (error.failure === 'connection-lost' && /before TLS/.test(error.message)));
        if (!unsent || Date.now() >= deadline || opts.signal?.aborted) throw error;
        opts.onProgress?.({ phase: 'retry', message: `${error.message}; sending the request again (RAPI did not receive it)` });
        await delay(250, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
      }
    }
  } catch (error) {
    if (error instanceof RapiError && (error.failure === 'connection-lost' || error.failure === 'timeout') && !/before TLS/.test(error.message)) {
      throw new RapiError(
        error.failure,
        error.request,
        error.endpoint,
        `${error.message}; the request may have reached Ganeti: look for a job on ${plan.instance} with 'gnt-job list' on the master before trying again`,
        { cause: error, ...(error.status !== undefined ? { status: error.status } : {}) },
      );
    }
    throw error;
  }
  opts.onProgress?.({ phase: 'submitted', jobId, request: plan.requestLine });
  return client.waitForJob(jobId, {
    signal: opts.signal,
    ...(opts.jobTimeoutMs !== undefined ? { timeoutMs: opts.jobTimeoutMs } : {}),
    onLog: (entry) => opts.onProgress?.({ phase: 'job-log', jobId, entry }),
    onStatus: (status) => opts.onProgress?.({ phase: 'job-status', jobId, status }),
    onRetry: (message) => opts.onProgress?.({ phase: 'retry', message }),
  });
}
