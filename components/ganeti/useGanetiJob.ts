/**
 * Plan, then run, through Ganeti: the headless effects of the job screen (as usePlanAndRun.ts is for
 * the QMP actions). While `preview`: the plan (one GET; nothing changes). Once `run`: the job, its
 * progress as it comes. Leaving the screen (quitting) stops following the job: it goes on in Ganeti,
 * and the view's end says its id.
 */
import { useEffect } from 'react';
import type { GanetiAction } from '../../src/actions/plan-ganeti.js';
import { messageOf } from '../../src/errors.js';
import type { InstanceService } from '../../src/tui/service.js';
import type { JobAction } from './job-state.js';

export function useGanetiJob(service: InstanceService, action: GanetiAction, phase: { preview: boolean; run: boolean }, dispatch: (event: JobAction) => void): void {
  const { preview, run } = phase;
  useEffect(() => {
    if (!preview) return;
    const ac = new AbortController();
    service.previewGaneti(action, ac.signal).then(
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
    if (!run) return;
    const ac = new AbortController();
    void service.runGaneti(action, { signal: ac.signal, onProgress: (event) => dispatch({ type: 'progress', event }) }).then((result) => {
      dispatch({ type: 'finished', result });
    });
    return () => ac.abort();
  }, [service, action, run, dispatch]);
}
