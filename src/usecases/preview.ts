/**
 * `--dry-run`: the plan an action would run, without the lock and without changing anything.
 * For an instance under the root it asks QEMU (one short connection) so the preview uses the live
 * state; when QEMU does not answer (stopped, busy) or with `--runtime-file`, it plans from the file.
 */
import path from 'node:path';
import { firstLineOf, PlugboardError } from '../errors.js';
import { withQmp } from '../qmp/client.js';
import type { Transcript } from '../qmp/transcript.js';
import { probeFdState, probeLive, type LiveState } from '../live/probe.js';
import { loadRuntimeFile } from '../runtime/load.js';
import { qemuPidOption, qmpSocketPath, runtimeFilePath, validateInstanceName } from '../runtime/root.js';
import type { RuntimeFile } from '../runtime/types.js';
import { namedBlockNodes } from '../live/backend.js';
import { planContext } from '../actions/context.js';
import { makePlan } from '../actions/plan.js';
import { diskFdReason } from '../actions/plan-disk.js';
import type { Action, Plan } from '../actions/types.js';

export interface PreviewOptions {
  root?: string;
  runtimeFile?: string;
  transcript?: Transcript;
  greetingTimeoutMs?: number;
  signal?: AbortSignal;
  newUuid?: () => string;
}

export async function previewAction(action: Action, opts: PreviewOptions): Promise<Plan> {
  let rf: RuntimeFile;
  let live: LiveState | undefined;
  let nodeNames: string[] | undefined;
  const notes: string[] = [];
  if (opts.runtimeFile !== undefined) {
    rf = await loadRuntimeFile(opts.runtimeFile);
    notes.push('planned from the runtime file only (QEMU not asked)');
  } else {
    if (opts.root === undefined) throw new PlugboardError('previewAction needs a root or a runtime file');
    const name = validateInstanceName(action.instance);
    const file = runtimeFilePath(opts.root, name);
    rf = await loadRuntimeFile(file, { instance: name, root: opts.root });
    rf = { ...rf, source: path.relative(opts.root, file) || file };
    try {
      live = await withQmp(
        qmpSocketPath(opts.root, name),
        { greetingTimeoutMs: opts.greetingTimeoutMs ?? 1_000, ...qemuPidOption(opts.root, name), transcript: opts.transcript, signal: opts.signal },
        async (qmp) => {
          const state = await probeLive(qmp, { signal: opts.signal });
          if (action.type === 'unplug-disk') nodeNames = await namedBlockNodes(qmp, opts);
          // A hot-add that passes the disk by descriptor names the fdset it takes.
          if (action.type === 'hot-add-disk' && diskFdReason(rf, state) !== undefined) return { ...state, ...(await probeFdState(qmp, opts)) };
          return state;
        },
      );
    } catch (error) {
      notes.push(
        `planned from the runtime file only: ${firstLineOf(error)}`,
      );
    }
  }
  const plan = makePlan(action, await planContext(action, rf, live, { ...opts, ...(nodeNames ? { nodeNames } : {}) }));
  return { ...plan, notes: [...plan.notes, ...notes] };
}
