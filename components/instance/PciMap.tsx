/** The grid of the 32 slots of pci.0 (8 per row when it fits), readable without colour. */
import React from 'react';
import { Box, Text } from 'ink';
import { PCI_ROW_LABEL } from '../layout.js';
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
  /** A line after "pci.0" in the title (`live`, `what-if`). */
  note?: string;
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

export const PciMap = React.memo(function PciMap({ cells, reservations, perRow, cellWidth, selected, focused, note }: PciMapProps): React.JSX.Element {
  const rows: PciCell[][] = [];
  for (let i = 0; i < cells.length; i += perRow) rows.push(cells.slice(i, i + perRow));
  const range = reservations > 0 ? `0x00–${hex2(reservations - 1)} left to QEMU` : 'no slots left to QEMU';
  return (
    <Box flexDirection="column">
      <Text bold={focused}>
        {focused ? '▸ ' : '  '}pci.0 · 32 slots · {range}
        {note ? <Text dimColor> · {note}</Text> : null}
      </Text>
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
