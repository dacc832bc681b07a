/**
 * The Ganeti KVM node layout under a root directory (default `/var/run/ganeti/kvm-hypervisor`):
 * where an instance's runtime file, sockets, pid file and NIC files are.
 */

import { lstatSync, readFileSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { readdir, readFile, lstat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InputError, messageOf, NotFoundError, PlugboardError, RefusedError } from '../errors.js';

export const DEFAULT_ROOT = '/var/run/ganeti/kvm-hypervisor';
export const ROOT_ENV = 'PLUGBOARD_ROOT';

/** The root: `--root` if given, else `$PLUGBOARD_ROOT` if set and non-empty, else the default; absolute. */
export function resolveRoot(opt?: string): string {
  const env = process.env[ROOT_ENV];
  const chosen = opt !== undefined && opt !== '' ? opt : env !== undefined && env !== '' ? env : DEFAULT_ROOT;
  return resolve(chosen);
}

const NAME_RE = /^[A-Za-z0-9._-]+$/;
export const MAX_INSTANCE_NAME_LENGTH = 253;

/**
 * Why `name` is not an acceptable instance name, or null. Ganeti's rule (netutils.Hostname:
 * letters, digits, `-`, `.`, and `_`, which Ganeti allows too; no empty label) plus what keeps
 * a name safe to join into paths: no `/`, no NUL, not `.`/`..`, at most 253 characters.
 */
export function instanceNameProblem(name: string): string | null {
  const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);
  if (name === '') return 'instance name is empty';
  if (name.includes('\0')) return `instance name ${shown} contains a NUL byte`;
  if (name.includes('/')) return `instance name ${shown} contains '/'`;
  if (name.length > MAX_INSTANCE_NAME_LENGTH) {
    return `instance name is ${name.length} characters long (at most ${MAX_INSTANCE_NAME_LENGTH})`;
  }
  if (!NAME_RE.test(name)) {
    return `instance name ${shown} may only hold letters, digits, '-', '.' and '_'`;
  }
  if (name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
    return `instance name ${shown} has an empty label (leading, trailing or double '.')`;
  }
  return null;
}

/** Returns `name` if it is an acceptable instance name; throws InputError otherwise. */
export function validateInstanceName(name: string): string {
  const problem = instanceNameProblem(name);
  if (problem) throw new InputError(problem);
  return name;
}

export interface InstancePaths {
  runtime: string;
  qmp: string;
  monitor: string;
  serial: string;
  kvmd: string;
  pid: string;
  nicDir: string;
}

export function runtimeFilePath(root: string, name: string): string {
  return join(root, 'conf', `${validateInstanceName(name)}.runtime`);
}

export function qmpSocketPath(root: string, name: string): string {
  return join(root, 'ctrl', `${validateInstanceName(name)}.qmp`);
}

export function monitorSocketPath(root: string, name: string): string {
  return join(root, 'ctrl', `${validateInstanceName(name)}.monitor`);
}

export function pidFilePath(root: string, name: string): string {
  return join(root, 'pid', validateInstanceName(name));
}

export function nicDirPath(root: string, name: string): string {
  return join(root, 'nic', validateInstanceName(name));
}

/** `nic/NAME/SEQ`: holds the tap interface name of the instance's NIC number SEQ. */
export function nicFilePath(root: string, name: string, seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new InputError(`NIC sequence number ${seq} is not a non-negative integer`);
  return join(nicDirPath(root, name), String(seq));
}

export function instancePaths(root: string, name: string): InstancePaths {
  validateInstanceName(name);
  return {
    runtime: runtimeFilePath(root, name),
    qmp: qmpSocketPath(root, name),
    monitor: monitorSocketPath(root, name),
    serial: join(root, 'ctrl', `${name}.serial`),
    kvmd: join(root, 'ctrl', `${name}.kvmd`),
    pid: pidFilePath(root, name),
    nicDir: nicDirPath(root, name),
  };
}

const RUNTIME_SUFFIX = '.runtime';

function rootHint(root: string): string {
  return `point plugboard at the right directory with --root DIR or ${ROOT_ENV}=DIR (now ${root})`;
}

// ---------------------------------------------------------------------------------------------
// Trusting the root. plugboard runs as root on the node and reads, writes and locks files under the
// root; whoever can write a directory on the way can plant or swap those files (a runtime file that
// is a link to /etc/shadow, a conf/ that is a link to /etc, a lock directory that points elsewhere).
// So, before it reads or writes there, every entry point runs the one check below:
// - the root's ancestors (after resolving the root's own path, which may go through links such as
//   /var/run → /run) are not writable by everyone, unless sticky (/tmp);
// - the root and the directories under it plugboard uses are real directories (never symbolic
//   links), owned by root or the user plugboard runs as, and writable by nobody else (world, or a
//   group other than root's/ours: Ganeti makes them root:root 0775);
// - the files under it plugboard reads or replaces (`conf/NAME.runtime`, …) are not symbolic links.
// Missing entries are not problems here: the callers say what is missing in their own words.
// ---------------------------------------------------------------------------------------------

export interface RootCheck {
  /** Directories under the root that will be read or written: `conf`, `ctrl`, `plugboard-lock`… */
  dirs?: readonly string[];
  /** Files under the root that will be read or replaced: `conf/web1.runtime`. */
  files?: readonly string[];
}

function modeText(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

function trustedUid(uid: number): boolean {
  return uid === 0 || uid === process.geteuid?.();
}

function trustedGid(gid: number): boolean {
  return gid === 0 || gid === process.getegid?.();
}

/**
 * Why the directory `path` (already lstat'ed as `st`) cannot be trusted, or null. `ancestor`: a
 * directory above the root, which only has to be safe from everyone (a sticky /tmp is fine, and
 * Ganeti's own /var/run/ganeti may belong to its masterd user and daemons group).
 */
export function directoryProblem(path: string, st: Stats, opts: { ancestor?: boolean } = {}): string | null {
  if (!st.isDirectory()) return `${path} is not a directory`;
  const worldWritable = (st.mode & 0o002) !== 0;
  if (opts.ancestor) {
    if (worldWritable && (st.mode & 0o1000) === 0) {
      return `${path} is writable by everyone (mode ${modeText(st.mode)}, not sticky): anyone could swap the directories below it; chmod o-w ${path}`;
    }
    return null;
  }
  if (!trustedUid(st.uid)) {
    return `${path} belongs to uid ${st.uid}, not to root${process.geteuid?.() ? ` or uid ${process.geteuid()}` : ''}: that user could plant or swap the files plugboard reads and writes there; chown root ${path}`;
  }
  if (worldWritable) {
    return `${path} is writable by everyone (mode ${modeText(st.mode)}): anyone could plant or swap the files plugboard reads and writes there; chmod o-w ${path}`;
  }
  if ((st.mode & 0o020) !== 0 && !trustedGid(st.gid)) {
    return `${path} is writable by group ${st.gid} (mode ${modeText(st.mode)}): its members could plant or swap the files plugboard reads and writes there; chmod g-w ${path}`;
  }
  return null;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new PlugboardError(`cannot check ${path}: ${messageOf(err)}`, { cause: err });
  }
}

/** `is a symbolic link (to T): …` */
function linkProblem(path: string, what: string): string {
  let target = '?';
  try {
    target = readlinkSync(path);
  } catch {
    // gone meanwhile
  }
  return `is a symbolic link (to ${target}): plugboard does not follow links under its root, where a link could point it at ${what}`;
}

/**
 * The first reason why `root` (and `check.dirs`/`check.files` under it) cannot be trusted, or null
 * when it can (or when the root does not exist: callers report that themselves).
 */
// (Blocking lstat/realpath/readlink, and no await between them: a dozen calls on a tmpfs cost
// microseconds, where each asynchronous one took a thread-pool round trip; every action runs this.)
export async function rootTreeProblem(root: string, check: RootCheck = {}, found?: Set<string>): Promise<string | null> {
  let real: string;
  try {
    // realpath(3), one system call: the JavaScript realpathSync lstat()s every component.
    real = realpathSync.native(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw new PlugboardError(`cannot check ${root}: ${messageOf(err)}`, { cause: err });
  }
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const st = lstatOrNull(dir);
    const problem = st && directoryProblem(dir, st, { ancestor: true });
    if (problem) return `refusing to use ${root}: ${problem}`;
    if (dir === dirname(dir)) break;
  }
  const rootSt = lstatOrNull(real);
  if (!rootSt) return null;
  const rootProblem = directoryProblem(root, rootSt);
  if (rootProblem) return `refusing to use ${root}: ${rootProblem}`;
  for (const d of check.dirs ?? []) {
    const p = join(root, d);
    const st = lstatOrNull(p);
    if (!st) continue;
    if (st.isSymbolicLink()) return `refusing to use ${root}: ${p} ${linkProblem(p, 'directories outside it')}`;
    const problem = directoryProblem(p, st);
    if (problem) return `refusing to use ${root}: ${problem}`;
    found?.add(d);
  }
  for (const f of check.files ?? []) {
    const p = join(root, f);
    const st = lstatOrNull(p);
    if (st?.isSymbolicLink()) return `refusing to use ${p}: it ${linkProblem(p, 'any file on the node')}`;
  }
  return null;
}

/**
 * Throws RefusedError with the reason when rootTreeProblem finds one (see there). `found` receives
 * the entries of `check.dirs` that exist (and passed).
 */
export async function checkRootTree(root: string, check: RootCheck = {}, found?: Set<string>): Promise<void> {
  const problem = await rootTreeProblem(root, check, found);
  if (problem) throw new RefusedError(problem);
}

/** `path` relative to `root` when it lies inside it (`conf/web1.runtime`), else null. */
export function pathUnderRoot(root: string, path: string): string | null {
  const rel = relative(resolve(root), resolve(path));
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return null;
  return rel;
}

/** Names of the instances with a runtime file under `root` (`conf/*.runtime`), sorted. */
export async function listInstances(root: string): Promise<string[]> {
  await checkRootTree(root, { dirs: ['conf'] });
  let entries: string[];
  try {
    entries = await readdir(join(root, 'conf'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      let rootExists: boolean;
      try {
        rootExists = (await lstat(root)).isDirectory();
      } catch {
        rootExists = false;
      }
      throw new NotFoundError(
        rootExists
          ? `no conf directory in ${root}: it does not look like a Ganeti KVM node's runtime directory; ${rootHint(root)}`
          : `${root} does not exist: is this a Ganeti KVM node? ${rootHint(root)}`,
        { cause: err },
      );
    }
    throw new PlugboardError(`cannot list ${join(root, 'conf')}: ${messageOf(err)}`, { cause: err });
  }
  return entries
    .filter((e) => e.endsWith(RUNTIME_SUFFIX))
    .map((e) => e.slice(0, -RUNTIME_SUFFIX.length))
    .filter((n) => instanceNameProblem(n) === null)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export type InstanceStatus = 'running' | 'stopped';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The `-name` value of a command line (`/proc/PID/cmdline`, NUL-separated), `null` if it has none. */
function instanceNameOfCmdline(cmdline: string): string | null {
  const args = cmdline.split('\0');
  const idx = args.indexOf('-name');
  const v = idx >= 0 ? args[idx + 1] : undefined;
  if (v === undefined) return null;
  const first = v.split(',')[0] ?? '';
  return first.startsWith('guest=') ? first.slice('guest='.length) : first;
}

/**
 * The `-name` value in a process's command line (`/proc/PID/cmdline`), `null` if it has none,
 * `undefined` if the command line cannot be read (not Linux, process gone).
 */
async function processInstanceName(pid: number): Promise<string | null | undefined> {
  let cmdline: string;
  try {
    cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
  return instanceNameOfCmdline(cmdline);
}

/** The pid a pid file holds when it is a live process, else null. */
function livePidOfText(text: string): number | null {
  const t = text.trim();
  if (!/^[0-9]+$/.test(t)) return null;
  const pid = Number(t);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  return pid;
}

/** instancePid's answer once the process's `-name` is known (`undefined`: unreadable). */
function pidIfNamed(pid: number, procName: string | null | undefined, name: string): number | null {
  if (procName === undefined) return isAlive(pid) ? pid : null;
  return procName === name ? pid : null;
}

/**
 * `{ qemuPid }` from the instance's pid file when it names a live process, else `{}`: for the QMP
 * connect's look at QEMU's socket table, which lives in QEMU's network namespace.
 */
export function qemuPidOption(root: string, name: string): { qemuPid?: number } {
  let text: string;
  try {
    text = readFileSync(pidFilePath(root, name), 'utf8');
  } catch {
    return {};
  }
  const pid = livePidOfText(text);
  return pid === null ? {} : { qemuPid: pid };
}

/**
 * The pid of the instance's QEMU if it runs: the pid file holds a live pid whose command line has
 * `-name NAME` (Ganeti's `_InstancePidAlive` check, which guards against a reused pid). Else null.
 */
export async function instancePid(root: string, name: string): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(pidFilePath(root, name), 'utf8');
  } catch {
    return null;
  }
  const pid = livePidOfText(text);
  if (pid === null) return null;
  return pidIfNamed(pid, await processInstanceName(pid), name);
}

/** `running` when the instance's QEMU is alive (see instancePid) and its QMP socket exists; else `stopped`. */
export async function instanceStatus(root: string, name: string): Promise<InstanceStatus> {
  const pid = await instancePid(root, name);
  if (pid === null) return 'stopped';
  try {
    const st = await lstat(qmpSocketPath(root, name));
    return st.isSocket() ? 'running' : 'stopped';
  } catch {
    return 'stopped';
  }
}

/**
 * instanceStatus with blocking system calls (a pid file, kill 0, /proc/PID/cmdline, an lstat):
 * for `plugboard list`, which asks it of every instance and has nothing else to do meanwhile.
 */
export function instanceStatusSync(root: string, name: string): InstanceStatus {
  let text: string;
  try {
    text = readFileSync(pidFilePath(root, name), 'utf8');
  } catch {
    return 'stopped';
  }
  const live = livePidOfText(text);
  if (live === null) return 'stopped';
  let procName: string | null | undefined;
  try {
    procName = instanceNameOfCmdline(readFileSync(`/proc/${live}/cmdline`, 'utf8'));
  } catch {
    procName = undefined;
  }
  if (pidIfNamed(live, procName, name) === null) return 'stopped';
  try {
    return lstatSync(qmpSocketPath(root, name)).isSocket() ? 'running' : 'stopped';
  } catch {
    return 'stopped';
  }
}
