/** The QMP log's widget state: scroll position, following the end, wrapping long lines. */
export interface QmpLogState {
  top: number;
  /** Stay at the end as new entries arrive. */
  follow: boolean;
  wrap: boolean;
}

export type QmpLogAction = { type: 'scroll'; delta: number; max: number } | { type: 'end'; max: number } | { type: 'home' } | { type: 'toggle-wrap' };

export const initialQmpLogState: QmpLogState = { top: 0, follow: true, wrap: false };

export function qmpLogReducer(state: QmpLogState, action: QmpLogAction): QmpLogState {
  switch (action.type) {
    case 'scroll': {
      const from = state.follow ? action.max : state.top;
      const top = Math.max(0, Math.min(action.max, from + action.delta));
      return { ...state, top, follow: top >= action.max };
    }
    case 'end':
      return { ...state, top: action.max, follow: true };
    case 'home':
      return { ...state, top: 0, follow: false };
    case 'toggle-wrap':
      return { ...state, wrap: !state.wrap };
    default: {
      const never: never = action;
      return never;
    }
  }
}

/** The first line shown: the end while following. */
export function logTop(state: QmpLogState, max: number): number {
  return state.follow ? max : Math.min(state.top, max);
}
