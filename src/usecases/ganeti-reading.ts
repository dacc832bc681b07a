/**
 * Ganeti's side of a reading of the read path (read-instance.ts): Ganeti's view of the instance
 * compared with the node (ganeti/compare.ts), or why there is none. Pure, and light (no QMP, no
 * RAPI client): `show` without `--live` uses it with the runtime file alone.
 */
import { firstLineOf } from '../errors.js';
import { compareWithGaneti, type GanetiComparison } from '../ganeti/compare.js';
import { RapiNotFoundError } from '../ganeti/errors.js';
import type { GanetiInstance } from '../ganeti/view.js';
import { qemuSideOf } from '../live/qemu-side.js';
import type { LiveState } from '../live/probe.js';
import type { RuntimeFile } from '../runtime/types.js';

/** Ganeti's side of a reading (only on a Ganeti node). */
export type GanetiReading =
  /** Ganeti's view, compared with the node (the runtime file, and QEMU when it answered). */
  | { kind: 'compared'; view: GanetiInstance; comparison: GanetiComparison; cluster: string; nodeName: string | undefined }
  /** Ganeti does not know the instance (404): plugboard's changes to it cannot go through Ganeti. */
  | { kind: 'unknown'; message: string; cluster: string }
  /** Ganeti could not be asked (RAPI not set up, down, refusing): one line. */
  | { kind: 'error'; message: string; cluster: string };

/** Ganeti's side of a reading: the comparison when Ganeti answered, else why not. */
export function ganetiReading(
  source: { nodeName: string | undefined; clusterName: string },
  rf: RuntimeFile,
  live: LiveState | null,
  answer: { ok: true; value: GanetiInstance } | { ok: false; error: unknown },
): GanetiReading {
  const cluster = source.clusterName;
  if (!answer.ok) {
    if (answer.error instanceof RapiNotFoundError) {
      return { kind: 'unknown', cluster, message: `Ganeti (cluster ${cluster}) has no instance ${rf.instance}: plugboard's changes to it cannot go through Ganeti` };
    }
    return { kind: 'error', cluster, message: `Ganeti not asked: ${firstLineOf(answer.error)}` };
  }
  const comparison = compareWithGaneti({ runtime: rf, qemu: live ? qemuSideOf(live) : undefined, nodeName: source.nodeName }, answer.value);
  return { kind: 'compared', view: answer.value, comparison, cluster, nodeName: source.nodeName };
}

