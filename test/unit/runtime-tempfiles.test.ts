/**
 * Temp files are created exclusively and never through a link. Their names are random, so to plant
 * a link where plugboard will create one, this file makes node:crypto's randomBytes predictable
 * (vi.mock), plants a symbolic link (dangling, or to a victim file) at the temp name of the
 * runtime-file writer, of the pending records and of the instance lock, and checks that plugboard
 * fails with the reason instead of writing through the link, and that the victim is untouched.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { recordPendingUnplug, pendingFilePath } from '../../src/live/pending.js';
import { acquireInstanceLock, lockDirPath } from '../../src/runtime/lock.js';
import { writeRuntimeFileAtomic } from '../../src/runtime/write.js';
import { FigureCounter } from '../hostile/lib.js';

const state = vi.hoisted(() => ({ fixed: undefined as number | undefined }));

vi.mock('node:crypto', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:crypto')>();
  const randomBytes = ((n: number, ...rest: unknown[]) =>
    state.fixed !== undefined && rest.length === 0 ? Buffer.alloc(n, state.fixed) : (orig.randomBytes as (...a: unknown[]) => unknown)(n, ...rest)) as typeof orig.randomBytes;
  return { ...orig, default: { ...orig, randomBytes }, randomBytes };
});

const figures = new FigureCounter('temp files');
afterAll(() => figures.report());

let base: string;
let root: string;
let victim: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'pb-tmpfiles-'));
  root = join(base, 'root');
  mkdirSync(join(root, 'conf'), { recursive: true });
  victim = join(base, 'victim');
  writeFileSync(victim, 'victim bytes\n');
  state.fixed = 0xab;
});
afterEach(() => {
  state.fixed = undefined;
  rmSync(base, { recursive: true, force: true });
});

describe('a link planted at the temp name is never followed', () => {
  it('the runtime-file writer: a link to a victim at its temp name → EEXIST, the victim and the runtime file unchanged', async () => {
    figures.faults++;
    const file = join(root, 'conf', 'web1.runtime');
    writeFileSync(file, 'original\n');
    const tmp = join(root, 'conf', `.web1.runtime.plugboard-${'ab'.repeat(6)}.tmp`);
    symlinkSync(victim, tmp);
    await expect(writeRuntimeFileAtomic(file, 'new\n')).rejects.toThrow(new RegExp(`^cannot write ${file}: EEXIST: .*; the file is unchanged$`));
    expect(readFileSync(victim, 'utf8')).toBe('victim bytes\n');
    expect(readFileSync(file, 'utf8')).toBe('original\n');
    expect(lstatSync(tmp).isSymbolicLink()).toBe(true);
    // With another random name the same write goes through.
    state.fixed = 0xcd;
    await writeRuntimeFileAtomic(file, 'new\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
  });

  it('the runtime-file writer: a dangling link at its temp name does not create the file it points at', async () => {
    figures.faults++;
    const file = join(root, 'conf', 'web1.runtime');
    writeFileSync(file, 'original\n');
    const target = join(base, 'created-through-link');
    symlinkSync(target, join(root, 'conf', `.web1.runtime.plugboard-${'ab'.repeat(6)}.tmp`));
    await expect(writeRuntimeFileAtomic(file, 'new\n')).rejects.toThrow(/EEXIST/);
    expect(existsSync(target)).toBe(false);
  });

  it('the pending records (written through the same writer): refused, the victim unchanged', async () => {
    figures.faults++;
    mkdirSync(join(root, 'plugboard'));
    const file = pendingFilePath(root, 'web1');
    symlinkSync(victim, join(root, 'plugboard', `.web1.pending.json.plugboard-${'ab'.repeat(6)}.tmp`));
    await expect(recordPendingUnplug(root, 'web1', { id: 'disk-1', kind: 'disk' })).rejects.toThrow(/EEXIST/);
    expect(readFileSync(victim, 'utf8')).toBe('victim bytes\n');
    expect(existsSync(file)).toBe(false);
  });

  it("the instance lock: a link at its holder record's temp name → refused with the reason, the victim unchanged", async () => {
    figures.faults++;
    mkdirSync(lockDirPath(root), { mode: 0o700 });
    symlinkSync(victim, join(lockDirPath(root), `.lock-${'ab'.repeat(8)}.tmp`));
    await expect(acquireInstanceLock(root, 'web1', { timeoutMs: 100 })).rejects.toThrow(
      new RegExp(`^cannot write lock file in ${lockDirPath(root)}: EEXIST`),
    );
    expect(readFileSync(victim, 'utf8')).toBe('victim bytes\n');
    expect(readdirSync(lockDirPath(root))).toEqual([`.lock-${'ab'.repeat(8)}.tmp`]);
  });
});
