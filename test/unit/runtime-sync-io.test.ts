/**
 * `plugboard list` reads every runtime file and status with blocking calls (readRuntimeTextSync,
 * instanceStatusSync) for speed; they must answer exactly as the asynchronous ones do, errors
 * included.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_RUNTIME_FILE_BYTES, readRuntimeText, readRuntimeTextSync } from '../../src/runtime/load.js';
import { instanceStatus, instanceStatusSync } from '../../src/runtime/root.js';

let dir: string;
const children: ChildProcess[] = [];
const servers: Server[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plugboard-sync-io-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  rmSync(dir, { recursive: true, force: true });
});

/** What a read gives: the text, or the error's class and message. */
async function outcome(read: () => Promise<string> | string): Promise<{ text?: string; error?: string }> {
  try {
    return { text: await read() };
  } catch (err) {
    return { error: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

async function same(path: string, opts: { noFollow?: boolean } = {}): Promise<{ text?: string; error?: string }> {
  const a = await outcome(() => readRuntimeText(path, opts));
  const b = await outcome(() => readRuntimeTextSync(path, opts));
  expect(b).toEqual(a);
  return a;
}

describe('readRuntimeTextSync reads as readRuntimeText does', () => {
  it('a file: the same text (non-ASCII, a BOM kept for the parser, empty, larger than the first read)', async () => {
    const f = join(dir, 'a.runtime');
    for (const text of ['[[], [], {}, []]', '\ufeff[["-name", "wéb1"]]', '', 'x'.repeat(200_000)]) {
      writeFileSync(f, text);
      expect((await same(f)).text).toBe(text);
    }
  });

  it('the same errors: missing, a directory, a FIFO (without blocking), not UTF-8, over 16 MiB, a link with noFollow', async () => {
    expect((await same(join(dir, 'missing'))).error).toMatch(/^NotFoundError: no runtime file at /);
    mkdirSync(join(dir, 'd'));
    expect((await same(join(dir, 'd'))).error).toMatch(/it is a directory/);
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    expect((await same(join(dir, 'fifo'))).error).toMatch(/it is a FIFO/);
    writeFileSync(join(dir, 'latin1'), Buffer.from([0x5b, 0xe9, 0x5d]));
    expect((await same(join(dir, 'latin1'))).error).toMatch(/not valid UTF-8/);
    writeFileSync(join(dir, 'big'), '');
    truncateSync(join(dir, 'big'), MAX_RUNTIME_FILE_BYTES + 1);
    expect((await same(join(dir, 'big'))).error).toMatch(/more than 16777216/);
    writeFileSync(join(dir, 'real'), '[]');
    symlinkSync(join(dir, 'real'), join(dir, 'link'));
    expect((await same(join(dir, 'link'))).text).toBe('[]');
    expect((await same(join(dir, 'link'), { noFollow: true })).error).toMatch(/^RefusedError: refusing to read .*symbolic link/);
  });
});

describe('instanceStatusSync answers as instanceStatus does', () => {
  beforeEach(() => {
    for (const d of ['pid', 'ctrl']) mkdirSync(join(dir, d));
  });

  const fakeQemu = (name: string): ChildProcess => {
    const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)', '--', '-name', name], { stdio: 'ignore' });
    children.push(c);
    return c;
  };
  const listen = async (path: string): Promise<void> => {
    const s = createServer();
    servers.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(path, resolve);
    });
  };
  const both = async (name: string) => {
    const a = await instanceStatus(dir, name);
    expect(instanceStatusSync(dir, name)).toBe(a);
    return a;
  };

  it('running, then stopped without the socket, with another instance\'s pid, with a junk pid file, without one', async () => {
    const q = fakeQemu('web1');
    writeFileSync(join(dir, 'pid', 'web1'), `${q.pid}\n`);
    await listen(join(dir, 'ctrl', 'web1.qmp'));
    expect(await both('web1')).toBe('running');
    writeFileSync(join(dir, 'pid', 'web2'), `${q.pid}\n`);
    expect(await both('web2')).toBe('stopped');
    writeFileSync(join(dir, 'pid', 'web3'), 'garbage\n');
    expect(await both('web3')).toBe('stopped');
    expect(await both('nopidfile')).toBe('stopped');
    const r = fakeQemu('web4');
    writeFileSync(join(dir, 'pid', 'web4'), `${r.pid}\n`);
    expect(await both('web4')).toBe('stopped'); // no QMP socket
  });
});
