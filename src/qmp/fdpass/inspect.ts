/**
 * Checks before a descriptor is passed: the disk path the operator named (what it is, where it
 * resolves, the exact file — device and inode — that the helper must then open), and the user a
 * `-runas` QEMU runs as. Each problem is one line naming the path or the user: FdInputError (exit 2).
 */
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { messageOf } from '../../errors.js';
import { FdHelperError, FdInputError } from './errors.js';
import type { FdOpenDiskDetail } from './plan.js';
import type { FdHelper } from './helper.js';

export type DiskPathKind = FdOpenDiskDetail['kind'];

/** A disk path as checked at planning. */
export interface CheckedDiskPath {
  typed: string;
  /** Where it resolves (symlinks followed): what the helper opens. */
  path: string;
  kind: DiskPathKind;
  dev: number;
  ino: number;
  /** A regular file's length (a block device's size is read when it is opened). */
  sizeBytes?: number;
}

const KIND_WORDS: Record<string, string> = {
  directory: 'a directory',
  char: 'a character device',
  fifo: 'a FIFO',
  socket: 'a socket',
  symlink: 'a symbolic link',
  other: 'not a file or device',
};

/**
 * What `typed` is, for a disk of `diskType`: a block device or a regular file (`scsi-generic`: a
 * character device, `/dev/sgN`). Missing, a directory, a character device where a disk is meant,
 * a FIFO… → FdInputError naming the path (and, through a symlink, what it points to).
 */
export function checkDiskPath(typed: string, diskType: string, what = '--path'): CheckedDiskPath {
  if (typed === '' || typed.includes('\0')) throw new FdInputError(`${what} ${JSON.stringify(typed)}: not a path`);
  let resolved: string;
  try {
    resolved = realpathSync.native(typed);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const dangling = code === 'ENOENT' && lstatSync(typed, { throwIfNoEntry: false })?.isSymbolicLink();
    throw new FdInputError(
      dangling ? `${what} ${typed}: a symbolic link to something that does not exist` : `${what} ${typed}: ${code === 'ENOENT' ? 'does not exist' : `cannot be resolved (${code ?? String(err)})`}`,
      { cause: err },
    );
  }
  const st = statSync(resolved, { throwIfNoEntry: false });
  if (!st) throw new FdInputError(`${what} ${typed}: vanished while it was checked`);
  const via = resolved !== typed ? ` (${typed} → ${resolved})` : '';
  const kind = st.isBlockDevice() ? 'block' : st.isFile() ? 'file' : st.isCharacterDevice() ? 'char' : st.isDirectory() ? 'directory' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'other';
  const wantChar = diskType === 'scsi-generic';
  if (wantChar ? kind !== 'char' : kind !== 'block' && kind !== 'file') {
    throw new FdInputError(
      wantChar
        ? `${what} ${typed}: scsi-generic needs a SCSI generic character device (/dev/sgN), not ${KIND_WORDS[kind] ?? `a ${kind === 'block' ? 'block device' : 'regular file'}`}${via}`
        : `${what} ${typed}: ${KIND_WORDS[kind] ?? kind}${via}; a disk is a block device or a regular file`,
    );
  }
  if (diskType === 'scsi-block' && kind !== 'block') {
    throw new FdInputError(`${what} ${typed}: scsi-block passes a host SCSI disk through and needs a block device (/dev/sdX), not a regular file${via}`);
  }
  return {
    typed,
    path: resolved,
    kind: kind as DiskPathKind,
    dev: st.dev,
    ino: st.ino,
    ...(kind === 'file' ? { sizeBytes: st.size } : {}),
  };
}

/**
 * Right before the open: `typed` must still resolve to the path checked at planning (a symlink
 * re-pointed since then would make the operator's path mean another file). The helper then checks
 * device and inode of what it opened.
 */
export function recheckDiskPath(checked: Pick<CheckedDiskPath, 'typed' | 'path'>, what = '--path'): void {
  let now: string;
  try {
    now = realpathSync.native(checked.typed);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FdInputError(
      `${what} ${checked.typed}: ${code === 'ENOENT' ? 'vanished' : `cannot be resolved any more (${code ?? String(err)})`} between the check and the open; nothing was passed to QEMU`,
      { cause: err },
    );
  }
  if (now !== checked.path) {
    throw new FdInputError(
      `${what} ${checked.typed}: now points to ${now}, not to ${checked.path} as when it was checked; not opened, nothing was passed to QEMU`,
    );
  }
}

/** One line for a failed open of a checked disk path (FdInputError for what the path is, else FdHelperError). */
export function diskOpenProblem(err: unknown, d: Pick<FdOpenDiskDetail, 'typed' | 'path' | 'direct'>, what = '--path'): Error {
  if (!(err instanceof FdHelperError)) return err instanceof Error ? err : new FdHelperError(messageOf(err), 'INTERNAL', '');
  const name = d.typed !== d.path ? `${what} ${d.typed} (→ ${d.path})` : `${what} ${d.path}`;
  const tail = '; nothing was passed to QEMU';
  switch (err.code) {
    case 'ENOENT':
      return new FdInputError(`${name}: vanished between the check and the open${tail}`, { cause: err });
    case 'KIND':
      return new FdInputError(`${name}: is now ${KIND_WORDS[err.detail] ?? (err.detail === 'block' ? 'a block device' : err.detail === 'file' ? 'a regular file' : err.detail)}, not what was checked${tail}`, { cause: err });
    case 'ELOOP':
      return new FdInputError(`${name}: was replaced by a symbolic link after the check; not followed${tail}`, { cause: err });
    case 'CHANGED':
      return new FdInputError(`${name}: is not the file that was checked (another file is there now, device:inode ${err.detail})${tail}`, { cause: err });
    case 'EINVAL':
      return d.direct
        ? new FdInputError(`${name}: cannot be opened with O_DIRECT (the instance's cache mode bypasses the host cache; tmpfs and some file systems cannot)${tail}`, { cause: err })
        : new FdHelperError(`${name}: open failed: ${err.detail}${tail}`, err.code, err.detail, false, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new FdHelperError(`${name}: root could not open it (${err.detail}; plugboard must run as root to pass disks to a -runas/-chroot QEMU)${tail}`, err.code, err.detail, false, { cause: err });
    case 'EBUSY':
      return new FdHelperError(`${name}: busy (${err.detail}: opened exclusively elsewhere, e.g. a DRBD device in Secondary role)${tail}`, err.code, err.detail, false, { cause: err });
    default:
      return new FdHelperError(`${name}: ${err.message}${tail}`, err.code, err.detail, err.maybeDone, { cause: err });
  }
}

/** One line for a failed tap creation. */
export function tapCreateProblem(err: unknown, tap: string): Error {
  if (!(err instanceof FdHelperError)) return err instanceof Error ? err : new FdHelperError(messageOf(err), 'INTERNAL', '');
  switch (err.code) {
    case 'EBUSY':
    case 'EEXIST':
      return new FdInputError(`tap ${tap}: the name is already in use on this node (ip -d link show ${tap}); nothing was passed to QEMU`, { cause: err });
    case 'EINVAL':
      return new FdInputError(`tap ${tap}: an interface of that name that is not a tap exists, or the name is invalid (${err.detail}); nothing was passed to QEMU`, { cause: err });
    case 'ENOENT':
      return new FdHelperError(`tap ${tap}: /dev/net/tun or /dev/vhost-net is missing on this node (modprobe tun / vhost_net): ${err.detail}`, err.code, err.detail, false, { cause: err });
    default:
      return new FdHelperError(`tap ${tap}: ${err.message}`, err.code, err.detail, err.maybeDone, { cause: err });
  }
}

/** The real and effective uid of process `pid` (`/proc/PID/status`), or undefined when it is gone. */
export function processUids(pid: number): { real: number; effective: number } | undefined {
  try {
    const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? { real: Number(m[1]), effective: Number(m[2]) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The user a `-runas` QEMU runs as must still exist: plugboard will not hand descriptors to a QEMU
 * whose user it cannot name (deleted while the instance runs, or a runtime file naming someone
 * else). Checks `security_domain` (security_model=user) and the running QEMU's uid (user and pool).
 * Returns the user's name.
 */
export async function checkQemuUser(
  instance: string,
  hv: { security_model: string | undefined; security_domain?: string | undefined },
  qemuPid: number,
  helper: Pick<FdHelper, 'lookupUser' | 'lookupUid'>,
): Promise<string | undefined> {
  if (hv.security_model !== 'user' && hv.security_model !== 'pool') return undefined;
  const uids = processUids(qemuPid);
  if (!uids) throw new FdInputError(`${instance}: QEMU (pid ${qemuPid}) is not running`);
  if (hv.security_model === 'user' && hv.security_domain) {
    const user = await helper.lookupUser(hv.security_domain);
    if (!user) {
      throw new FdInputError(
        `${instance}: security_domain ${hv.security_domain}, the user its QEMU runs as (-runas), does not exist on this node (removed while the instance runs?); nothing was passed to QEMU`,
      );
    }
    if (user.uid !== uids.effective) {
      throw new FdInputError(
        `${instance}: QEMU (pid ${qemuPid}) runs as uid ${uids.effective}, not as security_domain ${hv.security_domain} (uid ${user.uid}); nothing was passed to QEMU`,
      );
    }
    return hv.security_domain;
  }
  const name = await helper.lookupUid(uids.effective);
  if (name === undefined) {
    throw new FdInputError(
      `${instance}: QEMU (pid ${qemuPid}) runs as uid ${uids.effective}, which has no user any more (removed while the instance runs?); nothing was passed to QEMU`,
    );
  }
  return name;
}

/** The process id in a pid file (`pid/NAME`, Ganeti's `-pidfile`), or undefined when it has none. */
export function readPidFile(file: string): number | undefined {
  try {
    const m = /^\s*([1-9]\d{0,9})\s*$/.exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` holds a descriptor of the file with device `dev` and inode `ino` (what
 * `/proc/PID/fd` points to; root reads it for any process); undefined when that cannot be read.
 * QEMU shows a disk passed by descriptor as `/dev/fdset/N`: this is how to tell it is still this file.
 */
export function holdsFile(pid: number, dev: number, ino: number): boolean | undefined {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  return fds.some((n) => {
    try {
      const st = statSync(`/proc/${pid}/fd/${n}`);
      return st.dev === dev && st.ino === ino;
    } catch {
      return false; // closed meanwhile
    }
  });
}
