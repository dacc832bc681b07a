/**
 * Running file-descriptor steps (./plan.ts) over a QMP connection and its helper: what the executor
 * calls for a step that has `passFd` or an `fd-*` host command, and for their undo.
 */
import { InternalError } from '../../errors.js';
import type { QmpClient, QmpCallOptions } from '../client.js';
import { QmpCommandError } from '../errors.js';
import { pidFilePath } from '../../runtime/root.js';
import { FdHelperError, FdInputError } from './errors.js';
import { FdHelper, type FdHelperOptions } from './helper.js';
import { checkQemuUser, diskOpenProblem, readPidFile, recheckDiskPath, tapCreateProblem } from './inspect.js';
import { isFdHostCommand, type FdCheckUserDetail, type FdHostCommand, type FdPlanStep, type FdQmpCommand } from './plan.js';

/** What a descriptor step may need besides the connection and the helper. */
export interface FdStepContext {
  /** The node's root (`pid/NAME` for the user check). */
  root?: string;
}

/** Whether a step needs the helper. */
export function needsHelper(step: { command: { host: string } | { execute: string }; passFd?: FdPlanStep['passFd'] }): boolean {
  return step.passFd !== undefined || isFdHostCommand(step.command);
}

/**
 * Runs one step. A QMP command with `passFd` is written by the helper with the descriptor
 * attached; the reply is read by `qmp` as any other. An `fd-open-disk` re-checks where the path
 * resolves, then the helper opens it (checking device and inode); errors are one line each.
 */
export async function runFdStep(
  qmp: QmpClient,
  helper: FdHelper,
  step: Pick<FdPlanStep, 'command' | 'passFd'>,
  call: QmpCallOptions = {},
  context: FdStepContext = {},
): Promise<unknown> {
  const c = step.command;
  if ('host' in c) return runFdHost(helper, c, context);
  if (!step.passFd) {
    // HMP reports errors as output text (drive_add): hmp() turns it into an error.
    if (c.execute === 'human-monitor-command') return qmp.hmp(String(c.arguments?.['command-line']), call);
    return qmp.execute(c.execute, c.arguments, call);
  }
  return qmp.executeWrittenBy(helper.writer(step.passFd.handle), c.execute, c.arguments, call);
}

async function runFdHost(helper: FdHelper, c: FdHostCommand, context: FdStepContext): Promise<unknown> {
  switch (c.host) {
    case 'fd-open-disk': {
      const d = c.detail;
      recheckDiskPath(d);
      try {
        return await helper.openDisk(d.handle, { path: d.path, direct: d.direct, kind: d.kind, dev: d.dev, ino: d.ino });
      } catch (err) {
        throw diskOpenProblem(err, d);
      }
    }
    case 'fd-create-tap': {
      const d = c.detail;
      try {
        return await helper.createTap(d.handle, { name: d.tap, vnetHdr: d.vnetHdr, queues: d.queues, vhost: d.vhost });
      } catch (err) {
        throw tapCreateProblem(err, d.tap);
      }
    }
    case 'fd-drop':
      // A helper that is gone holds nothing any more.
      if (helper.exited) return 0;
      try {
        return await helper.drop(c.detail.handle);
      } catch (err) {
        if (err instanceof FdHelperError && (err.code === 'DIED' || err.code === 'CLOSED')) return 0;
        throw err;
      }
    case 'fd-check-user':
      return checkUser(helper, c.detail, context);
    default: {
      const never: never = c;
      throw new InternalError(`unknown descriptor step ${String(never)}`);
    }
  }
}

/** The user check of a `-runas` QEMU, its pid read from `pid/NAME` (Ganeti's `-pidfile`). */
async function checkUser(helper: FdHelper, d: FdCheckUserDetail, context: FdStepContext): Promise<string | undefined> {
  if (context.root === undefined) throw new InternalError('the QEMU user check needs the node root');
  const file = pidFilePath(context.root, d.instance);
  const pid = readPidFile(file);
  if (pid === undefined) throw new FdInputError(`${d.instance}: cannot tell which user its QEMU runs as: ${file} holds no process id; nothing was passed to QEMU`);
  return checkQemuUser(d.instance, { security_model: d.securityModel, security_domain: d.securityDomain }, pid, helper);
}

/**
 * QEMU says the descriptor or fdset is already gone: `remove-fd` → "File descriptor named
 * 'fdset-id:N' not found", `closefd` → "File descriptor named 'X' not found" (a drive or netdev
 * took it, or it was never passed). For undo and `gone-ok` steps.
 */
export function fdAlreadyGone(c: FdQmpCommand | FdHostCommand, error: unknown): boolean {
  if (!('execute' in c) || !(error instanceof QmpCommandError)) return false;
  return (c.execute === 'remove-fd' || c.execute === 'closefd') && /not found/i.test(error.desc);
}

/**
 * Connect-time helper for an action: started on `qmp` at once (Python starts while the caller
 * probes), closed when `work` ends, whatever happens. The QMP connection must stay open until then.
 */
export async function withFdHelper<T>(qmp: QmpClient, options: FdHelperOptions, work: (helper: FdHelper) => Promise<T>): Promise<T> {
  const helper = FdHelper.start(qmp, options);
  try {
    return await work(helper);
  } finally {
    await helper.close();
  }
}
