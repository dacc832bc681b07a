/**
 * What-if: try disk_type, scsi_controller_type and kvm_pci_reservations for an instance and see the
 * bus maps and device options it would START with, and the gnt-instance line that makes it so.
 */
import React, { useCallback, useMemo, useReducer } from 'react';
import { Box, Text } from 'ink';
import { allocate } from '../../src/bus/allocate.js';
import { currentParams, whatIf, type WhatIfResult } from '../../src/tui/whatif.js';
import type { InstanceView } from '../../src/tui/view.js';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useInstanceView } from '../hooks.js';
import { frameHeight, instanceLayout, type Size } from '../layout.js';
import { mapCells } from '../instance/cells.js';
import { nextText } from '../instance/InstanceScreen.js';
import { PciMap } from '../instance/PciMap.js';
import { ScsiMap } from '../instance/ScsiMap.js';
import { truncate, wrapLines } from '../text.js';
import { initialWhatIfState, PARAMS, valueOf, whatIfReducer } from './state.js';
import { useWhatIfInput } from './useWhatIfInput.js';

export const WHEN_TEXT =
  'takes effect at the next start only (gnt-instance shutdown + startup, or reboot --type=full); a hard reboot or a migration keeps the current runtime file';

/** Lines under the maps: errors, notes, problems of the new layout, next hot-add, the options. */
export function outputLines(r: WhatIfResult): string[] {
  const out: string[] = [];
  if (r.error) out.push(`✗ ${r.error}`);
  for (const n of r.notes) out.push(`note: ${n}`);
  if (r.model) for (const p of r.model.problems) out.push(`! ${p.message}`);
  if (r.rf && r.model) {
    out.push(`next hot-add after that start: disk → ${nextText(allocate(r.model, r.rf, { kind: 'disk' }))} · NIC → ${nextText(allocate(r.model, r.rf, { kind: 'nic' }))}`);
  }
  if (r.options.length > 0) {
    out.push('device options it would start with (Ganeti 3.0, tap fds as Ganeti numbers them):');
    for (const o of r.options) out.push(`  ${o.option} ${o.value}`);
  }
  return out;
}

function WhatIfBody({ view, active, size }: { view: InstanceView; active: boolean; size: Size }): React.JSX.Element {
  const nav = useNav();
  const [state, dispatch] = useReducer(whatIfReducer, view.rf, (rf) => initialWhatIfState(currentParams(rf)));
  const w = size.columns;
  const result = useMemo(() => whatIf(view.rf, state.params), [view.rf, state.params]);
  const current = useMemo(() => currentParams(view.rf), [view.rf]);
  const cells = useMemo(
    () =>
      result.rf && result.model
        ? mapCells({ rf: result.rf, model: result.model, marks: new Map(), next: { disk: allocate(result.model, result.rf, { kind: 'disk' }), nic: allocate(result.model, result.rf, { kind: 'nic' }) } })
        : null,
    [result],
  );
  const layout = useMemo(() => instanceLayout(size), [size]);
  const lines = useMemo(() => wrapLines(outputLines(result), w, 4), [result, w]);
  const gridRows = Math.ceil(32 / layout.perRow);
  const mapLines = cells ? (layout.sideBySide ? 2 + 2 + gridRows : 2 * (2 + 2 + gridRows)) : 0;
  const fixed = 1 /* title */ + 1 /* when */ + PARAMS.length + 1 /* command */ + 1 /* keys */ + mapLines;
  const outHeight = Math.max(3, frameHeight(size) - fixed);
  const onReset = useCallback(() => dispatch({ type: 'reset', params: currentParams(view.rf) }), [view.rf]);
  const onBack = useCallback(() => nav.back(), [nav]);
  useWhatIfInput({ active, state, dispatch, scrollMax: maxTop(lines.length, outHeight), onBack, onReset });
  useGlobalKeys(active);
  const scsiRows = 1 + gridRows;
  return (
    <Box flexDirection="column">
      {PARAMS.map((p, i) => {
        const sel = i === state.param && state.focus === 'params';
        const value = valueOf(state.params, p);
        const now = valueOf(current, p);
        return (
          <Text key={p} inverse={sel}>
            {sel ? '▸ ' : '  '}
            {p.padEnd(22)}‹ {value.padEnd(15)} ›{value === now ? '  (now)' : `  now: ${now}`}
          </Text>
        );
      })}
      <Text color={result.command ? 'yellow' : undefined} bold={!!result.command}>
        {truncate(result.command ?? 'no change from the instance’s parameters', w)}
      </Text>
      {cells && result.model ? (
        <Box flexDirection={layout.sideBySide ? 'row' : 'column'}>
          <Box borderStyle="round" borderColor="gray" width={layout.pciWidth} flexDirection="column">
            <PciMap cells={cells.pci} reservations={result.model.pci.reservations} perRow={layout.perRow} cellWidth={layout.cellWidth} selected={null} focused={false} note={w >= 100 ? 'at the next start' : undefined} />
          </Box>
          <Box borderStyle="round" borderColor="gray" width={layout.scsiWidth} height={layout.sideBySide ? 4 + gridRows : undefined} flexDirection="column">
            <ScsiMap scsi={result.model.scsi} rows={cells.scsi} width={layout.scsiWidth - 2} listRows={scsiRows} top={0} selected={null} focused={false} />
          </Box>
        </Box>
      ) : null}
      <Box borderStyle={undefined} flexDirection="column">
        <ScrollText lines={lines} top={state.scroll} height={outHeight} width={w} color={result.error ? 'red' : state.focus === 'output' ? 'white' : undefined} />
      </Box>
    </Box>
  );
}

export function WhatIfScreen({ name, active, size }: { name: string; active: boolean; size: Size }): React.JSX.Element {
  const service = useService();
  const { view, error } = useInstanceView(service, name, active);
  const w = size.columns;
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(`What if ${name} started with…`, w)}</Text>
      <Text color="cyan">{truncate(WHEN_TEXT, w)}</Text>
      {view ? <WhatIfBody key={view.rf.source} view={view} active={active} size={size} /> : <Text>{error ? `cannot read ${name}: ${error}` : 'loading…'}</Text>}
      <Text dimColor>{truncate('↑↓ parameter · ←→ value · 0 reset · Tab output (↑↓ scroll) · Esc back · ? help', w)}</Text>
    </Box>
  );
}
