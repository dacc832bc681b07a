/**
 * The view's one way to take key presses: ink's useInput, with an input event of several
 * characters (keys typed quickly or held down, which a terminal or SSH may deliver in one read)
 * handed on one character at a time, unless a text field has the keys (`typing`): then the chunk
 * is text (a paste) and goes as it came. The handlers look their keys up in the key map
 * (components/keymap.ts).
 */
import { useCallback, useLayoutEffect, useRef } from 'react';
import { type Key, useInput } from 'ink';
import { keyPresses } from '../keymap.js';

export interface KeysOptions {
  isActive: boolean;
  /** Whether a text field has the keys now (asked for each event). */
  typing?: () => boolean;
}

export function useKeys(handler: (input: string, key: Key) => void, options: KeysOptions): void {
  const ref = useRef({ handler, typing: options.typing });
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = { handler, typing: options.typing };
  });
  const onInput = useCallback((input: string, key: Key) => {
    const { handler: h, typing } = ref.current;
    if (typing?.()) return h(input, key);
    for (const p of keyPresses(input, key)) h(p.input, p.key as Key);
  }, []);
  useInput(onInput, { isActive: options.isActive });
}
