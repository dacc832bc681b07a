/** Keys of the Ganeti hot-add wizard (components/keymap.ts `ganeti-wizard`). */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import type { Key } from 'ink';
import { useKeys } from '../common/useKeys.js';
import { commandFor } from '../keymap.js';
import { isTypedText } from '../text.js';
import type { GanetiWizardAction, GanetiWizardState } from './wizard-state.js';

export function useGanetiWizardInput(props: { active: boolean; state: GanetiWizardState; dispatch: Dispatch<GanetiWizardAction> }): void {
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const { state, dispatch } = ref.current;
    const typing = state.step !== 'pick';
    const command = commandFor('ganeti-wizard', input, key, { when: typing ? 'value' : 'pick', typing });
    switch (command) {
      case 'pick-up':
        return dispatch({ type: 'pick-move', delta: -1 });
      case 'pick-down':
        return dispatch({ type: 'pick-move', delta: 1 });
      case 'pick':
        return dispatch({ type: 'pick' });
      case 'erase':
        return dispatch({ type: 'erase' });
      case 'submit':
        return dispatch({ type: 'submit' });
      case 'back':
        return dispatch({ type: 'back' });
      case undefined:
        if (typing && !key.ctrl && !key.meta && !key.tab && isTypedText(input)) dispatch({ type: 'type-text', text: input });
        return;
      default: {
        const never: never = command;
        return never;
      }
    }
  }, []);
  useKeys(handler, { isActive: props.active, typing: () => ref.current.state.step !== 'pick' });
}
