/**
 * The executor's vocabulary: what it is given besides the plan (ExecutorOptions), what it reports
 * while it runs (ProgressEvent), and how it ends — an Outcome for `done` and `pending`, an
 * ActionFailedError carrying the Outcome (what was undone, what is left) for a failure.
 */
import { PlugboardError } from '../errors.js';
import type { Transcript } from '../qmp/transcript.js';
import type { Outcome, Plan } from '../actions/types.js';
import type { DescriptorChannel } from './fd.js';

export interface ExecutorOptions {
  /** The node's root: pending-unplug records, nic/ records, host steps. */
  root: string;
  transcript?: Transcript;
  /** Cancels waits; what was done is undone as far as possible (Ctrl-C). */
  signal?: AbortSignal;
  /** Of a new connection, when the undo or the unplug wait needs one (the first one broke). */
  greetingTimeoutMs?: number;
  commandTimeoutMs?: number;
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Rollback of a hot-add: how long to wait for the added device to leave QEMU after `device_del`
   * (default 5000 ms; a PCI device needs the guest to acknowledge).
   */
  undoUnplugTimeoutMs?: number;
  /**
   * The descriptor helper of the action's connection, for plans that pass descriptors (runAction
   * starts it right after the connect when the runtime file says so; runPlan makes one otherwise).
   */
  descriptors?: DescriptorChannel;
}

export type ProgressEvent =
  | { phase: 'planned'; plan: Plan }
  | { phase: 'step'; index: number; purpose: string }
  | { phase: 'waiting'; id: string; timeoutMs: number }
  | { phase: 'verified'; message: string }
  | { phase: 'undo'; purpose: string }
  | { phase: 'written'; file: string };

/** A failure during execution, after which what was done has been undone (see `outcome`). */
export class ActionFailedError extends PlugboardError {
  override name = 'ActionFailedError';
  constructor(
    message: string,
    readonly outcome: Outcome,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function outcome(plan: Plan, status: Outcome['status'], message: string, started: number, extra: Partial<Outcome> = {}): Outcome {
  return {
    status,
    plan,
    message,
    runtimeWritten: false,
    undone: [],
    leftovers: [],
    timings: { totalMs: Date.now() - started },
    ...extra,
  };
}

/** `2 s`, `0.3 s`. */
export function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) || s >= 10 ? Math.round(s) : s.toFixed(1)} s`;
}
