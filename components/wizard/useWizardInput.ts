/**
 * Keys of the hot-add wizard. The pickers (kind, type) are ink-select-input lists with their own
 * keys; this hook adds Esc, the text fields (typing, Backspace, Tab completion, Enter), and the
 * preview / confirm / result keys.
 */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import { type Key, useInput } from 'ink';
import { isTypedText } from '../text.js';
import { fieldOf, type WizardAction, type WizardState } from './state.js';

export interface WizardInputProps {
  active: boolean;
  state: WizardState;
  dispatch: Dispatch<WizardAction>;
  newUuid: () => string;
  /** The last sequence number of the QMP transcript (what came before the run). */
  transcriptSeq: () => number;
  /** Lines that can be scrolled in the preview / result, and the page size. */
  scrollMax: number;
  page: number;
}

export function useWizardInput(props: WizardInputProps): void {
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const { state, dispatch } = ref.current;
    const scroll = (delta: number) => dispatch({ type: 'scroll', delta, max: ref.current.scrollMax });
    if (fieldOf(state.step)) {
      if (key.escape) return dispatch({ type: 'back' });
      if (key.return) return dispatch({ type: 'submit', uuid: ref.current.newUuid() });
      if (key.backspace || key.delete) return dispatch({ type: 'erase' });
      if (key.tab) return dispatch({ type: 'complete' });
      if (key.ctrl || key.meta || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow) return;
      if (isTypedText(input)) dispatch({ type: 'type-text', text: input });
      return;
    }
    switch (state.step) {
      case 'kind':
      case 'type':
        if (key.escape || key.leftArrow) dispatch({ type: 'back' });
        return;
      case 'preview':
        if (key.escape) return dispatch({ type: 'back' });
        if (key.return) return dispatch({ type: 'submit', uuid: ref.current.newUuid() });
        if (key.upArrow || input === 'k') return scroll(-1);
        if (key.downArrow || input === 'j') return scroll(1);
        if (key.pageUp) return scroll(-ref.current.page);
        if (key.pageDown || input === ' ') return scroll(ref.current.page);
        return;
      case 'confirm':
        if (input === 'y' || input === 'Y') return dispatch({ type: 'confirm', transcriptFrom: ref.current.transcriptSeq() });
        if (input === 'n' || input === 'N' || key.escape) return dispatch({ type: 'back' });
        return;
      case 'running':
        return;
      case 'result':
        if (key.escape || key.return) return dispatch({ type: 'close' });
        if (key.upArrow || input === 'k') return scroll(-1);
        if (key.downArrow || input === 'j') return scroll(1);
        if (key.pageUp) return scroll(-ref.current.page);
        if (key.pageDown || input === ' ') return scroll(ref.current.page);
        return;
      default:
        return;
    }
  }, []);
  useInput(handler, { isActive: props.active });
}
