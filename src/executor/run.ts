/**
 * The executor: runs a plan's steps over an open QMP connection, verifies, waits, and writes the
 * runtime file — or undoes what was done. It interprets a plan; it does not make one (actions/),
 * nor take the lock, read the file or probe (usecases/run-action.ts does, and plans again when the
 * run says so).
 *
 *   for each step: send → StepResult (step.ts)
 *       ok → next · already-pending → next (the wait settles it) · unanswered device_del → next
 *       device-absent / place-taken (when the caller allows) → undo → RunResult: plan again
 *       anything else → undo (undo.ts) → ActionFailedError
 *   verify (present) or wait until gone (verify.ts) → after-steps → runtime file committed
 *
 * A step is one short command: it is never abandoned halfway (an abandoned device_add may still
 * take effect, and then it would not be undone); a Ctrl-C is honoured between steps. Commands that
 * only check (the verification after `device_add`, the first "is it gone" after `device_del`) go
 * in the same write as the command they check. A PCI unplug the guest does not acknowledge in time
 * is reported as pending.
 */
import { lstatSync } from 'node:fs';
import { messageOf } from '../errors.js';
import { withQmp, type EventMark, type QmpClient } from '../qmp/client.js';
import type { QmpCommandError } from '../qmp/errors.js';
import { clearPendingUnplug, pendingFilePath, recordPendingUnplug } from '../live/pending.js';
import { prepareRuntimeFileWrite, type PreparedWrite } from '../runtime/write.js';
import { serializeRuntime } from '../runtime/serialize.js';
import type { RuntimeFile } from '../runtime/types.js';
import { allocationText } from '../actions/plan-disk.js';
import type { Outcome, Plan, PlanStep } from '../actions/types.js';
import { needsHelper } from '../qmp/fdpass/run.js';
import { ActionFailedError, outcome, seconds, type ExecutorOptions } from './outcome.js';
import { DescriptorChannel } from './fd.js';
import { alreadyGone, isCommand, sendRetryingInUse, sendStep, stepFailure, type StepResult } from './step.js';
import { undoAfterFailure, undoSteps, type UndoResult } from './undo.js';
import { BACKEND_RELEASE_TIMEOUT_MS, isPresent, verifyPresent, waitGone } from './verify.js';

export interface RunPlanOptions extends ExecutorOptions {
  /** The runtime file the plan was made from, and its text then (the write is refused if it changed). */
  file: string;
  text: string;
  /** Date.now() when the action started (the outcome's timing). */
  started: number;
  /** A `device_add` refused because its place is taken: undo, then return `place-taken` (the caller plans again). */
  retryWhenTaken: boolean;
  /**
   * The plan took the device to unplug as there without asking QEMU (probe scope `backends`): a
   * first `device_del` answered DeviceNotFound returns `device-absent` (the caller plans again).
   */
  retryWhenAbsent: boolean;
}

/** How a run ended when it did not throw: an outcome, or QEMU's answer says the plan saw a wrong picture. */
export type RunResult =
  | { kind: 'outcome'; outcome: Outcome }
  /** Nothing was done: QEMU does not have the device the plan unplugs. */
  | { kind: 'device-absent'; refusal: QmpCommandError }
  /** QEMU refused the place of the device_add; what was done is `undone`. */
  | { kind: 'place-taken'; refusal: QmpCommandError; undone: string[] };

/**
 * Runs `plan` over `qmp`. Resolves with the outcome (`done`, `pending`) or with a reason to plan
 * again (see RunPlanOptions); throws ActionFailedError (with the outcome: what was undone, what is
 * left) when it failed.
 */
export async function runPlan(qmp: QmpClient, plan: Plan, opts: RunPlanOptions): Promise<RunResult> {
  // A plan that passes descriptors needs the helper; the caller may have started it already.
  const own = opts.descriptors === undefined && plan.steps.some(needsHelper) ? new DescriptorChannel(qmp) : undefined;
  const run = new PlanRun(qmp, plan, own ? { ...opts, descriptors: own } : opts);
  try {
    return await run.run();
  } finally {
    // Not committed (the action failed, is pending, or is planned again): no temp file left behind.
    run.prepared?.discard();
    await own?.close();
  }
}

/** A promise whose rejection is handled later or never (a pipelined command whose step failed). */
export function pipelined<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** The text of a runtime file, or undefined if it cannot be made (the write then says why). */
function serializeQuietly(rf: RuntimeFile): string | undefined {
  try {
    return serializeRuntime(rf);
  } catch {
    return undefined;
  }
}

/** One run of one plan: the steps done so far and what was sent ahead of its answer. */
class PlanRun {
  private readonly done: PlanStep[] = [];
  private readonly mark: EventMark;
  /** The same options without the signal: a step, once sent, is never abandoned. */
  private readonly uncancelled: RunPlanOptions;
  /** The check of a `device_add`, sent in the same write (QEMU runs commands in order, so it sees the effect). */
  private verifying: Promise<string | null> | undefined;
  /** The first "is it gone" after the `device_del`, sent in the same write. */
  private firstPoll: Promise<boolean> | undefined;
  /** The runtime file's new text, made while QEMU works on the last step (written only at the end). */
  private runtimeText: string | undefined;
  /** The `device_del` of the unplug got no answer: the wait settles whether it was carried out. */
  private unplugUnanswered: unknown;
  /** The runtime file's temp file, once made (see the last step). */
  prepared: PreparedWrite | undefined;

  constructor(
    private readonly qmp: QmpClient,
    private readonly plan: Plan,
    private readonly opts: RunPlanOptions,
  ) {
    this.mark = qmp.mark();
    this.uncancelled = { ...opts, signal: undefined };
  }

  async run(): Promise<RunResult> {
    const { plan, opts } = this;
    let index = 0;
    for (const step of plan.steps) {
      if (opts.signal?.aborted) return this.fail(`interrupted before: ${step.purpose}`, opts.signal.reason);
      opts.onProgress?.({ phase: 'step', index: index++, purpose: step.purpose });
      const result = await this.send(step, step === plan.steps[plan.steps.length - 1]);
      const ended = await this.settle(step, result);
      if (ended) return ended;
    }
    await this.verify();
    if (plan.unplugWait) {
      const pending = await this.waitUnplugged();
      if (pending) return { kind: 'outcome', outcome: pending };
    }
    const leftovers = await this.cleanUp();
    await this.commit();
    opts.onProgress?.({ phase: 'written', file: opts.file });
    const verb = plan.verify.kind === 'present' ? `hot-added ${plan.device.id} at ${allocationText(plan.verify.allocation)}` : `unplugged ${plan.device.id}`;
    const message = leftovers.length ? `${verb}; but: ${leftovers.join('; ')}` : verb;
    return { kind: 'outcome', outcome: outcome(plan, 'done', message, opts.started, { runtimeWritten: true, leftovers }) };
  }

  /**
   * Sends one step, with the check that goes in the same write. The last step goes out at once,
   * and the runtime file's new text (and temp file) is made while QEMU answers it.
   */
  private async send(step: PlanStep, last: boolean): Promise<StepResult> {
    const { qmp, plan, opts } = this;
    const cmd = step.command;
    try {
      const sent = sendStep(qmp, cmd, this.uncancelled, step.passFd);
      if (isCommand(cmd, 'device_add') && plan.verify.kind === 'present' && cmd.arguments?.['id'] === plan.verify.id) {
        this.verifying = pipelined(verifyPresent(qmp, plan, opts));
      } else if (isCommand(cmd, 'device_del') && plan.unplugWait && cmd.arguments?.['id'] === plan.unplugWait.id) {
        this.firstPoll = pipelined(isPresent(qmp, plan.unplugWait.id, this.uncancelled));
      }
      if (last) {
        // The command (and its check) go out now, not at the end of this tick: what follows is
        // done while QEMU reads and answers them.
        qmp.flush();
        this.runtimeText = serializeQuietly(plan.runtimeAfter);
        // The temp file (checks, write, fsync) too: only the rename and the directory fsync are
        // left for the end. Not when the wait may be long (a PCI unplug waits for the guest), so
        // that a killed process seldom leaves a temp file behind.
        if (this.runtimeText !== undefined && !plan.unplugWait?.needsGuest) this.prepared = prepareRuntimeFileWrite(opts.file, this.runtimeText);
      }
      await sent;
      return { kind: 'ok' };
    } catch (error) {
      // The pipelined poll is read only after a device_del QEMU accepted.
      if (isCommand(cmd, 'device_del')) this.firstPoll = undefined;
      return stepFailure(cmd, error);
    }
  }

  /** What a step's result means for the run: undefined to go on, else how the run ends (fail throws). */
  private async settle(step: PlanStep, result: StepResult): Promise<RunResult | undefined> {
    const { plan, opts } = this;
    switch (result.kind) {
      case 'ok':
        this.done.push(step);
        return undefined;
      case 'already-pending':
        // A device_del of a device whose unplug is already pending is not a failure: keep waiting.
        if (plan.unplugWait) return undefined;
        break;
      case 'device-absent':
        if (opts.retryWhenAbsent && this.done.length === 0) return { kind: 'device-absent', refusal: result.error };
        break;
      case 'place-taken': {
        const failed = `${step.purpose} failed: ${result.error.message}`;
        if (!opts.retryWhenTaken) {
          return this.fail(
            `${failed} — QEMU refused the place it was given although plugboard had read its whole layout just before ` +
              `(is something else adding devices to ${plan.instance} at the same time?)`,
            result.error,
          );
        }
        // QEMU is the arbiter of a taken place: undo, and let the caller probe everything and plan again.
        const undo = await undoSteps(this.qmp, this.done, opts, plan);
        if (undo.leftovers.length === 0) return { kind: 'place-taken', refusal: result.error, undone: undo.undone };
        return this.fail(failed, result.error, { undo });
      }
      case 'unanswered':
        // QEMU may have carried it out: an unplug's device_del is settled by the wait (over this
        // connection, or a new one); any other step is undone with the rest.
        if (plan.unplugWait && isCommand(step.command, 'device_del')) {
          this.unplugUnanswered = result.error;
          return undefined;
        }
        this.done.push(step);
        return this.fail(`${step.purpose} failed: ${messageOf(result.error)}`, result.error, { maybeDone: true });
      case 'failed':
        break;
      default: {
        const never: never = result;
        return never;
      }
    }
    return this.fail(`${step.purpose} failed: ${messageOf(result.error)}`, result.error);
  }

  /** A hot-add: QEMU lists the device where it was planned (the check sent with the device_add). */
  private async verify(): Promise<void> {
    const { plan, opts } = this;
    if (plan.verify.kind !== 'present') return;
    let problem: string | null;
    try {
      problem = await (this.verifying ?? verifyPresent(this.qmp, plan, opts));
    } catch (error) {
      return this.fail(`verification failed: ${messageOf(error)}`, error);
    }
    if (problem) return this.fail(`verification failed: ${problem}`, undefined);
    opts.onProgress?.({ phase: 'verified', message: `QEMU lists ${plan.device.id} at ${allocationText(plan.verify.allocation)}` });
  }

  /** An unplug: waits until QEMU no longer has the device; the outcome `pending` when it still has it at the deadline. */
  private async waitUnplugged(): Promise<Outcome | undefined> {
    const { qmp, plan, opts } = this;
    const w = plan.unplugWait!;
    opts.onProgress?.({ phase: 'waiting', id: w.id, timeoutMs: w.timeoutMs });
    let gone: boolean;
    try {
      gone = qmp.closed
        ? await withQmp(qmp.socketPath, { greetingTimeoutMs: opts.greetingTimeoutMs ?? 1_000 }, (fresh) => waitGone(fresh, w.id, fresh.mark(), w.timeoutMs, opts))
        : await waitGone(qmp, w.id, this.mark, w.timeoutMs, opts, this.firstPoll);
    } catch (error) {
      await recordPendingUnplug(opts.root, plan.instance, { id: w.id, kind: plan.device.kind }).catch(() => undefined);
      const why = `${messageOf(error)}${this.unplugUnanswered ? ` (device_del: ${messageOf(this.unplugUnanswered)})` : ''}`;
      const message =
        `unplug of ${w.id} was requested, but plugboard lost track of it: ${why}; the runtime file still lists it ` +
        `and a pending unplug is recorded — run plugboard show --live ${plan.instance}, then plugboard unplug ${plan.device.kind} ${plan.instance} ${w.id} again to finish`;
      throw new ActionFailedError(message, outcome(plan, 'failed', message, opts.started), { cause: error });
    }
    if (!gone) {
      await recordPendingUnplug(opts.root, plan.instance, { id: w.id, kind: plan.device.kind });
      const why = opts.signal?.aborted
        ? 'interrupted while waiting'
        : w.needsGuest
          ? `the guest did not acknowledge the PCI unplug within ${seconds(w.timeoutMs)}`
          : `QEMU still lists it after ${seconds(w.timeoutMs)}`;
      return outcome(
        plan,
        'pending',
        `unplug of ${w.id} is pending: ${why}. The runtime file entry is kept (QEMU still has the device)` +
          `${plan.device.kind === 'nic' ? ', and so are its netdev, its tap and its nic/ record' : ''}; ` +
          `it completes when the guest acknowledges it — run plugboard unplug ${plan.device.kind} ${plan.instance} ${w.id} again to finish`,
        opts.started,
      );
    }
    opts.onProgress?.({ phase: 'verified', message: `QEMU no longer lists ${w.id}` });
    return undefined;
  }

  /** The steps after an unplug (the backend, the netdev, host records) and the pending record; returns what is left. */
  private async cleanUp(): Promise<string[]> {
    const { qmp, plan, opts } = this;
    const leftovers: string[] = [];
    const unplugged = plan.unplugWait;
    if (unplugged && (plan.after ?? []).length > 0) {
      // The backend is released when QEMU finalizes the device, which DEVICE_DELETED announces
      // (~55 ms after it left the tree on SCSI): wait for it, bounded; "in use" retries cover the rest.
      await qmp
        .waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === unplugged.id, {
          since: this.mark,
          timeoutMs: BACKEND_RELEASE_TIMEOUT_MS,
          what: `DEVICE_DELETED for ${unplugged.id}`,
        })
        .catch(() => undefined);
    }
    for (const step of plan.after ?? []) {
      try {
        await sendRetryingInUse(qmp, step.command, this.uncancelled);
      } catch (error) {
        if (step.check?.kind === 'gone-ok' && alreadyGone(step.command, error)) continue;
        leftovers.push(`${step.purpose}: ${messageOf(error)}`);
      }
    }
    // Most instances never had a pending unplug: no file, nothing to clear (and no root-tree checks).
    if (plan.verify.kind === 'absent' && lstatSync(pendingFilePath(opts.root, plan.instance), { throwIfNoEntry: false }) !== undefined) {
      await clearPendingUnplug(opts.root, plan.instance, plan.verify.id);
    }
    return leftovers;
  }

  /** The runtime file rewritten (refused if someone else rewrote it meanwhile). */
  private async commit(): Promise<void> {
    const { plan, opts } = this;
    try {
      this.prepared ??= prepareRuntimeFileWrite(opts.file, this.runtimeText ?? serializeRuntime(plan.runtimeAfter));
      await this.prepared.commit({ expectText: opts.text });
    } catch (error) {
      if (plan.verify.kind === 'present') {
        return this.fail(`QEMU has ${plan.device.id}, but the runtime file could not be written (${messageOf(error)})`, error);
      }
      throw new ActionFailedError(
        `QEMU removed ${plan.device.id}, but the runtime file could not be written: ${messageOf(error)} — it still lists the device; run plugboard check ${plan.instance}`,
        outcome(plan, 'failed', 'runtime file not written', opts.started),
        { cause: error },
      );
    }
  }

  /**
   * Ends the run on a failure: undoes what was done (unless `undo` says it was already), and throws
   * ActionFailedError saying what happened. `maybeDone`: the failed step got no answer, so QEMU may
   * have carried it out.
   */
  private async fail(message: string, cause: unknown, how: { maybeDone?: boolean; undo?: UndoResult } = {}): Promise<never> {
    const { plan, opts } = this;
    const { undone, leftovers } = how.undo ?? (await undoAfterFailure(this.qmp, this.done, opts, plan));
    const status = leftovers.length === 0 ? 'rolled-back' : 'failed';
    const look = `run plugboard show --live ${plan.instance}`;
    const tail =
      undone.length === 0 && leftovers.length === 0
        ? how.maybeDone
          ? `QEMU did not answer, so it may have carried it out (${plan.device.id}); runtime file untouched — ${look}`
          : 'nothing had changed; runtime file untouched'
        : leftovers.length === 0
          ? `undone: ${undone.join('; ')}; runtime file untouched`
          : `could not undo everything: ${leftovers.join('; ')}; runtime file untouched — run plugboard check ${plan.instance}`;
    throw new ActionFailedError(`${message}; ${tail}`, outcome(plan, status, `${message}; ${tail}`, opts.started, { undone, leftovers }), { cause });
  }
}
