/**
 * A per-instance lock around plugboard's read-modify-write of a runtime file (load → QMP → write),
 * so two plugboard processes never hot-add/unplug on the same instance at once.
 *
 * Where: `<root>/plugboard-lock/NAME.lock`. Ganeti 3.0 keeps no node-side lock for runtime files (its
 * hotplug is serialized by the master's instance lock), so there is nothing of Ganeti's to share;
 * the directory name makes clear whose files these are, and living under the runtime root (a tmpfs)
 * means no lock survives a reboot. Ganeti does not honour this lock: it only orders plugboards.
 *
 * How:
 * - The holder record (`{"pid", "start", "since", "token"}`; `start` is the process start time from
 *   /proc/PID/stat, so a reused pid is not mistaken for the holder) is written completely to a
 *   private temp file, which is then hard-linked to the lock name. link(2) fails with EEXIST if the
 *   lock exists, so exactly one process gets it, and nobody ever sees a half-written lock file.
 * - While the holder lives, others poll until their deadline, then fail naming the holder's pid.
 * - A lock whose holder is gone (dead pid, zombie, or pid reused by another process) is stale. To
 *   remove it, a process must first create `NAME.break` exclusively; holding it, it re-reads the
 *   lock and unlinks it only if it is still the same stale record (same token). While the break file
 *   is held, nobody else can remove the lock (its holder is dead; other breakers wait), and nobody can
 *   replace it (it exists, so link fails); so the unlink removes exactly the stale lock and one of
 *   the contenders then wins the link. No two winners.
 * - The break file lives for microseconds. If a process dies in that window the break file stays;
 *   since removing it automatically could race, the timeout message then says to delete it.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, linkSync, mkdirSync, openSync, readFileSync, readSync, unlinkSync, writeFileSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { messageOf, NotFoundError, PlugboardError, RefusedError } from '../errors.js';
import { checkRootTree, validateInstanceName } from './root.js';

export const LOCK_DIR_NAME = 'plugboard-lock';
const DEFAULT_POLL_MS = 25;

export interface LockOptions {
  /** Give up after this long (ms) if another live process holds the lock. */
  timeoutMs: number;
  /** Poll interval while waiting (ms). */
  pollMs?: number;
  /** Stops waiting for another holder (Ctrl-C): RefusedError, nothing was done. */
  signal?: AbortSignal;
}

export interface LockHolder {
  pid: number;
  /** Process start time in clock ticks since boot (/proc/PID/stat field 22), null if unknown. */
  start: number | null;
  /** ISO time the lock was taken. */
  since: string;
  token: string;
}

export interface InstanceLock {
  path: string;
  holder: LockHolder;
  /** Release the lock (idempotent, never throws: a lock left behind becomes stale when we exit). */
  release(): Promise<void>;
}

export function lockDirPath(root: string): string {
  return join(root, LOCK_DIR_NAME);
}

export function lockFilePath(root: string, name: string): string {
  return join(lockDirPath(root), `${validateInstanceName(name)}.lock`);
}

/** `NAME.break`: held for an instant while a stale `NAME.lock` is removed (kept short for NAME_MAX). */
export function breakFilePath(root: string, name: string): string {
  return join(lockDirPath(root), `${validateInstanceName(name)}.break`);
}

interface ProcStat {
  state: string;
  start: number;
}

/** State and start time of a process from /proc/PID/stat; undefined if unreadable. */
async function procStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid …`: comm may hold spaces and parentheses; fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const start = Number(rest[19]);
  if (state === undefined || !Number.isFinite(start)) return undefined;
  return { state, start };
}

/** Is the process that wrote `h` still running? */
export async function isHolderAlive(h: Pick<LockHolder, 'pid' | 'start'>): Promise<boolean> {
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = await procStat(h.pid);
  if (!st) return true; // alive by kill(0), nothing more to check
  if (st.state === 'Z' || st.state === 'X') return false;
  if (h.start !== null && st.start !== h.start) return false; // pid reused
  return true;
}

/** Bytes read of a lock file: far more than a holder record takes. */
const HOLDER_READ_BYTES = 1024;

type ReadResult = { kind: 'gone' } | { kind: 'holder'; holder: LockHolder } | { kind: 'unreadable'; text: string };

async function readHolder(path: string): Promise<ReadResult> {
  let text: string;
  try {
    // Never through a link: a lock file is a plain file plugboard made.
    const fd = openSync(path, fsc.O_RDONLY | (fsc.O_NOFOLLOW ?? 0));
    try {
      // One read: a holder record is ~100 bytes, and a read of a regular file that returns less than
      // asked has reached its end (readFileSync's fstat and second read cost two more system calls
      // on every release). A file that fills the buffer is no record plugboard wrote.
      const buf = Buffer.allocUnsafe(HOLDER_READ_BYTES);
      const n = readSync(fd, buf, 0, HOLDER_READ_BYTES, 0);
      text = buf.toString('utf8', 0, n);
      if (n === HOLDER_READ_BYTES) return { kind: 'unreadable', text };
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'gone' };
    if (code === 'ELOOP') return { kind: 'unreadable', text: '' };
    throw err;
  }
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (
      typeof v.pid === 'number' &&
      Number.isSafeInteger(v.pid) &&
      v.pid > 0 &&
      (v.start === null || typeof v.start === 'number') &&
      typeof v.token === 'string' &&
      typeof v.since === 'string'
    ) {
      return { kind: 'holder', holder: v as LockHolder };
    }
  } catch {
    // fall through
  }
  return { kind: 'unreadable', text };
}

/** This process's start time (/proc/self/stat): read once, it does not change. */
let myStart: number | null | undefined;

async function myHolder(): Promise<LockHolder> {
  if (myStart === undefined) myStart = (await procStat(process.pid))?.start ?? null;
  return {
    pid: process.pid,
    start: myStart,
    since: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
}

/**
 * Remove the lock at `lockPath` if it still is the stale record `seen`. Returns true when the lock
 * is gone afterwards (removed by us or by its owner), false when another breaker is at work (or a
 * dead one left its break file).
 */
async function breakStale(lockPath: string, breakPath: string, seen: LockHolder, me: LockHolder): Promise<boolean> {
  try {
    await writeFile(breakPath, `${JSON.stringify(me)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    const cur = await readHolder(lockPath);
    if (cur.kind === 'gone') return true;
    if (cur.kind === 'holder' && cur.holder.token === seen.token && !(await isHolderAlive(cur.holder))) {
      await unlink(lockPath);
      return true;
    }
    return false;
  } finally {
    await unlink(breakPath).catch(() => undefined);
  }
}

function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} (since ${h.since})`;
}

async function timeoutMessage(
  name: string,
  lockPath: string,
  breakPath: string,
  last: ReadResult,
  timeoutMs: number,
): Promise<string> {
  const waited = timeoutMs >= 1000 ? `${(timeoutMs / 1000).toFixed(timeoutMs % 1000 ? 1 : 0)} s` : `${timeoutMs} ms`;
  if (last.kind === 'holder') {
    if (await isHolderAlive(last.holder)) {
      return `instance ${name} is locked by another plugboard, ${describeHolder(last.holder)}; gave up after ${waited} (lock file ${lockPath})`;
    }
    const b = await readHolder(breakPath).catch(() => ({ kind: 'gone' }) as ReadResult);
    if (b.kind === 'holder' && !(await isHolderAlive(b.holder))) {
      return (
        `instance ${name}: the stale lock of pid ${last.holder.pid} cannot be taken over because ${breakPath} ` +
        `was left by pid ${b.holder.pid}, which is no longer running; remove that file and run again`
      );
    }
    if (b.kind === 'unreadable') {
      return (
        `instance ${name}: the stale lock of pid ${last.holder.pid} cannot be taken over because of ${breakPath}; ` +
        `if no plugboard is working on ${name}, remove that file and run again`
      );
    }
    return `instance ${name}: the stale lock of pid ${last.holder.pid} is being taken over by another process; gave up after ${waited} (lock file ${lockPath})`;
  }
  return (
    `instance ${name} is locked by ${lockPath}, which does not name its holder; ` +
    `if no plugboard is working on ${name}, remove it and run again (gave up after ${waited})`
  );
}

/** What the lock guards (the runtime file, the QMP socket) and the lock directory: checkRootTree. */
function lockedTree(name: string) {
  return { dirs: ['conf', 'ctrl', LOCK_DIR_NAME], files: [`conf/${name}.runtime`] };
}

function interrupted(name: string, signal: AbortSignal): RefusedError {
  return new RefusedError(`interrupted while waiting for the lock of instance ${name}; nothing was changed`, { cause: signal.reason });
}

/** Creates the lock directory. One that appeared since the root was checked is checked again (a link?). */
async function makeLockDir(root: string, name: string, dir: string): Promise<void> {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new NotFoundError(`${root} does not exist: cannot lock instance ${name} (use --root DIR or PLUGBOARD_ROOT)`, {
        cause: err,
      });
    }
    if (code !== 'EEXIST') throw new PlugboardError(`cannot create lock directory ${dir}: ${messageOf(err)}`, { cause: err });
    // It existed: it may have appeared (as a link?) since the check above.
    await checkRootTree(root, { dirs: [LOCK_DIR_NAME] });
  }
}

/**
 * Take the lock of instance `name` under `root`, waiting up to `timeoutMs` while another live
 * process holds it. Taking the lock is the way into every change of an instance, so the root is
 * checked first (checkRootTree: the runtime file, conf/, ctrl/ and the lock directory are no
 * symbolic links and writable by nobody else) and refused with the reason. Throws RefusedError
 * naming the holder on timeout (or when `signal` aborts the wait), NotFoundError if `root` does
 * not exist.
 */
// The file operations below are blocking calls: the lock directory lives on the runtime root (a
// tmpfs), where each takes microseconds, while each asynchronous one took a thread-pool round trip
// (~5 ms for a take-and-release on a loaded node: the largest cost of a hot-add after QMP itself).
export async function acquireInstanceLock(root: string, name: string, opts: LockOptions): Promise<InstanceLock> {
  const lockPath = lockFilePath(root, name);
  const breakPath = breakFilePath(root, name);
  const dir = lockDirPath(root);
  const deadline = Date.now() + Math.max(0, opts.timeoutMs);
  const pollMs = Math.max(1, opts.pollMs ?? DEFAULT_POLL_MS);
  if (opts.signal?.aborted) throw interrupted(name, opts.signal);
  const found = new Set<string>();
  await checkRootTree(root, lockedTree(name), found);
  // Made once per root: usually there already, and checked just now.
  if (!found.has(LOCK_DIR_NAME)) await makeLockDir(root, name, dir);

  const me = await myHolder();
  const tmp = join(dir, `.lock-${me.token}.tmp`);
  try {
    writeFileSync(tmp, `${JSON.stringify(me)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    throw new PlugboardError(`cannot write lock file in ${dir}: ${messageOf(err)}`, { cause: err });
  }
  try {
    for (;;) {
      try {
        linkSync(tmp, lockPath);
        let released = false;
        return {
          path: lockPath,
          holder: me,
          release: async () => {
            if (released) return;
            released = true;
            try {
              const cur = await readHolder(lockPath);
              if (cur.kind === 'holder' && cur.holder.token === me.token) unlinkSync(lockPath);
            } catch {
              // left behind: stale once we exit
            }
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new PlugboardError(`cannot create lock file ${lockPath}: ${messageOf(err)}`, { cause: err });
        }
      }
      const cur = await readHolder(lockPath);
      if (cur.kind === 'gone') continue;
      if (cur.kind === 'holder' && !(await isHolderAlive(cur.holder))) {
        if (await breakStale(lockPath, breakPath, cur.holder, me)) continue;
      }
      const now = Date.now();
      if (now >= deadline) {
        throw new RefusedError(await timeoutMessage(name, lockPath, breakPath, cur, opts.timeoutMs));
      }
      if (opts.signal?.aborted) throw interrupted(name, opts.signal);
      await delay(Math.min(pollMs, deadline - now), undefined, opts.signal ? { signal: opts.signal } : undefined).catch(() => undefined);
      if (opts.signal?.aborted) throw interrupted(name, opts.signal);
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // gone
    }
  }
}

/**
 * Run `fn` holding the lock of instance `name` (see acquireInstanceLock); the lock is released
 * when `fn` settles.
 */
export async function withInstanceLock<T>(
  root: string,
  name: string,
  opts: LockOptions,
  fn: () => Promise<T> | T,
): Promise<T> {
  const lock = await acquireInstanceLock(root, name, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
