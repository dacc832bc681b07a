/** Keys of the what-if screen: ↑↓ pick a parameter, ←→ change it, Tab to the output, Esc back. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import { type Key, useInput } from 'ink';
import type { WhatIfAction, WhatIfState } from './state.js';

export interface WhatIfInputProps {
  active: boolean;
  state: WhatIfState;
  dispatch: Dispatch<WhatIfAction>;
  scrollMax: number;
  onBack: () => void;
  onReset: () => void;
}

export function useWhatIfInput(props: WhatIfInputProps): void {
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const { state, dispatch, scrollMax, onBack, onReset } = ref.current;
    if (key.escape) return onBack();
    if (key.tab) return dispatch({ type: 'focus' });
    if (input === '0') return onReset();
    const up = key.upArrow || input === 'k';
    const down = key.downArrow || input === 'j';
    if (state.focus === 'output') {
      if (up) return dispatch({ type: 'scroll', delta: -1, max: scrollMax });
      if (down) return dispatch({ type: 'scroll', delta: 1, max: scrollMax });
      if (key.pageUp) return dispatch({ type: 'scroll', delta: -8, max: scrollMax });
      if (key.pageDown || input === ' ') return dispatch({ type: 'scroll', delta: 8, max: scrollMax });
      return;
    }
    if (up) return dispatch({ type: 'param', delta: -1 });
    if (down) return dispatch({ type: 'param', delta: 1 });
    if (key.leftArrow || input === 'h' || input === '-') return dispatch({ type: 'value', delta: -1 });
    if (key.rightArrow || input === 'l' || input === '+' || key.return) return dispatch({ type: 'value', delta: 1 });
    if (key.pageUp) return dispatch({ type: 'value', delta: -4 });
    if (key.pageDown) return dispatch({ type: 'value', delta: 4 });
  }, []);
  useInput(handler, { isActive: props.active });
}
