/**
 * Plan, confirm, run, result: the state the unplug screen and the Ganeti job screen share. The plan
 * is asked at once (it only reads); the confirmation is an answer typed at a prompt (`y`, or `yes`
 * typed whole); then the progress as it comes, and the result; the text scrolls. Pure reducer: each
 * screen gives what differs (when the answer confirms, the hint when it does not) and keeps its own
 * fields next to these.
 */

export type ConfirmRunStep = 'preview' | 'confirm' | 'running' | 'result';

/** P: the plan, E: a progress event, R: the result. */
export interface ConfirmRunState<P, E, R> {
  step: ConfirmRunStep;
  plan: P | null;
  previewError: string | null;
  /** What has been typed at the prompt. */
  typed: string;
  /** Set when Enter was pressed without the right answer. */
  hint: string | null;
  progress: readonly E[];
  result: R | null;
  scroll: number;
  closed: boolean;
}

/** The actions; `submit` carries what the screen needs at the start of the run (X). */
export type ConfirmRunAction<P, E, R, X extends object = object> =
  | { type: 'preview-ready'; plan: P }
  | { type: 'preview-failed'; message: string }
  | { type: 'type-text'; text: string }
  | { type: 'erase' }
  | ({ type: 'submit' } & X)
  | { type: 'back' }
  | { type: 'progress'; event: E }
  | { type: 'finished'; result: R }
  | { type: 'scroll'; delta: number; max: number }
  | { type: 'close' };

/** What differs between the screens at the prompt. */
export interface ConfirmRules<S> {
  /** Whether the answer typed confirms. */
  confirmed: (state: S) => boolean;
  /** The hint after Enter without the right answer. */
  hint: (state: S) => string;
}

export function initialConfirmRun<P, E, R>(): ConfirmRunState<P, E, R> {
  return { step: 'preview', plan: null, previewError: null, typed: '', hint: null, progress: [], result: null, scroll: 0, closed: false };
}

export function confirmRunReducer<P, E, R, S extends ConfirmRunState<P, E, R>>(state: S, action: ConfirmRunAction<P, E, R>, rules: ConfirmRules<S>): S {
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
      if (!rules.confirmed(state)) return { ...state, hint: rules.hint(state) };
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
