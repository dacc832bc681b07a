/**
 * The Ganeti KVM node layout under a root directory (default `/var/run/ganeti/kvm-hypervisor`):
 * where an instance's runtime file, sockets, pid file and NIC files are.
 */

import { readdir, readFile, lstat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError, NotFoundError, PlugboardError } from '../errors.js';

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

/** Names of the instances with a runtime file under `root` (`conf/*.runtime`), sorted. */
export async function listInstances(root: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(join(root, 'conf'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      let rootExists = false;
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
    throw new PlugboardError(`cannot list ${join(root, 'conf')}: ${(err as Error).message}`, { cause: err });
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
  const args = cmdline.split('\0');
  const idx = args.indexOf('-name');
  const v = idx >= 0 ? args[idx + 1] : undefined;
  if (v === undefined) return null;
  const first = v.split(',')[0] ?? '';
  return first.startsWith('guest=') ? first.slice('guest='.length) : first;
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
  const t = text.trim();
  if (!/^[0-9]+$/.test(t)) return null;
  const pid = Number(t);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  const procName = await processInstanceName(pid);
  if (procName === undefined) return isAlive(pid) ? pid : null;
  return procName === name ? pid : null;
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
