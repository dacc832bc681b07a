/** What the characters of the maps mean (two lines, readable without colour). */
import React from 'react';
import { Box } from 'ink';
import { Text } from '../common/Text.js';
import { truncate } from '../text.js';

export const LEGEND_WIDE = [
  '░ left to QEMU (kvm_pci_reservations) · hb isa vga bal scs: QEMU’s own devices · D0 disk · N0 NIC · · free · + next hot-add',
  '~ drift: QEMU has it elsewhere or as another driver · … unplug pending · ! not in QEMU · * only in QEMU · [ ] selected',
];

export const LEGEND_NARROW = [
  '░ QEMU range · hb isa vga bal scs: QEMU · D0 disk · N0 NIC · · free · + next',
  '~ drift · … unplug pending · ! not in QEMU · * only in QEMU · [ ] selected',
];

export function legendLines(width: number): readonly string[] {
  return LEGEND_WIDE.every((l) => l.length <= width) ? LEGEND_WIDE : LEGEND_NARROW;
}

export const Legend = React.memo(function Legend({ width, lines = 2 }: { width: number; lines?: number }): React.JSX.Element {
  return (
    <Box flexDirection="column">
      {legendLines(width).slice(0, lines).map((l, i) => (
        <Text key={i} dimColor>
          {truncate(l, width)}
        </Text>
      ))}
    </Box>
  );
});
