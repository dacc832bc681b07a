/**
 * Hooks that connect the views to the core service: subscriptions (with cleanup), the terminal
 * size (resize handled), and loading an instance's view with a periodic, cancellable refresh.
 */
import { useCallback, useEffect, useReducer, useRef, useState, useSyncExternalStore } from 'react';
import { useStdout } from 'ink';
import { useKeys } from './common/useKeys.js';
import type { InstanceService, ListState } from '../src/tui/service.js';
import { firstLineOf } from '../src/errors.js';
import type { InstanceView } from '../src/tui/view.js';
import type { Transcript, TranscriptEntry } from '../src/qmp/transcript.js';
import type { Size } from './layout.js';
import { useNav } from './context.js';
import { commandFor } from './keymap.js';

/** The terminal size, updated on resize (its own listener: ink skips resize handling on $CI). */
export function useTerminalSize(): Size {
  const { stdout } = useStdout();
  const read = useCallback((): Size => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 }), [stdout]);
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => {
      const next = read();
      setSize((prev) => (prev.columns === next.columns && prev.rows === next.rows ? prev : next));
    };
    stdout.on('resize', onResize);
    onResize();
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, read]);
  return size;
}

export function useServiceList(service: InstanceService): ListState {
  return useSyncExternalStore(
    useCallback((cb: () => void) => service.subscribe(cb), [service]),
    () => service.getList(),
  );
}

export function useNotes(service: InstanceService, name: string): readonly string[] {
  return useSyncExternalStore(
    useCallback((cb: () => void) => service.subscribe(cb), [service]),
    () => service.notes(name),
  );
}

export function useBanner(service: InstanceService): readonly string[] {
  return useSyncExternalStore(
    useCallback((cb: () => void) => service.subscribe(cb), [service]),
    () => service.banner,
  );
}

/** Entries of the transcript, kept up to date (a new array when an entry is recorded). */
export function useTranscript(transcript: Transcript | undefined): readonly TranscriptEntry[] {
  const [entries, setEntries] = useState<readonly TranscriptEntry[]>(() => transcript?.entries() ?? []);
  useEffect(() => {
    if (!transcript) return;
    setEntries(transcript.entries());
    let scheduled: NodeJS.Immediate | undefined;
    const off = transcript.subscribe(() => {
      scheduled ??= setImmediate(() => {
        scheduled = undefined;
        setEntries(transcript.entries());
      });
    });
    return () => {
      off();
      if (scheduled) clearImmediate(scheduled);
    };
  }, [transcript]);
  return entries;
}

export interface InstanceViewState {
  view: InstanceView | null;
  loading: boolean;
  error: string | null;
}

type LoadAction = { type: 'start' } | { type: 'loaded'; view: InstanceView } | { type: 'failed'; error: string };

function loadReducer(state: InstanceViewState, action: LoadAction): InstanceViewState {
  switch (action.type) {
    case 'start':
      return state.loading ? state : { ...state, loading: true };
    case 'loaded':
      return { view: action.view, loading: false, error: null };
    case 'failed':
      return { ...state, loading: false, error: action.error };
    default: {
      const never: never = action;
      return never;
    }
  }
}

/** How often an open instance is probed again (one short QMP connection each time). */
export const LIVE_REFRESH_MS = 3_000;

/**
 * The instance's view: the cached one at once, then a fresh load (recorded in the QMP log), then a
 * background refresh every LIVE_REFRESH_MS while `active`. `refresh()` loads now (recorded).
 * Every load is cancelled (AbortController) when the screen goes away.
 */
export function useInstanceView(service: InstanceService, name: string, active: boolean): InstanceViewState & { refresh: () => void } {
  const [state, dispatch] = useReducer(loadReducer, undefined, () => ({ view: service.cachedView(name) ?? null, loading: true, error: null }));
  const [tick, setTick] = useState(0);
  const recordNext = useRef(true);
  const refresh = useCallback(() => {
    recordNext.current = true;
    setTick((t) => t + 1);
  }, []);
  useEffect(() => {
    if (!active) return;
    const ac = new AbortController();
    const record = recordNext.current;
    recordNext.current = false;
    // Background refreshes do not announce themselves (no flicker every few seconds).
    if (record) dispatch({ type: 'start' });
    let timer: NodeJS.Timeout | undefined;
    service
      .loadView(name, { signal: ac.signal, record })
      .then(
        (view) => {
          if (!ac.signal.aborted) dispatch({ type: 'loaded', view });
        },
        (error: unknown) => {
          if (!ac.signal.aborted) dispatch({ type: 'failed', error: firstLineOf(error) });
        },
      )
      .finally(() => {
        if (!ac.signal.aborted) timer = setTimeout(() => setTick((t) => t + 1), LIVE_REFRESH_MS);
      });
    return () => {
      ac.abort();
      if (timer) clearTimeout(timer);
    };
  }, [service, name, active, tick]);
  return { ...state, refresh };
}

/**
 * Keys every screen shares (the key map's global entry): q quits, ? opens the help, L the QMP log.
 * Off while a text field has the keys (`typing`) or the screen is not on top.
 */
export function useGlobalKeys(active: boolean, typing = false): void {
  const nav = useNav();
  useKeys(
    (input, key) => {
      const command = commandFor('global', input, key);
      switch (command) {
        case 'quit':
          return nav.quit();
        case 'help':
          return nav.open({ kind: 'help' });
        case 'qmp-log':
          return nav.open({ kind: 'qmplog' });
        case undefined:
          return;
        default: {
          const never: never = command;
          return never;
        }
      }
    },
    // Not split into presses: in `sq` typed fast into a filter, the q is text, not quit.
    { isActive: active && !typing, typing: () => true },
  );
}
