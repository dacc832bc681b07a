/**
 * JSON reading and writing that matches what Ganeti's `serializer` (simplejson) reads and writes.
 *
 * Why not `JSON.parse`/`JSON.stringify`:
 * - Python tells ints from floats; JS does not. A float whose value is integral (`2.0`, `1e16`) must be
 *   written back as Python's `repr` writes it (`2.0`, `1e+16`), and an int beyond 2^53 must keep its
 *   exact digits. The parser records such numbers in a side table (see `numberHints`) keyed by the
 *   containing array/object, so the document itself holds plain JS numbers.
 * - JS objects list integer-like keys ("0", "17") before the others whatever the insertion order.
 *   Python dicts keep insertion order. When that happens the original key order is recorded too.
 * - Python writes non-ASCII as `\uXXXX` (ensure_ascii), separators `", "` and `": "`, one line.
 * - simplejson also reads and writes `NaN`, `Infinity` and `-Infinity`; so do we.
 * - Errors carry a line and column.
 *
 * Hints survive structural sharing: an edit that builds a new document around unchanged objects
 * keeps their hints (the side table is keyed by object identity, and a hint is used only while the
 * value is still the same number).
 */

import { InputError, InternalError } from '../errors.js';
import type { Json, JsonObject } from './types.js';

/** Deepest nesting accepted (Python's json gives up near 1000; real runtime files nest < 10 deep). */
export const MAX_JSON_DEPTH = 512;

/** Python 3.11+ refuses to convert integers with more digits than this (`sys.int_info.default_max_str_digits`). */
export const MAX_INT_DIGITS = 4300;

/** Not JSON (as simplejson reads it): the reason and where, by line and column. */
export class JsonSyntaxError extends InputError {
  override name = 'JsonSyntaxError';
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    readonly offset: number,
  ) {
    super(`invalid JSON at line ${line}, column ${column}: ${reason}`);
  }
}

interface NumberHint {
  value: number;
  text: string;
}

const numberHints = new WeakMap<object, Map<string | number, NumberHint>>();
const keyOrders = new WeakMap<object, string[]>();

function addNumberHint(container: object, key: string | number, value: number, text: string): void {
  let m = numberHints.get(container);
  if (!m) {
    m = new Map();
    numberHints.set(container, m);
  }
  m.set(key, { value, text });
}

/** Copy the formatting hints of `from` to `to` (for an edit that copies an object and changes some keys). */
export function copyJsonHints(from: object, to: object): void {
  const m = numberHints.get(from);
  if (m) numberHints.set(to, new Map(m));
  const k = keyOrders.get(from);
  if (k) keyOrders.set(to, [...k]);
}

/** Set own enumerable data property, also for `__proto__` (which plain assignment would not create). */
export function setOwn(obj: JsonObject, key: string, value: Json): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}


function describeChar(text: string, i: number): string {
  if (i >= text.length) return 'end of input';
  const c = text.codePointAt(i)!;
  if (c < 0x20 || c === 0x7f) return `control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  return `'${String.fromCodePoint(c)}'`;
}

export interface ParseJsonOptions {
  /**
   * Refuse a document with more values than this (every number, string, array, object… counts
   * one): bounds the time and memory of reading hostile input. Default: no limit.
   */
  maxValues?: number;
  /**
   * Called for every key that appears again in the same object, with the path of that object
   * (`['disks', 0, 0, 'hvinfo']`). The value read is still the last one, as simplejson reads it.
   */
  onDuplicateKey?: (objectPath: readonly (string | number)[], key: string) => void;
}

// ---------------------------------------------------------------------------------------------
// The common case through the engine's own parser. Most runtime files hold nothing that needs the
// careful parser below: no number Python would write back differently (a float, an int beyond
// 2^53, -0), no integer-like key (which a JS object would move to the front), no duplicate key, no
// escape. For those, JSON.parse gives the very same value ~10× faster (`plugboard list` with 200
// files spent a fifth of its time here). The checks are regular expressions over the text, each
// erring on the careful side: a match anywhere (even inside a string) sends the text to the
// careful parser, which is also the one that reports errors.
// ---------------------------------------------------------------------------------------------

/**
 * A number value (after `[`, `,` or `:`, before whitespace, `,`, `]` or `}`) with a fraction or
 * exponent, 16+ digits, or `-0`. (The end keeps MACs such as `aa:3e:ba` out: `3e` is no number.)
 */
const CAREFUL_NUMBER = /[[,:][ \t\n\r]*(?:-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+)|-?\d{16,}|-0)(?=[ \t\n\r,\]}])/;
/** A key that is a canonical array index ("0", "17"): a JS object lists those first. */
const INDEX_KEY = /"(?:0|[1-9]\d*)"[ \t\n\r]*:/;
/** A string that ends a key (without escapes, `"` only delimits strings): counts keys, or more. */
const KEY_END = /"[ \t\n\r]*:/g;
const OPENING = /[[{]/g;

/** Matches of a global regular expression in `text`. */
function countMatches(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}

/** Own keys of every object in `v`. (Indexed loops: this runs cold, in the interpreter, where they are twice as fast as for-of/for-in.) */
function countKeys(v: unknown): number {
  if (v === null || typeof v !== 'object') return 0;
  let n = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) n += countKeys(v[i]);
  } else {
    const keys = Object.keys(v);
    n += keys.length;
    for (let i = 0; i < keys.length; i++) n += countKeys((v as Record<string, unknown>)[keys[i]!]);
  }
  return n;
}

/** JSON.parse(text) when that gives exactly what the careful parser would; else undefined. */
function parsePlainJson(text: string, opts: ParseJsonOptions): Json | undefined {
  let first = 0;
  while (first < text.length && ' \t\n\r'.includes(text[first]!)) first++;
  const c = text[first];
  if (c !== '[' && c !== '{') return undefined;
  if (text.includes('\\') || CAREFUL_NUMBER.test(text) || INDEX_KEY.test(text)) return undefined;
  // Every value takes at least one character; every level of nesting one bracket.
  if (opts.maxValues !== undefined && text.length > opts.maxValues) return undefined;
  if (text.length > MAX_JSON_DEPTH && countMatches(text, OPENING) > MAX_JSON_DEPTH) return undefined;
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
  // No duplicate key: as many keys in the value as key ends in the text (which counts each key
  // once, or more when a string starts with `:`).
  if (opts.onDuplicateKey && countKeys(value) !== countMatches(text, KEY_END)) return undefined;
  return value;
}

/**
 * Parse JSON text the way simplejson.loads does (RFC 8259 plus NaN/Infinity/-Infinity; duplicate
 * keys: last value wins, first position kept — Python's `dict(pairs)`). Throws JsonSyntaxError.
 */
export function parseJson(text: string, opts: ParseJsonOptions = {}): Json {
  return parsePlainJson(text, opts) ?? parseJsonCarefully(text, opts);
}

/** parseJson without the shortcut through JSON.parse: every text goes through this parser. */
export function parseJsonCarefully(text: string, opts: ParseJsonOptions = {}): Json {
  let i = 0;
  const n = text.length;
  const onDuplicate = opts.onDuplicateKey;
  const maxValues = opts.maxValues ?? Infinity;
  let values = 0;
  /** Path of the value being parsed (kept only when duplicates are reported). */
  const path: (string | number)[] = [];

  const fail = (reason: string, at: number = i): never => {
    let line = 1;
    let lineStart = 0;
    for (let j = 0; j < at && j < n; j++) {
      if (text.charCodeAt(j) === 0x0a) {
        line++;
        lineStart = j + 1;
      }
    }
    throw new JsonSyntaxError(reason, line, at - lineStart + 1, at);
  };

  /** `expected X, got Y` or, at the end of the text, `unexpected end of input (expected X)`. */
  const expectedHere = (what: string): never =>
    fail(i >= n ? `unexpected end of input (expected ${what})` : `expected ${what}, got ${describeChar(text, i)}`);

  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      i++;
    }
  };

  const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

  /**
   * `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, scanned by hand: a regex match per number
   * allocated enough to make a 16 MiB file of numbers take seconds.
   */
  const parseNumber = (container: object, key: string | number): number => {
    const start = i;
    let j = i;
    if (text.charCodeAt(j) === 0x2d) j++;
    const intStart = j;
    if (text.charCodeAt(j) === 0x30) j++;
    else while (isDigit(text.charCodeAt(j))) j++;
    if (j === intStart) {
      if (text.startsWith('-Infinity', i)) {
        i += 9;
        return -Infinity;
      }
      return fail(`unexpected ${describeChar(text, i)}`);
    }
    let isFloat = false;
    if (text.charCodeAt(j) === 0x2e && isDigit(text.charCodeAt(j + 1))) {
      isFloat = true;
      j += 2;
      while (isDigit(text.charCodeAt(j))) j++;
    }
    const e = text.charCodeAt(j);
    if (e === 0x65 || e === 0x45) {
      let k = j + 1;
      const sign = text.charCodeAt(k);
      if (sign === 0x2b || sign === 0x2d) k++;
      if (isDigit(text.charCodeAt(k))) {
        isFloat = true;
        j = k + 1;
        while (isDigit(text.charCodeAt(j))) j++;
      }
    }
    i = j;
    if (!isFloat && j - intStart <= 15) {
      // A small Python int (the common case): no string to make.
      let v = 0;
      for (let k = intStart; k < j; k++) v = v * 10 + (text.charCodeAt(k) - 0x30);
      return intStart > start && v !== 0 ? -v : v;
    }
    const lexeme = text.slice(start, j);
    if (isFloat) {
      // A Python float.
      const v = Number(lexeme);
      if (Number.isInteger(v)) addNumberHint(container, key, v, pyFloatRepr(v));
      return v;
    }
    // A Python int: exact, and never -0.
    const intDigits = j - intStart;
    if (intDigits > MAX_INT_DIGITS) {
      return fail(`integer with ${intDigits} digits (Python reads at most ${MAX_INT_DIGITS})`, start);
    }
    const v = Number(lexeme) + 0;
    if (!Number.isSafeInteger(v)) {
      // Beyond 2^53 (or even beyond the double range): keep Python's exact digits for writing.
      const exact = BigInt(lexeme).toString();
      if (!Number.isFinite(v) || exact !== BigInt(v).toString()) addNumberHint(container, key, v, exact);
    }
    return v;
  };

  const parseString = (): string => {
    // at opening quote
    const start = ++i;
    let out = '';
    let chunkStart = start;
    for (;;) {
      if (i >= n) return fail('unterminated string', start - 1);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(chunkStart, i);
        i++;
        return out;
      }
      if (c < 0x20) return fail(`${describeChar(text, i)} inside a string (must be escaped)`);
      if (c === 0x5c) {
        out += text.slice(chunkStart, i);
        const e = text.charCodeAt(i + 1);
        switch (e) {
          case 0x22: out += '"'; i += 2; break;
          case 0x5c: out += '\\'; i += 2; break;
          case 0x2f: out += '/'; i += 2; break;
          case 0x62: out += '\b'; i += 2; break;
          case 0x66: out += '\f'; i += 2; break;
          case 0x6e: out += '\n'; i += 2; break;
          case 0x72: out += '\r'; i += 2; break;
          case 0x74: out += '\t'; i += 2; break;
          case 0x75: {
            const hex = text.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) return fail('invalid \\u escape (expected 4 hex digits)');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 6;
            break;
          }
          default:
            return fail(i + 1 >= n ? 'unterminated string' : `invalid escape \\${text[i + 1]}`);
        }
        chunkStart = i;
        continue;
      }
      i++;
    }
  };

  const parseValue = (container: object, key: string | number, depth: number): Json => {
    skipWs();
    if (i >= n) return fail('unexpected end of input');
    if (++values > maxValues) return fail(`more than ${maxValues} values in one document: refusing to read further`);
    const c = text.charCodeAt(i);
    switch (c) {
      case 0x7b /* { */: {
        if (depth >= MAX_JSON_DEPTH) return fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
        i++;
        const obj: JsonObject = {};
        const order: string[] = [];
        skipWs();
        if (text.charCodeAt(i) === 0x7d) {
          i++;
          return obj;
        }
        for (;;) {
          skipWs();
          if (text.charCodeAt(i) !== 0x22) {
            return expectedHere('a key in double quotes');
          }
          const k = parseString();
          skipWs();
          if (text.charCodeAt(i) !== 0x3a) return expectedHere("':' after the key");
          i++;
          if (onDuplicate) path.push(k);
          const v = parseValue(obj, k, depth + 1);
          if (onDuplicate) path.pop();
          if (!Object.hasOwn(obj, k)) order.push(k);
          else onDuplicate?.(path.slice(), k);
          setOwn(obj, k, v);
          skipWs();
          const d = text.charCodeAt(i);
          if (d === 0x2c) {
            i++;
            continue;
          }
          if (d === 0x7d) {
            i++;
            break;
          }
          return expectedHere("',' or '}' after an object member");
        }
        const keys = Object.keys(obj);
        if (keys.some((k, idx) => k !== order[idx])) keyOrders.set(obj, order);
        return obj;
      }
      case 0x5b /* [ */: {
        if (depth >= MAX_JSON_DEPTH) return fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
        i++;
        const arr: Json[] = [];
        skipWs();
        if (text.charCodeAt(i) === 0x5d) {
          i++;
          return arr;
        }
        for (;;) {
          if (onDuplicate) path.push(arr.length);
          arr.push(parseValue(arr, arr.length, depth + 1));
          if (onDuplicate) path.pop();
          skipWs();
          const d = text.charCodeAt(i);
          if (d === 0x2c) {
            i++;
            continue;
          }
          if (d === 0x5d) {
            i++;
            return arr;
          }
          return expectedHere("',' or ']' after an array item");
        }
      }
      case 0x22:
        return parseString();
      case 0x74:
        if (text.startsWith('true', i)) {
          i += 4;
          return true;
        }
        break;
      case 0x66:
        if (text.startsWith('false', i)) {
          i += 5;
          return false;
        }
        break;
      case 0x6e:
        if (text.startsWith('null', i)) {
          i += 4;
          return null;
        }
        break;
      case 0x4e:
        if (text.startsWith('NaN', i)) {
          i += 3;
          return NaN;
        }
        break;
      case 0x49:
        if (text.startsWith('Infinity', i)) {
          i += 8;
          return Infinity;
        }
        break;
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return parseNumber(container, key);
    }
    return fail(`unexpected ${describeChar(text, i)}`);
  };

  const holder: Json[] = [];
  const value = parseValue(holder, 0, 0);
  skipWs();
  if (i < n) fail(`unexpected ${describeChar(text, i)} after the end of the JSON value`);
  // A hint on the top-level number itself lives on `holder`; top-level numbers never occur in
  // runtime files, so it is dropped.
  return value;
}

/**
 * Python's `repr(float)` (also what simplejson writes for floats): shortest round-trip digits
 * (JS and Python agree on them: both use the shortest string that reads back to the same double,
 * rounding to the nearest when several are as short), with Python's layout: scientific notation
 * when the decimal exponent is < -4 or >= 16 (JS switches at -7 and 21), at least two exponent
 * digits (`1e-05`, `1e+16`), and `.0` after integral values.
 */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const [mant, expStr] = Math.abs(x).toExponential().split('e') as [string, string];
  const digits = mant.replace('.', '');
  const decpt = Number(expStr) + 1;
  if (decpt <= -4 || decpt > 16) {
    const e = decpt - 1;
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const es = Math.abs(e).toString().padStart(2, '0');
    return `${sign}${m}e${e < 0 ? '-' : '+'}${es}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** How a JS number is written when no hint says otherwise: integral → Python int, else Python float. */
export function pyNumber(x: number): string {
  if (Number.isInteger(x) && !Object.is(x, -0)) return BigInt(x).toString();
  return pyFloatRepr(x);
}

// simplejson ESCAPE_ASCII: backslash, quote, and everything outside ' '..'~'.
// eslint-disable-next-line no-control-regex
const ESCAPE_ASCII = /[\\"\u0000-\u001f\u007f-\uffff]/g;
const SHORT_ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  '"': '\\"',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** simplejson `encode_basestring_ascii`: non-ASCII as lowercase `\uXXXX` (UTF-16 code units). */
export function pyString(s: string): string {
  return `"${s.replace(ESCAPE_ASCII, (ch) => SHORT_ESCAPES[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

function numberText(container: object, key: string | number, v: number): string {
  const h = numberHints.get(container)?.get(key);
  if (h && Object.is(h.value, v)) return h.text;
  return pyNumber(v);
}

function orderedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  const order = keyOrders.get(obj);
  if (!order) return keys;
  const present = new Set(keys);
  const out = order.filter((k) => present.has(k));
  const seen = new Set(out);
  for (const k of keys) if (!seen.has(k)) out.push(k);
  return out;
}

/**
 * `simplejson.dumps(value)` with default arguments: one line, `", "` and `": "` separators,
 * ensure_ascii, allow_nan. No trailing newline (see serializeRuntime).
 */
export function dumpJson(value: Json): string {
  const parts: string[] = [];
  const emit = (v: Json, container: object | null, key: string | number): void => {
    if (v === null) parts.push('null');
    else if (v === true) parts.push('true');
    else if (v === false) parts.push('false');
    else if (typeof v === 'number') parts.push(container ? numberText(container, key, v) : pyNumber(v));
    else if (typeof v === 'string') parts.push(pyString(v));
    else if (Array.isArray(v)) {
      parts.push('[');
      for (let idx = 0; idx < v.length; idx++) {
        if (idx) parts.push(', ');
        emit(v[idx] as Json, v, idx);
      }
      parts.push(']');
    } else if (typeof v === 'object') {
      parts.push('{');
      let first = true;
      for (const k of orderedKeys(v)) {
        const item = v[k];
        if (item === undefined) continue;
        if (!first) parts.push(', ');
        first = false;
        parts.push(pyString(k), ': ');
        emit(item, v, k);
      }
      parts.push('}');
    } else {
      throw new InternalError(`cannot write ${typeof v} as JSON`);
    }
  };
  emit(value, null, 0);
  return parts.join('');
}

/** Freeze a JSON value and everything in it (documents are shared between RuntimeFile versions). */
export function deepFreeze<T extends Json>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    // Indexed loops: every load freezes a whole document, cold, in the interpreter.
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item = v[i];
        if (item !== null && typeof item === 'object') deepFreeze(item);
      }
    } else {
      const values = Object.values(v);
      for (let i = 0; i < values.length; i++) {
        const item = values[i];
        if (item !== null && typeof item === 'object') deepFreeze(item as Json);
      }
    }
  }
  return v;
}

/** A deep copy of a JSON value that keeps the formatting hints of every container. */
export function cloneJson<T extends Json>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out = v.map((item) => cloneJson(item as Json));
    copyJsonHints(v, out);
    return out as T;
  }
  const out: JsonObject = {};
  for (const k of Object.keys(v)) setOwn(out, k, cloneJson((v as JsonObject)[k] as Json));
  copyJsonHints(v, out);
  return out as T;
}
