/** What a screen shows instead of its layout when the terminal is smaller than it can lay out. */
import React from 'react';
import { Box } from 'ink';
import { tooSmallText, type Size } from '../layout.js';
import { Text } from './Text.js';

export function TooSmall({ need, size }: { need: Size; size: Size }): React.JSX.Element {
  return (
    <Box flexDirection="column" width={size.columns}>
      <Text bold>{tooSmallText(need, size.columns)}</Text>
    </Box>
  );
}
