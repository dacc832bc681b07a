/**
 * A list to pick one item from (the wizard's disk or NIC, disk_type, nic_type): the selected item
 * marked `❯` (and inverse when styled), a window of `rows` lines that follows the selection, a line
 * that says how many more there are. The selection and the keys are the wizard's (its reducer and
 * the key map); this is the view.
 */
import React from 'react';
import { Box } from 'ink';
import { scrollWindow } from '../layout.js';
import { truncate } from '../text.js';
import { Text } from './Text.js';

export interface PickerItem {
  label: string;
  value: string;
}

/** The lines a picker of `count` items shows in `rows`: the items' window and the "more" line. */
export function pickerWindow(count: number, selected: number, rows: number): { top: number; visible: number; more: boolean } {
  const more = count > rows;
  const visible = more ? Math.max(1, rows - 1) : count;
  return { top: scrollWindow(selected, count, visible), visible, more };
}

export function Picker({ items, selected, rows, width, focused }: { items: readonly PickerItem[]; selected: number; rows: number; width: number; focused: boolean }): React.JSX.Element {
  const { top, visible, more } = pickerWindow(items.length, selected, rows);
  const shown = items.slice(top, top + visible);
  return (
    <Box flexDirection="column">
      {shown.map((item, i) => {
        const sel = top + i === selected;
        return (
          <Text key={item.value} color={sel && focused ? 'blue' : undefined} inverse={sel && focused}>
            {truncate(`${sel ? '❯ ' : '  '}${item.label}`, width)}
          </Text>
        );
      })}
      {more ? <Text dimColor>{truncate(`  ${top > 0 ? `↑ ${top} above · ` : ''}${items.length - top - shown.length} more (↑↓)`, width)}</Text> : null}
    </Box>
  );
}
