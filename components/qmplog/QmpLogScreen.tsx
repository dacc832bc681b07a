/** The QMP commands and replies of this session (previews, actions, loads you asked for). */
import React, { useCallback, useLayoutEffect, useMemo, useReducer, useRef } from 'react';
import { Box, type Key } from 'ink';
import { useKeys } from '../common/useKeys.js';
import type { TranscriptEntry } from '../../src/qmp/transcript.js';
import { escapeForTerminal } from '../../src/text/terminal.js';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useTranscript } from '../hooks.js';
import { commandFor, keyLine } from '../keymap.js';
import { textScreenLayout, type Size } from '../layout.js';
import { truncate, wrapLines } from '../text.js';
import { initialQmpLogState, logTop, qmpLogReducer } from './state.js';

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/**
 * `12:03:04.123 web1 → {"execute":…}`. The log's formatter: what QEMU sent is shown with the
 * characters a terminal would act on escaped (`\x1b`), so a line is one line of the log whatever
 * QEMU put in it (the transcript itself keeps the exact text).
 */
export function logLines(entries: readonly TranscriptEntry[]): string[] {
  return entries.map((e) => {
    const inst = e.socket.replace(/^.*\//, '').replace(/\.qmp$/, '');
    return escapeForTerminal(`${time(e.at)} ${inst} ${e.direction === 'out' ? '→' : '←'} ${e.json}${e.fullLength ? ` (cut, ${e.fullLength} chars)` : ''}`);
  });
}

export function QmpLogScreen({ active, size }: { active: boolean; size: Size }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const entries = useTranscript(service.transcript);
  const [state, dispatch] = useReducer(qmpLogReducer, initialQmpLogState);
  const w = size.columns;
  const layout = textScreenLayout(size, 1);
  const height = layout.fits ? layout.body : 2;
  const lines = useMemo(() => {
    const raw = logLines(entries);
    return state.wrap ? wrapLines(raw, w, 15) : raw;
  }, [entries, state.wrap, w]);
  const max = maxTop(lines.length, height);
  const ref = useRef({ max, height });
  useLayoutEffect(() => {
    ref.current = { max, height };
  });
  const handler = useCallback(
    (input: string, key: Key) => {
      const { max: m, height: h } = ref.current;
      const command = commandFor('qmplog', input, key);
      if (command === undefined) return;
      switch (command) {
        case 'back':
          return nav.back();
        case 'scroll-up':
          return dispatch({ type: 'scroll', delta: -1, max: m });
        case 'scroll-down':
          return dispatch({ type: 'scroll', delta: 1, max: m });
        case 'page-up':
          return dispatch({ type: 'scroll', delta: -Math.max(1, h - 1), max: m });
        case 'page-down':
          return dispatch({ type: 'scroll', delta: Math.max(1, h - 1), max: m });
        case 'top':
          return dispatch({ type: 'home' });
        case 'bottom':
          return dispatch({ type: 'end', max: m });
        case 'wrap':
          return dispatch({ type: 'toggle-wrap' });
        default: {
          const never: never = command;
          return never;
        }
      }
    },
    [nav],
  );
  useKeys(handler, { isActive: active });
  useGlobalKeys(active);
  const top = logTop(state, max);
  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(`QMP log · ${entries.length} messages this session (kept: the last ${service.transcript?.maxEntries ?? 0})${state.follow ? ' · following' : ''}`, w)}</Text>
      {layout.extra > 0 ? <Text dimColor>{truncate('→ sent by plugboard · ← from QEMU · previews, actions and the loads you asked for (Enter, r); background refreshes are not logged', w)}</Text> : null}
      {entries.length === 0 ? (
        <Box height={height}>
          <Text>{truncate('Nothing yet: open a running instance, or hot-add / unplug something.', w)}</Text>
        </Box>
      ) : (
        <ScrollText lines={lines} top={top} height={height} width={w} />
      )}
      <Text dimColor>{keyLine('qmplog', w)}</Text>
    </Box>
  );
}
