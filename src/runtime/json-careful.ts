/**
 * The careful JSON parser: reads a text the way simplejson.loads does (RFC 8259 plus NaN, Infinity
 * and -Infinity; a duplicate key's LAST value at its FIRST place, as Python's `dict(pairs)`), keeps
 * the formatting hints Python's writing needs (json-hints.ts), reports duplicate keys, bounds the
 * work hostile input can cause (depth, number of values, digits), and says where a text is not
 * JSON (line and column). runtime/json.ts sends most texts through JSON.parse instead, and every
 * other one (and every error) through here.
 */
import { InputError } from '../errors.js';
import { addNumberHint, setKeyOrder, setOwn } from './json-hints.js';
import { pyFloatRepr } from './json-python.js';
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

/** parseJson without the shortcut through JSON.parse: every text goes through this parser. Throws JsonSyntaxError. */
export function parseJsonCarefully(text: string, opts: ParseJsonOptions = {}): Json {
  return new CarefulParser(text, opts).document();
}

function describeChar(text: string, i: number): string {
  if (i >= text.length) return 'end of input';
  const c = text.codePointAt(i)!;
  if (c < 0x20 || c === 0x7f) return `control character U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  return `'${String.fromCodePoint(c)}'`;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/** One parse of one text: `i` is the position, `values` the count so far, `path` where (only kept when duplicates are reported). */
class CarefulParser {
  private i = 0;
  private values = 0;
  private readonly n: number;
  private readonly maxValues: number;
  private readonly onDuplicate: ParseJsonOptions['onDuplicateKey'];
  private readonly path: (string | number)[] = [];

  constructor(
    private readonly text: string,
    opts: ParseJsonOptions,
  ) {
    this.n = text.length;
    this.maxValues = opts.maxValues ?? Infinity;
    this.onDuplicate = opts.onDuplicateKey;
  }

  document(): Json {
    // A hint on the top-level number itself lives on `holder`; top-level numbers never occur in
    // runtime files, so it is dropped.
    const holder: Json[] = [];
    const value = this.value(holder, 0, 0);
    this.skipWs();
    if (this.i < this.n) this.fail(`unexpected ${describeChar(this.text, this.i)} after the end of the JSON value`);
    return value;
  }

  private fail(reason: string, at: number = this.i): never {
    let line = 1;
    let lineStart = 0;
    for (let j = 0; j < at && j < this.n; j++) {
      if (this.text.charCodeAt(j) === 0x0a) {
        line++;
        lineStart = j + 1;
      }
    }
    throw new JsonSyntaxError(reason, line, at - lineStart + 1, at);
  }

  /** `expected X, got Y` or, at the end of the text, `unexpected end of input (expected X)`. */
  private expectedHere(what: string): never {
    return this.fail(this.i >= this.n ? `unexpected end of input (expected ${what})` : `expected ${what}, got ${describeChar(this.text, this.i)}`);
  }

  private skipWs(): void {
    const { text } = this;
    let i = this.i;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    this.i = i;
  }

  private value(container: object, key: string | number, depth: number): Json {
    const { text } = this;
    this.skipWs();
    if (this.i >= this.n) return this.fail('unexpected end of input');
    if (++this.values > this.maxValues) return this.fail(`more than ${this.maxValues} values in one document: refusing to read further`);
    const c = text.charCodeAt(this.i);
    switch (c) {
      case 0x7b /* { */:
        return this.object(depth);
      case 0x5b /* [ */:
        return this.array(depth);
      case 0x22:
        return this.string();
      case 0x74:
        if (text.startsWith('true', this.i)) return this.literal(4, true);
        break;
      case 0x66:
        if (text.startsWith('false', this.i)) return this.literal(5, false);
        break;
      case 0x6e:
        if (text.startsWith('null', this.i)) return this.literal(4, null);
        break;
      case 0x4e:
        if (text.startsWith('NaN', this.i)) return this.literal(3, NaN);
        break;
      case 0x49:
        if (text.startsWith('Infinity', this.i)) return this.literal(8, Infinity);
        break;
      default:
        if (c === 0x2d || isDigit(c)) return this.number(container, key);
    }
    return this.fail(`unexpected ${describeChar(text, this.i)}`);
  }

  private literal(length: number, value: Json): Json {
    this.i += length;
    return value;
  }

  private object(depth: number): JsonObject {
    if (depth >= MAX_JSON_DEPTH) return this.fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    const { text, onDuplicate, path } = this;
    this.i++;
    const obj: JsonObject = {};
    const order: string[] = [];
    this.skipWs();
    if (text.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return obj;
    }
    for (;;) {
      this.skipWs();
      if (text.charCodeAt(this.i) !== 0x22) return this.expectedHere('a key in double quotes');
      const k = this.string();
      this.skipWs();
      if (text.charCodeAt(this.i) !== 0x3a) return this.expectedHere("':' after the key");
      this.i++;
      if (onDuplicate) path.push(k);
      const v = this.value(obj, k, depth + 1);
      if (onDuplicate) path.pop();
      if (!Object.hasOwn(obj, k)) order.push(k);
      else onDuplicate?.(path.slice(), k);
      setOwn(obj, k, v);
      this.skipWs();
      const d = text.charCodeAt(this.i);
      if (d === 0x2c) {
        this.i++;
        continue;
      }
      if (d === 0x7d) {
        this.i++;
        break;
      }
      return this.expectedHere("',' or '}' after an object member");
    }
    const keys = Object.keys(obj);
    if (keys.some((k, idx) => k !== order[idx])) setKeyOrder(obj, order);
    return obj;
  }

  private array(depth: number): Json[] {
    if (depth >= MAX_JSON_DEPTH) return this.fail(`nested deeper than ${MAX_JSON_DEPTH} levels`);
    const { text, onDuplicate, path } = this;
    this.i++;
    const arr: Json[] = [];
    this.skipWs();
    if (text.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return arr;
    }
    for (;;) {
      if (onDuplicate) path.push(arr.length);
      arr.push(this.value(arr, arr.length, depth + 1));
      if (onDuplicate) path.pop();
      this.skipWs();
      const d = text.charCodeAt(this.i);
      if (d === 0x2c) {
        this.i++;
        continue;
      }
      if (d === 0x5d) {
        this.i++;
        return arr;
      }
      return this.expectedHere("',' or ']' after an array item");
    }
  }

  /**
   * `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, scanned by hand: a regex match per number
   * allocated enough to make a 16 MiB file of numbers take seconds.
   */
  private number(container: object, key: string | number): number {
    const { text } = this;
    const start = this.i;
    let j = this.i;
    if (text.charCodeAt(j) === 0x2d) j++;
    const intStart = j;
    if (text.charCodeAt(j) === 0x30) j++;
    else while (isDigit(text.charCodeAt(j))) j++;
    if (j === intStart) {
      if (text.startsWith('-Infinity', this.i)) {
        this.i += 9;
        return -Infinity;
      }
      return this.fail(`unexpected ${describeChar(text, this.i)}`);
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
    this.i = j;
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
      return this.fail(`integer with ${intDigits} digits (Python reads at most ${MAX_INT_DIGITS})`, start);
    }
    const v = Number(lexeme) + 0;
    if (!Number.isSafeInteger(v)) {
      // Beyond 2^53 (or even beyond the double range): keep Python's exact digits for writing.
      const exact = BigInt(lexeme).toString();
      if (!Number.isFinite(v) || exact !== BigInt(v).toString()) addNumberHint(container, key, v, exact);
    }
    return v;
  }

  private string(): string {
    const { text, n } = this;
    // at opening quote
    const start = ++this.i;
    let i = start;
    let out = '';
    let chunkStart = start;
    for (;;) {
      if (i >= n) return this.fail('unterminated string', start - 1);
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(chunkStart, i);
        this.i = i + 1;
        return out;
      }
      if (c < 0x20) return this.fail(`${describeChar(text, i)} inside a string (must be escaped)`, i);
      if (c === 0x5c) {
        out += text.slice(chunkStart, i);
        out += this.escape(i);
        i = this.i;
        chunkStart = i;
        continue;
      }
      i++;
    }
  }

  /** The character of the escape at `i` (a backslash); `this.i` moves past it. */
  private escape(i: number): string {
    const { text, n } = this;
    const e = text.charCodeAt(i + 1);
    this.i = i + 2;
    switch (e) {
      case 0x22: return '"';
      case 0x5c: return '\\';
      case 0x2f: return '/';
      case 0x62: return '\b';
      case 0x66: return '\f';
      case 0x6e: return '\n';
      case 0x72: return '\r';
      case 0x74: return '\t';
      case 0x75: {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) return this.fail('invalid \\u escape (expected 4 hex digits)', i);
        this.i = i + 6;
        return String.fromCharCode(parseInt(hex, 16));
      }
      default:
        return this.fail(i + 1 >= n ? 'unterminated string' : `invalid escape \\${text[i + 1]}`, i);
    }
  }
}
