/** Keys of the instance screen: move on the maps, Tab between panes, and the actions. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import { type Key, useInput } from 'ink';
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
    if (key.leftArrow || input === 'h') return move(-1, 0);
    if (key.rightArrow || input === 'l') return move(1, 0);
    if (key.upArrow || input === 'k') return move(0, -1);
    if (key.downArrow || input === 'j') return move(0, 1);
    if (key.home || input === 'g') return p.dispatch({ type: 'edge', to: 'first', scsiCount: p.scsiCount });
    if (key.end || input === 'G') return p.dispatch({ type: 'edge', to: 'last', scsiCount: p.scsiCount });
    if (key.tab) return p.dispatch({ type: 'toggle-pane', hasScsi: p.hasScsi });
    if (key.return) return p.onDetail();
    if (key.escape) return p.onBack();
    if (input === 'u' || input === 'x') return p.onUnplug();
    if (key.ctrl || key.meta) return;
    if (input === 'a' || input === '+') return p.onHotAdd();
    if (input === 'w') return p.onWhatIf();
    if (input === 'r') return p.onRefresh();
  }, []);
  useInput(handler, { isActive: props.active });
}
