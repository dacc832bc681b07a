/**
 * The instance list's widget state: which instance is selected (by name, so that rows loading in
 * do not move the selection), the filter being typed, and requests (open, refresh) that an effect
 * carries out. Keys are resolved here, against the current state, so that keys typed faster than
 * the screen redraws land where they should. Pure reducer.
 */
import type { InstanceSummary } from '../../src/tui/service.js';
import { characterKeys, commandFor } from '../keymap.js';
import { isTypedText } from '../text.js';

export interface InstancesState {
  selected: string | null;
  filter: string;
  /** The filter has the keys (typing edits it). */
  filtering: boolean;
  /** First visible row (kept between renders so the list does not jump). */
  top: number;
  /** Open this instance (the screen's effect does it and clears the request). */
  openRequest: string | null;
  /** Increases when the operator asks for a refresh. */
  refreshes: number;
}

/** The parts of ink's Key the list uses. */
export interface ListKey {
  upArrow?: boolean;
  downArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  backspace?: boolean;
  delete?: boolean;
  tab?: boolean;
  shift?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

export type InstancesAction =
  | { type: 'key'; input: string; key: ListKey; rows: readonly InstanceSummary[]; pageSize: number }
  | { type: 'opened' }
  | { type: 'scrolled'; top: number };

export const initialInstancesState: InstancesState = { selected: null, filter: '', filtering: false, top: 0, openRequest: null, refreshes: 0 };

/** Rows that match the filter (case-insensitive, on name, types and controller), in list order. */
export function filterInstances(rows: readonly InstanceSummary[], filter: string): InstanceSummary[] {
  const f = filter.trim().toLowerCase();
  if (f === '') return [...rows];
  return rows.filter((r) => [r.name, r.diskType ?? '', r.nicType ?? '', r.controller ?? ''].some((v) => v.toLowerCase().includes(f)));
}

/** The selected row's index in `names`: the selected name, else the first row. */
export function selectedIndex(state: Pick<InstancesState, 'selected'>, names: readonly string[]): number {
  if (names.length === 0) return -1;
  const i = state.selected === null ? -1 : names.indexOf(state.selected);
  return i < 0 ? 0 : i;
}

/** Keys that mean something on the list (the key map's, global ones included); any other printable character starts the filter. */
export const LIST_KEYS: ReadonlySet<string> = characterKeys('instances');

const PRINTABLE = /^[\x21-\x7e]+$/;

function move(state: InstancesState, names: readonly string[], to: (i: number, n: number) => number): InstancesState {
  const n = names.length;
  if (n === 0) return state;
  const i = Math.min(n - 1, Math.max(0, to(selectedIndex(state, names), n)));
  return names[i] === state.selected ? state : { ...state, selected: names[i]! };
}

/** The list's mode in the key map: typing a filter, filtered, or neither (undefined). */
export function instancesMode(state: Pick<InstancesState, 'filtering' | 'filter'>): 'filter' | 'filtered' | undefined {
  return state.filtering ? 'filter' : state.filter !== '' ? 'filtered' : undefined;
}

function onKey(state: InstancesState, a: Extract<InstancesAction, { type: 'key' }>): InstancesState {
  const { input, key } = a;
  const names = filterInstances(a.rows, state.filter).map((r) => r.name);
  const open = (s: InstancesState): InstancesState => {
    const n = filterInstances(a.rows, s.filter).map((r) => r.name);
    const i = selectedIndex(s, n);
    return i < 0 ? s : { ...s, openRequest: n[i]! };
  };
  const command = commandFor('instances', input, key, { when: instancesMode(state), typing: state.filtering });
  switch (command) {
    case 'up':
      return move(state, names, (i) => i - 1);
    case 'down':
      return move(state, names, (i) => i + 1);
    case 'page-up':
      return move(state, names, (i) => i - a.pageSize);
    case 'page-down':
      return move(state, names, (i) => i + a.pageSize);
    case 'first':
      return move(state, names, () => 0);
    case 'last':
      return move(state, names, (_, n) => n - 1);
    case 'open':
      return open({ ...state, filtering: false });
    case 'filter':
      return { ...state, filtering: true, top: 0 };
    case 'erase':
      return { ...state, filter: state.filter.slice(0, -1), top: 0 };
    case 'clear-filter':
      return { ...state, filtering: false, filter: '', top: 0 };
    case 'refresh':
      return { ...state, refreshes: state.refreshes + 1 };
    case undefined:
      break;
    default: {
      const never: never = command;
      return never;
    }
  }
  if (key.ctrl || key.meta) return state;
  if (state.filtering) {
    if (isTypedText(input) && !key.escape && !key.return && !key.tab) return { ...state, filter: state.filter + input, top: 0 };
    return state;
  }
  if (PRINTABLE.test(input) && !LIST_KEYS.has(input)) return { ...state, filtering: true, filter: state.filter + input, top: 0 };
  return state;
}

export function instancesReducer(state: InstancesState, action: InstancesAction): InstancesState {
  switch (action.type) {
    case 'key':
      return onKey(state, action);
    case 'opened':
      return state.openRequest === null ? state : { ...state, openRequest: null };
    case 'scrolled':
      return state.top === action.top ? state : { ...state, top: action.top };
    default: {
      const never: never = action;
      return never;
    }
  }
}
