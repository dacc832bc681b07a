/**
 * Writing a runtime file atomically: readers (Ganeti, a migration) see the old file or the new one,
 * never a mix, and a failed write leaves the old one untouched and no temp file behind.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, fchmodSync, fchownSync, fsyncSync, lstatSync, openSync, renameSync, type Stats, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { messageOf, PlugboardError, RefusedError } from '../errors.js';
import { readRuntimeTextSync } from './load.js';
import { directoryProblem } from './root.js';
import { serializeRuntime } from './serialize.js';
import type { RuntimeFile } from './types.js';

export { loadRuntimeFile, readRuntimeText } from './load.js';

/** Mode of a runtime file plugboard creates (Ganeti's WriteFile uses mkstemp's 0600). */
export const NEW_RUNTIME_FILE_MODE = 0o600;

export interface WriteOptions {
  /**
   * Write only if the file still holds exactly this text (what was read before the change);
   * otherwise refuse, because someone else (Ganeti) rewrote it meanwhile. Checked just before the
   * rename.
   */
  expectText?: string;
  /** Fault injection for tests: runs after the temp file is complete, before the rename. */
  beforeRename?: (tmpPath: string) => void | Promise<void>;
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return `permission denied (${e.code})`;
  if (e?.code === 'ENOSPC') return 'no space left on device';
  if (e?.code === 'EROFS') return 'read-only file system';
  if (e?.code) return `${e.code}: ${e.message}`;
  return messageOf(err);
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Replace the file at `path` with `text`: a temp file in the same directory (created exclusively,
 * not following symlinks, random name `.NAME.plugboard-XXXXXXXXXXXX.tmp`), written and fsynced,
 * with the original's mode (and owner and group when running as root), renamed over the original,
 * then the directory fsynced. A new file gets mode 0600 like Ganeti's. Refuses to replace anything
 * but a regular file (a symlink is not followed: it would be replaced by a file), and to write into
 * a directory that is a symbolic link or writable by others (root.ts directoryProblem).
 *
 * The file operations are blocking calls (a runtime file is a few KiB on a tmpfs): each took a
 * thread-pool round trip when asynchronous, ~3 ms of a hot-add's time on a loaded node.
 */
export async function writeRuntimeFileAtomic(path: string, text: string, opts: WriteOptions = {}): Promise<void> {
  await prepareRuntimeFileWrite(path, text).commit(opts);
}

/**
 * A runtime file write in two halves (see writeRuntimeFileAtomic): `prepareRuntimeFileWrite` makes
 * the complete, fsynced temp file — for a caller that can do it while it waits for something else
 * (the executor, while QEMU answers its last command) — and `commit` checks `expectText`, renames
 * and fsyncs the directory; `discard` removes the temp file instead. A preparation that failed
 * throws its error from `commit`, so the caller meets it where the write belongs.
 */
export interface PreparedWrite {
  commit(opts?: WriteOptions): Promise<void>;
  /** Removes the temp file (nothing written); idempotent, never throws. */
  discard(): void;
}

export function prepareRuntimeFileWrite(path: string, text: string): PreparedWrite {
  let tmp: string;
  try {
    tmp = writeTempFile(path, text);
  } catch (err) {
    return {
      commit: () => Promise.reject(err),
      discard: () => undefined,
    };
  }
  let pending = true;
  const discard = () => {
    if (!pending) return;
    pending = false;
    try {
      unlinkSync(tmp);
    } catch {
      // gone
    }
  };
  return {
    discard,
    commit: async (opts: WriteOptions = {}) => {
      if (!pending) throw new PlugboardError(`cannot write ${path}: its temp file was already used or discarded`);
      try {
        if (opts.expectText !== undefined) {
          let current: string | undefined;
          try {
            current = readRuntimeTextSync(path);
          } catch {
            current = undefined;
          }
          if (current !== opts.expectText) {
            throw new RefusedError(
              `${path} changed since plugboard read it (Ganeti or another tool rewrote it); nothing written, run again`,
            );
          }
        }
        await opts.beforeRename?.(tmp);
        renameSync(tmp, path);
        pending = false;
      } catch (err) {
        discard();
        if (err instanceof PlugboardError) throw err;
        throw new PlugboardError(`cannot write ${path}: ${reason(err)}; the file is unchanged`, { cause: err });
      }
      syncDirectory(path);
    },
  };
}

/** The checks, then the temp file next to `path` with `text`, fsynced and closed: its path. */
function writeTempFile(path: string, text: string): string {
  const dir = dirname(path);
  const base = basename(path);
  let dirSt: Stats | undefined;
  try {
    dirSt = lstatSync(dir);
  } catch {
    dirSt = undefined; // missing: the temp file's open says so
  }
  if (dirSt) {
    const problem = dirSt.isSymbolicLink() ? `its directory ${dir} is a symbolic link` : directoryProblem(dir, dirSt);
    if (problem) throw new RefusedError(`refusing to write ${path}: ${problem}; nothing written`);
  }
  let mode = NEW_RUNTIME_FILE_MODE;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = lstatSync(path);
    if (!st.isFile()) {
      const kind = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : 'not a regular file';
      throw new RefusedError(`refusing to write ${path}: it is ${kind}; nothing written`);
    }
    mode = st.mode & 0o7777;
    owner = { uid: st.uid, gid: st.gid };
  } catch (err) {
    if (err instanceof PlugboardError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new PlugboardError(`cannot write ${path}: ${reason(err)}; nothing written`, { cause: err });
    }
  }

  const tmp = join(dir, `.${base}.plugboard-${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | (fsc.O_NOFOLLOW ?? 0), 0o600);
    created = true;
    if (owner && isRoot()) fchownSync(fd, owner.uid, owner.gid);
    // After chown (which clears set-id bits).
    fchmodSync(fd, mode);
    writeFileSync(fd, text, 'utf8');
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    return tmp;
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // closed
      }
    }
    if (created) {
      try {
        unlinkSync(tmp);
      } catch {
        // gone
      }
    }
    if (err instanceof PlugboardError) throw err;
    throw new PlugboardError(`cannot write ${path}: ${reason(err)}; the file is unchanged`, { cause: err });
  }
}

/** The new file is in place; make the rename durable (fsync of `path`'s directory). */
export function syncDirectory(path: string): void {
  const dir = dirname(path);
  let dfd: number | undefined;
  try {
    dfd = openSync(dir, fsc.O_RDONLY | (fsc.O_DIRECTORY ?? 0));
    fsyncSync(dfd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Some file systems cannot fsync a directory; the rename itself has happened.
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') {
      throw new PlugboardError(`${path} was written, but syncing its directory failed: ${reason(err)}`, { cause: err });
    }
  } finally {
    if (dfd !== undefined) {
      try {
        closeSync(dfd);
      } catch {
        // closed
      }
    }
  }
}

/** Serialize `rf` (Ganeti's format) and write it atomically to `path`. */
export async function saveRuntimeFile(path: string, rf: RuntimeFile, opts: WriteOptions = {}): Promise<void> {
  await writeRuntimeFileAtomic(path, serializeRuntime(rf), opts);
}
