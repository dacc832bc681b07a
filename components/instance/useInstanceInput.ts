/** Keys of the instance screen (components/keymap.ts): move on the maps, Tab between panes, and the actions. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import type { Key } from 'ink';
import { useKeys } from '../common/useKeys.js';
import { commandFor } from '../keymap.js';
import type { InstanceScreenAction } from './state.js';

export interface InstanceInputProps {
  active: boolean;
  dispatch: Dispatch<InstanceScreenAction>;
  perRow: number;
  scsiCount: number;
  hasScsi: boolean;
  onDetail: () => void;
  onHotAdd: () => void;
  onUnplug: () => void;
  onWhatIf: () => void;
  onRefresh: () => void;
  onBack: () => void;
}

export function useInstanceInput(props: InstanceInputProps): void {
  // The handler reads the latest props through a ref: it is subscribed once, not on every render.
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const p = ref.current;
    const move = (dx: number, dy: number) => p.dispatch({ type: 'move', dx, dy, perRow: p.perRow, scsiCount: p.scsiCount });
    const command = commandFor('instance', input, key);
    if (command === undefined) return;
    switch (command) {
      case 'left':
        return move(-1, 0);
      case 'right':
        return move(1, 0);
      case 'up':
        return move(0, -1);
      case 'down':
        return move(0, 1);
      case 'first':
        return p.dispatch({ type: 'edge', to: 'first', scsiCount: p.scsiCount });
      case 'last':
        return p.dispatch({ type: 'edge', to: 'last', scsiCount: p.scsiCount });
      case 'pane':
        return p.dispatch({ type: 'toggle-pane', hasScsi: p.hasScsi });
      case 'details':
        return p.onDetail();
      case 'back':
        return p.onBack();
      case 'unplug':
        return p.onUnplug();
      case 'hot-add':
        return p.onHotAdd();
      case 'what-if':
        return p.onWhatIf();
      case 'refresh':
        return p.onRefresh();
      default: {
        const never: never = command;
        return never;
      }
    }
  }, []);
  useKeys(handler, { isActive: props.active });
}
