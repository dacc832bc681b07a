/**
 * Plan, then run: the effects the hot-add wizard and the unplug screen share. Headless (react, no
 * ink): the screen's reducer holds the state, this hook asks the service and dispatches what came
 * back, from effects (never inside a reducer).
 * - while `preview` is true: the plan (one short QMP connection that only reads; nothing changes);
 * - once `run` is true: the action itself, its progress as it comes. Leaving the screen (quitting)
 *   aborts it: the executor undoes what it did, and the service waits for that before the view ends.
 */
import { useEffect } from 'react';
import type { Action, Plan } from '../../src/actions/types.js';
import { messageOf } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { ActionResult, InstanceService } from '../../src/tui/service.js';

/** What the hook dispatches: the screens' reducers take these actions. */
export type PlanRunEvent =
  | { type: 'preview-ready'; plan: Plan }
  | { type: 'preview-failed'; message: string }
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'finished'; result: ActionResult };

export function usePlanAndRun(
  service: InstanceService,
  action: Action | null,
  phase: { preview: boolean; run: boolean },
  dispatch: (event: PlanRunEvent) => void,
): void {
  const { preview, run } = phase;
  useEffect(() => {
    if (!preview || !action) return;
    const ac = new AbortController();
    service.preview(action, ac.signal).then(
      (plan) => {
        if (!ac.signal.aborted) dispatch({ type: 'preview-ready', plan });
      },
      (error: unknown) => {
        if (!ac.signal.aborted) dispatch({ type: 'preview-failed', message: messageOf(error) });
      },
    );
    return () => ac.abort();
  }, [service, action, preview, dispatch]);

  useEffect(() => {
    if (!run || !action) return;
    const ac = new AbortController();
    void service.run(action, { signal: ac.signal, onProgress: (event) => dispatch({ type: 'progress', event }) }).then((result) => {
      dispatch({ type: 'finished', result });
    });
    return () => ac.abort();
  }, [service, action, run, dispatch]);
}
