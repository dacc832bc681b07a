/**
 * The view's actions: previews and runs through the same use cases as the CLI (usecases/preview.ts,
 * usecases/run-action.ts), with what the screens need around them — a result that never throws for
 * what the operator should read, which instances an action holds (no background probe touches
 * their socket meanwhile), and the actions still under way when the view quits.
 */
import { firstLineOf, InputError, PlugboardError, RefusedError } from '../errors.js';
import { ActionFailedError, type ProgressEvent } from '../executor/outcome.js';
import type { Action, Outcome, Plan } from '../actions/types.js';
import type { Transcript } from '../qmp/transcript.js';
import { previewAction } from '../usecases/preview.js';
import { runAction } from '../usecases/run-action.js';
import type { GanetiAction, GanetiPlan } from '../actions/plan-ganeti.js';
import type { GanetiSource } from '../usecases/ganeti-source.js';
import { previewGanetiAction, runGanetiAction, type GanetiOutcome, type GanetiProgressEvent } from '../usecases/run-ganeti.js';

export type ActionResult =
  | { ok: true; outcome: Outcome }
  | {
      ok: false;
      message: string;
      /** Set when something was sent (what was undone, what is left). */
      outcome: Outcome | null;
      /** Refused before anything was sent (bad input, bus full, not supported…). */
      refused: boolean;
    };

/** How a change through Ganeti ended, for the screens (never thrown). */
export type GanetiActionResult =
  | { ok: true; outcome: GanetiOutcome }
  | {
      ok: false;
      message: string;
      /** Refused before a request that changes anything was sent (bad input, unknown device, RAPI not set up). */
      refused: boolean;
      /** The job's id when one was submitted (a failed job, one that outlived the timeout). */
      jobId: number | null;
    };

export interface ActionRunnerOptions {
  root: string;
  transcript: Transcript | undefined;
  /** When set, actions are refused with this reason. */
  readOnly: string | null;
  /** The caller's signal joined with the view's own (its end). */
  linked: (signal?: AbortSignal) => AbortSignal;
  /** An action on the instance ended (its runtime file may have changed). */
  onEnded: (name: string) => void;
  /** A Ganeti job on the instance ended: what was read of it before (Ganeti's view included) is stale. */
  forgetView: (name: string) => void;
  /** Ganeti's side, on a Ganeti node. */
  ganeti: GanetiSource | null;
  /** How long to follow a Ganeti job. */
  jobTimeoutMs: number;
}

export class ActionRunner {
  private readonly acting = new Set<string>();
  /** Actions under way, so that quitting (q, Ctrl-C) waits for their rollback and reports their state. */
  private readonly running = new Set<Promise<ActionResult>>();

  constructor(private readonly opts: ActionRunnerOptions) {}

  /** Whether an action is running on the instance (its socket is in use by us). */
  isActing(name: string): boolean {
    return this.acting.has(name);
  }

  /** The plan of an action (one short QMP connection when the instance runs; nothing changes). */
  async preview(action: Action, signal?: AbortSignal): Promise<Plan> {
    const { readOnly, transcript } = this.opts;
    if (readOnly) throw new RefusedError(readOnly);
    return previewAction(action, {
      root: this.opts.root,
      signal: this.opts.linked(signal),
      greetingTimeoutMs: 1_000,
      ...(transcript ? { transcript } : {}),
    });
  }

  /**
   * Runs an action for real (the executor: lock, re-plan against QEMU, steps, verify, runtime file).
   * Never throws for what the operator should read: the result says what happened.
   */
  run(action: Action, opts: { signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void } = {}): Promise<ActionResult> {
    const result = this.runNow(action, opts);
    this.running.add(result);
    void result.finally(() => this.running.delete(result));
    return result;
  }

  /**
   * After the view's end (which cancels their waits): waits until the actions still under way have
   * finished undoing what they did, and returns one line per action saying what state it left.
   */
  async settle(): Promise<string[]> {
    const results = await Promise.all([...this.running]);
    return results.map((r) => (r.ok ? `${r.outcome.status}: ${r.outcome.message}` : r.message));
  }

  /** The plan of a change through Ganeti (one GET; nothing changes). */
  async previewGaneti(action: GanetiAction, signal?: AbortSignal): Promise<GanetiPlan> {
    const { readOnly, ganeti } = this.opts;
    if (readOnly) throw new RefusedError(readOnly);
    if (!ganeti) throw new RefusedError('this is not a Ganeti node: there is no Ganeti to send the change to');
    return previewGanetiAction(action, { root: this.opts.root, source: ganeti, signal: this.opts.linked(signal) });
  }

  /**
   * Runs a change through Ganeti: the job submitted and followed, its log as progress, the node read
   * again. While it runs the instance counts as acting: no refresh of this view connects to its QMP
   * socket (Ganeti connects to it during the job, once per command, without retry).
   */
  runGaneti(action: GanetiAction, opts: { signal?: AbortSignal; onProgress?: (e: GanetiProgressEvent) => void } = {}): Promise<GanetiActionResult> {
    const result = this.runGanetiNow(action, opts);
    const settled = result.then((r): ActionResult => (r.ok ? { ok: false, message: `${r.outcome.status}: ${r.outcome.message}`, outcome: null, refused: false } : { ok: false, message: r.message, outcome: null, refused: r.refused }));
    this.running.add(settled);
    void settled.finally(() => this.running.delete(settled));
    return result;
  }

  private async runGanetiNow(action: GanetiAction, opts: { signal?: AbortSignal; onProgress?: (e: GanetiProgressEvent) => void }): Promise<GanetiActionResult> {
    const { readOnly, ganeti } = this.opts;
    if (readOnly) return { ok: false, message: readOnly, refused: true, jobId: null };
    if (!ganeti) return { ok: false, message: 'this is not a Ganeti node: there is no Ganeti to send the change to', refused: true, jobId: null };
    const name = action.instance;
    this.acting.add(name);
    let jobId: number | null = null;
    try {
      const outcome = await runGanetiAction(action, {
        root: this.opts.root,
        source: ganeti,
        signal: this.opts.linked(opts.signal),
        jobTimeoutMs: this.opts.jobTimeoutMs,
        onProgress: (e) => {
          if (e.phase === 'submitted') jobId = e.jobId;
          opts.onProgress?.(e);
        },
      });
      return { ok: true, outcome };
    } catch (error) {
      const refused = jobId === null && (error instanceof RefusedError || error instanceof InputError);
      const message = error instanceof PlugboardError ? error.message : `internal error: ${firstLineOf(error)}`;
      return { ok: false, message, refused, jobId };
    } finally {
      this.acting.delete(name);
      this.opts.onEnded(name);
      this.opts.forgetView(name);
    }
  }

  private async runNow(action: Action, opts: { signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void }): Promise<ActionResult> {
    const { readOnly, transcript } = this.opts;
    if (readOnly) return { ok: false, message: readOnly, outcome: null, refused: true };
    const name = action.instance;
    this.acting.add(name);
    try {
      const outcome = await runAction(action, {
        root: this.opts.root,
        signal: this.opts.linked(opts.signal),
        ...(transcript ? { transcript } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      return { ok: true, outcome };
    } catch (error) {
      if (error instanceof ActionFailedError) return { ok: false, message: error.message, outcome: error.outcome, refused: false };
      const refused = error instanceof RefusedError || error instanceof InputError;
      const message = error instanceof PlugboardError ? error.message : `internal error: ${firstLineOf(error)}`;
      return { ok: false, message, outcome: null, refused };
    } finally {
      this.acting.delete(name);
      this.opts.onEnded(name);
    }
  }
}
