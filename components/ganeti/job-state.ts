/**
 * A change through Ganeti (the job screen): the plan (asked at once: one GET, nothing changes), the
 * confirmation (`y`, or `yes` typed whole where data goes), the job followed (its log as it comes),
 * the result. Pure reducer; the screen's hook (useGanetiJob.ts) asks the service and dispatches what
 * came back.
 */
import type { GanetiPlan } from '../../src/actions/plan-ganeti.js';
import type { GanetiActionResult } from '../../src/tui/service.js';
import type { GanetiProgressEvent } from '../../src/usecases/run-ganeti.js';

export type JobStep = 'preview' | 'confirm' | 'running' | 'result';

export interface JobState {
  step: JobStep;
  /** What the operator types to confirm. */
  confirmWord: 'y' | 'yes';
  plan: GanetiPlan | null;
  previewError: string | null;
  typed: string;
  hint: string | null;
  progress: readonly GanetiProgressEvent[];
  result: GanetiActionResult | null;
  scroll: number;
  closed: boolean;
}

export type JobAction =
  | { type: 'preview-ready'; plan: GanetiPlan }
  | { type: 'preview-failed'; message: string }
  | { type: 'type-text'; text: string }
  | { type: 'erase' }
  | { type: 'submit' }
  | { type: 'back' }
  | { type: 'progress'; event: GanetiProgressEvent }
  | { type: 'finished'; result: GanetiActionResult }
  | { type: 'scroll'; delta: number; max: number }
  | { type: 'close' };

export function initialJobState(confirmWord: 'y' | 'yes'): JobState {
  return { step: 'preview', confirmWord, plan: null, previewError: null, typed: '', hint: null, progress: [], result: null, scroll: 0, closed: false };
}

function confirmed(state: JobState): boolean {
  const t = state.typed.trim().toLowerCase();
  return state.confirmWord === 'yes' ? t === 'yes' : t === 'y' || t === 'yes';
}

export function jobReducer(state: JobState, action: JobAction): JobState {
  switch (action.type) {
    case 'preview-ready':
      return state.step === 'preview' ? { ...state, plan: action.plan, step: 'confirm' } : state;
    case 'preview-failed':
      return state.step === 'preview' ? { ...state, previewError: action.message } : state;
    case 'type-text':
      return state.step === 'confirm' ? { ...state, typed: (state.typed + action.text).slice(0, 16), hint: null } : state;
    case 'erase':
      return state.step === 'confirm' ? { ...state, typed: state.typed.slice(0, -1), hint: null } : state;
    case 'submit':
      if (state.step !== 'confirm') return state;
      if (!confirmed(state)) {
        return { ...state, hint: state.confirmWord === 'yes' ? 'type yes (the whole word) and Enter to send it, or Esc' : 'type y and Enter to send it, or Esc' };
      }
      return { ...state, step: 'running', progress: [], scroll: 0 };
    case 'back':
      return state.step === 'running' ? state : { ...state, closed: true };
    case 'progress':
      return state.step === 'running' ? { ...state, progress: [...state.progress, action.event] } : state;
    case 'finished':
      return state.step === 'running' ? { ...state, step: 'result', result: action.result, scroll: 0 } : state;
    case 'scroll':
      return { ...state, scroll: Math.max(0, Math.min(action.max, state.scroll + action.delta)) };
    case 'close':
      return state.step === 'running' ? state : { ...state, closed: true };
    default: {
      const never: never = action;
      return never;
    }
  }
}
