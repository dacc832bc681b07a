import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import ts from 'typescript';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InputError, RefusedError } from '../../src/errors.js';
import { acquireInstanceLock, breakFilePath, lockFilePath, withInstanceLock } from '../../src/runtime/lock.js';
import { waitFor } from '../helpers/wait.js';

let root: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'plugboard-lock-'));
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});


async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => c.once('exit', r));
  return c.pid!;
}

function plantLock(path: string, holder: { pid: number; start: number | null }): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify({ ...holder, since: '2024-01-01T00:00:00.000Z', token: 'planted' })}\n`);
}

/** Run `n` critical sections concurrently; each yields to the event loop and the file system inside. */
async function contend(n: number, opts = { timeoutMs: 10_000, pollMs: 1 }): Promise<{ maxInside: number; log: string[] }> {
  let inside = 0;
  let maxInside = 0;
  const log: string[] = [];
  const scratch = join(root, 'scratch');
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      withInstanceLock(root, 'web1', opts, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        log.push(`in ${i}`);
        writeFileSync(scratch, String(i));
        await nextTurn();
        // Holding the lock across a timer tick is what is under test: the other contenders' poll
        // timers fire meanwhile, and none of them may get in.
        await new Promise((r) => setTimeout(r, 1));
        expect(readFileSync(scratch, 'utf8')).toBe(String(i));
        log.push(`out ${i}`);
        inside--;
      }),
    ),
  );
  return { maxInside, log };
}

describe('withInstanceLock in one process', () => {
  it('serializes concurrent holders and removes its files afterwards', async () => {
    const { maxInside, log } = await contend(8);
    expect(maxInside).toBe(1);
    expect(log).toHaveLength(16);
    for (let k = 0; k < log.length; k += 2) expect(log[k + 1]).toBe(log[k]!.replace('in', 'out'));
    expect(readdirSync(join(root, 'plugboard-lock'))).toEqual([]);
  });

  it('returns what fn returns and releases the lock when fn throws', async () => {
    expect(await withInstanceLock(root, 'web1', { timeoutMs: 100 }, () => 42)).toBe(42);
    await expect(withInstanceLock(root, 'web1', { timeoutMs: 100 }, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(existsSync(lockFilePath(root, 'web1'))).toBe(false);
    expect(await withInstanceLock(root, 'web1', { timeoutMs: 100 }, () => 'again')).toBe('again');
  });

  it('locks instances independently', async () => {
    const a = await acquireInstanceLock(root, 'web1', { timeoutMs: 100 });
    const b = await acquireInstanceLock(root, 'web2', { timeoutMs: 100 });
    await a.release();
    await b.release();
    await a.release(); // idempotent
  });

  it('times out with a message naming the holder pid', async () => {
    const held = await acquireInstanceLock(root, 'web1', { timeoutMs: 100 });
    const err = await withInstanceLock(root, 'web1', { timeoutMs: 150, pollMs: 10 }, () => 'never').catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as Error).message).toBe(
      `instance web1 is locked by another plugboard, pid ${process.pid} (since ${held.holder.since}); gave up after 150 ms (lock file ${lockFilePath(root, 'web1')})`,
    );
    await held.release();
  });

  it('takes over a stale lock left by a dead process', async () => {
    const pid = await deadPid();
    plantLock(lockFilePath(root, 'web1'), { pid, start: 1 });
    expect(await withInstanceLock(root, 'web1', { timeoutMs: 2000 }, () => 'ran')).toBe('ran');
    expect(existsSync(lockFilePath(root, 'web1'))).toBe(false);
  });

  it('takes over a lock whose pid now belongs to another process (start time differs)', async () => {
    plantLock(lockFilePath(root, 'web1'), { pid: process.pid, start: 1 });
    expect(await withInstanceLock(root, 'web1', { timeoutMs: 2000 }, () => 'ran')).toBe('ran');
  });

  it('lets exactly one of many contenders take over a stale lock at a time', async () => {
    const dead = await deadPid();
    for (let round = 0; round < 20; round++) {
      plantLock(lockFilePath(root, 'web1'), { pid: dead, start: null });
      const { maxInside, log } = await contend(8);
      expect(maxInside).toBe(1);
      expect(log).toHaveLength(16);
    }
  });

  it('names a lock-break file left by a dead process instead of removing it', async () => {
    const dead = await deadPid();
    plantLock(lockFilePath(root, 'web1'), { pid: dead, start: null });
    plantLock(breakFilePath(root, 'web1'), { pid: dead, start: null });
    await expect(withInstanceLock(root, 'web1', { timeoutMs: 50, pollMs: 5 }, () => 'x')).rejects.toThrow(
      `instance web1: the stale lock of pid ${dead} cannot be taken over because ${breakFilePath(root, 'web1')} was left by pid ${dead}, which is no longer running; remove that file and run again`,
    );
  });

  it('refuses bad instance names and a missing root', async () => {
    await expect(withInstanceLock(root, '../x', { timeoutMs: 10 }, () => 1)).rejects.toThrow(InputError);
    await expect(withInstanceLock(join(root, 'missing'), 'web1', { timeoutMs: 10 }, () => 1)).rejects.toThrow(
      `${join(root, 'missing')} does not exist: cannot lock instance web1 (use --root DIR or PLUGBOARD_ROOT)`,
    );
  });
});

describe('withInstanceLock across processes', () => {
  // The lock module, compiled to plain JS so that child processes can load it.
  let build: string;
  beforeAll(() => {
    build = mkdtempSync(join(tmpdir(), 'plugboard-lock-build-'));
    writeFileSync(join(build, 'package.json'), '{"type": "module"}\n');
    for (const rel of ['src/errors.ts', 'src/runtime/root.ts', 'src/runtime/lock.ts']) {
      const src = readFileSync(new URL(`../../${rel}`, import.meta.url), 'utf8');
      const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
      const dest = join(build, rel.replace(/\.ts$/, '.js'));
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, out.outputText);
    }
    writeFileSync(
      join(build, 'worker.js'),
      `import { appendFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { withInstanceLock } from './src/runtime/lock.js';
const [root, log, n, hold] = process.argv.slice(2);
for (let i = 0; i < Number(n); i++) {
  await withInstanceLock(root, 'web1', { timeoutMs: 30000, pollMs: 1 }, async () => {
    appendFileSync(log, 'in ' + process.pid + '\\n');
    if (hold === 'hold') { process.stdout.write('locked\\n'); await new Promise(() => setInterval(() => {}, 1 << 30)); }
    await nextTurn();
    appendFileSync(log, 'out ' + process.pid + '\\n');
  });
}
`,
    );
  });
  afterAll(() => rmSync(build, { recursive: true, force: true }));

  function worker(log: string, n: number, hold = false): ChildProcess {
    const c = spawn(process.execPath, [join(build, 'worker.js'), root, log, String(n), hold ? 'hold' : ''], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(c);
    return c;
  }

  const exited = (c: ChildProcess): Promise<number | null> =>
    c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

  it('never lets two processes in at once, even racing for a stale lock', async () => {
    plantLock(lockFilePath(root, 'web1'), { pid: await deadPid(), start: null });
    const log = join(root, 'log');
    writeFileSync(log, '');
    const ws = Array.from({ length: 4 }, () => worker(log, 25));
    expect(await Promise.all(ws.map(exited))).toEqual([0, 0, 0, 0]);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(200);
    for (let k = 0; k < lines.length; k += 2) {
      expect(lines[k]).toMatch(/^in \d+$/);
      expect(lines[k + 1]).toBe(lines[k]!.replace('in', 'out'));
    }
  });

  it('recovers the lock of a process killed while holding it', async () => {
    const log = join(root, 'log');
    writeFileSync(log, '');
    const holder = worker(log, 1, true);
    let out = '';
    holder.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('locked'), { timeoutMs: 10_000, what: 'the child to take the lock' });
    await expect(withInstanceLock(root, 'web1', { timeoutMs: 50, pollMs: 5 }, () => 'x')).rejects.toThrow(`pid ${holder.pid}`);
    holder.kill('SIGKILL');
    await exited(holder);
    expect(await withInstanceLock(root, 'web1', { timeoutMs: 2000 }, () => 'after')).toBe('after');
  });
});
