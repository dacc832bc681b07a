/**
 * The view's one way to put text on the screen: ink's <Text>, with every string child made safe for
 * the terminal. Names from outside (QEMU's device ids, drivers and error texts, runtime files, file
 * names, the root and other arguments) reach the screens as they are; here every character that a
 * terminal would act on or hide (ESC, CSI, BEL, CR, DEL, C1, bidi overrides, zero-width…: see
 * src/text/terminal.ts) is shown escaped (`\x1b`, `\u202e`) and marked (inverse), so the operator
 * sees that the name holds it. test/unit/tui-terminal-safety.test.tsx checks that no component
 * imports ink's Text (or a library that renders text with it) besides this file.
 *
 * Unlike ink's, the default `wrap` is `truncate-end`: a line that is too long is cut at the edge of
 * its box instead of growing the frame by a line the layout did not count. Text that should wrap
 * says `wrap="wrap"`, and its layout counts the lines.
 */
import React from 'react';
import { Text as InkText, type TextProps } from 'ink';
import { terminalPieces } from '../../src/text/terminal.js';

export type { TextProps };

function safe(node: React.ReactNode, key?: React.Key): React.ReactNode {
  if (typeof node === 'string') {
    const pieces = terminalPieces(node);
    if (pieces.length === 1 && !pieces[0]!.escaped) return node;
    return (
      <React.Fragment key={key}>
        {pieces.map((p, i) =>
          p.escaped ? (
            <InkText key={i} inverse>
              {p.text}
            </InkText>
          ) : (
            p.text
          ),
        )}
      </React.Fragment>
    );
  }
  if (Array.isArray(node)) return node.map((n: React.ReactNode, i) => safe(n, i));
  return node;
}

export function Text({ children, wrap = 'truncate-end', ...props }: TextProps): React.JSX.Element {
  return (
    <InkText wrap={wrap} {...props}>
      {safe(children)}
    </InkText>
  );
}
