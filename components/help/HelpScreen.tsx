/** Every key, by screen (from the key map, components/keymap.ts), and what the map's characters mean. */
import React, { useReducer } from 'react';
import { Box } from 'ink';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { initialScroll, scrollReducer } from '../common/scroll.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { useScrollInput } from '../common/useScrollInput.js';
import { useNav } from '../context.js';
import { useGlobalKeys } from '../hooks.js';
import { LEGEND_WIDE } from '../instance/Legend.js';
import { helpLines, keyLine } from '../keymap.js';
import { textScreenLayout, type Size } from '../layout.js';
import { truncate, wrapLines } from '../text.js';

/** The help's text: the key map, then the marks of the maps and the instance list. */
export const HELP_LINES: readonly string[] = [
  ...helpLines(),
  '',
  'Marks (readable without colour)',
  ...LEGEND_WIDE.flatMap((l) => l.split(' · ').map((part) => `  ${part}`)),
  '  instance list: ~ drift (QEMU differs from the runtime file) · … unplug pending · ! problems · legacy file',
  '  characters from outside that a terminal would act on or hide are shown escaped: \\x1b, \\u202e',
];

export function HelpScreen({ active, size }: { active: boolean; size: Size }): React.JSX.Element {
  const nav = useNav();
  const w = size.columns;
  const layout = textScreenLayout(size);
  const height = layout.fits ? layout.body : 2;
  const lines = wrapLines(HELP_LINES, w, 15);
  const [scroll, dispatch] = useReducer(scrollReducer, initialScroll);
  useScrollInput({ screen: 'help', active, dispatch, max: maxTop(lines.length, height), page: Math.max(1, height - 1), onEscape: () => nav.back() });
  useGlobalKeys(active);
  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate('plugboard · keys', w)}</Text>
      <ScrollText lines={lines} top={scroll.top} height={height} width={w} />
      <Text dimColor>{keyLine('help', w)}</Text>
    </Box>
  );
}
