/**
 * What the live commands run (`show --live`, `hotplug`, `unplug`): loaded only when one of them runs,
 * so that the read-only commands do not load the QMP client and the executor (see live-commands.ts).
 */
import { ExitCode, InputError, InterruptedError } from '../errors.js';
import type { Drift } from '../live/drift.js';
import { resolveRoot, validateInstanceName } from '../runtime/root.js';
import { readInstance } from '../usecases/read-instance.js';
import { previewAction } from '../usecases/preview.js';
import { runAction } from '../usecases/run-action.js';
import { ActionFailedError } from '../executor/outcome.js';
import { planJson, renderPlanText } from '../actions/plan-json.js';
import type { Action, Outcome } from '../actions/types.js';
import { type CliIo, printJson } from './io.js';
import { renderShowText, showJson } from './show.js';

export async function showLive(root: string, name: string, json: boolean, io: CliIo): Promise<number> {
  const { rf, model, next, live, drift } = await readInstance(root, validateInstanceName(name));
  const show = showJson(rf, model, next);
  if (json) {
    printJson(io, { ...show, live, drift });
  } else {
    io.stdout(renderShowText(show));
    io.stdout(renderDrift(drift));
  }
  return ExitCode.ok;
}

/** The drift as `show --live` and `check` print it (null: QEMU was not asked, which they never print). */
export function renderDrift(drift: Drift | null): string {
  if (!drift) return '\ndrift: unknown (QEMU was not asked)\n';
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
