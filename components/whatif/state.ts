/**
 * The what-if screen's state: the three parameters (disk_type, scsi_controller_type,
 * kvm_pci_reservations) being tried, which one has the keys, and the scroll of the output.
 */
import { DISK_TYPES, SCSI_CONTROLLER_TYPES } from '../../src/runtime/hvparams.js';
import type { WhatIfParams } from '../../src/tui/whatif.js';

export const PARAMS = ['disk_type', 'scsi_controller_type', 'kvm_pci_reservations'] as const;
export type ParamName = (typeof PARAMS)[number];

export interface WhatIfState {
  params: WhatIfParams;
  /** Index into PARAMS. */
  param: number;
  focus: 'params' | 'output';
  scroll: number;
  /** Why `s` did not send anything (one line), until the next change. */
  notice: string | null;
}

export type WhatIfAction =
  | { type: 'param'; delta: number }
  | { type: 'value'; delta: number }
  | { type: 'reset'; params: WhatIfParams }
  | { type: 'focus' }
  | { type: 'scroll'; delta: number; max: number }
  | { type: 'notice'; text: string | null };

export function initialWhatIfState(params: WhatIfParams): WhatIfState {
  return { params, param: 0, focus: 'params', scroll: 0, notice: null };
}

function cycle<T>(values: readonly T[], current: T, delta: number): T {
  const i = values.indexOf(current);
  const n = values.length;
  return values[(((i < 0 ? 0 : i) + delta) % n + n) % n]!;
}

export function whatIfReducer(state: WhatIfState, action: WhatIfAction): WhatIfState {
  switch (action.type) {
    case 'param':
      return { ...state, param: Math.max(0, Math.min(PARAMS.length - 1, state.param + action.delta)), focus: 'params' };
    case 'value': {
      const p = state.params;
      const name = PARAMS[state.param]!;
      const params =
        name === 'disk_type'
          ? { ...p, diskType: cycle(DISK_TYPES, p.diskType as (typeof DISK_TYPES)[number], action.delta) }
          : name === 'scsi_controller_type'
            ? { ...p, scsiControllerType: cycle(SCSI_CONTROLLER_TYPES, p.scsiControllerType as (typeof SCSI_CONTROLLER_TYPES)[number], action.delta) }
            : { ...p, reservations: Math.max(0, Math.min(32, p.reservations + action.delta)) };
      return { ...state, params, scroll: 0, notice: null };
    }
    case 'reset':
      return { ...state, params: action.params, scroll: 0, notice: null };
    case 'notice':
      return { ...state, notice: action.text };
    case 'focus':
      return { ...state, focus: state.focus === 'params' ? 'output' : 'params' };
    case 'scroll':
      return { ...state, scroll: Math.max(0, Math.min(action.max, state.scroll + action.delta)) };
    default: {
      const never: never = action;
      return never;
    }
  }
}

export function valueOf(params: WhatIfParams, name: ParamName): string {
  switch (name) {
    case 'disk_type':
      return params.diskType;
    case 'scsi_controller_type':
      return params.scsiControllerType;
    case 'kvm_pci_reservations':
      return String(params.reservations);
    default: {
      const never: never = name;
      return String(never);
    }
  }
}
