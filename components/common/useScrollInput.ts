/** ↑↓/jk, PgUp/PgDn, Home/End over a ScrollState; Esc and extra keys go to the callbacks. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import { type Key, useInput } from 'ink';
import type { ScrollAction } from './scroll.js';

export interface ScrollInputProps {
  active: boolean;
  dispatch: Dispatch<ScrollAction>;
  max: number;
  page: number;
  onEscape: () => void;
  /** Other keys (`u` for unplug…): return true when handled. */
  onKey?: (input: string, key: Key) => boolean;
}

export function useScrollInput(props: ScrollInputProps): void {
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const { dispatch, max, page, onEscape, onKey } = ref.current;
    if (onKey?.(input, key)) return;
    if (key.escape || key.leftArrow || input === 'h') return onEscape();
    if (key.upArrow || input === 'k') return dispatch({ type: 'by', delta: -1, max });
    if (key.downArrow || input === 'j') return dispatch({ type: 'by', delta: 1, max });
    if (key.pageUp) return dispatch({ type: 'by', delta: -page, max });
    if (key.pageDown || input === ' ') return dispatch({ type: 'by', delta: page, max });
    if (key.home || input === 'g') return dispatch({ type: 'to', top: 0, max });
    if (key.end || input === 'G') return dispatch({ type: 'to', top: max, max });
  }, []);
  useInput(handler, { isActive: props.active });
}
