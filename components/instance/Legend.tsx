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

/** On an instance Ganeti manages: Ganeti's mark (a device Ganeti has and the node lacks is listed under the maps). */
export const LEGEND_GANETI_WIDE = [
  LEGEND_WIDE[0]!,
  '~ drift · … unplug pending · ! not in QEMU · * only in QEMU · # not in Ganeti’s configuration (the rest: below) · [ ] selected',
];

export const LEGEND_GANETI_NARROW = [LEGEND_NARROW[0]!, '~ drift · … pending · ! not in QEMU · * only in QEMU · # not in Ganeti · [ ] sel'];

export function legendLines(width: number, ganeti = false): readonly string[] {
  const [wide, narrow] = ganeti ? [LEGEND_GANETI_WIDE, LEGEND_GANETI_NARROW] : [LEGEND_WIDE, LEGEND_NARROW];
  return wide.every((l) => l.length <= width) ? wide : narrow;
}

export const Legend = React.memo(function Legend({ width, lines = 2, ganeti = false }: { width: number; lines?: number; ganeti?: boolean }): React.JSX.Element {
  return (
    <Box flexDirection="column">
      {legendLines(width, ganeti).slice(0, lines).map((l, i) => (
        <Text key={i} dimColor>
          {truncate(l, width)}
        </Text>
      ))}
    </Box>
  );
});
