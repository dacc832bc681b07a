/**
 * Property-based fuzzing (fast-check) of the runtime-file parser and writer, and of the one path
 * that changes an instance (runAction, and the CLI's hotplug/unplug) fed with files it cannot read:
 * - the parser never throws anything but RuntimeFileError, every line of which names the file;
 *   never takes long on any input; what it accepts it writes back so that it reads the same again;
 * - reading from disk (any bytes, also not UTF-8) fails only with PlugboardErrors;
 * - the writer, failing at any point before its rename, leaves the old bytes and no temp file;
 * - a runtime file plugboard cannot fully read is never rewritten, nothing is sent to QEMU, and
 *   the lock is released: through runAction and through the CLI (`hotplug`/`unplug`, with and
 *   without `--dry-run`).
 * The counts of inputs tried are printed at the end (hardening figures).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { InputError, PlugboardError, RuntimeFileError } from '../../src/errors.js';
import { withDisk, withoutDisk } from '../../src/runtime/edit.js';
import { loadRuntimeFile, parseRuntimeText } from '../../src/runtime/load.js';
import { serializeRuntime } from '../../src/runtime/serialize.js';
import { writeRuntimeFileAtomic } from '../../src/runtime/write.js';
import type { Json, JsonObject } from '../../src/runtime/types.js';
import { FakeQmpServer } from '../helpers/fake-qmp.js';
import { CORPUS_DIR, FigureCounter, snapshotTree } from '../hostile/lib.js';

const figures = new FigureCounter('runtime fuzz');
afterAll(() => figures.report());

const SRC = 'conf/web1.runtime';
const VALID = ['ok-current.runtime', 'legacy-pci-slots.runtime', 'legacy-3-items.runtime', 'value-big-numbers.runtime', 'dup-addr.runtime'].map((f) =>
  readFileSync(join(CORPUS_DIR, f), 'utf8'),
);
const BROKEN = readdirSync(CORPUS_DIR)
  .filter((f) => !/^(ok-|legacy-(3|nic|pci-s|pci-and|hv|empty)|value-(big|nan|proto|control)|dup-(addr|disk|first|uuid)|enc-(bom|escaped))/.test(f))
  .map((f) => readFileSync(join(CORPUS_DIR, f)));

/** Slowest single parse seen (ms), for the closing figures. */
let slowestMs = 0;

/** Parses and checks the invariants; returns the RuntimeFile or undefined when refused. */
function parseChecked(text: string) {
  const started = performance.now();
  try {
    return parseRuntimeText(text, SRC);
  } catch (err) {
    expect(err).toBeInstanceOf(RuntimeFileError);
    const lines = (err as Error).message.split('\n');
    expect(lines.length).toBeLessThanOrEqual(51);
    for (const l of lines) expect(l.startsWith(`${SRC}: `)).toBe(true);
    return undefined;
  } finally {
    const ms = performance.now() - started;
    slowestMs = Math.max(slowestMs, ms);
    expect(ms).toBeLessThan(1_000);
    figures.inputs++;
  }
}

// --- structured mutations of valid files -----------------------------------------------------

type Mutation =
  | { op: 'replace'; path: number[]; value: Json }
  | { op: 'delete'; path: number[] }
  | { op: 'duplicate'; path: number[]; value: Json }
  | { op: 'truncate'; at: number }
  | { op: 'splice'; at: number; del: number; ins: string };

const jsonValue = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
const pathArb = fc.array(fc.nat(), { minLength: 1, maxLength: 6 });
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('replace' as const), path: pathArb, value: jsonValue }),
  fc.record({ op: fc.constant('delete' as const), path: pathArb }),
  fc.record({ op: fc.constant('duplicate' as const), path: pathArb, value: jsonValue }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('splice' as const), at: fc.nat(), del: fc.nat({ max: 8 }), ins: fc.string({ unit: 'binary', maxLength: 6 }) }),
);

/** Walks `path` (indexes taken modulo the size of each container) to a container and a key in it. */
function locate(doc: Json, path: number[]): { parent: Json[] | JsonObject; key: string | number } | undefined {
  let cur: Json = doc;
  let found: { parent: Json[] | JsonObject; key: string | number } | undefined;
  for (const step of path) {
    if (Array.isArray(cur) && cur.length > 0) {
      const k = step % cur.length;
      found = { parent: cur, key: k };
      cur = cur[k] as Json;
    } else if (cur !== null && typeof cur === 'object' && !Array.isArray(cur) && Object.keys(cur).length > 0) {
      const keys = Object.keys(cur);
      const k = keys[step % keys.length]!;
      found = { parent: cur, key: k };
      cur = cur[k] as Json;
    } else break;
  }
  return found;
}

function mutate(base: string, m: Mutation): string {
  if (m.op === 'truncate') return base.slice(0, m.at % (base.length + 1));
  if (m.op === 'splice') {
    const at = m.at % (base.length + 1);
    return base.slice(0, at) + m.ins + base.slice(at + m.del);
  }
  const doc = JSON.parse(base) as Json;
  const spot = locate(doc, m.path);
  if (!spot) return base;
  const { parent, key } = spot;
  if (m.op === 'replace') {
    (parent as Record<string | number, Json>)[key] = m.value;
    return JSON.stringify(doc);
  }
  if (m.op === 'delete') {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
    return JSON.stringify(doc);
  }
  // duplicate: the same key again, later in the object (text-level: JSON.stringify cannot).
  if (Array.isArray(parent)) return JSON.stringify(doc);
  (parent as JsonObject)['__pb_dup_marker__'] = 0;
  return JSON.stringify(doc).replace('"__pb_dup_marker__":0', `${JSON.stringify(key)}: ${JSON.stringify(m.value)}`);
}

describe('parser: structured and byte-level mutations of valid files', () => {
  it('never throws anything but RuntimeFileError (each line naming the file), never takes a second, and what it accepts reads back the same', () => {
    fc.assert(
      fc.property(fc.nat({ max: VALID.length - 1 }), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (which, muts) => {
        let text = VALID[which]!;
        for (const m of muts) {
          try {
            text = mutate(text, m);
          } catch {
            // the text no longer is JSON.parse-able: later structural mutations are skipped
          }
        }
        const rf = parseChecked(text);
        if (!rf) return;
        const written = serializeRuntime(rf);
        const again = parseRuntimeText(written, SRC);
        expect(again.raw).toEqual(rf.raw);
        expect(serializeRuntime(again)).toBe(written);
      }),
      { numRuns: 4000 },
    );
  });

  it('random text, random bytes read as text, and valid files with random bytes inserted: only RuntimeFileError', () => {
    const inserted = fc
      .tuple(fc.nat({ max: VALID.length - 1 }), fc.nat(), fc.string({ unit: 'binary', maxLength: 12 }))
      .map(([w, at, ins]) => {
        const t = VALID[w]!;
        const p = at % (t.length + 1);
        return t.slice(0, p) + ins + t.slice(p);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.json({ maxDepth: 4 }), inserted), (text) => {
        parseChecked(text);
      }),
      { numRuns: 4000 },
    );
  });

  it('edits of accepted files (add a disk, remove one) write what reads back the same', () => {
    fc.assert(
      fc.property(fc.nat({ max: VALID.length - 1 }), fc.uuid({ version: 4 }), fc.nat({ max: 0x1f - 0xc }), (which, uuid, slot) => {
        figures.inputs++;
        const rf = parseRuntimeText(VALID[which]!, SRC);
        const id = `disk-${uuid.split('-').slice(0, 3).join('-')}`;
        const disk: JsonObject = { uuid, size: 1, mode: 'rw', hvinfo: { driver: 'virtio-blk-pci', id, bus: 'pci.0', addr: `0x${(0xc + slot).toString(16)}` } };
        let edited;
        try {
          edited = withDisk(rf, { disk, link: '/dev/x', uri: null });
        } catch (err) {
          expect(err).toBeInstanceOf(PlugboardError);
          return;
        }
        const back = parseRuntimeText(serializeRuntime(edited), SRC);
        expect(back.raw).toEqual(edited.raw);
        const removed = withoutDisk(back, uuid);
        expect(serializeRuntime(parseRuntimeText(serializeRuntime(removed), SRC))).toBe(serializeRuntime(removed));
      }),
      { numRuns: 300 },
    );
  });
});

describe('reading from disk and writing atomically', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pb-fuzz-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('any bytes on disk (not UTF-8, BOMs, NULs, broken corpus files): a PlugboardError, one line per problem naming the file', async () => {
    const file = join(dir, 'web1.runtime');
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.nat({ max: VALID.length - 1 }), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([w, at, ins]) => {
        const b = Buffer.from(VALID[w]!);
        const p = at % (b.length + 1);
        return Buffer.concat([b.subarray(0, p), ins, b.subarray(p)]);
      }),
      fc.constantFrom(...BROKEN),
    );
    await fc.assert(
      fc.asyncProperty(bytesArb, async (bytes) => {
        figures.inputs++;
        writeFileSync(file, bytes);
        try {
          await loadRuntimeFile(file);
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          for (const l of (err as Error).message.split('\n')) expect(l.startsWith(`${file}: `)).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('a write that fails at any point before the rename leaves the old bytes, the old mode and no temp file', async () => {
    const file = join(dir, 'w.runtime');
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 2000 }), fc.boolean(), async (text, fail) => {
        figures.inputs++;
        writeFileSync(file, 'old bytes\n', { mode: 0o640 });
        const p = writeRuntimeFileAtomic(file, text, {
          beforeRename: () => {
            if (fail) {
              figures.faults++;
              throw new Error('injected');
            }
          },
        });
        if (fail) {
          await expect(p).rejects.toThrow(`cannot write ${file}: injected; the file is unchanged`);
          expect(readFileSync(file, 'utf8')).toBe('old bytes\n');
        } else {
          await p;
          expect(readFileSync(file, 'utf8')).toBe(text);
        }
        expect(readdirSync(dir).filter((f) => f.includes('.plugboard-'))).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('a runtime file plugboard cannot fully read is never rewritten and nothing is sent', () => {
  let root: string;
  let fake: FakeQmpServer;
  let img: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'pb-fuzz-root-'));
    for (const d of ['conf', 'ctrl', 'pid', 'disks']) mkdirSync(join(root, d));
    img = join(root, 'disks', 'new.img');
    writeFileSync(img, Buffer.alloc(4096));
    fake = await FakeQmpServer.start();
    symlinkSync(fake.path, join(root, 'ctrl', 'web1.qmp'));
  });
  afterAll(async () => {
    await fake.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const unreadable = fc.oneof(
    fc.constantFrom(...BROKEN),
    fc.tuple(fc.nat({ max: VALID.length - 1 }), fc.nat()).map(([w, at]) => Buffer.from(VALID[w]!.slice(0, at % VALID[w]!.length))),
    fc.tuple(fc.nat({ max: VALID.length - 1 }), mutationArb).map(([w, m]) => Buffer.from(mutate(VALID[w]!, m))),
  ).filter((b) => {
    try {
      parseRuntimeText(b.toString('utf8'), SRC);
      return false;
    } catch {
      return true;
    }
  });

  async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {} };
    const code = await main(['--root', root, ...args], io);
    return { code, stdout, stderr };
  }

  it('runAction (hot-add and unplug) and the CLI (hotplug/unplug, --dry-run or not, show): refused, bytes unchanged, no QMP connection, lock released', async () => {
    const file = join(root, 'conf', 'web1.runtime');
    await fc.assert(
      fc.asyncProperty(unreadable, async (bytes) => {
        figures.inputs++;
        writeFileSync(file, bytes);
        const before = snapshotTree(root, (r) => r === 'plugboard-lock');
        const errors = await Promise.all(
          [
            runAction({ type: 'hot-add-disk', instance: 'web1', path: img }, { root, lockTimeoutMs: 2_000 }),
            runAction({ type: 'unplug-disk', instance: 'web1', device: 'disk-0c0a7e0e-4c1b-4b6e', timeoutMs: 100 }, { root, lockTimeoutMs: 2_000 }),
          ].map((p) => p.then(() => undefined, (e: unknown) => e)),
        );
        for (const err of errors) expect(err).toBeInstanceOf(InputError);
        for (const args of [
          ['hotplug', 'disk', 'web1', '--path', img],
          ['hotplug', 'disk', 'web1', '--path', img, '--dry-run'],
          ['unplug', 'disk', 'web1', 'disk-0c0a7e0e-4c1b-4b6e'],
          ['unplug', 'disk', 'web1', 'disk-0c0a7e0e-4c1b-4b6e', '--dry-run', '--json'],
          ['show', 'web1'],
        ]) {
          const r = await cli(...args);
          expect(r.code).toBe(2);
          expect(r.stdout).toBe('');
          for (const l of r.stderr.trimEnd().split('\n')) expect(l).toMatch(/^plugboard: .+/);
        }
        expect(snapshotTree(root, (r) => r === 'plugboard-lock')).toEqual(before);
        expect(readdirSync(join(root, 'plugboard-lock'))).toEqual([]);
        if (readFileSync(file).compare(bytes) !== 0) figures.dataLost++;
      }),
      { numRuns: 120 },
    );
    expect(fake.connections).toHaveLength(0);
    expect(figures.dataLost).toBe(0);
  });
});

afterAll(() => {
  console.log(`hardening figures: runtime fuzz: slowest single parse ${slowestMs.toFixed(1)} ms`);
});
