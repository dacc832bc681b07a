/**
 * Text from outside the program made safe for a terminal. plugboard runs as root in an operator's
 * terminal and shows what QEMU says (device ids, drivers, file names, error texts), what runtime
 * files and `nic/` files hold, file names of the host and its own arguments. QEMU is not a trusted
 * peer: a guest that owns it chooses those words. A character that a terminal acts on instead of
 * showing must never reach it raw: ESC and CSI start sequences that set the window title, write the
 * clipboard (OSC 52), clear or scroll the screen, move the cursor; CR and backspace overwrite what
 * was printed; bidi overrides reorder it; invisible characters make two names look the same.
 *
 * Every such character is shown escaped, visibly: `\x1b`, `\x9b`, `\x7f`, `\u202e`, `\u{e0041}`.
 * Escaped are:
 * - C0 controls U+0000–U+001F (except the line feed where the caller keeps lines), DEL U+007F and
 *   C1 controls U+0080–U+009F (U+009B is an 8-bit CSI): Unicode category Cc;
 * - format characters, category Cf: the bidi embeddings, overrides and isolates U+202A–U+202E and
 *   U+2066–U+2069, the marks U+200E, U+200F, U+061C, the zero-width characters U+200B–U+200D,
 *   U+2060–U+2064, U+FEFF, the soft hyphen U+00AD, the tag characters U+E0000–U+E007F, the
 *   interlinear annotations U+FFF9–U+FFFB: invisible (or reordering) on screen, so a name holding
 *   them could pass for another;
 * - the line and paragraph separators U+2028, U+2029 (Zl, Zp: some terminals break the line);
 * - lone surrogates (Cs: not characters; they would be written as U+FFFD).
 *
 * This module is a leaf: it imports nothing of the project, so every output path (CLI, TUI, logs)
 * can use the one function. Nothing written back (runtime files, QMP commands) goes through it.
 */

/** One unsafe character (the `u` flag: an astral character or a lone surrogate is one match). */
const UNSAFE_SOURCE = '[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}\\p{Cs}]';
const UNSAFE = new RegExp(UNSAFE_SOURCE, 'u');
const UNSAFE_ALL = new RegExp(UNSAFE_SOURCE, 'gu');
/** The same without the line feed. */
const UNSAFE_KEEP_LF = new RegExp(`(?!\\n)${UNSAFE_SOURCE}`, 'u');
const UNSAFE_KEEP_LF_ALL = new RegExp(`(?!\\n)${UNSAFE_SOURCE}`, 'gu');
/** Only printable ASCII: nothing to escape (the common case, checked first). */
const PLAIN = /^[\x20-\x7e]*$/;

export interface EscapeOptions {
  /** Keep line feeds (multi-line CLI output); default false: `\n` is escaped too. */
  keepNewlines?: boolean;
}

/** The escaped form of one unsafe character: `\x1b`, `\u202e`, `\u{e0041}`. */
export function escapeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp < 0x10000) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/** Whether `s` holds a character that is shown escaped. */
export function hasUnsafe(s: string, options: EscapeOptions = {}): boolean {
  if (PLAIN.test(s)) return false;
  return (options.keepNewlines ? UNSAFE_KEEP_LF : UNSAFE).test(s);
}

/** How many characters of `s` are shown escaped. */
export function countUnsafe(s: string, options: EscapeOptions = {}): number {
  if (PLAIN.test(s)) return 0;
  return s.match(options.keepNewlines ? UNSAFE_KEEP_LF_ALL : UNSAFE_ALL)?.length ?? 0;
}

/** `s` with every unsafe character shown escaped (the same string when there is none). */
export function escapeForTerminal(s: string, options: EscapeOptions = {}): string {
  if (PLAIN.test(s)) return s;
  return s.replace(options.keepNewlines ? UNSAFE_KEEP_LF_ALL : UNSAFE_ALL, escapeChar);
}

/** A piece of text as shown: `escaped` pieces are the escaped form of unsafe characters. */
export interface TerminalPiece {
  text: string;
  escaped: boolean;
}

/**
 * `s` cut into plain pieces and escaped ones (each escaped piece one run of unsafe characters), so
 * that a view can mark what was escaped. Joined, the texts are `escapeForTerminal(s)`.
 */
export function terminalPieces(s: string): TerminalPiece[] {
  if (PLAIN.test(s) || !UNSAFE.test(s)) return [{ text: s, escaped: false }];
  const out: TerminalPiece[] = [];
  let last = 0;
  for (const m of s.matchAll(UNSAFE_ALL)) {
    const at = m.index;
    if (at > last) out.push({ text: s.slice(last, at), escaped: false });
    const e = escapeChar(m[0]);
    const prev = out[out.length - 1];
    if (prev?.escaped && at === last) prev.text += e;
    else out.push({ text: e, escaped: true });
    last = at + m[0].length;
  }
  if (last < s.length) out.push({ text: s.slice(last), escaped: false });
  return out;
}

/** The characters JSON text may still hold raw that a terminal would act on or hide. */
const JSON_UNSAFE_ALL = new RegExp(`(?!\\n)${UNSAFE_SOURCE}`, 'gu');

/**
 * JSON text (from JSON.stringify) with the unsafe characters JSON leaves raw (DEL, C1, format
 * characters, U+2028/2029) written as `\uXXXX` escapes. The JSON means exactly the same values:
 * `JSON.parse` of the result equals `JSON.parse` of the input. (JSON.stringify already escapes C0
 * controls and lone surrogates in strings; its own line breaks between values are kept.)
 */
export function jsonForTerminal(json: string): string {
  if (PLAIN.test(json)) return json;
  return json.replace(JSON_UNSAFE_ALL, (ch) => {
    let out = '';
    for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}

/** The note the CLI prints on stderr (once) when it escaped something in its output. */
export function escapedNote(count: number): string {
  return `${count} character${count === 1 ? '' : 's'} from outside plugboard (QEMU, runtime files, file names or arguments) that a terminal would act on or not show ${count === 1 ? 'is' : 'are'} shown escaped (\\xHH, \\uHHHH)`;
}
