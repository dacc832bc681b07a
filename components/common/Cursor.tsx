/** The cursor at the end of a text field: an inverse block, or `▏` when the view is not styled (NO_COLOR, TERM=dumb). */
import React from 'react';
import { styled } from '../color.js';
import { Text } from './Text.js';

export function Cursor(): React.JSX.Element {
  return styled() ? <Text inverse> </Text> : <Text>▏</Text>;
}
