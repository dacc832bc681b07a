/**
 * Turning validation problems into the operator's one-liners: a path in the notation
 * `disks[1][0].hvinfo.addr` and a short message (`expected a string, got 5`).
 */

import type { z } from 'zod';
import type { InputIssue } from '../errors.js';

export type PathSegment = string | number;

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `['disks', 1, 0, 'hvinfo', 'addr']` → `disks[1][0].hvinfo.addr`; odd keys as `["a b"]`. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** A short rendering of a value for messages: `"abc"`, `5`, `null`, `an object`, `an array of 2 items`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') {
    const s = v.length > 40 ? `${v.slice(0, 40)}…` : v;
    return JSON.stringify(s);
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length === 1 ? 'an array of 1 item' : `an array of ${v.length} items`;
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  tuple: 'an array',
  record: 'an object',
  null: 'null',
};

/**
 * Error map passed to every safeParse of this module (schema-level `error` options take
 * precedence): messages in plugboard's words.
 */
export const plugboardErrorMap: z.core.$ZodErrorMap = (iss) => {
  const input = iss.input;
  switch (iss.code) {
    case 'invalid_type': {
      const want = EXPECTED[iss.expected] ?? iss.expected;
      return input === undefined ? `missing, expected ${want}` : `expected ${want}, got ${describeValue(input)}`;
    }
    case 'invalid_value':
      return `expected one of ${iss.values.map((v) => String(v)).join(', ')}; got ${describeValue(input)}`;
    case 'too_small':
      if (iss.origin === 'array') return `expected at least ${String(iss.minimum)} items, got ${describeValue(input)}`;
      if (iss.origin === 'string') return `expected a non-empty string, got ${describeValue(input)}`;
      return `expected a number ${iss.inclusive ? '>=' : '>'} ${String(iss.minimum)}, got ${describeValue(input)}`;
    case 'too_big':
      if (iss.origin === 'array') return `expected at most ${String(iss.maximum)} items, got ${describeValue(input)}`;
      return `expected a number ${iss.inclusive ? '<=' : '<'} ${String(iss.maximum)}, got ${describeValue(input)}`;
    case 'invalid_union':
      return `unexpected ${describeValue(input)}`;
    default:
      return undefined;
  }
};

/** Zod issues → InputIssues, their paths put under `prefix` (e.g. `['disks']`). */
export function zodIssuesToInputIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: PathSegment | readonly PathSegment[] = [],
): InputIssue[] {
  const pre = Array.isArray(prefix) ? prefix : [prefix as PathSegment];
  return issues.map((iss) => ({
    path: formatPath([...pre, ...iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p))]),
    message: iss.message,
  }));
}
