/**
 * JSON reading and writing that matches what Ganeti's `serializer` (simplejson) reads and writes.
 *
 * Why not `JSON.parse`/`JSON.stringify`:
 * - Python tells ints from floats; JS does not. A float whose value is integral (`2.0`, `1e16`) must be
 *   written back as Python's `repr` writes it (`2.0`, `1e+16`), and an int beyond 2^53 must keep its
 *   exact digits. The parser records such numbers in a side table (json-hints.ts) keyed by the
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
 *
 * This module is the entry: parseJson (JSON.parse when that gives the same, else the careful parser
 * of json-careful.ts), dumpJson, and the helpers; json-hints.ts keeps the hints, json-python.ts
 * writes Python's numbers and strings.
 */

import { InternalError } from '../errors.js';
import { MAX_JSON_DEPTH, parseJsonCarefully, type ParseJsonOptions } from './json-careful.js';
import { copyJsonHints, numberText, orderedKeys, setOwn } from './json-hints.js';
import { pyNumber, pyString } from './json-python.js';
import type { Json, JsonObject } from './types.js';

export { JsonSyntaxError, MAX_INT_DIGITS, MAX_JSON_DEPTH, parseJsonCarefully, type ParseJsonOptions } from './json-careful.js';
export { copyJsonHints, setOwn } from './json-hints.js';
export { pyFloatRepr, pyNumber, pyString } from './json-python.js';

// ---------------------------------------------------------------------------------------------
// The common case through the engine's own parser. Most runtime files hold nothing that needs the
// careful parser (json-careful.ts): no number Python would write back differently (a float, an int beyond
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
