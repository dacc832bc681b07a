/** Keys of the instance list: handed to the reducer with the rows they apply to. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import type { Key } from 'ink';
import { useKeys } from '../common/useKeys.js';
import type { InstanceSummary } from '../../src/tui/service.js';
import type { InstancesAction } from './state.js';

export interface InstancesInputProps {
  active: boolean;
  dispatch: Dispatch<InstancesAction>;
  /** All rows (the reducer applies its own filter). */
  rows: readonly InstanceSummary[];
  pageSize: number;
}

export function useInstancesInput(props: InstancesInputProps): void {
  const ref = useRef(props);
  // Updated right after each commit, before the next key arrives.
  useLayoutEffect(() => {
    ref.current = props;
  });
  const handler = useCallback((input: string, key: Key) => {
    const { dispatch, rows, pageSize } = ref.current;
    dispatch({ type: 'key', input, key, rows, pageSize });
  }, []);
  // One press at a time: the reducer decides, against the state each press leaves, what the next is.
  useKeys(handler, { isActive: props.active });
}
