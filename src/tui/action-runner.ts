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

export interface ActionRunnerOptions {
  root: string;
  transcript: Transcript | undefined;
  /** When set, actions are refused with this reason. */
  readOnly: string | null;
  /** The caller's signal joined with the view's own (its end). */
  linked: (signal?: AbortSignal) => AbortSignal;
  /** An action on the instance ended (its runtime file may have changed). */
  onEnded: (name: string) => void;
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
