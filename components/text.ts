/** Small pure text helpers for fixed-width terminal layouts. */

/** Cuts `s` to `width` characters, ending in '…' when cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  if (s.length <= width) return s;
  if (width === 1) return '…';
  return `${s.slice(0, width - 1)}…`;
}

/** `s` cut or padded with spaces to exactly `width` characters. */
export function fit(s: string, width: number): string {
  return truncate(s, width).padEnd(Math.max(0, width));
}

/**
 * Hard-wraps each line to `width` (continuation lines indented by `indent` spaces), breaking at a
 * space or one of `,;` near the end when there is one.
 */
export function wrapLines(lines: readonly string[], width: number, indent = 2): string[] {
  const out: string[] = [];
  const w = Math.max(8, width);
  for (const line of lines) {
    if (line.length <= w) {
      out.push(line);
      continue;
    }
    const lead = /^ */.exec(line)![0].length;
    const cont = ' '.repeat(Math.min(Math.max(indent, lead + 2), Math.floor(w / 2)));
    let rest = line;
    let first = true;
    while (rest.length > 0) {
      const prefix = first ? '' : cont;
      const room = w - prefix.length;
      if (rest.length <= room) {
        out.push(prefix + rest);
        break;
      }
      // Break after the last space, ',' or ';' in the last 40% of the room, else hard at the room.
      const from = Math.floor(room * 0.6);
      const window = rest.slice(from, room);
      const brk = Math.max(window.lastIndexOf(' '), window.lastIndexOf(','), window.lastIndexOf(';'));
      const cut = brk >= 0 ? from + brk + 1 : room;
      out.push(prefix + rest.slice(0, cut).trimEnd());
      rest = rest.slice(cut).trimStart();
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
