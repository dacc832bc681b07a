/**
 * Undoing the steps of a plan that were done, last first, after a failure. What could not be undone
 * is a leftover, said in words the operator can act on.
 */
import { messageOf } from '../errors.js';
import { withQmp, type QmpClient } from '../qmp/client.js';
import { QmpCommandError, QmpConnectError } from '../qmp/errors.js';
import { recordPendingUnplug } from '../live/pending.js';
import type { Plan, PlanStep } from '../actions/types.js';
import { seconds, type ExecutorOptions } from './outcome.js';
import { alreadyGone, describeCommand, isCommand, sendRetryingInUse, sendStep } from './step.js';
import { waitGone } from './verify.js';

/** Default of ExecutorOptions.undoUnplugTimeoutMs. */
const UNDO_UNPLUG_TIMEOUT_MS = 5_000;

export interface UndoResult {
  /** What was undone, one entry per command. */
  undone: string[];
  /** What could not be undone. */
  leftovers: string[];
}

/**
 * Undoes the steps done, last first. A `device_del` is not done when QEMU answers `{}`: the device
 * is only gone when it left QEMU (see waitGone), and its backend can be removed only then. A PCI
 * device nobody acknowledges (no guest OS, a hung guest) stays: that is reported as a leftover and
 * recorded as a pending unplug (so `show --live` explains the device the runtime file lacks), and a
 * block node under it is left for the operator rather than failing on "in use".
 */
export async function undoSteps(qmp: QmpClient, done: readonly PlanStep[], opts: ExecutorOptions, plan: Plan): Promise<UndoResult> {
  const undone: string[] = [];
  const leftovers: string[] = [];
  // Undo runs even after a Ctrl-C: it must not be cancelled by the same signal.
  const uncancelled: ExecutorOptions = { ...opts, signal: undefined };
  const stuck: string[] = [];
  const removed: string[] = [];
  for (const step of [...done].reverse()) {
    for (const cmd of step.undo ?? []) {
      opts.onProgress?.({ phase: 'undo', purpose: step.purpose });
      if (isCommand(cmd, 'blockdev-del') && stuck.length > 0) {
        leftovers.push(
          `block node ${String(cmd.arguments?.['node-name'])} kept: its device ${stuck.join(', ')} is still in QEMU; ` +
            `once the unplug completes remove it with QMP ${describeCommand(cmd)}`,
        );
        continue;
      }
      try {
        if (isCommand(cmd, 'device_del')) {
          const id = String(cmd.arguments?.['id']);
          const mark = qmp.mark();
          try {
            await sendStep(qmp, cmd, uncancelled);
          } catch (error) {
            if (!alreadyGone(cmd, error)) throw error;
            undone.push(`${describeCommand(cmd)} (was not there)`);
            removed.push(id);
            continue;
          }
          const timeoutMs = opts.undoUnplugTimeoutMs ?? UNDO_UNPLUG_TIMEOUT_MS;
          if (!(await waitGone(qmp, id, mark, timeoutMs, uncancelled))) {
            stuck.push(id);
            await recordPendingUnplug(opts.root, plan.instance, { id, kind: plan.device.kind }).catch(() => undefined);
            leftovers.push(
              `${id} is still in QEMU: its unplug is pending (${plan.allocation?.bus === 'pci.0' ? 'the guest has not acknowledged it' : 'QEMU still lists it'} after ${seconds(timeoutMs)}); ` +
                'the runtime file does not list it, so a migration would fail until the guest acknowledges it or the instance restarts',
            );
            continue;
          }
          removed.push(id);
        } else if (isCommand(cmd, 'blockdev-del')) {
          try {
            await sendRetryingInUse(qmp, cmd, uncancelled);
          } catch (error) {
            if (!alreadyGone(cmd, error)) throw error;
            undone.push(`${describeCommand(cmd)} (was not there)`);
            continue;
          }
        } else if (removed.length > 0 && isCommand(cmd, 'human-monitor-command')) {
          // A drive_add drive goes with its device (QEMU deletes it when the device is finalized).
          try {
            await sendStep(qmp, cmd, uncancelled);
          } catch (error) {
            if (!(error instanceof QmpCommandError && /not found/i.test(error.desc))) throw error;
            undone.push(`${describeCommand(cmd)} (already gone with its device)`);
            continue;
          }
        } else {
          try {
            await sendStep(qmp, cmd, uncancelled);
          } catch (error) {
            if (!alreadyGone(cmd, error)) throw error;
            undone.push(`${describeCommand(cmd)} (already gone)`);
            continue;
          }
        }
        undone.push(describeCommand(cmd));
      } catch (error) {
        leftovers.push(`${describeCommand(cmd)} failed: ${messageOf(error)}`);
      }
    }
  }
  return { undone, leftovers };
}

/**
 * undoSteps after a failure: over `qmp`, or — when that connection broke (QEMU closed it, garbage,
 * an endless line) — over a new one. If QEMU is gone, so is everything it had: nothing to undo.
 */
export async function undoAfterFailure(qmp: QmpClient, done: readonly PlanStep[], opts: ExecutorOptions, plan: Plan): Promise<UndoResult> {
  if (done.length === 0) return { undone: [], leftovers: [] };
  if (!qmp.closed) return undoSteps(qmp, done, opts, plan);
  try {
    return await withQmp(
      qmp.socketPath,
      { greetingTimeoutMs: opts.greetingTimeoutMs ?? 1_000, commandTimeoutMs: opts.commandTimeoutMs ?? 10_000, transcript: opts.transcript },
      (fresh) => undoSteps(fresh, done, opts, plan),
    );
  } catch (error) {
    if (error instanceof QmpConnectError && (error.reason === 'gone' || error.reason === 'not-running')) {
      return { undone: [`nothing: QEMU is gone (${error.message})`], leftovers: [] };
    }
    return { undone: [], leftovers: [`undo not possible: ${messageOf(error)}`] };
  }
}
