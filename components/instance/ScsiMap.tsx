/** scsi.0: the controller, its whole target range, the used targets, runs of free ones, the next one. */
import React from 'react';
import { Box } from 'ink';
import type { ScsiBus } from '../../src/bus/types.js';
import { Text } from '../common/Text.js';
import { displayWidth, fit, truncate, wrapLines } from '../text.js';
import { MARK_CHAR, targetRange, type ScsiRow } from './cells.js';

export interface ScsiMapProps {
  scsi: ScsiBus | null;
  rows: readonly ScsiRow[] | null;
  /** Inner width of the pane. */
  width: number;
  /** Lines for the list (after the title line). */
  listRows: number;
  top: number;
  selected: number | null;
  focused: boolean;
  note?: string;
}

function rowColor(r: ScsiRow): string | undefined {
  if (r.mark === 'drift' || r.mark === 'missing' || r.mark === 'live-only') return 'red';
  if (r.mark === 'pending' || r.kind === 'next') return 'yellow';
  return r.kind === 'device' ? 'cyan' : 'gray';
}

function rowText(r: ScsiRow, width: number, selected: boolean): string {
  const where = fit(targetRange(r), 6);
  const tag = fit(`${r.tag}${MARK_CHAR[r.mark]}`, 4);
  let what: string;
  if (r.kind === 'device') {
    const d = r.device!;
    what = width >= 44 ? `${d.id || d.description || d.driver}  ${d.driver}` : d.id || d.description || d.driver;
  } else if (r.kind === 'next') what = 'next hot-added disk';
  else what = r.first === r.last ? 'free' : `free (${r.last - r.first + 1})`;
  return fit(`${selected ? '>' : ' '}${where}${tag}${what}`, width);
}

/** Rows of the list that fit: one line less when an indicator of more rows is needed (and there is room for both). */
export function scsiVisibleRows(count: number, listRows: number): number {
  return count > listRows && listRows >= 2 ? listRows - 1 : Math.max(0, listRows);
}

/** The pane's title, as long as it fits. */
export function scsiTitle(scsi: ScsiBus, width: number): string {
  const used = scsi.targets.filter((t) => t.state === 'used').length;
  const free = scsi.targets.length - used;
  const variants = [
    `scsi.0 · ${scsi.controller} · targets 0–${scsi.maxTarget} · ${used} used · ${free} free`,
    `scsi.0 · ${scsi.controller} · 0–${scsi.maxTarget} · ${used} used, ${free} free`,
    `scsi.0 ${scsi.controller} 0–${scsi.maxTarget}: ${used} used ${free} free`,
    `${scsi.controller} 0–${scsi.maxTarget}: ${used} used ${free} free`,
  ];
  return variants.find((v) => displayWidth(v) <= width) ?? truncate(variants[variants.length - 1]!, width);
}

/** What the pane says when there is no SCSI controller, in lines of `width`. */
export function noScsiLines(width: number): string[] {
  return wrapLines(['No SCSI controller in kvm_cmd. A scsi-* disk_type adds one at the next start: see What-if (w).'], width, 0);
}

export const ScsiMap = React.memo(function ScsiMap({ scsi, rows, width, listRows, top, selected, focused, note }: ScsiMapProps): React.JSX.Element {
  if (!scsi || !rows) {
    return (
      <Box flexDirection="column" width={width}>
        <Text bold={focused}>{focused ? '▸' : ' '}scsi.0 · none</Text>
        {noScsiLines(width)
          .slice(0, Math.max(0, listRows))
          .map((l, i) => (
            <Text key={i}>{l}</Text>
          ))}
      </Box>
    );
  }
  const visible = scsiVisibleRows(rows.length, listRows);
  const shown = rows.slice(top, top + visible);
  const below = rows.length - top - shown.length;
  return (
    <Box flexDirection="column" width={width}>
      <Text bold={focused}>
        {focused ? '▸' : ' '}
        {scsiTitle(scsi, width - 1)}
        {note && width - 1 >= displayWidth(scsiTitle(scsi, width - 1)) + displayWidth(note) + 3 ? ` · ${note}` : ''}
      </Text>
      {shown.map((r, i) => {
        const sel = top + i === selected;
        return (
          <Text key={r.first} color={rowColor(r)} inverse={sel && focused}>
            {rowText(r, width, sel)}
          </Text>
        );
      })}
      {rows.length > listRows && listRows >= 2 ? <Text dimColor>{fit(`  ${top > 0 ? `↑ ${top} above · ` : ''}${below > 0 ? `↓ ${below} more` : ''}`, width)}</Text> : null}
    </Box>
  );
});
