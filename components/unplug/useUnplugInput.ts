/** Keys of the unplug screen (components/keymap.ts): the "yes" prompt, Esc, scrolling the plan and the result. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import type { Key } from 'ink';
import { useKeys } from '../common/useKeys.js';
import { commandFor } from '../keymap.js';
import { isTypedText } from '../text.js';
import type { UnplugAction, UnplugState } from './state.js';

export interface UnplugInputProps {
  active: boolean;
  state: UnplugState;
  dispatch: Dispatch<UnplugAction>;
  transcriptSeq: () => number;
  scrollMax: number;
  page: number;
}

export function useUnplugInput(props: UnplugInputProps): void {
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const { state, dispatch, scrollMax, page } = ref.current;
    const scroll = (delta: number) => dispatch({ type: 'scroll', delta, max: scrollMax });
    const typing = state.step === 'confirm';
    const command = commandFor('unplug', input, key, { when: state.step, typing });
    switch (command) {
      case 'scroll-up':
        return scroll(-1);
      case 'scroll-down':
        return scroll(1);
      case 'page-up':
        return scroll(-page);
      case 'page-down':
        return scroll(page);
      case 'top':
        return scroll(-scrollMax);
      case 'bottom':
        return scroll(scrollMax);
      case 'back':
        return dispatch({ type: 'back' });
      case 'submit':
        return dispatch({ type: 'submit', transcriptFrom: ref.current.transcriptSeq() });
      case 'erase':
        return dispatch({ type: 'erase' });
      case 'close':
        return dispatch({ type: 'close' });
      case undefined:
        if (typing && !key.ctrl && !key.meta && !key.tab && isTypedText(input)) dispatch({ type: 'type-text', text: input });
        return;
      default: {
        const never: never = command;
        return never;
      }
    }
  }, []);
  useKeys(handler, { isActive: props.active, typing: () => ref.current.state.step === 'confirm' });
}
