/**
 * The formatting hints of a parsed document, kept beside it (keyed by object identity) so that the
 * document itself holds plain JS values:
 * - a number Python would write differently from its JS value (`2.0`, `1e+16`, an int beyond 2^53)
 *   keeps its text;
 * - an object whose key order a JS object cannot keep (integer-like keys such as "0", "17" come
 *   first in JS, Python dicts keep insertion order) keeps its order.
 * Hints survive structural sharing: an edit that builds a new document around unchanged objects
 * keeps their hints, and a number's hint is used only while the value is still the same number.
 */
import { pyNumber } from './json-python.js';
import type { Json, JsonObject } from './types.js';

interface NumberHint {
  value: number;
  text: string;
}

const numberHints = new WeakMap<object, Map<string | number, NumberHint>>();
const keyOrders = new WeakMap<object, string[]>();

/** The number at `container[key]` is written as `text` (while it is still `value`). */
export function addNumberHint(container: object, key: string | number, value: number, text: string): void {
  let m = numberHints.get(container);
  if (!m) {
    m = new Map();
    numberHints.set(container, m);
  }
  m.set(key, { value, text });
}

/** The keys of `obj` are written in `order` (the keys it no longer has are skipped, new ones follow). */
export function setKeyOrder(obj: object, order: string[]): void {
  keyOrders.set(obj, order);
}

/** Copy the formatting hints of `from` to `to` (for an edit that copies an object and changes some keys). */
export function copyJsonHints(from: object, to: object): void {
  const m = numberHints.get(from);
  if (m) numberHints.set(to, new Map(m));
  const k = keyOrders.get(from);
  if (k) keyOrders.set(to, [...k]);
}

/** The text of the number `v` at `container[key]`: its hint, or how Python writes it. */
export function numberText(container: object, key: string | number, v: number): string {
  const h = numberHints.get(container)?.get(key);
  if (h && Object.is(h.value, v)) return h.text;
  return pyNumber(v);
}

/** The keys of `obj` in the order they are written. */
export function orderedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  const order = keyOrders.get(obj);
  if (!order) return keys;
  const present = new Set(keys);
  const out = order.filter((k) => present.has(k));
  const seen = new Set(out);
  for (const k of keys) if (!seen.has(k)) out.push(k);
  return out;
}

/** Set own enumerable data property, also for `__proto__` (which plain assignment would not create). */
export function setOwn(obj: JsonObject, key: string, value: Json): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}
