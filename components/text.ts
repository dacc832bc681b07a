/**
 * Small pure text helpers for fixed-width terminal layouts. Widths are columns on the screen as the
 * view shows the text: string-width's (a CJK character takes two, a combining mark none), with the
 * characters from outside that are shown escaped (`\x1b`, `\u202e`: src/text/terminal.ts, done by
 * components/common/Text.tsx) counted as their escaped form. So a name QEMU chose can neither widen
 * a line past the terminal nor shift the columns after it.
 */
import stringWidth from 'string-width';
import { escapeChar, hasUnsafe } from '../src/text/terminal.js';

/** Printable ASCII: one column per character. */
const PLAIN = /^[\x20-\x7e]*$/;
const segmenter = new Intl.Segmenter();

/** Columns of one grapheme cluster as shown. */
function clusterWidth(g: string): number {
  if (!hasUnsafe(g)) return stringWidth(g);
  let w = 0;
  for (const ch of g) w += hasUnsafe(ch) ? escapeChar(ch).length : stringWidth(ch);
  return w;
}

/**
 * The units of `s` that are never split, with their widths: grapheme clusters, except that a
 * cluster holding a character shown escaped is cut into its code points (each shown on its own).
 */
function clusters(s: string): { text: string; width: number }[] {
  const out: { text: string; width: number }[] = [];
  for (const { segment } of segmenter.segment(s)) {
    if (!hasUnsafe(segment)) out.push({ text: segment, width: stringWidth(segment) });
    else for (const ch of segment) out.push({ text: ch, width: clusterWidth(ch) });
  }
  return out;
}

/** Columns `s` takes on the screen (unsafe characters counted escaped). */
export function displayWidth(s: string): number {
  if (PLAIN.test(s)) return s.length;
  if (!hasUnsafe(s)) return stringWidth(s);
  let w = 0;
  for (const c of clusters(s)) w += c.width;
  return w;
}

/** The longest start of `s` that takes at most `width` columns. */
export function sliceToWidth(s: string, width: number): string {
  if (PLAIN.test(s)) return s.slice(0, Math.max(0, width));
  let w = 0;
  let out = '';
  for (const c of clusters(s)) {
    if (w + c.width > width) break;
    w += c.width;
    out += c.text;
  }
  return out;
}

/** Cuts `s` to `width` columns, ending in '…' when cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  if (PLAIN.test(s)) {
    if (s.length <= width) return s;
    if (width === 1) return '…';
    return `${s.slice(0, width - 1)}…`;
  }
  if (displayWidth(s) <= width) return s;
  if (width === 1) return '…';
  return `${sliceToWidth(s, width - 1)}…`;
}

/** `s` cut or padded with spaces to exactly `width` columns. */
export function fit(s: string, width: number): string {
  const t = truncate(s, width);
  return t + ' '.repeat(Math.max(0, width - displayWidth(t)));
}

/** `s` padded on the left to `width` columns (not cut). */
export function padStartTo(s: string, width: number): string {
  return ' '.repeat(Math.max(0, width - displayWidth(s))) + s;
}

/**
 * Hard-wraps each line to `width` columns (continuation lines indented by `indent` spaces), breaking
 * at a space or one of `,;` near the end when there is one.
 */
export function wrapLines(lines: readonly string[], width: number, indent = 2): string[] {
  const out: string[] = [];
  const w = Math.max(8, width);
  for (const line of lines) {
    if (displayWidth(line) <= w) {
      out.push(line);
      continue;
    }
    const lead = /^ */.exec(line)![0].length;
    const cont = ' '.repeat(Math.min(Math.max(indent, lead + 2), Math.floor(w / 2)));
    let rest = clusters(line);
    let first = true;
    while (rest.length > 0) {
      // No indent for a unit that would not fit after it (a long escape on a narrow line).
      const prefix = first || rest[0]!.width > w - cont.length ? '' : cont;
      const room = w - prefix.length;
      let total = 0;
      let fits = 0;
      while (fits < rest.length && total + rest[fits]!.width <= room) total += rest[fits++]!.width;
      if (fits === rest.length) {
        out.push(prefix + rest.map((c) => c.text).join(''));
        break;
      }
      // Break after the last space, ',' or ';' in the last 40% of the room, else hard at the room.
      let cut = Math.max(1, fits);
      let from = 0;
      for (let i = 0, acc = 0; i < fits; i++) {
        if (acc >= room * 0.6) {
          from = i;
          break;
        }
        acc += rest[i]!.width;
        from = i + 1;
      }
      for (let i = fits - 1; i >= from; i--) {
        const t = rest[i]!.text;
        if (t === ' ' || t === ',' || t === ';') {
          cut = i + 1;
          break;
        }
      }
      out.push(prefix + rest.slice(0, cut).map((c) => c.text).join('').trimEnd());
      rest = rest.slice(cut);
      while (rest.length > 0 && rest[0]!.text.trim() === '' && rest[0]!.text !== '') rest = rest.slice(1);
      first = false;
    }
  }
  return out;
}

/** `12:03:04` of a Date.now() value, local time. */
export function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** Whether a key press typed text: something, and no control character (Enter, Tab, Esc… are keys, not text). */
export function isTypedText(input: string): boolean {
  // eslint-disable-next-line no-control-regex -- the control characters are what is refused
  return input !== '' && !/[\x00-\x1f\x7f]/.test(input);
}

/** Removes ANSI escape sequences (for width maths on coloured strings, and in tests). */
export function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex -- ESC and BEL delimit the sequences
  return s.replace(/\u001B\[[0-?]*[ -/]*[@-~]|\u001B\][^\u0007]*\u0007/g, '');
}
