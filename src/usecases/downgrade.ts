/**
 * `plugboard downgrade`: the runtime files of a node rewritten back to the pre-hvinfo form for a
 * cluster going back to Ganeti 2.15 (the rewrite itself: src/runtime/downgrade.ts).
 *
 * Per instance, under its lock (the way into every change of an instance: the root is checked, no
 * other plugboard works on it meanwhile):
 * 1. the backup path `conf/NAME.runtime.pre-downgrade` is checked like the runtime file (no link);
 * 2. the runtime file is read (never through a link) and the downgrade planned; a file already in
 *    the old form or one that cannot be downgraded is left alone, with the reason;
 * 3. the backup is made: the exact bytes read, with the runtime file's mode and owner, written to
 *    a temp file and linked into place, so it never replaces anything (an existing backup that is
 *    not byte-identical is refused: it may be the only copy of an older file);
 * 4. the runtime file is replaced atomically (src/runtime/write.ts: temp file, fsync, rename,
 *    directory fsync; mode and owner kept), refused if someone rewrote it since step 2;
 * 5. if step 4 fails, a backup made in step 3 is removed again: nothing changed.
 *
 * A running instance's file is downgraded like any other, and that is the point: QEMU read its
 * command line when it started and never reads the runtime file again; Ganeti reads the file only
 * for a running instance (migration, hotplug, hard reboot), and it is exactly those reads the old
 * Ganeti must be able to do. A stopped instance's file is rewritten by Ganeti when it starts the
 * instance; it is downgraded too (harmless, and a file left behind stays loadable).
 *
 * Instances are done one at a time; each is atomic on its own. A downgraded file still loads in
 * Ganeti 3.0 (it upgrades the old form itself), so a node left half done by refusals is safe to run
 * with either version, and running the command again finishes it (files already downgraded are
 * reported as such).
 */

import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants as fsc,
  fchmodSync,
  fchownSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readlinkSync,
  type Stats,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ExitCode, InputError, InternalError, messageOf, NotFoundError, PlugboardError, RefusedError } from '../errors.js';
import { type DowngradedDevice, type DowngradeRefusal, lossOf, planDowngrade } from '../runtime/downgrade.js';
import { readRuntimeText, readRuntimeTextSync } from '../runtime/load.js';
import { acquireInstanceLock } from '../runtime/lock.js';
import { checkRootTree, instanceStatus, listInstances, runtimeFilePath, validateInstanceName } from '../runtime/root.js';
import { syncDirectory, writeRuntimeFileAtomic } from '../runtime/write.js';

/** Suffix of the backup beside the runtime file: `conf/NAME.runtime.pre-downgrade`. */
export const BACKUP_SUFFIX = '.pre-downgrade';

const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

export type DowngradeStatus = 'downgraded' | 'would-downgrade' | 'already-old' | 'refused' | 'failed';

export interface InstanceDowngrade {
  instance: string;
  runtimeFile: string;
  /** The instance's QEMU runs (pid file, `-name`, QMP socket). */
  running: boolean;
  status: DowngradeStatus;
  /** The devices rewritten (or that would be, with --dry-run). */
  devices: DowngradedDevice[];
  /** What the operator loses (lossOf), null when nothing. */
  loss: string | null;
  notes: string[];
  /** The backup's path when one was made, kept or would be made. */
  backup: string | null;
  /** `created`: made now; `kept`: an identical one was there; `would-create`/`would-keep`: --dry-run. */
  backupState: 'created' | 'kept' | 'would-create' | 'would-keep' | null;
  /** Why it cannot be downgraded (status `refused`). */
  reasons: DowngradeRefusal[];
  /** The one-line reason for `already-old` and `failed`. */
  message: string | null;
  /** 0 done (or nothing to do under --all), 1 refused or failed, 2 a file plugboard cannot read. */
  exitCode: ExitCode;
}

export interface DowngradeRequest {
  root: string;
  /** Instance names, or every instance under the root. */
  instances: readonly string[] | 'all';
  /** Plan and report, change nothing (no lock taken, nothing written). */
  dryRun?: boolean;
  /** How long to wait for another plugboard's lock on an instance (default 10 s). */
  lockTimeoutMs?: number;
  /** Stops before the next instance (and while waiting for a lock); the current one completes. */
  signal?: AbortSignal;
}

export function backupPath(root: string, name: string): string {
  return `${runtimeFilePath(root, name)}${BACKUP_SUFFIX}`;
}

/**
 * The names a request covers, checked before anything is read or changed: every name valid and
 * every named instance's runtime file present (else one InputError/NotFoundError line, exit 2).
 */
async function targets(req: DowngradeRequest): Promise<string[]> {
  if (req.instances === 'all') return listInstances(req.root);
  const names = [...new Set(req.instances)];
  if (names.length === 0) throw new InputError('missing instance NAME (or --all)');
  for (const n of names) validateInstanceName(n);
  await checkRootTree(req.root, { dirs: ['conf'] });
  try {
    if (!lstatSync(req.root).isDirectory()) throw new NotFoundError(`${req.root} is not a directory (use --root DIR or PLUGBOARD_ROOT)`);
  } catch (err) {
    if (err instanceof PlugboardError) throw err;
    throw new NotFoundError(`${req.root} does not exist: is this a Ganeti KVM node? (use --root DIR or PLUGBOARD_ROOT)`, { cause: err });
  }
  const missing = names.filter((n) => {
    try {
      lstatSync(runtimeFilePath(req.root, n));
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    const list = missing.join(', ');
    throw new NotFoundError(
      `no runtime file for ${missing.length === 1 ? 'instance' : 'instances'} ${list} under ${req.root} (conf/NAME.runtime): ` +
        `${missing.length === 1 ? 'it is not a Ganeti KVM instance' : 'they are not Ganeti KVM instances'} of this node; nothing changed`,
    );
  }
  return names;
}

/** Downgrade (or plan, with dryRun) every instance of the request; one result per instance, in order. */
export async function downgradeInstances(req: DowngradeRequest): Promise<InstanceDowngrade[]> {
  const names = await targets(req);
  const out: InstanceDowngrade[] = [];
  for (const name of names) {
    if (req.signal?.aborted) {
      out.push({
        ...blank(req.root, name, false),
        status: 'failed',
        message: 'interrupted before this instance: its runtime file is unchanged',
        exitCode: ExitCode.failed,
      });
      continue;
    }
    out.push(await downgradeInstance(req.root, name, { ...req, all: req.instances === 'all' }));
  }
  return out;
}

function blank(root: string, name: string, running: boolean): InstanceDowngrade {
  return {
    instance: name,
    runtimeFile: runtimeFilePath(root, name),
    running,
    status: 'failed',
    devices: [],
    loss: null,
    notes: [],
    backup: null,
    backupState: null,
    reasons: [],
    message: null,
    exitCode: ExitCode.ok,
  };
}

/** One instance (see the module comment). Per-instance problems are results, never thrown. */
export async function downgradeInstance(
  root: string,
  name: string,
  opts: { dryRun?: boolean; all?: boolean; lockTimeoutMs?: number; signal?: AbortSignal } = {},
): Promise<InstanceDowngrade> {
  validateInstanceName(name);
  const runtime = runtimeFilePath(root, name);
  const backup = backupPath(root, name);
  const result = blank(root, name, (await instanceStatus(root, name)) === 'running');
  const files = { files: [`conf/${name}.runtime`, `conf/${name}.runtime${BACKUP_SUFFIX}`] };

  const work = async (): Promise<void> => {
    await checkRootTree(root, opts.dryRun ? { dirs: ['conf'], ...files } : files);
    const text = await readRuntimeText(runtime, { noFollow: true });
    const plan = planDowngrade(text, runtime, name);
    switch (plan.status) {
      case 'already-old':
        result.status = 'already-old';
        result.message = plan.message;
        result.exitCode = opts.all ? ExitCode.ok : ExitCode.failed;
        return;
      case 'refused':
        result.status = 'refused';
        result.reasons = plan.reasons;
        result.exitCode = ExitCode.failed;
        return;
      case 'downgrade':
        break;
      default: {
        const never: never = plan;
        throw new InternalError(`unknown downgrade plan ${JSON.stringify(never)}`);
      }
    }
    const existing = existingBackup(backup, text);
    if (opts.dryRun) {
      result.backupState = existing === 'same' ? 'would-keep' : 'would-create';
    } else {
      if (existing === 'absent') createBackup(runtime, backup, text);
      result.backupState = existing === 'same' ? 'kept' : 'created';
      try {
        await writeRuntimeFileAtomic(runtime, plan.text, { expectText: text });
      } catch (err) {
        if (result.backupState === 'created') removeBackup(backup);
        throw err;
      }
    }
    result.status = opts.dryRun ? 'would-downgrade' : 'downgraded';
    result.devices = plan.devices;
    result.loss = lossOf(plan.devices);
    result.notes = plan.notes;
    result.backup = backup;
    result.exitCode = ExitCode.ok;
  };

  try {
    if (opts.dryRun) await work();
    else {
      const lock = await acquireInstanceLock(root, name, { timeoutMs: opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, signal: opts.signal });
      try {
        await work();
      } finally {
        await lock.release();
      }
    }
  } catch (err) {
    if (!(err instanceof PlugboardError)) throw err;
    result.status = 'failed';
    result.message = err.message.split('\n').join('; ');
    result.exitCode = err.exitCode;
    result.backupState = null;
  }
  return result;
}

function kindOf(st: Stats): string {
  return st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'not a regular file';
}

/**
 * Is there a backup already? `absent`, or `same` (byte-identical to `text`: left by a run that
 * stopped before its rename, reused). Anything else is refused: a link, not a regular file, or a
 * different file (an earlier downgrade's backup: the only copy of that file, never replaced).
 */
function existingBackup(backup: string, text: string): 'absent' | 'same' {
  let st: Stats;
  try {
    st = lstatSync(backup);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw new PlugboardError(`cannot check ${backup}: ${messageOf(err)}; nothing changed`, { cause: err });
  }
  if (st.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(backup);
    } catch {
      // gone meanwhile
    }
    throw new RefusedError(`refusing to use ${backup}: it is a symbolic link (to ${target}), not a backup plugboard made; remove it and run again; nothing changed`);
  }
  if (!st.isFile()) throw new RefusedError(`${backup} is in the way: it is ${kindOf(st)}, not a backup plugboard made; remove it and run again; nothing changed`);
  let old: string | undefined;
  try {
    old = readRuntimeTextSync(backup, { noFollow: true });
  } catch {
    old = undefined;
  }
  if (old === text) return 'same';
  throw new RefusedError(
    `${backup} already exists and differs from the runtime file (an earlier downgrade's backup?): plugboard never replaces a backup, ` +
      'which may be the only copy of a file from before a downgrade; move it away and run again; nothing changed',
  );
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * The backup of `runtime`: `text` (the bytes read) in a temp file in the same directory (created
 * exclusively, never through a link), with the runtime file's permission bits and, as root, its
 * owner; fsynced; then hard-linked to `backup`, which fails if anything has that name meanwhile,
 * so a backup is never replaced and never seen half-written. Throws with nothing left behind.
 */
function createBackup(runtime: string, backup: string, text: string): void {
  const dir = dirname(backup);
  let st: Stats;
  try {
    st = lstatSync(runtime);
  } catch (err) {
    throw new PlugboardError(`cannot back up ${runtime}: ${messageOf(err)}; nothing changed`, { cause: err });
  }
  const tmp = join(dir, `.${basename(backup)}.plugboard-${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  let created = false;
  try {
    fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | (fsc.O_NOFOLLOW ?? 0), 0o600);
    created = true;
    if (isRoot()) fchownSync(fd, st.uid, st.gid);
    fchmodSync(fd, st.mode & 0o777);
    writeFileSync(fd, text, 'utf8');
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    linkSync(tmp, backup);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd);
    const code = (err as NodeJS.ErrnoException).code;
    if (created) unlinkQuietly(tmp);
    if (code === 'EEXIST' && created) {
      throw new RefusedError(`${backup} appeared while plugboard was making it (another tool?): nothing changed; run again`, { cause: err });
    }
    throw new PlugboardError(`cannot write the backup ${backup}: ${describe(err)}; nothing changed`, { cause: err });
  }
  unlinkQuietly(tmp);
  // Best effort: the runtime file's write fsyncs this same directory after its rename, which makes
  // the backup's name durable at the latest then.
  try {
    syncDirectory(backup);
  } catch {
    // see above
  }
}

function removeBackup(backup: string): void {
  unlinkQuietly(backup);
  try {
    syncDirectory(backup);
  } catch {
    // the unlink itself happened
  }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return `permission denied (${e.code})`;
  if (e?.code === 'ENOSPC') return 'no space left on device';
  if (e?.code === 'EROFS') return 'read-only file system';
  if (e?.code === 'EEXIST') return 'its temp file name is taken';
  return e?.code ? `${e.code}: ${e.message}` : messageOf(err);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closed
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone
  }
}
