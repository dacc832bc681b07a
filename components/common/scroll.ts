/** A scroll position over a list of lines: the reducer shared by the read-only screens. */
import type { ScrollCommand } from '../keymap.js';

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

/**
 * How far a scroll command moves, for the screens whose reducers scroll by a delta clamped to
 * `max` (the lines that can be scrolled); `page` is a page. `top` and `bottom` move by the whole.
 */
export function scrollDelta(command: ScrollCommand, max: number, page: number): number {
  switch (command) {
    case 'scroll-up':
      return -1;
    case 'scroll-down':
      return 1;
    case 'page-up':
      return -page;
    case 'page-down':
      return page;
    case 'top':
      return -max;
    case 'bottom':
      return max;
    default: {
      const never: never = command;
      return never;
    }
  }
}
