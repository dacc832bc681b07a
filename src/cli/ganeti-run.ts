/**
 * hotplug / unplug on a node: which way the change goes (usecases/via.ts), then either the QMP path
 * (live-run.ts, unchanged) or the Ganeti path — the plan (`--dry-run`: the exact request), the job
 * followed with its log on stderr, the outcome on stdout. Loaded only when one of those commands
 * runs. Exit codes as everywhere: 0 done, 1 failed (a job that failed, a hotplug that failed, RAPI
 * down, a job that outlived the timeout), 2 bad input (a bad value, an unknown instance or device,
 * RAPI not set up).
 */
import type { GanetiAction } from '../actions/plan-ganeti.js';
import type { Action } from '../actions/types.js';
import { ExitCode, InputError, InterruptedError } from '../errors.js';
import { resolveRoot, validateInstanceName } from '../runtime/root.js';
import { previewGanetiAction, runGanetiAction } from '../usecases/run-ganeti.js';
import { chooseVia, type Via } from '../usecases/via.js';
import type { RapiFlags } from './ganeti-options.js';
import { ganetiSourceFor } from './ganeti-node.js';
import { ganetiOutcomeJson, ganetiPlanJson, progressLine, renderGanetiOutcome, renderGanetiPlan } from '../usecases/ganeti-text.js';
import { type CliIo, printJson } from './io.js';
import { dispatch } from './live-run.js';

export type ChangeKind = 'add-disk' | 'add-nic' | 'remove-disk' | 'remove-nic' | 'devices';

export interface ChangeRequest {
  instance: string;
  kind: ChangeKind;
  /** The device a removal names. */
  device?: string;
  /** The change over QMP; null when it has none (several devices in one job). */
  qmp: (() => Action) | null;
  /** The change through Ganeti; null when it has none. */
  ganeti: (() => GanetiAction) | null;
  /** Options given that only the QMP path takes (`--path`…), and those only Ganeti takes (`--size`…). */
  qmpOnly: string[];
  ganetiOnly: string[];
}

export interface ChangeOptions extends RapiFlags {
  dryRun?: boolean;
  json?: boolean;
  runtimeFile?: string;
  via?: Via;
  jobTimeoutMs: number;
}

/** Runs (or plans) a change the way it must go on this node; returns the exit code. */
export async function runChange(req: ChangeRequest, opts: ChangeOptions, rootOpt: string | undefined, io: CliIo): Promise<number> {
  const name = validateInstanceName(req.instance);
  const qmpDispatch = async (): Promise<number> => {
    if (!req.qmp) throw new InputError(`several devices in one change go through Ganeti only (one job); over QMP change them one at a time`);
    if (req.ganetiOnly.length > 0) {
      throw new InputError(`${req.ganetiOnly.join(', ')}: for a change through Ganeti (Ganeti creates the disk or NIC); over QMP ${req.kind === 'add-disk' ? 'give --path' : 'leave them out'}`);
    }
    return dispatch(req.qmp(), opts, rootOpt, io);
  };
  // Planning against a runtime file alone is plugboard's own (QMP) plan.
  if (opts.runtimeFile !== undefined) return qmpDispatch();
  const root = resolveRoot(rootOpt);
  const source = await ganetiSourceFor(root, opts, io);
  const change = req.kind === 'devices' ? 'add-disk' : req.kind;
  // On a Ganeti node, through Ganeti unless --via qmp says otherwise (--path alone does not: it is refused below).
  const choice = await chooseVia(name, opts.via, source, change, undefined, req.device);
  if (choice.via === 'qmp') {
    if (choice.warning) io.stderr(`plugboard: warning: ${choice.warning}\n`);
    return qmpDispatch();
  }
  // Through Ganeti.
  if (!req.ganeti) throw new InputError(`this change has no form through Ganeti; pass --via qmp`);
  if (req.qmpOnly.length > 0) {
    throw new InputError(
      `${req.qmpOnly.join(', ')}: ${name} is managed by Ganeti (cluster ${source!.clusterName}) and changes go through Ganeti, ` +
        `which ${req.kind === 'add-disk' ? 'creates the disk itself (give --size, and --name/--mode)' : 'chooses these itself'}; ` +
        `to use ${req.qmpOnly.join(', ')} over QMP behind Ganeti's back, pass --via qmp`,
    );
  }
  const action = req.ganeti();
  const ganeti = source!;
  if (opts.dryRun) {
    const plan = await previewGanetiAction(action, { root, source: ganeti });
    if (opts.json) printJson(io, ganetiPlanJson(plan, ganeti.clusterName));
    else io.stdout(renderGanetiPlan(plan, ganeti.clusterName));
    return ExitCode.ok;
  }
  const controller = new AbortController();
  const onSigint = () => controller.abort(new InterruptedError('interrupted (SIGINT)'));
  process.on('SIGINT', onSigint);
  try {
    const outcome = await runGanetiAction(action, {
      root,
      source: ganeti,
      signal: controller.signal,
      jobTimeoutMs: opts.jobTimeoutMs,
      onProgress: (e) => {
        if (e.phase === 'planned' && !opts.json) io.stdout(renderGanetiPlan(e.plan, ganeti.clusterName));
        const line = progressLine(e);
        if (line !== undefined) io.stderr(`plugboard: ${line}\n`);
      },
    });
    if (opts.json) printJson(io, ganetiOutcomeJson(outcome));
    else io.stdout(renderGanetiOutcome(outcome));
    return outcome.status === 'hotplug-failed' ? ExitCode.failed : ExitCode.ok;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
