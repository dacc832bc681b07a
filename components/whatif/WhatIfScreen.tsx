/**
 * What-if: try disk_type, scsi_controller_type and kvm_pci_reservations for an instance and see the
 * bus maps and device options it would START with, and the gnt-instance line that makes it so.
 */
import React, { useCallback, useMemo, useReducer } from 'react';
import { Box } from 'ink';
import { useKeys } from '../common/useKeys.js';
import { allocate } from '../../src/bus/allocate.js';
import { currentParams, whatIf, type WhatIfResult } from '../../src/tui/whatif.js';
import type { InstanceView } from '../../src/tui/view.js';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useInstanceView } from '../hooks.js';
import { commandFor, keyLine } from '../keymap.js';
import { whatIfLayout, WHATIF_SCSI_ROWS, type Size, type WhatIfLayout } from '../layout.js';
import { mapCells } from '../instance/cells.js';
import { nextText } from '../instance/InstanceScreen.js';
import { PciMap } from '../instance/PciMap.js';
import { ScsiMap } from '../instance/ScsiMap.js';
import { fit, truncate, wrapLines } from '../text.js';
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

/** One parameter's line: `▸ disk_type  ‹ scsi-hd ›  now: paravirtual`, cut to `width`. */
export function paramLine(name: string, value: string, now: string, selected: boolean, width: number): string {
  return truncate(`${selected ? '▸ ' : '  '}${fit(name, 22)}‹ ${fit(value, 15)} ›${value === now ? '  (now)' : `  now: ${now}`}`, width);
}

function WhatIfBody({ view, active, size, layout }: { view: InstanceView; active: boolean; size: Size; layout: WhatIfLayout }): React.JSX.Element {
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
  const showMaps = layout.maps && cells !== null && result.model !== null;
  const lines = useMemo(() => {
    const out = outputLines(result);
    if (!layout.maps) out.unshift(`(the maps of the next start need a terminal of ${layout.mapsNeed} rows)`);
    return wrapLines(out, w, 4);
  }, [result, w, layout.maps, layout.mapsNeed]);
  const outHeight = layout.output;
  const onReset = useCallback(() => dispatch({ type: 'reset', params: currentParams(view.rf) }), [view.rf]);
  const onBack = useCallback(() => nav.back(), [nav]);
  useWhatIfInput({ active, state, dispatch, scrollMax: maxTop(lines.length, outHeight), page: outHeight, onBack, onReset });
  useGlobalKeys(active);
  const scsiListRows = layout.sideBySide ? layout.pciPane - 2 - 1 : Math.min(WHATIF_SCSI_ROWS, layout.scsiPane - 2 - 1);
  return (
    <Box flexDirection="column">
      {PARAMS.map((p, i) => {
        const sel = i === state.param && state.focus === 'params';
        return (
          <Text key={p} inverse={sel}>
            {paramLine(p, valueOf(state.params, p), valueOf(current, p), sel, w)}
          </Text>
        );
      })}
      <Text color={result.command ? 'yellow' : undefined} bold={!!result.command}>
        {truncate(result.command ?? 'no change from the instance’s parameters', w)}
      </Text>
      {showMaps ? (
        <Box flexDirection={layout.sideBySide ? 'row' : 'column'}>
          <Box borderStyle="round" borderColor="gray" width={layout.pciWidth} height={layout.pciPane} flexDirection="column">
            <PciMap cells={cells.pci} reservations={result.model!.pci.reservations} perRow={layout.perRow} cellWidth={layout.cellWidth} selected={null} focused={false} note="at the next start" width={layout.pciWidth - 2} />
          </Box>
          <Box borderStyle="round" borderColor="gray" width={layout.scsiWidth} height={layout.scsiPane} flexDirection="column">
            <ScsiMap scsi={result.model!.scsi} rows={cells.scsi} width={layout.scsiWidth - 2} listRows={scsiListRows} top={0} selected={null} focused={false} />
          </Box>
        </Box>
      ) : null}
      <ScrollText lines={lines} top={state.scroll} height={outHeight + (layout.maps && !showMaps ? layout.pciPane + (layout.sideBySide ? 0 : layout.scsiPane) : 0)} width={w} color={result.error ? 'red' : undefined} />
      <Text dimColor>{keyLine('whatif', w, state.focus)}</Text>
    </Box>
  );
}

export function WhatIfScreen({ name, active, size }: { name: string; active: boolean; size: Size }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const { view, error } = useInstanceView(service, name, active);
  // Until the instance is read (or when it cannot be), Esc goes back; the body has the keys after.
  useKeys((input, key) => (commandFor('whatif', input, key) === 'back' ? nav.back() : undefined), { isActive: active && !view });
  useGlobalKeys(active && !view);
  const w = size.columns;
  const layout = whatIfLayout(size);
  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(`What if ${name} started with…`, w)}</Text>
      {layout.whenLines > 0 ? <Text color="cyan">{truncate(WHEN_TEXT, w)}</Text> : null}
      {view ? (
        <WhatIfBody key={view.rf.source} view={view} active={active} size={size} layout={layout} />
      ) : (
        <>
          <Text>{truncate(error ? `cannot read ${name}: ${error}` : 'loading…', w)}</Text>
          <Text dimColor>{keyLine('whatif', w, 'params')}</Text>
        </>
      )}
    </Box>
  );
}
