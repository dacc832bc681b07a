/**
 * The app's navigation: a stack of screens (the top one is shown and gets the keys) and the one
 * way out. Pure reducer; the App turns `quit` into ink's exit in one effect.
 */
import type { GanetiAction } from '../src/actions/plan-ganeti.js';
import type { MapPlace } from '../src/tui/detail.js';

export type Screen =
  | { kind: 'instances' }
  | { kind: 'instance'; name: string }
  /** The QMP hot-add; `start` skips the first choice (the Ganeti wizard chose "directly over QMP"). */
  | { kind: 'wizard'; name: string; start?: 'disk' | 'nic' }
  /** The hot-add through Ganeti (an instance Ganeti manages). */
  | { kind: 'ganeti-wizard'; name: string }
  /**
   * A change through Ganeti: its exact request, a confirm (`y`, or `yes` where data goes), the job
   * followed, the result. `title` heads the screen; `question` is asked at the confirm.
   */
  | { kind: 'ganeti-job'; name: string; action: GanetiAction; title: string; question: string; confirm: 'y' | 'yes' }
  | { kind: 'unplug'; name: string; place: MapPlace; deviceId: string; deviceKind: 'disk' | 'nic' }
  | { kind: 'detail'; name: string; place: MapPlace }
  | { kind: 'whatif'; name: string }
  | { kind: 'qmplog' }
  | { kind: 'help' };

export interface AppState {
  stack: readonly Screen[];
  /** Set once: the app leaves (q, Ctrl-C, a signal). */
  quit: boolean;
  /** Increases on every push, so screens can be keyed uniquely. */
  serial: number;
  keys: readonly number[];
}

export type AppAction =
  | { type: 'open'; screen: Screen }
  | { type: 'back' }
  /** Back to the first screen of this kind from the top (e.g. from a wizard result to the map). */
  | { type: 'back-to'; kind: Screen['kind'] }
  | { type: 'quit' };

/** The stack to start with: the instance list, or the given screens (the last one on top). */
export function initialAppState(first: Screen | readonly Screen[] = { kind: 'instances' }): AppState {
  const stack = Array.isArray(first) ? (first.length > 0 ? [...first] : [{ kind: 'instances' } as Screen]) : [first as Screen];
  return { stack, quit: false, serial: stack.length, keys: stack.map((_, i) => i) };
}

/** Screens that are modal overlays of themselves: opening one again replaces it instead of stacking. */
const SINGLE: ReadonlySet<Screen['kind']> = new Set(['help', 'qmplog']);

export function appReducer(state: AppState, action: AppAction): AppState {
  switch (action.type) {
    case 'open': {
      if (state.quit) return state;
      const top = state.stack[state.stack.length - 1];
      if (top && SINGLE.has(action.screen.kind) && top.kind === action.screen.kind) return state;
      return { ...state, stack: [...state.stack, action.screen], keys: [...state.keys, state.serial], serial: state.serial + 1 };
    }
    case 'back':
      if (state.stack.length <= 1) return state;
      return { ...state, stack: state.stack.slice(0, -1), keys: state.keys.slice(0, -1) };
    case 'back-to': {
      for (let i = state.stack.length - 1; i >= 0; i--) {
        if (state.stack[i]!.kind === action.kind) {
          return { ...state, stack: state.stack.slice(0, i + 1), keys: state.keys.slice(0, i + 1) };
        }
      }
      return state;
    }
    case 'quit':
      return state.quit ? state : { ...state, quit: true };
    default: {
      const never: never = action;
      return never;
    }
  }
}

export function topScreen(state: AppState): Screen {
  return state.stack[state.stack.length - 1]!;
}
