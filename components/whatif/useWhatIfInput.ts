/** Keys of the what-if screen (components/keymap.ts): pick a parameter, change it, Tab to the output, Esc back. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import type { Key } from 'ink';
import { useKeys } from '../common/useKeys.js';
import { commandFor } from '../keymap.js';
import type { WhatIfAction, WhatIfState } from './state.js';

export interface WhatIfInputProps {
  active: boolean;
  state: WhatIfState;
  dispatch: Dispatch<WhatIfAction>;
  scrollMax: number;
  /** Lines of the output window (a page). */
  page: number;
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
    const { state, dispatch, scrollMax, page, onBack, onReset } = ref.current;
    const command = commandFor('whatif', input, key, { when: state.focus });
    if (command === undefined) return;
    const scroll = (delta: number) => dispatch({ type: 'scroll', delta, max: scrollMax });
    switch (command) {
      case 'back':
        return onBack();
      case 'focus':
        return dispatch({ type: 'focus' });
      case 'reset':
        return onReset();
      case 'param-up':
        return dispatch({ type: 'param', delta: -1 });
      case 'param-down':
        return dispatch({ type: 'param', delta: 1 });
      case 'value-down':
        return dispatch({ type: 'value', delta: -1 });
      case 'value-up':
        return dispatch({ type: 'value', delta: 1 });
      case 'value-down-more':
        return dispatch({ type: 'value', delta: -4 });
      case 'value-up-more':
        return dispatch({ type: 'value', delta: 4 });
      case 'scroll-up':
        return scroll(-1);
      case 'scroll-down':
        return scroll(1);
      case 'page-up':
        return scroll(-Math.max(1, page - 1));
      case 'page-down':
        return scroll(Math.max(1, page - 1));
      case 'top':
        return scroll(-scrollMax);
      case 'bottom':
        return scroll(scrollMax);
      default: {
        const never: never = command;
        return never;
      }
    }
  }, []);
  useKeys(handler, { isActive: props.active });
}
