/**
 * Text that comes from Ganeti (job log lines, error messages, names) is data: it may carry
 * anything an instance name, a guest or a hypervisor error put into it. Before it reaches a message
 * or a log callback it becomes one printable line: control characters (C0, DEL, C1, and the Unicode
 * line/paragraph separators and bidi controls) are shown as `\xNN`/`\u{…}` escapes, runs of
 * whitespace and line breaks become one space, and it is cut to a length.
 */

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/[\t\n\r]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  const safe = flat.replace(UNSAFE, (c) => {
    const cp = c.codePointAt(0) ?? 0;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
  });
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}
