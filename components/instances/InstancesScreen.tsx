/** The first screen: every instance under the root, its state, types, counts and a drift marker. */
import React, { useEffect, useMemo, useReducer } from 'react';
import { Box } from 'ink';
import type { InstanceSummary, ListState } from '../../src/tui/service.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { useNav, useService } from '../context.js';
import { useBanner, useGlobalKeys, useServiceList } from '../hooks.js';
import { keyLine } from '../keymap.js';
import { clipLines, listColumns, listLayout, scrollWindow, type Size } from '../layout.js';
import { clock, displayWidth, fit, padStartTo, truncate, wrapLines } from '../text.js';
import { filterInstances, initialInstancesState, instancesMode, instancesReducer, selectedIndex } from './state.js';
import { useInstancesInput } from './useInstancesInput.js';

/** How often the list is read again (runtime files that changed, status, one short probe each). */
export const LIST_REFRESH_MS = 5_000;

export function statusText(s: InstanceSummary['status']): string {
  switch (s) {
    case 'running':
      return 'running';
    case 'stopped':
      return 'stopped';
    case 'busy':
      return 'QMP busy';
    case 'unknown':
      return '…';
    default: {
      const never: never = s;
      return String(never);
    }
  }
}

/** The marker column: drift, pending unplug, problems, legacy file, unreadable file. */
export function markText(r: InstanceSummary): string {
  if (r.phase === 'error') return `! unreadable`;
  const parts: string[] = [];
  if (r.drift === 'pending') parts.push('… pending');
  else if (r.drift === 'drift') parts.push(`~ drift${r.driftCount ? ` ${r.driftCount}` : ''}`);
  if (r.problems) parts.push(`! ${r.problems}`);
  if (r.legacy) parts.push('legacy');
  return parts.join(' ');
}

function statusColor(s: InstanceSummary['status']): string | undefined {
  return s === 'running' ? 'green' : s === 'busy' ? 'yellow' : s === 'stopped' ? 'gray' : undefined;
}

function emptyText(list: ListState, root: string): string[] {
  if (list.phase === 'error') {
    return [
      list.error ?? `cannot list the instances under ${root}`,
      '',
      'plugboard reads the runtime files Ganeti keeps for running KVM instances (conf/NAME.runtime).',
      'Start it with --root DIR or PLUGBOARD_ROOT=DIR to look elsewhere, or try `plugboard demo`',
      '(npm start): a sandbox with real QEMUs.',
    ];
  }
  return [
    `No instances under ${root} (no conf/*.runtime files).`,
    '',
    'On a Ganeti KVM node Ganeti writes one runtime file per running instance there. If this is',
    'not the node, or Ganeti uses another directory, start plugboard with --root DIR or',
    'PLUGBOARD_ROOT=DIR. To see what plugboard does, run `plugboard demo` (npm start).',
  ];
}

const Row = React.memo(function Row({ r, selected, cols }: { r: InstanceSummary; selected: boolean; cols: ReturnType<typeof listColumns> }): React.JSX.Element {
  const loaded = r.phase === 'loaded';
  return (
    <Box>
      <Text inverse={selected}>
        {selected ? '> ' : '  '}
        {fit(r.name, cols.name)}
      </Text>
      <Text color={statusColor(r.status)}>{fit(statusText(r.status), cols.status)}</Text>
      {r.phase === 'error' ? (
        <Text color="red">{truncate(`unreadable: ${r.error ?? ''}`, cols.diskType + cols.nicType + cols.controller + cols.disks + cols.nics + cols.marks)}</Text>
      ) : (
        <Text>
          {fit(loaded ? (r.diskType ?? '') : '…', cols.diskType)}
          {fit(loaded ? (r.nicType ?? '') : '', cols.nicType)}
          {fit(loaded ? (r.controller ?? '-') : '', cols.controller)}
          {padStartTo(loaded ? String(r.disks ?? '') : '', cols.disks - 1)}{' '}
          {padStartTo(loaded ? String(r.nics ?? '') : '', cols.nics - 1)}{' '}
          <Text color={r.drift === 'drift' || r.drift === 'pending' ? 'yellow' : r.problems ? 'red' : undefined}>{fit(markText(r), cols.marks)}</Text>
        </Text>
      )}
    </Box>
  );
});

export function InstancesScreen({ active, size, title }: { active: boolean; size: Size; title: string }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const list = useServiceList(service);
  const banner = useBanner(service);
  const [state, dispatch] = useReducer(instancesReducer, initialInstancesState);

  useEffect(() => {
    if (!active) return;
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const run = (): void => {
      void service.refreshList({ signal: ac.signal }).finally(() => {
        if (!ac.signal.aborted) timer = setTimeout(run, LIST_REFRESH_MS);
      });
    };
    run();
    return () => {
      ac.abort();
      if (timer) clearTimeout(timer);
    };
  }, [service, active, state.refreshes]);

  const rows = useMemo(() => filterInstances(list.instances, state.filter), [list.instances, state.filter]);
  const names = useMemo(() => rows.map((r) => r.name), [rows]);
  const layout = listLayout(size, banner.length);
  const bannerShown = banner.slice(0, layout.fits ? layout.bannerLines : 0);
  const visible = layout.fits ? layout.rows : 3;
  const sel = selectedIndex(state, names);
  const top = scrollWindow(Math.max(0, sel), rows.length, visible, state.top);
  useEffect(() => {
    dispatch({ type: 'scrolled', top });
  }, [top]);
  const longest = useMemo(() => list.instances.reduce((m, r) => Math.max(m, displayWidth(r.name)), 0), [list.instances]);
  // One object while the width and the longest name stay, so React.memo(Row) skips unchanged rows.
  const cols = useMemo(() => listColumns(size.columns, longest), [size.columns, longest]);

  useEffect(() => {
    if (state.openRequest === null) return;
    nav.open({ kind: 'instance', name: state.openRequest });
    dispatch({ type: 'opened' });
  }, [state.openRequest, nav]);
  useInstancesInput({ active, dispatch, rows: list.instances, pageSize: visible });
  useGlobalKeys(active, state.filtering);

  const running = list.instances.filter((r) => r.status === 'running').length;
  const head = `${title} · ${list.instances.length} instance${list.instances.length === 1 ? '' : 's'}${list.phase === 'loading' ? ' (loading…)' : ` · ${running} running`}`;
  const right = list.refreshedAt ? `refreshed ${clock(list.refreshedAt)}` : '';
  const w = size.columns;
  const empty = list.instances.length === 0 && list.phase !== 'loading';
  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  const filterText = `filter: ${state.filter}${state.filtering ? '▏' : ''} (${rows.length} of ${list.instances.length}; Esc clears)`;
  const marksText = [
    'type to filter · ~ drift · … pending unplug · ! problems in the runtime file',
    'type to filter · ~ drift · … pending · ! problems',
    '~ drift · … pending · ! problems',
  ].find((t) => displayWidth(t) <= w) ?? '';
  const emptyLines = clipLines(wrapLines(emptyText(list, service.root), w, 0), visible, (left) => `(${left} more lines)`);

  return (
    <Box flexDirection="column" width={w}>
      <Text bold>
        {fit(head, Math.max(0, w - displayWidth(right) - 1))} <Text dimColor>{right}</Text>
      </Text>
      {bannerShown.map((b, i) => (
        <Text key={i} color="cyan">
          {truncate(b, w)}
        </Text>
      ))}
      {empty ? (
        <Box flexDirection="column" height={visible + 1}>
          <Text> </Text>
          {emptyLines.map((l, i) => (
            <Text key={i}>{l || ' '}</Text>
          ))}
        </Box>
      ) : (
        <Box flexDirection="column" height={visible + 1}>
          <Text bold>
            {'  '}
            {fit('INSTANCE', cols.name)}
            {fit('STATUS', cols.status)}
            {fit('DISK_TYPE', cols.diskType)}
            {fit('NIC_TYPE', cols.nicType)}
            {fit('CONTROLLER', cols.controller)}
            {'DISKS'.padStart(cols.disks - 1)} {'NICS'.padStart(cols.nics - 1)} {fit('MARKS', cols.marks)}
          </Text>
          {rows.slice(top, top + visible).map((r) => (
            <Row key={r.name} r={r} selected={r.name === names[sel]} cols={cols} />
          ))}
          {rows.length === 0 ? <Text dimColor>{truncate(`  no instance matches “${state.filter}”`, w)}</Text> : null}
        </Box>
      )}
      {state.filtering || state.filter !== '' ? (
        <Text color="yellow">{truncate(filterText, w)}</Text>
      ) : (
        <Text dimColor>{marksText}</Text>
      )}
      <Text dimColor>{keyLine('instances', w, instancesMode(state), { typing: state.filtering })}</Text>
    </Box>
  );
}
