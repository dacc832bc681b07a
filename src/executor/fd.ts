/**
 * The descriptor helper of one action's QMP connection (src/qmp/fdpass/): started when a step
 * first needs it — or at once, right after the connect, when the runtime file already says the plan
 * will pass descriptors (Python starts while QEMU answers the probe) — and closed (exited) before
 * the connection closes. It holds a duplicate of the QMP socket only while it lives, and is killed
 * the moment the connection closes for any reason: the socket is never held longer than without it.
 *
 * The undo after a broken connection runs over a new one without the helper: `remove-fd` and
 * `closefd` are plain QMP (fdsets and named descriptors belong to QEMU's monitor, not to a
 * connection: measured), and `fd-drop` on a helper that is gone (killed with its connection) has
 * nothing left to close.
 */
import { InternalError } from '../errors.js';
import type { QmpCallOptions, QmpClient } from '../qmp/client.js';
import { FdHelper, type FdHelperOptions } from '../qmp/fdpass/helper.js';
import type { FdPlanStep } from '../qmp/fdpass/plan.js';
import { runFdStep } from '../qmp/fdpass/run.js';

export class DescriptorChannel {
  private helper: FdHelper | undefined;

  constructor(
    private readonly qmp: QmpClient,
    private readonly options: FdHelperOptions = {},
  ) {}

  /** Starts the helper now, if it is not running yet (returns at once: Python starts meanwhile). */
  start(): FdHelper {
    this.helper ??= FdHelper.start(this.qmp, this.options);
    return this.helper;
  }

  /** Whether the helper was started (and so must be closed). */
  get started(): boolean {
    return this.helper !== undefined;
  }

  /** Runs a descriptor step (see needsHelper) over `qmp`: this channel's connection, or a new one for an undo. */
  run(qmp: QmpClient, step: Pick<FdPlanStep, 'command' | 'passFd'>, call: QmpCallOptions, root: string): Promise<unknown> {
    const c = step.command;
    if ('host' in c && c.host === 'fd-drop' && (this.helper === undefined || this.helper.exited)) {
      // Nothing was opened, or what the helper held went with it.
      return Promise.resolve(0);
    }
    if (qmp !== this.qmp && step.passFd !== undefined) {
      throw new InternalError(`a descriptor can only be passed over the connection its helper shares (${step.passFd.what})`);
    }
    return runFdStep(qmp, this.start(), step, call, { root });
  }

  /** Ends the helper (it closes what it still holds) and waits until it has exited. Safe to call more than once. */
  async close(): Promise<void> {
    await this.helper?.close();
  }
}
