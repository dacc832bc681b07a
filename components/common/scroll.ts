/** A scroll position over a list of lines: the reducer shared by the read-only screens. */
export interface ScrollState {
  top: number;
}

export type ScrollAction = { type: 'by'; delta: number; max: number } | { type: 'to'; top: number; max: number };

export function scrollReducer(state: ScrollState, action: ScrollAction): ScrollState {
  switch (action.type) {
    case 'by': {
      const top = Math.max(0, Math.min(action.max, state.top + action.delta));
      return top === state.top ? state : { top };
    }
    case 'to': {
      const top = Math.max(0, Math.min(action.max, action.top));
      return top === state.top ? state : { top };
    }
    default: {
      const never: never = action;
      return never;
    }
  }
}

export const initialScroll: ScrollState = { top: 0 };
