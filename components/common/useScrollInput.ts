/** The keys of a screen of scrolled text (components/keymap.ts: detail, help) over a ScrollState; `back` and the screen's own commands go to callbacks. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import type { Key } from 'ink';
import { useKeys } from './useKeys.js';
import { commandFor, type CommandOf, type ScrollCommand } from '../keymap.js';
import type { ScrollAction } from './scroll.js';

type ScrollScreen = 'detail' | 'help';

export interface ScrollInputProps<S extends ScrollScreen> {
  screen: S;
  active: boolean;
  dispatch: Dispatch<ScrollAction>;
  max: number;
  page: number;
  onEscape: () => void;
  /** The screen's other commands (`unplug` on the detail). */
  onCommand?: (command: Exclude<CommandOf<S>, ScrollCommand | 'back'>) => void;
}

/** The scroll action of a scroll command. */
export function scrollAction(command: ScrollCommand, max: number, page: number): ScrollAction {
  switch (command) {
    case 'scroll-up':
      return { type: 'by', delta: -1, max };
    case 'scroll-down':
      return { type: 'by', delta: 1, max };
    case 'page-up':
      return { type: 'by', delta: -page, max };
    case 'page-down':
      return { type: 'by', delta: page, max };
    case 'top':
      return { type: 'to', top: 0, max };
    case 'bottom':
      return { type: 'to', top: max, max };
    default: {
      const never: never = command;
      return never;
    }
  }
}

const SCROLL: ReadonlySet<string> = new Set<ScrollCommand>(['scroll-up', 'scroll-down', 'page-up', 'page-down', 'top', 'bottom']);

export function useScrollInput<S extends ScrollScreen>(props: ScrollInputProps<S>): void {
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const { screen, dispatch, max, page, onEscape, onCommand } = ref.current;
    const command = commandFor(screen, input, key) as CommandOf<ScrollScreen> | undefined;
    if (command === undefined) return;
    if (command === 'back') return onEscape();
    if (SCROLL.has(command)) return dispatch(scrollAction(command as ScrollCommand, max, page));
    onCommand?.(command as Exclude<CommandOf<S>, ScrollCommand | 'back'>);
  }, []);
  useKeys(handler, { isActive: props.active });
}
