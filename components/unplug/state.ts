/**
 * Unplugging a disk or NIC picked on the map: the plan (asked at once, it only reads), then the
 * confirmation (a disk asks for an explicit "yes", a NIC for y), then progress and the result. A PCI
 * unplug the guest does not acknowledge ends as pending, not as done. Pure reducer.
 */
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { Plan } from '../../src/actions/types.js';
import type { ActionResult } from '../../src/tui/service.js';

export type UnplugStep = 'preview' | 'confirm' | 'running' | 'result';

export interface UnplugState {
  kind: 'disk' | 'nic';
  step: UnplugStep;
  plan: Plan | null;
  previewError: string | null;
  /** What has been typed at the "yes" prompt (disks). */
  typed: string;
  /** Set when Enter was pressed without the right answer. */
  hint: string | null;
  progress: readonly ProgressEvent[];
  result: ActionResult | null;
  transcriptFrom: number;
  scroll: number;
  closed: boolean;
}

export type UnplugAction =
  | { type: 'preview-ready'; plan: Plan }
  | { type: 'preview-failed'; message: string }
  | { type: 'type-text'; text: string }
  | { type: 'erase' }
  | { type: 'submit'; transcriptFrom: number }
  | { type: 'back' }
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'finished'; result: ActionResult }
  | { type: 'scroll'; delta: number; max: number }
  | { type: 'close' };

export function initialUnplugState(kind: 'disk' | 'nic'): UnplugState {
  return { kind, step: 'preview', plan: null, previewError: null, typed: '', hint: null, progress: [], result: null, transcriptFrom: 0, scroll: 0, closed: false };
}

/** Whether the answer typed confirms the unplug. */
export function confirmed(state: UnplugState): boolean {
  return state.kind === 'disk' ? state.typed.trim().toLowerCase() === 'yes' : ['y', 'yes'].includes(state.typed.trim().toLowerCase());
}

export function unplugReducer(state: UnplugState, action: UnplugAction): UnplugState {
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
        return { ...state, hint: state.kind === 'disk' ? 'type yes (the whole word) and Enter to unplug, or Esc to keep the disk' : 'type y and Enter to unplug, or Esc' };
      }
      return { ...state, step: 'running', progress: [], transcriptFrom: action.transcriptFrom, scroll: 0 };
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
