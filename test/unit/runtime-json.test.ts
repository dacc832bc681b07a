import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dumpJson, JsonSyntaxError, MAX_JSON_DEPTH, parseJson, pyFloatRepr } from '../../src/runtime/json.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import { serializeRuntime } from '../../src/runtime/serialize.js';
import type { Json } from '../../src/runtime/types.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/runtime/${name}`, import.meta.url), 'utf8');

function syntaxError(text: string): JsonSyntaxError {
  try {
    parseJson(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) return err;
    throw err;
  }
  throw new Error(`parsed: ${text}`);
}

describe('serializer matches Ganeti serializer.DumpJson byte for byte', () => {
  // The *.ganeti-dump.json fixtures were written by Ganeti 3.0's serializer.DumpJson (simplejson
  // 3.18) on this machine; see test/fixtures/runtime/README.md.
  for (const name of ['kvm_runtime.ganeti-dump.json', 'scsi-current.ganeti-dump.json', 'edge-values.ganeti-dump.json']) {
    it(`re-serializes ${name} (written by Ganeti) to identical bytes`, () => {
      const text = fixture(name);
      expect(serializeRuntime(parseRuntimeText(text, name))).toBe(text);
    });
  }

  it('edge-values covers integral floats, exponent layout, big ints, NaN and non-ASCII (so the byte test means something)', () => {
    const text = fixture('edge-values.ganeti-dump.json');
    for (const piece of ['1721112669.0', '1e+16', '1e-05', '-0.0', '5e-324', '18446744073709551617', '9007199254740993', 'NaN', '-Infinity', '\\ud800 lone', '\\ud83d\\ude00', '\\u007f', '{"10": 1, "a": 2, "2": 3']) {
      expect(text.includes(piece), piece).toBe(true);
    }
  });
});

describe('pyFloatRepr (Python repr(float))', () => {
  it.each([
    [0, '0.0'],
    [-0, '-0.0'],
    [1, '1.0'],
    [0.1 + 0.2, '0.30000000000000004'],
    [1e15, '1000000000000000.0'],
    [1e16, '1e+16'],
    [1.5e300, '1.5e+300'],
    [1e-4, '0.0001'],
    [1e-5, '1e-05'],
    [1.5e-7, '1.5e-07'],
    [5e-324, '5e-324'],
    [123456789.125, '123456789.125'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
  ])('%s → %s', (x, want) => {
    expect(pyFloatRepr(x)).toBe(want);
  });
});

describe('parseJson', () => {
  it('reads what JSON.parse reads, with the same values and key order', () => {
    fc.assert(
      fc.property(fc.json({ stringUnit: 'binary', maxDepth: 4 }), (text) => {
        expect(JSON.stringify(parseJson(text))).toBe(JSON.stringify(JSON.parse(text)));
      }),
      { numRuns: 500 },
    );
  });

  it('rejects what JSON.parse rejects (NaN/Infinity aside, which simplejson reads)', () => {
    const valid = fc.json();
    const mutated = fc
      .tuple(valid, fc.nat(), fc.nat({ max: 3 }), fc.string({ unit: 'binary-ascii', maxLength: 3 }))
      .map(([t, pos, del, ins]) => {
        const p = pos % (t.length + 1);
        return t.slice(0, p) + ins + t.slice(p + del);
      });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string()), (text) => {
        let theirs = true;
        try {
          JSON.parse(text);
        } catch {
          theirs = false;
        }
        let ours = true;
        try {
          parseJson(text);
        } catch (err) {
          expect(err).toBeInstanceOf(JsonSyntaxError);
          ours = false;
        }
        if (ours !== theirs) expect(/NaN|Infinity/.test(text)).toBe(true);
        if (ours && theirs) expect(JSON.stringify(parseJson(text))).toBe(JSON.stringify(JSON.parse(text)));
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the last value of a duplicate key at its first position, as Python dicts do', () => {
    const v = parseJson('{"a": 1, "b": 2, "a": 3}') as Record<string, Json>;
    expect(Object.keys(v)).toEqual(['a', 'b']);
    expect(v.a).toBe(3);
  });

  it('makes "__proto__" an own key, not a prototype', () => {
    const v = parseJson('{"__proto__": {"x": 1}}') as Record<string, Json>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__']);
    expect(dumpJson(v)).toBe('{"__proto__": {"x": 1}}');
  });

  it('reads -0 as int 0 and -0.0 as float -0.0, like Python', () => {
    expect(Object.is(parseJson('-0'), 0)).toBe(true);
    expect(dumpJson(parseJson('[-0, -0.0]'))).toBe('[0, -0.0]');
  });

  it('keeps ints beyond 2^53 exact and the float form of integral floats', () => {
    const text = '[9007199254740993, 1.0, 2e3, 1E400, 100000000000000000000000]';
    expect(dumpJson(parseJson(text))).toBe('[9007199254740993, 1.0, 2000.0, Infinity, 100000000000000000000000]');
  });

  it('forgets a hint once the value changes', () => {
    const v = parseJson('{"t": 5.0}') as Record<string, Json>;
    expect(dumpJson(v)).toBe('{"t": 5.0}');
    v.t = 6;
    expect(dumpJson(v)).toBe('{"t": 6}');
  });

  it('refuses integers Python refuses (more than 4300 digits)', () => {
    expect(syntaxError(`[${'9'.repeat(4301)}]`).message).toBe(
      'invalid JSON at line 1, column 2: integer with 4301 digits (Python reads at most 4300)',
    );
  });

  it(`refuses nesting deeper than ${MAX_JSON_DEPTH} without overflowing the stack`, () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(syntaxError(deep).message).toBe(
      `invalid JSON at line 1, column ${MAX_JSON_DEPTH + 1}: nested deeper than ${MAX_JSON_DEPTH} levels`,
    );
  });

  it('reports line and column of the problem', () => {
    const e = syntaxError('[\n  ["a",\n   "b" "c"]]');
    expect([e.line, e.column]).toEqual([3, 8]);
    expect(e.message).toBe(`invalid JSON at line 3, column 8: expected ',' or ']' after an array item, got '"'`);
    expect(syntaxError('{"a": "x\u0001"}').message).toBe(
      'invalid JSON at line 1, column 9: control character U+0001 inside a string (must be escaped)',
    );
    expect(syntaxError('["abc').message).toBe('invalid JSON at line 1, column 2: unterminated string');
    expect(syntaxError('{"a" 1}').message).toBe(`invalid JSON at line 1, column 6: expected ':' after the key, got '1'`);
    expect(syntaxError('').message).toBe('invalid JSON at line 1, column 1: unexpected end of input');
  });
});

describe('dumpJson', () => {
  it('writes simplejson layout: ", " and ": " separators, ASCII only with lowercase \\u escapes', () => {
    expect(dumpJson({ a: [1, 'é', '\u{1F600}', null, true], 'b"': { '\n': '\u007f' } })).toBe(
      '{"a": [1, "\\u00e9", "\\ud83d\\ude00", null, true], "b\\"": {"\\n": "\\u007f"}}',
    );
    expect(dumpJson([])).toBe('[]');
    expect(dumpJson({})).toBe('{}');
  });

  it('round-trips any JSON value exactly (dump → parse → same value)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary', maxDepth: 4 }), (v) => {
        expect(parseJson(dumpJson(v as Json))).toEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips any double exactly', () => {
    fc.assert(
      fc.property(fc.double(), (x) => {
        const back = parseJson(dumpJson([x])) as number[];
        expect(Object.is(back[0], x)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
