/**
 * What the live commands run (`show --live`, `hotplug`, `unplug`): loaded only when one of them runs,
 * so that the read-only commands do not load the QMP client and the executor (see live-commands.ts).
 */
import { ExitCode, InputError, InterruptedError } from '../errors.js';
import { buildBusModel } from '../bus/model.js';
import { allocate } from '../bus/allocate.js';
import { withQmp } from '../qmp/client.js';
import { probeLive } from '../live/probe.js';
import { overlayLive } from '../live/overlay.js';
import { computeDrift, type Drift } from '../live/drift.js';
import { readPending } from '../live/pending.js';
import { qmpSocketPath, resolveRoot } from '../runtime/root.js';
import { previewAction } from '../usecases/preview.js';
import { runAction } from '../usecases/run-action.js';
import { ActionFailedError } from '../executor/outcome.js';
import { planJson, renderPlanText } from '../actions/plan-json.js';
import type { Action, Outcome } from '../actions/types.js';
import { type CliIo, printJson } from './io.js';
import { openRuntime } from './target.js';
import { renderShowText, showJson } from './show.js';

export async function showLive(root: string, name: string, json: boolean, io: CliIo): Promise<number> {
  const rf = await openRuntime(name, { root });
  const live = await withQmp(qmpSocketPath(root, name), { greetingTimeoutMs: 1_000 }, (qmp) => probeLive(qmp));
  const pending = await readPending(root, name);
  const model = overlayLive(buildBusModel(rf), live);
  const drift = computeDrift(rf, live, pending);
  const show = showJson(rf, model, {
    disk: allocate(model, rf, { kind: 'disk' }),
    nic: allocate(model, rf, { kind: 'nic' }),
  });
  if (json) {
    printJson(io, { ...show, live, drift });
  } else {
    io.stdout(renderShowText(show));
    io.stdout(renderDrift(drift));
  }
  return ExitCode.ok;
}

export function renderDrift(drift: Drift): string {
  if (drift.ok) return '\ndrift: none (the runtime file matches QEMU)\n';
  return `\ndrift (${drift.items.length}):\n${drift.items.map((i) => `  ~ ${i.code}: ${i.message}`).join('\n')}\n`;
}

function printOutcome(io: CliIo, o: Outcome, json: boolean): void {
  if (json) {
    printJson(io, {
      status: o.status,
      message: o.message,
      plan: planJson(o.plan),
      runtimeWritten: o.runtimeWritten,
      undone: o.undone,
      leftovers: o.leftovers,
      ms: o.timings.totalMs,
    });
  } else {
    io.stdout(`${o.status}: ${o.message}\n`);
  }
}

export async function dispatch(
  action: Action,
  opts: { dryRun?: boolean; json?: boolean; runtimeFile?: string },
  root: string | undefined,
  io: CliIo,
): Promise<number> {
  if (opts.runtimeFile !== undefined && !opts.dryRun) {
    throw new InputError('--runtime-file plans without a running instance: it needs --dry-run');
  }
  if (opts.dryRun) {
    const plan = await previewAction(action, opts.runtimeFile !== undefined ? { runtimeFile: opts.runtimeFile } : { root: resolveRoot(root) });
    if (opts.json) printJson(io, planJson(plan));
    else io.stdout(renderPlanText(plan));
    return ExitCode.ok;
  }
  const controller = new AbortController();
  // Stays registered: a second Ctrl-C must not kill the process in the middle of the undo or of
  // the pending record the first one asked for (Node's default for SIGINT is to exit at once).
  const onSigint = () => {
    if (controller.signal.aborted) io.stderr('plugboard: still undoing or recording what was started; wait a moment (or kill -9 to leave it as it is)\n');
    else controller.abort(new InterruptedError('interrupted (SIGINT)'));
  };
  process.on('SIGINT', onSigint);
  try {
    const outcome = await runAction(action, {
      root: resolveRoot(root),
      signal: controller.signal,
      onProgress: opts.json
        ? undefined
        : (e) => {
            if (e.phase === 'planned') io.stdout(renderPlanText(e.plan));
            if (e.phase === 'waiting') io.stdout(`waiting for ${e.id} to go (up to ${Math.round(e.timeoutMs / 1000)} s)…\n`);
          },
    });
    printOutcome(io, outcome, opts.json === true);
    return outcome.status === 'done' ? ExitCode.ok : ExitCode.failed;
  } catch (error) {
    if (error instanceof ActionFailedError && opts.json) {
      printOutcome(io, error.outcome, true);
    }
    throw error;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
