/**
 * One step of a plan: sent to QEMU (or run on the host), and what its answer means for the run —
 * a StepResult, never an exception the run loop has to catch and sort.
 */
import { InternalError } from '../errors.js';
import { QmpCommandError } from '../qmp/errors.js';
import type { QmpClient } from '../qmp/client.js';
import { FdHelperError, FdInputError } from '../qmp/fdpass/errors.js';
import { isFdHostCommand } from '../qmp/fdpass/plan.js';
import { fdAlreadyGone } from '../qmp/fdpass/run.js';
import { describeHostCommand, executeHostCommand } from '../actions/host-net.js';
import type { HostCommand, PlanStep, QmpCommand } from '../actions/types.js';
import type { ExecutorOptions } from './outcome.js';
import { delay } from './verify.js';

export const isQmp = (c: QmpCommand | HostCommand): c is QmpCommand => 'execute' in c;

/** Whether `c` is the QMP command `execute` (`device_add`, `device_del`, …). */
export const isCommand = (c: QmpCommand | HostCommand, execute: string): c is QmpCommand => isQmp(c) && c.execute === execute;

/**
 * Sends one command of a plan (or runs it on the host). A command that carries a descriptor
 * (`passFd`) and the descriptor host steps (`fd-*`) go through the action's descriptor helper.
 */
export function sendStep(
  qmp: QmpClient,
  command: QmpCommand | HostCommand,
  opts: Pick<ExecutorOptions, 'root' | 'signal' | 'descriptors'>,
  passFd?: PlanStep['passFd'],
): Promise<unknown> {
  const call = { signal: opts.signal };
  const fdCommand = isQmp(command) ? (passFd ? command : undefined) : isFdHostCommand(command) ? command : undefined;
  if (fdCommand) {
    if (!opts.descriptors) return Promise.reject(new InternalError(`a descriptor step without a descriptor helper: ${describeCommand(command)}`));
    return opts.descriptors.run(qmp, { command: fdCommand, ...(passFd ? { passFd } : {}) }, call, opts.root);
  }
  if (!isQmp(command)) return executeHostCommand(command, { root: opts.root, ...(opts.signal ? { signal: opts.signal } : {}) });
  if (command.execute === 'human-monitor-command') {
    return qmp.hmp(String((command.arguments ?? {})['command-line']), call);
  }
  return qmp.execute(command.execute, command.arguments, call);
}

export function describeCommand(c: QmpCommand | HostCommand): string {
  if (!isQmp(c)) return `host: ${describeHostCommand(c)}`;
  if (c.execute === 'human-monitor-command') return `HMP ${String((c.arguments ?? {})['command-line'])}`;
  return `${c.execute} ${JSON.stringify(c.arguments ?? {})}`;
}

/**
 * What the answer to a step means:
 * - `ok`: done;
 * - `already-pending`: a `device_del` of a device whose unplug is already pending (QEMU: "already in
 *   the process of unplug"): not a failure when the plan waits for the unplug;
 * - `device-absent`: a `device_del` answered DeviceNotFound: QEMU does not have the device;
 * - `place-taken`: a `device_add` refused because its slot or target is in use;
 * - `unanswered`: no answer (timeout, connection lost): QEMU may or may not have carried it out;
 * - `failed`: QEMU (or the host) refused it.
 */
export type StepResult =
  | { kind: 'ok' }
  | { kind: 'already-pending'; error: QmpCommandError }
  | { kind: 'device-absent'; error: QmpCommandError }
  | { kind: 'place-taken'; error: QmpCommandError }
  | { kind: 'unanswered'; error: unknown }
  | { kind: 'failed'; error: unknown };

/** The StepResult of `command` whose send failed with `error`. */
export function stepFailure(command: QmpCommand | HostCommand, error: unknown): Exclude<StepResult, { kind: 'ok' }> {
  // The descriptor helper refused or failed: what it was asked was not done, unless its answer
  // never came for a command it was writing (maybeDone: then QEMU may have it).
  if (error instanceof FdInputError) return { kind: 'failed', error };
  if (error instanceof FdHelperError) return error.maybeDone ? { kind: 'unanswered', error } : { kind: 'failed', error };
  if (!(error instanceof QmpCommandError)) return { kind: 'unanswered', error };
  if (/already in the process of unplug/.test(error.desc)) return { kind: 'already-pending', error };
  if (isCommand(command, 'device_del') && error.errorClass === 'DeviceNotFound') return { kind: 'device-absent', error };
  if (placeTaken(command, error)) return { kind: 'place-taken', error };
  return { kind: 'failed', error };
}

/**
 * QEMU says the object is already gone, or never came: `netdev_del`/`device_del` → DeviceNotFound,
 * `blockdev-del` → "Failed to find node", HMP `drive_del` → "Device 'X' not found". Undoing a step
 * whose answer never came (it may or may not have been carried out) relies on this.
 */
export function alreadyGone(cmd: QmpCommand | HostCommand, error: unknown): boolean {
  if (!isQmp(cmd) || !(error instanceof QmpCommandError)) return false;
  switch (cmd.execute) {
    case 'remove-fd':
    case 'closefd':
      return fdAlreadyGone(cmd, error);
    case 'netdev_del':
    case 'device_del':
      return error.errorClass === 'DeviceNotFound';
    case 'blockdev-del':
      return /Failed to find node/.test(error.desc);
    case 'human-monitor-command':
      return /^drive_del /.test(String(cmd.arguments?.['command-line'])) && /not found/i.test(error.desc);
    default:
      return false;
  }
}

/**
 * QEMU refused a `device_add` because the slot or target is in use:
 * `lun already used by 'ID'` (scsi-bus, QEMU 7.2) and
 * `PCI: slot N function 0 not available for DRIVER, in use by TYPE,id=ID` (pci.0), as measured
 * (docs/qemu-ganeti-facts.md, "device_add and ids").
 */
const PLACE_TAKEN = [/^lun already used by /, /^PCI: slot \d+ function \d+ not available for /];

function placeTaken(command: QmpCommand | HostCommand, error: QmpCommandError): boolean {
  return isCommand(command, 'device_add') && PLACE_TAKEN.some((re) => re.test(error.desc));
}

/** `blockdev-del` of a node QEMU may still hold for a few ms after the device went: retry while "in use". */
export async function sendRetryingInUse(qmp: QmpClient, command: QmpCommand | HostCommand, opts: Pick<ExecutorOptions, 'root' | 'signal'>): Promise<void> {
  const deadline = Date.now() + 2_000;
  let interval = 2;
  for (;;) {
    try {
      await sendStep(qmp, command, opts);
      return;
    } catch (error) {
      const inUse = error instanceof QmpCommandError && /is in use/.test(error.desc);
      if (!inUse || Date.now() >= deadline) throw error;
      await delay(interval, opts.signal);
      interval = Math.min(interval * 2, 100);
    }
  }
}
