/**
 * A change through Ganeti (the job screen): the plan (asked at once: one GET, nothing changes), the
 * confirmation (`y`, or `yes` typed whole where data goes), the job followed (its log as it comes),
 * the result. Pure reducer; the screen's hook (common/usePlanAndRun.ts, GANETI_WAY) asks the service and dispatches what
 * came back; the steps, the prompt and the scrolling are the shared confirm-run reducer's
 * (common/confirm-run-state.ts).
 */
import type { GanetiPlan } from '../../src/actions/plan-ganeti.js';
import type { GanetiActionResult } from '../../src/tui/service.js';
import type { GanetiProgressEvent } from '../../src/usecases/run-ganeti.js';
import { confirmRunReducer, initialConfirmRun, type ConfirmRunAction, type ConfirmRules, type ConfirmRunState } from '../common/confirm-run-state.js';

export interface JobState extends ConfirmRunState<GanetiPlan, GanetiProgressEvent, GanetiActionResult> {
  /** What the operator types to confirm. */
  confirmWord: 'y' | 'yes';
}

export type JobAction = ConfirmRunAction<GanetiPlan, GanetiProgressEvent, GanetiActionResult>;

export function initialJobState(confirmWord: 'y' | 'yes'): JobState {
  return { ...initialConfirmRun(), confirmWord };
}

const rules: ConfirmRules<JobState> = {
  confirmed: (state) => {
    const t = state.typed.trim().toLowerCase();
    return state.confirmWord === 'yes' ? t === 'yes' : t === 'y' || t === 'yes';
  },
  hint: (state) => (state.confirmWord === 'yes' ? 'type yes (the whole word) and Enter to send it, or Esc' : 'type y and Enter to send it, or Esc'),
};

export function jobReducer(state: JobState, action: JobAction): JobState {
  return confirmRunReducer(state, action, rules);
}
