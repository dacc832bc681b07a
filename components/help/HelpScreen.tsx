/** Every key, by screen. */
import React, { useReducer } from 'react';
import { Box, Text } from 'ink';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { initialScroll, scrollReducer } from '../common/scroll.js';
import { useScrollInput } from '../common/useScrollInput.js';
import { useNav } from '../context.js';
import { frameHeight, type Size } from '../layout.js';
import { truncate, wrapLines } from '../text.js';
import { useGlobalKeys } from '../hooks.js';

export const HELP_LINES = [
  'Everywhere',
  '  q            quit (every QEMU the demo started is stopped, its sandbox removed)',
  '  ?            this help              L   the QMP log of this session',
  '  Esc          back one screen / one wizard step (nothing is sent before you confirm)',
  '  ↑↓←→ hjkl    move                   PgUp PgDn Home End (g G)   scroll, jump',
  '',
  'Instances',
  '  Enter / l    open the instance      / or any other letter   filter by name, type, controller',
  '  r            read again now (the list refreshes every 5 s; one short QMP connection per instance)',
  '  marks        ~ drift (QEMU differs from the runtime file) · … unplug pending · ! problems · legacy file',
  '',
  'Instance (the bus maps)',
  '  Tab          switch between the pci.0 and scsi.0 panes',
  '  Enter        details of the selected slot or target (hvinfo, backend, host path, -device option)',
  '  a            hot-add a disk or NIC (guided: type, path/MAC, preview with the exact QMP commands, confirm)',
  '  u / x        unplug the selected disk or NIC (a disk asks you to type yes)',
  '  w            what-if: disk_type, scsi_controller_type, kvm_pci_reservations at the next start',
  '  r            ask QEMU again now (it is asked every 3 s, with a short connection that is never held)',
  '  map          ░ left to QEMU (the first kvm_pci_reservations slots) · hb isa vga bal scs: QEMU’s own devices',
  '               D0 disk/0 · N0 nic/0 · · free · + where the next hot-add goes · [ ] selected',
  '               ~ drift · … unplug pending (the guest has not acknowledged it) · ! not in QEMU · * only in QEMU',
  '',
  'Hot-add wizard',
  '  ↑↓ Enter     pick disk or NIC, then disk_type / nic_type (the instance’s own first)',
  '  typing       the path (checked as you type; Tab completes), or MAC and bridge for a NIC',
  '  Enter        preview: the slot or target it takes and the exact QMP commands (QEMU is only read)',
  '  y            confirm: hot-add now; then progress, and the result with the QMP transcript',
  '',
  'Unplug',
  '  yes Enter    a disk: type yes; a NIC: y. A PCI unplug the guest does not acknowledge stays pending.',
  '',
  'What-if',
  '  ↑↓ ←→        pick a parameter, change its value · 0 back to the instance’s · Tab scroll the options',
  '  The gnt-instance modify -H line makes it so at the next start (not a hard reboot, not a migration).',
];

export function HelpScreen({ active, size }: { active: boolean; size: Size }): React.JSX.Element {
  const nav = useNav();
  const w = size.columns;
  const height = Math.max(3, frameHeight(size) - 2);
  const lines = wrapLines(HELP_LINES, w, 15);
  const [scroll, dispatch] = useReducer(scrollReducer, initialScroll);
  useScrollInput({ active, dispatch, max: maxTop(lines.length, height), page: height - 1, onEscape: () => nav.back() });
  useGlobalKeys(active);
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate('plugboard · keys', w)}</Text>
      <ScrollText lines={lines} top={scroll.top} height={height} width={w} />
      <Text dimColor>Esc back · ↑↓ scroll · q quit</Text>
    </Box>
  );
}
