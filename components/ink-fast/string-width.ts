/**
 * A drop-in for `string-width` (8.x) that answers the strings a terminal UI is mostly made of —
 * printable ASCII and single-code-unit characters such as `·`, `…`, `↑`, `▏` or `漢`, possibly
 * styled with SGR sequences (chalk's `ESC [ digits;… m`) — without `strip-ansi`'s expression and
 * without the package's per-grapheme regular expressions (~70 µs for a line with one `·`), and hands
 * everything else to the real `string-width`, whose answers for those are remembered.
 *
 * The bundle of the view (bin/esbuild-ink-fast.mjs) makes ink, widest-line and cli-truncate import
 * this module instead of the package; the import below is the package itself.
 *
 * Why the fast answer is the same:
 * - escape sequences: `string-width` removes them with `strip-ansi`, whose expression matches
 *   `ESC [` + parameter bytes (0x30–0x3F) + intermediate bytes + one final byte (0x40–0x7E). For
 *   `ESC [ [0-9;]* m` that match is the whole sequence (greedy, and no other alternative of the
 *   expression starts with `ESC [`), and the other characters accepted here contain no introducer
 *   (ESC, C1 controls), so nothing else is removed;
 * - what is left is cut into grapheme clusters and the widths of the clusters added. A character
 *   accepted here is its own cluster whatever accepted character stands next to it: the probe
 *   `a C C a` gives four clusters only if C joins neither the character before it (Extend, ZWJ,
 *   SpacingMark: combining marks, variation selectors), nor the one after it (Prepend), nor itself
 *   (Hangul L, V, T jamo; regional indicators), and no other rule of UAX #29 joins two characters
 *   without one of those (CR LF: controls are not accepted; emoji ZWJ sequences and Indic conjuncts
 *   need an Extend or ZWJ character). So the width is the sum of the characters' widths, each
 *   asked of the package alone (printable ASCII: 1, as the package's own fast path says).
 * Astral characters (most emoji), controls and anything else go to the package.
 * test/unit/ink-fast.test.ts checks the wrapper against the package.
 */
import realStringWidth, { type Options } from 'string-width';
import { Generations } from './cache.js';

const ESC = 0x1b;
const LEFT_BRACKET = 0x5b;
const SEMICOLON = 0x3b;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LETTER_M = 0x6d;

const segmenter = new Intl.Segmenter();

/**
 * The width of code unit `c` (≥ U+00A0) when it is always its own grapheme cluster next to printable
 * ASCII, escape sequences and other such characters (see above); -1 when it is not. Remembered.
 */
const unitWidths = new Map<number, number>();

export function unitWidth(c: number): number {
  let w = unitWidths.get(c);
  if (w === undefined) {
    w = -1;
    if (c >= 0xa0 && (c < 0xd800 || c > 0xdfff)) {
      const ch = String.fromCharCode(c);
      let clusters = 0;
      for (const _ of segmenter.segment(`a${ch}${ch}a`)) clusters++;
      if (clusters === 4) w = realStringWidth(ch);
    }
    unitWidths.set(c, w);
  }
  return w;
}

/**
 * The width of `text` if it is made of printable ASCII, complete SGR sequences and characters that
 * are always their own cluster (see above); -1 for anything else.
 */
export function simpleWidth(text: string): number {
  let width = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      width++;
      continue;
    }
    if (c === ESC) {
      if (text.charCodeAt(i + 1) !== LEFT_BRACKET) return -1;
      let j = i + 2;
      for (;;) {
        const d = text.charCodeAt(j);
        if ((d >= DIGIT_0 && d <= DIGIT_9) || d === SEMICOLON) j++;
        else break;
      }
      if (text.charCodeAt(j) !== LETTER_M) return -1;
      i = j;
      continue;
    }
    const w = unitWidth(c);
    if (w < 0) return -1;
    width += w;
  }
  return width;
}

/** The package's answers for the other strings (default options only). */
const others = new Generations<number>(2048, 1 << 18);

/** Whether `options` leave the package's default rules (as the package reads them). */
function defaultRules(options: Options | undefined): boolean {
  if (options === undefined) return true;
  if (options === null || typeof options !== 'object') return false;
  return !options.countAnsiEscapeCodes && (options.ambiguousIsNarrow === undefined || Boolean(options.ambiguousIsNarrow));
}

export default function stringWidth(text: string, options?: Options): number {
  // Other rules (countAnsiEscapeCodes counts the sequences, ambiguous characters become wide):
  // the package answers.
  if (typeof text !== 'string' || !defaultRules(options)) return realStringWidth(text, options);
  const width = simpleWidth(text);
  if (width >= 0) return width;
  let w = others.get(text);
  if (w === undefined) {
    w = realStringWidth(text, options);
    others.set(text, w);
  }
  return w;
}
