/** The grid of the 32 slots of pci.0 (8 per row when it fits), readable without colour. */
import React from 'react';
import { Box } from 'ink';
import { Text } from '../common/Text.js';
import { PCI_ROW_LABEL } from '../layout.js';
import { displayWidth } from '../text.js';
import { cellText, hex2, type PciCell } from './cells.js';

function cellColor(c: PciCell): string | undefined {
  if (c.mark === 'drift' || c.mark === 'missing' || c.mark === 'live-only') return 'red';
  if (c.mark === 'pending') return 'yellow';
  if (c.next.length > 0 && !c.device) return 'yellow';
  switch (c.kind) {
    case 'disk':
      return 'cyan';
    case 'nic':
      return 'magenta';
    case 'controller':
      return 'blue';
    case 'reserved':
    case 'qemu':
    case 'free':
      return 'gray';
    case 'other':
      return 'white';
    default: {
      const never: never = c.kind;
      return String(never);
    }
  }
}

export interface PciMapProps {
  cells: readonly PciCell[];
  reservations: number;
  perRow: number;
  cellWidth: number;
  selected: number | null;
  focused: boolean;
  /** Words after the title (`at the next start`), shown when they fit. */
  note?: string;
  /** Inner width of the pane. */
  width: number;
}

/** The pane's title line: the longest form that fits `width` (the note only when it fits too). */
export function pciTitle(reservations: number, focused: boolean, width: number, note?: string): string {
  const mark = focused ? '▸ ' : '  ';
  const range = reservations > 0 ? `0x00–${hex2(reservations - 1)} left to QEMU` : 'no slots left to QEMU';
  const short = reservations > 0 ? `0x00–${hex2(reservations - 1)} QEMU's` : 'none QEMU’s';
  const variants = [
    ...(note ? [`${mark}pci.0 · 32 slots · ${range} · ${note}`] : []),
    `${mark}pci.0 · 32 slots · ${range}`,
    `${mark}pci.0 · ${range}`,
    `${mark}pci.0 · ${short}`,
    `${mark}pci.0`,
  ];
  return variants.find((v) => displayWidth(v) <= width) ?? variants[variants.length - 1]!;
}

function headerLine(perRow: number, cellWidth: number): string {
  let s = ' '.repeat(PCI_ROW_LABEL);
  for (let c = 0; c < perRow; c++) {
    const label = `+${c.toString(16)}`;
    const left = Math.floor((cellWidth - label.length) / 2);
    s += `${' '.repeat(left)}${label}`.padEnd(cellWidth);
  }
  return s;
}

export const PciMap = React.memo(function PciMap({ cells, reservations, perRow, cellWidth, selected, focused, note, width }: PciMapProps): React.JSX.Element {
  const rows: PciCell[][] = [];
  for (let i = 0; i < cells.length; i += perRow) rows.push(cells.slice(i, i + perRow));
  return (
    <Box flexDirection="column" width={width}>
      <Text bold={focused}>{pciTitle(reservations, focused, width, note)}</Text>
      <Text dimColor>{headerLine(perRow, cellWidth)}</Text>
      {rows.map((row) => (
        <Text key={row[0]!.slot}>
          <Text dimColor>{`${hex2(row[0]!.slot)} `.padEnd(PCI_ROW_LABEL)}</Text>
          {row.map((c) => {
            const sel = c.slot === selected;
            return (
              <Text key={c.slot} color={cellColor(c)} dimColor={c.kind === 'reserved'} inverse={sel && focused} bold={c.kind === 'disk' || c.kind === 'nic'}>
                {cellText(c, cellWidth, sel)}
              </Text>
            );
          })}
        </Text>
      ))}
    </Box>
  );
});
