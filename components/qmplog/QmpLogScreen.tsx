/** The QMP commands and replies of this session (previews, actions, loads you asked for). */
import React, { useCallback, useLayoutEffect, useMemo, useReducer, useRef } from 'react';
import { Box, Text, useInput, type Key } from 'ink';
import type { TranscriptEntry } from '../../src/qmp/transcript.js';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useTranscript } from '../hooks.js';
import { frameHeight, type Size } from '../layout.js';
import { truncate, wrapLines } from '../text.js';
import { initialQmpLogState, logTop, qmpLogReducer } from './state.js';

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** `12:03:04.123 web1 → {"execute":…}`. */
export function logLines(entries: readonly TranscriptEntry[]): string[] {
  return entries.map((e) => {
    const inst = e.socket.replace(/^.*\//, '').replace(/\.qmp$/, '');
    return `${time(e.at)} ${inst} ${e.direction === 'out' ? '→' : '←'} ${e.json}${e.fullLength ? ` (cut, ${e.fullLength} chars)` : ''}`;
  });
}

export function QmpLogScreen({ active, size }: { active: boolean; size: Size }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const entries = useTranscript(service.transcript);
  const [state, dispatch] = useReducer(qmpLogReducer, initialQmpLogState);
  const w = size.columns;
  const height = Math.max(3, frameHeight(size) - 3);
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
      if (key.escape || key.leftArrow || input === 'h') return nav.back();
      if (key.upArrow || input === 'k') return dispatch({ type: 'scroll', delta: -1, max: m });
      if (key.downArrow || input === 'j') return dispatch({ type: 'scroll', delta: 1, max: m });
      if (key.pageUp) return dispatch({ type: 'scroll', delta: -(h - 1), max: m });
      if (key.pageDown || input === ' ') return dispatch({ type: 'scroll', delta: h - 1, max: m });
      if (key.home || input === 'g') return dispatch({ type: 'home' });
      if (key.end || input === 'G') return dispatch({ type: 'end', max: m });
      if (input === 'w') return dispatch({ type: 'toggle-wrap' });
    },
    [nav],
  );
  useInput(handler, { isActive: active });
  useGlobalKeys(active);
  const top = logTop(state, max);
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(`QMP log · ${entries.length} messages this session (kept: the last ${service.transcript?.maxEntries ?? 0})${state.follow ? ' · following' : ''}`, w)}</Text>
      <Text dimColor>{truncate('→ sent by plugboard · ← from QEMU · previews, actions and the loads you asked for (Enter, r); background refreshes are not logged', w)}</Text>
      {entries.length === 0 ? (
        <Box height={height}>
          <Text>Nothing yet: open a running instance, or hot-add / unplug something.</Text>
        </Box>
      ) : (
        <ScrollText lines={lines} top={top} height={height} width={w} />
      )}
      <Text dimColor>{truncate('↑↓ PgUp PgDn scroll · End follow · w wrap long lines · Esc back', w)}</Text>
    </Box>
  );
}
