/** Keys of the instance list: handed to the reducer with the rows they apply to. */
import { type Dispatch, useCallback, useLayoutEffect, useRef } from 'react';
import { type Key, useInput } from 'ink';
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
  useInput(handler, { isActive: props.active });
}
