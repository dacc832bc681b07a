import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError, NotFoundError, PlugboardError, RefusedError, RuntimeFileError } from '../../src/errors.js';
import { loadRuntimeFile, MAX_RUNTIME_FILE_BYTES, parseRuntimeText } from '../../src/runtime/load.js';
import { serializeRuntime } from '../../src/runtime/serialize.js';
import { saveRuntimeFile, writeRuntimeFileAtomic } from '../../src/runtime/write.js';

const fixture = (rel: string): string => readFileSync(new URL(`../fixtures/${rel}`, import.meta.url), 'utf8');
const isRoot = process.getuid?.() === 0;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plugboard-write-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('did not reject');
}

describe('writeRuntimeFileAtomic', () => {
  it('replaces the content and keeps the original mode', async () => {
    const p = join(dir, 'web1.runtime');
    writeFileSync(p, 'old\n');
    chmodSync(p, 0o640);
    await writeRuntimeFileAtomic(p, 'new content\n');
    expect(readFileSync(p, 'utf8')).toBe('new content\n');
    expect(statSync(p).mode & 0o7777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['web1.runtime']);
  });

  it.runIf(isRoot)('keeps owner and group when running as root', async () => {
    const p = join(dir, 'web1.runtime');
    writeFileSync(p, 'old\n');
    chownSync(p, 4242, 4343);
    chmodSync(p, 0o604);
    await writeRuntimeFileAtomic(p, 'new\n');
    const st = statSync(p);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([4242, 4343, 0o604]);
  });

  it("creates a missing file with Ganeti's mode 0600", async () => {
    const p = join(dir, 'new.runtime');
    await writeRuntimeFileAtomic(p, 'x\n');
    expect(statSync(p).mode & 0o7777).toBe(0o600);
    expect(readFileSync(p, 'utf8')).toBe('x\n');
  });

  it('leaves the original untouched and no temp file when the write fails before the rename', async () => {
    const p = join(dir, 'web1.runtime');
    writeFileSync(p, 'original\n');
    let tmpSeen = '';
    const err = await rejection(
      writeRuntimeFileAtomic(p, 'new\n', {
        beforeRename: (tmp) => {
          tmpSeen = tmp;
          expect(readFileSync(tmp, 'utf8')).toBe('new\n'); // complete before the rename
          throw new Error('disk on fire');
        },
      }),
    );
    expect(err).toBeInstanceOf(PlugboardError);
    expect(err.message).toBe(`cannot write ${p}: disk on fire; the file is unchanged`);
    expect(tmpSeen.startsWith(join(dir, '.web1.runtime.plugboard-'))).toBe(true);
    expect(readFileSync(p, 'utf8')).toBe('original\n');
    expect(readdirSync(dir)).toEqual(['web1.runtime']);
  });

  it('cleans up when the rename itself fails (a non-empty directory got in the way)', async () => {
    const p = join(dir, 'web1.runtime');
    writeFileSync(p, 'original\n');
    const err = await rejection(
      writeRuntimeFileAtomic(p, 'new\n', {
        beforeRename: () => {
          rmSync(p);
          mkdirSync(join(p, 'sub'), { recursive: true });
        },
      }),
    );
    expect(err.message).toMatch(new RegExp(`^cannot write ${p}: EISDIR: .*; the file is unchanged$`));
    expect(readdirSync(dir)).toEqual(['web1.runtime']);
    expect(readdirSync(p)).toEqual(['sub']);
  });

  it('refuses to replace a directory or a symlink, and writes nothing', async () => {
    const d = join(dir, 'adir.runtime');
    mkdirSync(d);
    await expect(writeRuntimeFileAtomic(d, 'x')).rejects.toThrow(new RefusedError(`refusing to write ${d}: it is a directory; nothing written`));
    const target = join(dir, 'target');
    writeFileSync(target, 'target\n');
    const link = join(dir, 'link.runtime');
    symlinkSync(target, link);
    await expect(writeRuntimeFileAtomic(link, 'x')).rejects.toThrow(`refusing to write ${link}: it is a symbolic link; nothing written`);
    expect(readFileSync(target, 'utf8')).toBe('target\n');
    expect(readdirSync(dir).sort()).toEqual(['adir.runtime', 'link.runtime', 'target']);
  });

  it('fails cleanly when the directory does not exist', async () => {
    const p = join(dir, 'missing', 'web1.runtime');
    const err = await rejection(writeRuntimeFileAtomic(p, 'x'));
    expect(err).toBeInstanceOf(PlugboardError);
    expect(err.message).toMatch(new RegExp(`^cannot write ${p}: ENOENT`));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses when the file changed since it was read (expectText)', async () => {
    const p = join(dir, 'web1.runtime');
    writeFileSync(p, 'as read\n');
    await writeRuntimeFileAtomic(p, 'v2\n', { expectText: 'as read\n' });
    expect(readFileSync(p, 'utf8')).toBe('v2\n');
    const err = await rejection(writeRuntimeFileAtomic(p, 'v3\n', { expectText: 'as read\n' }));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toBe(`${p} changed since plugboard read it (Ganeti or another tool rewrote it); nothing written, run again`);
    expect(readFileSync(p, 'utf8')).toBe('v2\n');
    expect(readdirSync(dir)).toEqual(['web1.runtime']);
  });

  it('saveRuntimeFile writes what serializeRuntime gives, loadable again', async () => {
    const p = join(dir, 'xen-test-inst2.runtime');
    const rf = parseRuntimeText(fixture('kvm_runtime.json'), p);
    await saveRuntimeFile(p, rf);
    expect(readFileSync(p, 'utf8')).toBe(serializeRuntime(rf));
    const back = await loadRuntimeFile(p);
    expect(back.raw).toEqual(rf.raw);
    expect(back.instance).toBe('xen-test-inst2');
  });
});

describe('loadRuntimeFile', () => {
  it('loads a file and takes the instance name from it or from the caller', async () => {
    const p = join(dir, 'web3.runtime');
    writeFileSync(p, fixture('runtime/scsi-current.runtime'));
    expect((await loadRuntimeFile(p)).instance).toBe('web3');
    expect((await loadRuntimeFile(p, { instance: 'other' })).instance).toBe('other');
  });

  it('says so when the file does not exist', async () => {
    const p = join(dir, 'nope.runtime');
    const err = await rejection(loadRuntimeFile(p));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe(`no runtime file at ${p}`);
  });

  it('refuses files over 16 MiB without reading them', async () => {
    const p = join(dir, 'huge.runtime');
    writeFileSync(p, '');
    truncateSync(p, MAX_RUNTIME_FILE_BYTES + 1); // sparse
    const err = await rejection(loadRuntimeFile(p));
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toBe(`refusing to read ${p}: 16777217 bytes is more than 16777216 (16 MiB); runtime files are a few KiB`);
  });

  it('refuses a directory and a FIFO (without blocking on the FIFO)', async () => {
    const d = join(dir, 'd.runtime');
    mkdirSync(d);
    await expect(loadRuntimeFile(d)).rejects.toThrow(`refusing to read ${d}: it is a directory, not a runtime file`);
    const fifo = join(dir, 'f.runtime');
    execFileSync('mkfifo', [fifo]);
    await expect(loadRuntimeFile(fifo)).rejects.toThrow(`refusing to read ${fifo}: it is a FIFO, not a runtime file`);
  });

  it('reports bytes that are not UTF-8 as a runtime file error', async () => {
    const p = join(dir, 'bad.runtime');
    writeFileSync(p, Buffer.from([0x5b, 0xff, 0x5d]));
    const err = await rejection(loadRuntimeFile(p));
    expect(err).toBeInstanceOf(RuntimeFileError);
    expect(err.message).toBe(`${p}: not valid UTF-8 text`);
  });
});
