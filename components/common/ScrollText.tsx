/** A window on pre-wrapped lines: `height` lines from `top`, with a hint when there is more. */
import React from 'react';
import { Box } from 'ink';
import { Text } from './Text.js';
import { truncate } from '../text.js';

export interface ScrollTextProps {
  lines: readonly string[];
  top: number;
  height: number;
  width: number;
  color?: string;
}

/** The largest useful `top` for lines in a window of `height`. */
export function maxTop(count: number, height: number): number {
  return Math.max(0, count - height);
}

export const ScrollText = React.memo(function ScrollText({ lines, top: asked, height, width, color }: ScrollTextProps): React.JSX.Element {
  // After a resize the window may be taller than what is left below `asked`.
  const top = Math.max(0, Math.min(asked, maxTop(lines.length, height)));
  const more = lines.length > top + height;
  const shown = lines.slice(top, top + (more ? height - 1 : height));
  return (
    <Box flexDirection="column" height={height}>
      {shown.map((l, i) => (
        <Text key={top + i} color={color}>
          {truncate(l, width)}
        </Text>
      ))}
      {more ? <Text dimColor>{truncate(`  ↓ ${lines.length - top - shown.length} more lines (↑↓ scroll)`, width)}</Text> : null}
    </Box>
  );
});
