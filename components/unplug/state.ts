/**
 * Unplugging a disk or NIC picked on the map: the plan (asked at once, it only reads), then the
 * confirmation (a disk asks for an explicit "yes", a NIC for y), then progress and the result. A PCI
 * unplug the guest does not acknowledge ends as pending, not as done. Pure reducer: the steps, the
 * prompt and the scrolling are the shared confirm-run reducer's (common/confirm-run-state.ts).
 */
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { Plan } from '../../src/actions/types.js';
import type { ActionResult } from '../../src/tui/service.js';
import { confirmRunReducer, initialConfirmRun, type ConfirmRunAction, type ConfirmRules, type ConfirmRunState } from '../common/confirm-run-state.js';

export interface UnplugState extends ConfirmRunState<Plan, ProgressEvent, ActionResult> {
  kind: 'disk' | 'nic';
  /** The last sequence number of the QMP transcript before the run (the result shows what came after). */
  transcriptFrom: number;
}

export type UnplugAction = ConfirmRunAction<Plan, ProgressEvent, ActionResult, { transcriptFrom: number }>;

export function initialUnplugState(kind: 'disk' | 'nic'): UnplugState {
  return { ...initialConfirmRun(), kind, transcriptFrom: 0 };
}

/** Whether the answer typed confirms the unplug. */
export function confirmed(state: UnplugState): boolean {
  return state.kind === 'disk' ? state.typed.trim().toLowerCase() === 'yes' : ['y', 'yes'].includes(state.typed.trim().toLowerCase());
}

const rules: ConfirmRules<UnplugState> = {
  confirmed,
  hint: (state) => (state.kind === 'disk' ? 'type yes (the whole word) and Enter to unplug, or Esc to keep the disk' : 'type y and Enter to unplug, or Esc'),
};

export function unplugReducer(state: UnplugState, action: UnplugAction): UnplugState {
  const next = confirmRunReducer(state, action, rules);
  // The run starts: its transcript is what comes after the confirm.
  return action.type === 'submit' && state.step === 'confirm' && next.step === 'running' ? { ...next, transcriptFrom: action.transcriptFrom } : next;
}
