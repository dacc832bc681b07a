import { describe, expect, it } from 'vitest';
import { Transcript } from '../../src/qmp/transcript.js';

describe('Transcript', () => {
  it('keeps only the newest maxEntries entries, oldest first, with seq counting all', () => {
    const t = new Transcript({ maxEntries: 3 });
    for (let i = 1; i <= 5; i++) t.record(i % 2 ? 'out' : 'in', '/s', `{"n":${i}}`);
    expect(t.size).toBe(3);
    expect(t.entries().map((e) => [e.seq, e.json])).toEqual([
      [3, '{"n":3}'],
      [4, '{"n":4}'],
      [5, '{"n":5}'],
    ]);
  });

  it('cuts long messages to maxEntryChars and keeps their full length', () => {
    const t = new Transcript({ maxEntryChars: 10 });
    const e = t.record('in', '/s', 'x'.repeat(25));
    expect(e.json).toBe('x'.repeat(10));
    expect(e.fullLength).toBe(25);
    expect(t.record('in', '/s', 'short').fullLength).toBeUndefined();
  });

  it('tells subscribers about new entries until they unsubscribe; a throwing one does not stop others', () => {
    const t = new Transcript();
    const seen: number[] = [];
    const offBad = t.subscribe(() => {
      throw new Error('UI bug');
    });
    const off = t.subscribe((e) => seen.push(e.seq));
    t.record('out', '/s', '{}');
    off();
    offBad();
    t.record('out', '/s', '{}');
    expect(seen).toEqual([1]);
  });

  it('clear() empties it; entries() is a copy', () => {
    const t = new Transcript();
    t.record('out', '/s', '{}');
    const copy = t.entries();
    t.clear();
    expect(copy).toHaveLength(1);
    expect(t.entries()).toEqual([]);
    expect(t.record('in', '/s', '{}').seq).toBe(2);
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => new Transcript({ maxEntries: 0 })).toThrow(/maxEntries must be a positive integer/);
  });
});
