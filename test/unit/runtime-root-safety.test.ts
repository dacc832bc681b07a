/**
 * Names and paths: plugboard runs as root, so nothing under its root may steer it elsewhere.
 * - Instance names are DNS names: `../x`, `/`, NUL… are refused by every function that joins a
 *   name into a path, by runAction and by the CLI, before anything is created.
 * - One check (runtime/root.ts checkRootTree) guards every way in: listInstances, loadRuntimeFile
 *   with a root, the instance lock (the way into every change: it checks conf/, ctrl/, the lock
 *   directory and the runtime file), the pending records, and the writer's directory. It refuses a
 *   symbolic link under the root (conf/, the runtime file, the lock or pending directory) and a
 *   root or directory under it that others may write (world-writable, a foreign group or owner), and
 *   a world-writable, non-sticky directory above the root.
 * Every refusal names the path and the reason, happens before any QMP connection, and leaves the
 * files the link points at untouched.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { InputError, RefusedError } from '../../src/errors.js';
import { pendingFilePath, readPending, recordPendingUnplug } from '../../src/live/pending.js';
import { loadRuntimeFile } from '../../src/runtime/load.js';
import { acquireInstanceLock, lockFilePath, withInstanceLock } from '../../src/runtime/lock.js';
import { checkRootTree, listInstances, qmpSocketPath, runtimeFilePath, validateInstanceName } from '../../src/runtime/root.js';
import { writeRuntimeFileAtomic } from '../../src/runtime/write.js';
import { FakeQmpServer } from '../helpers/fake-qmp.js';
import { CORPUS_DIR, FigureCounter, snapshotTree } from '../hostile/lib.js';

const figures = new FigureCounter('names and paths');
afterAll(() => figures.report());

const isRoot = process.getuid?.() === 0;
const VALID = readFileSync(join(CORPUS_DIR, 'ok-current.runtime'));
const DISK = 'disk-0c0a7e0e-4c1b-4b6e';

let base: string;
let root: string;
let outside: string;
let fake: FakeQmpServer;

beforeEach(async () => {
  base = mkdtempSync(join(tmpdir(), 'pb-paths-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  for (const d of ['conf', 'ctrl', 'pid', 'disks']) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  mkdirSync(outside, { mode: 0o755 });
  writeFileSync(join(root, 'conf', 'web1.runtime'), VALID, { mode: 0o600 });
  writeFileSync(join(root, 'disks', 'new.img'), Buffer.alloc(4096));
  // What a link could point plugboard at: a valid runtime file and a "secret".
  writeFileSync(join(outside, 'web1.runtime'), VALID);
  writeFileSync(join(outside, 'secret'), 'root:$6$do-not-leak$:19000:0:99999:7:::\n');
  fake = await FakeQmpServer.start();
  symlinkSync(fake.path, join(root, 'ctrl', 'web1.qmp'));
});

afterEach(async () => {
  await fake.stop();
  chmodSync(base, 0o700);
  rmSync(base, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {} };
  const code = await main(['--root', root, ...args], io);
  return { code, stdout, stderr };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const hotAdd = () => runAction({ type: 'hot-add-disk', instance: 'web1', path: join(root, 'disks', 'new.img') }, { root, lockTimeoutMs: 500 });
const unplug = () => runAction({ type: 'unplug-disk', instance: 'web1', device: DISK, timeoutMs: 100 }, { root, lockTimeoutMs: 500 });

describe('instance names are DNS names', () => {
  const BAD: [string, RegExp][] = [
    ['../x', /contains '\/'/],
    ['/', /contains '\/'/],
    ['../../etc/passwd', /contains '\/'/],
    ['web1\0.runtime', /contains a NUL byte/],
    ['..', /empty label/],
    ['.', /empty label/],
    ['', /is empty/],
    ['web1\n', /may only hold letters/],
    ['web1;rm -rf x', /may only hold letters/],
    ['a'.repeat(300), /at most 253/],
  ];

  it.each(BAD)('%j is refused by every path builder, runAction, the lock and the pending records', async (name, why) => {
    figures.inputs++;
    const before = snapshotTree(base);
    for (const f of [runtimeFilePath, qmpSocketPath, lockFilePath, pendingFilePath]) expect(() => f(root, name)).toThrow(why);
    expect(() => validateInstanceName(name)).toThrow(InputError);
    for (const attempt of [
      () => runAction({ type: 'hot-add-disk', instance: name, path: join(root, 'disks', 'new.img') }, { root }),
      () => runAction({ type: 'unplug-disk', instance: name, device: DISK, timeoutMs: 100 }, { root }),
      () => withInstanceLock(root, name, { timeoutMs: 100 }, () => 1),
      () => recordPendingUnplug(root, name, { id: DISK, kind: 'disk' }),
      () => readPending(root, name),
    ]) {
      const err = await rejection(attempt());
      expect(err).toBeInstanceOf(InputError);
      expect(err.message).toMatch(why);
    }
    expect(snapshotTree(base)).toEqual(before);
    expect(fake.connections).toHaveLength(0);
  });

  it.each(BAD.filter(([n]) => !n.includes('\0')))('%j through the CLI: exit 2, one line, nothing created', async (name) => {
    const before = snapshotTree(base);
    for (const args of [
      ['show', name],
      ['show', name, '--live'],
      ['cmdline', name],
      ['hotplug', 'disk', name, '--path', join(root, 'disks', 'new.img')],
      ['hotplug', 'disk', name, '--path', join(root, 'disks', 'new.img'), '--dry-run'],
      ['unplug', 'disk', name, DISK],
    ]) {
      figures.inputs++;
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^plugboard: .*instance name.*\n$/);
    }
    expect(snapshotTree(base)).toEqual(before);
    expect(fake.connections).toHaveLength(0);
  });
});

describe('symbolic links under the root are never followed', () => {
  it('conf/ is a link to another directory: list, load, hot-add and unplug refuse it, name the link, write nothing there', async () => {
    figures.faults++;
    rmSync(join(root, 'conf'), { recursive: true });
    symlinkSync(outside, join(root, 'conf'));
    const before = snapshotTree(outside);
    const reason = `refusing to use ${root}: ${join(root, 'conf')} is a symbolic link (to ${outside}): plugboard does not follow links under its root, where a link could point it at directories outside it`;
    expect((await rejection(listInstances(root))).message).toBe(reason);
    expect((await rejection(loadRuntimeFile(runtimeFilePath(root, 'web1'), { root, instance: 'web1' }))).message).toBe(reason);
    for (const attempt of [hotAdd, unplug]) {
      const err = await rejection(attempt());
      expect(err).toBeInstanceOf(RefusedError);
      expect(err.message).toBe(reason);
    }
    const listed = await cli('list');
    expect(listed.code).toBe(1);
    expect(listed.stderr).toBe(`plugboard: ${reason}\n`);
    const added = await cli('hotplug', 'disk', 'web1', '--path', join(root, 'disks', 'new.img'));
    expect([added.code, added.stderr]).toEqual([1, `plugboard: ${reason}\n`]);
    expect(snapshotTree(outside)).toEqual(before);
    expect(fake.connections).toHaveLength(0);
  });

  it('the runtime file is a link (to a valid runtime file elsewhere): hot-add refuses before QMP; the target is untouched', async () => {
    figures.faults++;
    const file = join(root, 'conf', 'web1.runtime');
    rmSync(file);
    symlinkSync(join(outside, 'web1.runtime'), file);
    const before = snapshotTree(outside);
    const reason = `refusing to use ${file}: it is a symbolic link (to ${join(outside, 'web1.runtime')}): plugboard does not follow links under its root, where a link could point it at any file on the node`;
    for (const attempt of [hotAdd, unplug, () => loadRuntimeFile(file, { root })]) {
      const err = await rejection(attempt());
      expect(err).toBeInstanceOf(RefusedError);
      expect(err.message).toBe(reason);
    }
    // The writer refuses it by itself too (it would replace the link, not write through it).
    await expect(writeRuntimeFileAtomic(file, 'x')).rejects.toThrow(`refusing to write ${file}: it is a symbolic link; nothing written`);
    expect(snapshotTree(outside)).toEqual(before);
    expect(fake.connections).toHaveLength(0);
  });

  it('the runtime file is a link to a secret: loading it under the root never shows a byte of it', async () => {
    figures.faults++;
    const file = join(root, 'conf', 'web1.runtime');
    rmSync(file);
    symlinkSync(join(outside, 'secret'), file);
    const err = await rejection(loadRuntimeFile(file, { root, instance: 'web1' }));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).not.toMatch(/do-not-leak|root:/);
    const shown = await rejection(runAction({ type: 'hot-add-disk', instance: 'web1', path: join(root, 'disks', 'new.img') }, { root }));
    expect(shown.message).not.toMatch(/do-not-leak|root:/);
  });

  it('the lock directory is a planted link: the lock refuses it and creates nothing where it points', async () => {
    figures.faults++;
    symlinkSync(outside, join(root, 'plugboard-lock'));
    const before = snapshotTree(outside);
    const reason = `refusing to use ${root}: ${join(root, 'plugboard-lock')} is a symbolic link (to ${outside}): plugboard does not follow links under its root, where a link could point it at directories outside it`;
    for (const attempt of [() => acquireInstanceLock(root, 'web1', { timeoutMs: 100 }), hotAdd]) expect((await rejection(attempt())).message).toBe(reason);
    expect(snapshotTree(outside)).toEqual(before);
    expect(fake.connections).toHaveLength(0);
  });

  it('the lock file is a planted link to a secret: not followed, not leaked, not touched; the wait names the file', async () => {
    figures.faults++;
    mkdirSync(join(root, 'plugboard-lock'), { mode: 0o700 });
    symlinkSync(join(outside, 'secret'), lockFilePath(root, 'web1'));
    const before = snapshotTree(outside);
    const err = await rejection(acquireInstanceLock(root, 'web1', { timeoutMs: 100, pollMs: 10 }));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toBe(
      `instance web1 is locked by ${lockFilePath(root, 'web1')}, which does not name its holder; if no plugboard is working on web1, remove it and run again (gave up after 100 ms)`,
    );
    expect(snapshotTree(outside)).toEqual(before);
  });

  it('the pending directory is a planted link: recording and reading pending unplugs refuse it, nothing is written there', async () => {
    figures.faults++;
    symlinkSync(outside, join(root, 'plugboard'));
    const before = snapshotTree(outside);
    const reason = `refusing to use ${root}: ${join(root, 'plugboard')} is a symbolic link (to ${outside}): plugboard does not follow links under its root, where a link could point it at directories outside it`;
    expect((await rejection(recordPendingUnplug(root, 'web1', { id: DISK, kind: 'disk' }))).message).toBe(reason);
    expect((await rejection(readPending(root, 'web1'))).message).toBe(reason);
    expect(snapshotTree(outside)).toEqual(before);
  });

  it('the pending file is a planted link to a secret: refused, nothing of the secret in the message', async () => {
    figures.faults++;
    mkdirSync(join(root, 'plugboard'));
    symlinkSync(join(outside, 'secret'), pendingFilePath(root, 'web1'));
    for (const attempt of [() => readPending(root, 'web1'), () => recordPendingUnplug(root, 'web1', { id: DISK, kind: 'disk' })]) {
      const err = await rejection(attempt());
      expect(err).toBeInstanceOf(RefusedError);
      expect(err.message).toMatch(/is a symbolic link/);
      expect(err.message).not.toMatch(/do-not-leak|root:/);
    }
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toMatch(/do-not-leak/);
  });

  it('the writer refuses a directory that is a link (writes into the link target would land outside)', async () => {
    symlinkSync(outside, join(root, 'elsewhere'));
    const before = snapshotTree(outside);
    await expect(writeRuntimeFileAtomic(join(root, 'elsewhere', 'web1.runtime'), 'x')).rejects.toThrow(
      `refusing to write ${join(root, 'elsewhere', 'web1.runtime')}: its directory ${join(root, 'elsewhere')} is a symbolic link; nothing written`,
    );
    expect(snapshotTree(outside)).toEqual(before);
  });

  it('a root given through a link (as /var/run → /run on Debian) is fine: only links below the root are refused', async () => {
    const viaLink = join(base, 'root-link');
    symlinkSync(root, viaLink);
    expect(await listInstances(viaLink)).toEqual(['web1']);
    await expect(checkRootTree(viaLink, { dirs: ['conf', 'ctrl'], files: ['conf/web1.runtime'] })).resolves.toBeUndefined();
  });
});

describe('directories others may write are refused', () => {
  const worldWritable = (p: string) => `${p} is writable by everyone (mode 0777): anyone could plant or swap the files plugboard reads and writes there; chmod o-w ${p}`;

  it.each([
    ['the root', ''],
    ['conf/', 'conf'],
    ['ctrl/', 'ctrl'],
  ])('%s world-writable: list (when it reads it), hot-add and unplug refuse, say why and how to fix it', async (_label, rel) => {
    figures.faults++;
    const p = rel ? join(root, rel) : root;
    chmodSync(p, 0o777);
    const reason = `refusing to use ${root}: ${worldWritable(p)}`;
    for (const attempt of [hotAdd, unplug]) {
      const err = await rejection(attempt());
      expect(err).toBeInstanceOf(RefusedError);
      expect(err.message).toBe(reason);
    }
    if (rel !== 'ctrl') expect((await rejection(listInstances(root))).message).toBe(reason);
    const r = await cli('hotplug', 'disk', 'web1', '--path', join(root, 'disks', 'new.img'));
    expect([r.code, r.stderr]).toEqual([1, `plugboard: ${reason}\n`]);
    expect(fake.connections).toHaveLength(0);
  });

  it('a sticky world-writable conf/ (like /tmp) is refused too: anyone could still plant a runtime file in it', async () => {
    chmodSync(join(root, 'conf'), 0o1777);
    expect((await rejection(listInstances(root))).message).toMatch(/conf is writable by everyone \(mode 01777\)/);
  });

  it("Ganeti's own 0775 root:root directories are fine", async () => {
    for (const d of ['', 'conf', 'ctrl']) chmodSync(join(root, d), 0o775);
    if (isRoot) for (const d of ['', 'conf', 'ctrl']) chownSync(join(root, d), 0, 0);
    await expect(checkRootTree(root, { dirs: ['conf', 'ctrl'], files: ['conf/web1.runtime'] })).resolves.toBeUndefined();
    expect(await listInstances(root)).toEqual(['web1']);
  });

  it.runIf(isRoot)('a conf/ writable by a foreign group, or owned by another user, is refused', async () => {
    chownSync(join(root, 'conf'), 0, 4242);
    chmodSync(join(root, 'conf'), 0o775);
    expect((await rejection(listInstances(root))).message).toBe(
      `refusing to use ${root}: ${join(root, 'conf')} is writable by group 4242 (mode 0775): its members could plant or swap the files plugboard reads and writes there; chmod g-w ${join(root, 'conf')}`,
    );
    chmodSync(join(root, 'conf'), 0o755);
    chownSync(join(root, 'conf'), 4242, 0);
    expect((await rejection(hotAdd())).message).toBe(
      `refusing to use ${root}: ${join(root, 'conf')} belongs to uid 4242, not to root: that user could plant or swap the files plugboard reads and writes there; chown root ${join(root, 'conf')}`,
    );
  });

  it('a world-writable, non-sticky directory above the root is refused (anyone could swap the root itself); a sticky one (/tmp) is fine', async () => {
    chmodSync(base, 0o777);
    expect((await rejection(listInstances(root))).message).toBe(
      `refusing to use ${root}: ${base} is writable by everyone (mode 0777, not sticky): anyone could swap the directories below it; chmod o-w ${base}`,
    );
    chmodSync(base, 0o1777);
    expect(await listInstances(root)).toEqual(['web1']);
  });

  it('the writer refuses to put a file in a world-writable directory', async () => {
    const d = join(base, 'ww');
    mkdirSync(d);
    chmodSync(d, 0o777);
    await expect(writeRuntimeFileAtomic(join(d, 'x.runtime'), 'x')).rejects.toThrow(`refusing to write ${join(d, 'x.runtime')}: ${worldWritable(d)}; nothing written`);
    expect(readdirSync(d)).toEqual([]);
  });

  it('nothing of this costs a change: with a safe root the lock, the pending records and the loader work as before', async () => {
    await recordPendingUnplug(root, 'web1', { id: DISK, kind: 'disk' });
    expect((await readPending(root, 'web1')).map((p) => p.id)).toEqual([DISK]);
    expect(await withInstanceLock(root, 'web1', { timeoutMs: 100 }, () => 'ran')).toBe('ran');
    expect((await loadRuntimeFile(runtimeFilePath(root, 'web1'), { root, instance: 'web1' })).instance).toBe('web1');
    expect(existsSync(join(root, 'plugboard-lock'))).toBe(true);
  });
});
