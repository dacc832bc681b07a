/** Keys of the unplug screen: the "yes" prompt, Esc, scrolling the plan and the result. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import { type Key, useInput } from 'ink';
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
    if (key.upArrow) return scroll(-1);
    if (key.downArrow) return scroll(1);
    if (key.pageUp) return scroll(-page);
    if (key.pageDown) return scroll(page);
    switch (state.step) {
      case 'preview':
        if (key.escape) dispatch({ type: 'back' });
        return;
      case 'confirm':
        if (key.escape) return dispatch({ type: 'back' });
        if (key.return) return dispatch({ type: 'submit', transcriptFrom: ref.current.transcriptSeq() });
        if (key.backspace || key.delete) return dispatch({ type: 'erase' });
        if (key.ctrl || key.meta || key.tab) return;
        if (isTypedText(input)) dispatch({ type: 'type-text', text: input });
        return;
      case 'running':
        return;
      case 'result':
        if (key.escape || key.return) dispatch({ type: 'close' });
        return;
      default:
        return;
    }
  }, []);
  useInput(handler, { isActive: props.active });
}
