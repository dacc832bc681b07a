/**
 * Keys of a confirm-run screen (components/keymap.ts `unplug`, `ganeti-job`): the answer typed at
 * the prompt, Backspace, Enter (the screen's submit action), Esc, scrolling the plan, the progress
 * and the result. The reducer is common/confirm-run-state.ts.
 */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import type { Key } from 'ink';
import { useKeys } from './useKeys.js';
import { commandFor } from '../keymap.js';
import { isTypedText } from '../text.js';
import type { ConfirmRunAction, ConfirmRunStep } from './confirm-run-state.js';
import { scrollDelta } from './scroll.js';

/** The actions the keys dispatch, but submit (the screen makes that one). */
type KeyAction = Extract<ConfirmRunAction<never, never, never>, { type: 'type-text' | 'erase' | 'back' | 'scroll' | 'close' }>;

export interface ConfirmRunInputProps<A extends { type: 'submit' }> {
  /** The screen in the key map. */
  screen: 'unplug' | 'ganeti-job';
  active: boolean;
  step: ConfirmRunStep;
  dispatch: Dispatch<KeyAction | A>;
  /** The action Enter sends at the prompt (made when it is pressed). */
  submit: () => A;
  /** Lines that can be scrolled, and the page size. */
  scrollMax: number;
  page: number;
}

export function useConfirmRunInput<A extends { type: 'submit' }>(props: ConfirmRunInputProps<A>): void {
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const { screen, step, dispatch, scrollMax, page } = ref.current;
    const typing = step === 'confirm';
    const command = commandFor(screen, input, key, { when: step, typing });
    switch (command) {
      case 'scroll-up':
      case 'scroll-down':
      case 'page-up':
      case 'page-down':
      case 'top':
      case 'bottom':
        return dispatch({ type: 'scroll', delta: scrollDelta(command, scrollMax, page), max: scrollMax });
      case 'back':
        return dispatch({ type: 'back' });
      case 'submit':
        return dispatch(ref.current.submit());
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
  useKeys(handler, { isActive: props.active, typing: () => ref.current.step === 'confirm' });
}
