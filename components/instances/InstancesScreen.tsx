/** The first screen: every instance under the root, its state, types, counts and a drift marker. */
import React, { useEffect, useMemo, useReducer, useState } from 'react';
import { Box } from 'ink';
import type { ClusterRow, InstanceService, InstanceSummary, ListState } from '../../src/tui/service.js';
import { firstLineOf } from '../../src/errors.js';
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
    case 'ganeti-job':
      return 'Ganeti job';
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
  const g = r.ganeti;
  if (g !== undefined && typeof g === 'object') {
    if (g.notInGaneti > 0) parts.push(`# ${g.notInGaneti}`);
    if (g.notOnNode > 0) parts.push(`? ${g.notOnNode}`);
  } else if (g === 'unknown') parts.push('not Ganeti’s');
  return parts.join(' ');
}

function statusColor(s: InstanceSummary['status']): string | undefined {
  return s === 'running' ? 'green' : s === 'busy' || s === 'ganeti-job' ? 'yellow' : s === 'stopped' ? 'gray' : undefined;
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

/** A cluster row as the list's reducer takes rows (name; filtered on node, status and template). */
function clusterSummary(r: ClusterRow): InstanceSummary {
  return { name: r.instance, phase: 'loaded', status: 'unknown', drift: 'none', diskType: r.primaryNode, nicType: r.status, controller: r.diskTemplate };
}

interface ClusterListState {
  rows: ClusterRow[] | null;
  error: string | null;
  cluster: string | null;
  thisNode: string | undefined;
  at: number | null;
}

/** The cluster list while `on`: asked at once, then every LIST_REFRESH_MS; cancelled when off or gone. */
function useClusterList(service: InstanceService, on: boolean, refreshes: number): ClusterListState {
  const [state, setState] = useState<ClusterListState>({ rows: null, error: null, cluster: null, thisNode: undefined, at: null });
  useEffect(() => {
    if (!on) return;
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const run = (): void => {
      service.clusterList(ac.signal).then(
        (r) => {
          if (!ac.signal.aborted) setState({ rows: r.rows, error: null, cluster: r.cluster, thisNode: r.thisNode, at: Date.now() });
        },
        (error: unknown) => {
          if (!ac.signal.aborted) setState((prev) => ({ ...prev, error: `cannot list the cluster: ${firstLineOf(error)}`, at: Date.now() }));
        },
      ).finally(() => {
        if (!ac.signal.aborted) timer = setTimeout(run, LIST_REFRESH_MS);
      });
    };
    run();
    return () => {
      ac.abort();
      if (timer) clearTimeout(timer);
    };
  }, [service, on, refreshes]);
  return state;
}

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

  // The cluster list (c, on a Ganeti node): asked when shown, and again every LIST_REFRESH_MS.
  const cluster = useClusterList(service, active && state.cluster, state.refreshes);
  const clusterSummaries = useMemo(() => (cluster.rows ?? []).map(clusterSummary), [cluster.rows]);
  const shownRows = state.cluster ? clusterSummaries : list.instances;
  const rows = useMemo(() => filterInstances(shownRows, state.filter), [shownRows, state.filter]);
  const names = useMemo(() => rows.map((r) => r.name), [rows]);
  const layout = listLayout(size, banner.length);
  const bannerShown = banner.slice(0, layout.fits ? layout.bannerLines : 0);
  const visible = layout.fits ? layout.rows : 3;
  const sel = selectedIndex(state, names);
  const top = scrollWindow(Math.max(0, sel), rows.length, visible, state.top);
  useEffect(() => {
    dispatch({ type: 'scrolled', top });
  }, [top]);
  const longest = useMemo(() => shownRows.reduce((m, r) => Math.max(m, displayWidth(r.name)), 0), [shownRows]);
  // One object while the width and the longest name stay, so React.memo(Row) skips unchanged rows.
  const cols = useMemo(() => listColumns(size.columns, longest), [size.columns, longest]);

  useEffect(() => {
    if (state.openRequest === null) return;
    const name = state.openRequest;
    dispatch({ type: 'opened' });
    if (state.cluster) {
      // The cluster list opens only what runs here; the others say where to open them.
      const row = cluster.rows?.find((r) => r.instance === name);
      const local = list.instances.some((r) => r.name === name);
      if (row && !row.here) return dispatch({ type: 'notice', text: `${name} runs on ${row.primaryNode}, not on this node: open it there (ssh ${row.primaryNode} plugboard)` });
      if (!local) return dispatch({ type: 'notice', text: `${name} has no runtime file on this node (${row?.status ?? 'not running'}): there is no map to open here` });
    }
    nav.open({ kind: 'instance', name });
  }, [state.openRequest, state.cluster, cluster.rows, list.instances, nav]);
  useInstancesInput({ active, dispatch, rows: shownRows, pageSize: visible, ganeti: service.ganeti !== null });
  useGlobalKeys(active, state.filtering);

  const running = list.instances.filter((r) => r.status === 'running').length;
  const head = state.cluster
    ? `cluster ${cluster.cluster ?? service.ganeti?.clusterName ?? ''} · ${cluster.rows ? `${cluster.rows.length} instance${cluster.rows.length === 1 ? '' : 's'}` : 'asking RAPI…'} · this node: ${cluster.thisNode ?? service.ganeti?.nodeName ?? 'unknown'}`
    : `${title} · ${list.instances.length} instance${list.instances.length === 1 ? '' : 's'}${list.phase === 'loading' ? ' (loading…)' : ` · ${running} running`}`;
  const refreshedAt = state.cluster ? cluster.at : list.refreshedAt;
  const right = refreshedAt ? `refreshed ${clock(refreshedAt)}` : '';
  const w = size.columns;
  const empty = state.cluster ? false : list.instances.length === 0 && list.phase !== 'loading';
  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  const filterText = `filter: ${state.filter}${state.filtering ? '▏' : ''} (${rows.length} of ${list.instances.length}; Esc clears)`;
  const marksText = (
    state.cluster
      ? ['Enter opens an instance that runs on this node; the others say which node to open them on', 'Enter: open (this node’s only)']
      : service.ganeti
        ? [
            'type to filter · ~ drift · … pending unplug · ! problems · # not in Ganeti’s configuration · ? Ganeti’s, not on the node',
            'type to filter · ~ drift · … pending · ! problems · # not in Ganeti · ? not on node',
            '~ drift · … pending · ! problems · # not in Ganeti · ? not on node',
            '~ drift · … pending · ! problems',
          ]
        : ['type to filter · ~ drift · … pending unplug · ! problems in the runtime file', 'type to filter · ~ drift · … pending · ! problems', '~ drift · … pending · ! problems']
  ).find((t) => displayWidth(t) <= w) ?? '';
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
      ) : state.cluster ? (
        <Box flexDirection="column" height={visible + 1}>
          <Text bold>{truncate(`  ${fit('INSTANCE', cols.name)}${fit('PRIMARY NODE', 20)}${fit('STATUS', 12)}${fit('TEMPLATE', 10)}WHERE`, w)}</Text>
          {cluster.error ? <Text color="red">{truncate(`  ${cluster.error}`, w)}</Text> : null}
          {rows.slice(top, top + visible).map((r) => {
            const c = cluster.rows?.find((x) => x.instance === r.name);
            return (
              <Text key={r.name} inverse={r.name === names[sel]}>
                {truncate(`${r.name === names[sel] ? '> ' : '  '}${fit(r.name, cols.name)}${fit(c?.primaryNode ?? '', 20)}${fit(c?.status ?? '', 12)}${fit(c?.diskTemplate ?? '', 10)}${c ? (c.here ? 'here' : `on ${c.primaryNode}`) : ''}`, w)}
              </Text>
            );
          })}
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
      {state.notice ? (
        <Text color="yellow">{truncate(state.notice, w)}</Text>
      ) : state.filtering || state.filter !== '' ? (
        <Text color="yellow">{truncate(filterText, w)}</Text>
      ) : (
        <Text dimColor>{marksText}</Text>
      )}
      <Text dimColor>{keyLine('instances', w, instancesMode(state), { typing: state.filtering, without: service.ganeti ? [] : ['cluster'] })}</Text>
    </Box>
  );
}
