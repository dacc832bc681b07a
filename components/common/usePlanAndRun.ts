/**
 * Plan, then run: the effects the hot-add wizard, the unplug screen and the Ganeti job screen share.
 * Headless (react, no ink): the screen's reducer holds the state, this hook asks the service and
 * dispatches what came back, from effects (never inside a reducer).
 * - while `preview` is true: the plan (QMP: one short connection that only reads; Ganeti: one GET;
 *   nothing changes);
 * - once `run` is true: the action itself, its progress as it comes. Leaving the screen (quitting)
 *   aborts it: over QMP the executor undoes what it did, and the service waits for that before the
 *   view ends; through Ganeti plugboard stops following the job (it goes on in Ganeti, and the
 *   view's end says its id).
 * The way (`QMP_WAY`, `GANETI_WAY`) is a module constant: the effects depend on the action only.
 */
import { useEffect } from 'react';
import type { GanetiAction, GanetiPlan } from '../../src/actions/plan-ganeti.js';
import type { Action, Plan } from '../../src/actions/types.js';
import { messageOf } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { ActionResult, GanetiActionResult, InstanceService } from '../../src/tui/service.js';
import type { GanetiProgressEvent } from '../../src/usecases/run-ganeti.js';

/** What the hook dispatches: the screens' reducers take these actions. */
export type PlanRunEvent<P = Plan, E = ProgressEvent, R = ActionResult> =
  | { type: 'preview-ready'; plan: P }
  | { type: 'preview-failed'; message: string }
  | { type: 'progress'; event: E }
  | { type: 'finished'; result: R };

/** How a kind of action is planned and run by the service. */
export interface PlanRunWay<A, P, E, R> {
  preview(service: InstanceService, action: A, signal: AbortSignal): Promise<P>;
  run(service: InstanceService, action: A, opts: { signal: AbortSignal; onProgress: (event: E) => void }): Promise<R>;
}

/** Over QMP: plugboard's own executor. */
export const QMP_WAY: PlanRunWay<Action, Plan, ProgressEvent, ActionResult> = {
  preview: (service, action, signal) => service.preview(action, signal),
  run: (service, action, opts) => service.run(action, opts),
};

/** Through Ganeti: one job. */
export const GANETI_WAY: PlanRunWay<GanetiAction, GanetiPlan, GanetiProgressEvent, GanetiActionResult> = {
  preview: (service, action, signal) => service.previewGaneti(action, signal),
  run: (service, action, opts) => service.runGaneti(action, opts),
};

export function usePlanAndRun<A, P, E, R>(
  way: PlanRunWay<A, P, E, R>,
  service: InstanceService,
  action: A | null,
  phase: { preview: boolean; run: boolean },
  dispatch: (event: PlanRunEvent<P, E, R>) => void,
): void {
  const { preview, run } = phase;
  useEffect(() => {
    if (!preview || action === null) return;
    const ac = new AbortController();
    way.preview(service, action, ac.signal).then(
      (plan) => {
        if (!ac.signal.aborted) dispatch({ type: 'preview-ready', plan });
      },
      (error: unknown) => {
        if (!ac.signal.aborted) dispatch({ type: 'preview-failed', message: messageOf(error) });
      },
    );
    return () => ac.abort();
  }, [way, service, action, preview, dispatch]);

  useEffect(() => {
    if (!run || action === null) return;
    const ac = new AbortController();
    void way.run(service, action, { signal: ac.signal, onProgress: (event) => dispatch({ type: 'progress', event }) }).then((result) => {
      dispatch({ type: 'finished', result });
    });
    return () => ac.abort();
  }, [way, service, action, run, dispatch]);
}
