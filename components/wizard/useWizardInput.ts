/**
 * Keys of the hot-add wizard (components/keymap.ts): the lists of the kind and type steps, the text
 * fields (typing, Backspace, Tab completion, Enter), and the preview / confirm / result keys.
 */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import type { Key } from 'ink';
import { scrollDelta } from '../common/scroll.js';
import { useKeys } from '../common/useKeys.js';
import { commandFor } from '../keymap.js';
import { isTypedText } from '../text.js';
import { fieldOf, wizardMode, type WizardAction, type WizardState } from './state.js';

export interface WizardInputProps {
  active: boolean;
  state: WizardState;
  dispatch: Dispatch<WizardAction>;
  /** The values of the list of the kind or type step (what Enter picks). */
  pickValues: readonly string[];
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
    const { state, dispatch, pickValues, scrollMax, page } = ref.current;
    const typing = fieldOf(state.step) !== null;
    const command = commandFor('wizard', input, key, { when: wizardMode(state.step), typing });
    switch (command) {
      case 'pick-up':
        return dispatch({ type: 'pick-move', delta: -1, count: pickValues.length });
      case 'pick-down':
        return dispatch({ type: 'pick-move', delta: 1, count: pickValues.length });
      case 'pick': {
        const value = pickValues[Math.min(state.pick, pickValues.length - 1)];
        if (value === undefined) return;
        if (state.step === 'kind') return dispatch({ type: 'choose-kind', kind: value === 'nic' ? 'nic' : 'disk' });
        return dispatch({ type: 'choose-type', value });
      }
      case 'complete':
        return dispatch({ type: 'complete' });
      case 'erase':
        return dispatch({ type: 'erase' });
      case 'submit':
      case 'to-confirm':
        return dispatch({ type: 'submit', uuid: ref.current.newUuid() });
      case 'confirm':
        return dispatch({ type: 'confirm', transcriptFrom: ref.current.transcriptSeq() });
      case 'cancel':
      case 'back':
        return dispatch({ type: 'back' });
      case 'close':
        return dispatch({ type: 'close' });
      case 'scroll-up':
      case 'scroll-down':
      case 'page-up':
      case 'page-down':
      case 'top':
      case 'bottom':
        return dispatch({ type: 'scroll', delta: scrollDelta(command, scrollMax, page), max: scrollMax });
      case undefined:
        if (typing && !key.ctrl && !key.meta && !key.tab && isTypedText(input)) dispatch({ type: 'type-text', text: input });
        return;
      default: {
        const never: never = command;
        return never;
      }
    }
  }, []);
  useKeys(handler, { isActive: props.active, typing: () => fieldOf(ref.current.state.step) !== null });
}
