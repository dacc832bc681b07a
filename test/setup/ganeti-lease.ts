/**
 * Who uses the one-node Ganeti cluster, and who brought it up: shared by every vitest run on the
 * machine (several worktrees may run `npm test` at once), so that
 * - the suite brings the cluster up when it is not (one run at a time does `up`),
 * - a run that finds it up reuses it and leaves it up,
 * - the cluster is taken down at the end only if the suite brought it up, and only by the last run
 *   still using it (a run that died is dropped from the list by the next one that looks).
 *
 * State: `/run/plugboard-ganeti-tests/state.json` (`{broughtUp, runs: [{token, pid, start}]}`),
 * read and written under plugboard's own instance lock (src/runtime/lock.ts) on
 * `/run/plugboard-ganeti-tests/plugboard-lock/cluster.lock`. /run is not kept across reboots, nor
 * is the cluster's namespace.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireInstanceLock, isHolderAlive } from '../../src/runtime/lock.js';

export const LEASE_ROOT = '/run/plugboard-ganeti-tests';
const STATE_FILE = path.join(LEASE_ROOT, 'state.json');

/** One vitest run (its main process), as globalSetup provides it to the test files. */
export interface GanetiRun {
  token: string;
  pid: number;
  start: number | null;
}

export interface LeaseState {
  broughtUp: boolean;
  runs: GanetiRun[];
  /**
   * Tests that need RAPI up for their whole length (plugboard's own client, which does not wait
   * out a stopped RAPI for long): `withRapiStopped` waits until there is none. Dead ones are dropped.
   */
  rapiUsers?: GanetiRun[];
}

declare module 'vitest' {
  export interface ProvidedContext {
    ganetiRun: GanetiRun;
  }
}

/** The start time of a process (clock ticks since boot, /proc/PID/stat field 22), null if unknown. */
export function processStart(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

export function newRun(): GanetiRun {
  return { token: `${process.pid}-${randomBytes(4).toString('hex')}`, pid: process.pid, start: processStart(process.pid) };
}

function readState(): LeaseState {
  try {
    const s = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as LeaseState;
    if (typeof s.broughtUp === 'boolean' && Array.isArray(s.runs)) return s;
  } catch {
    // no state yet (or unreadable): start over
  }
  return { broughtUp: false, runs: [] };
}

function writeState(s: LeaseState): void {
  const tmp = `${STATE_FILE}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s)}\n`, { mode: 0o600 });
  renameSync(tmp, STATE_FILE);
}

/** Runs `fn` on the lease state under the lock; what it returns is written back. */
export async function withLease<T>(fn: (state: LeaseState) => Promise<T>, timeoutMs: number): Promise<T> {
  mkdirSync(LEASE_ROOT, { recursive: true, mode: 0o700 });
  const lock = await acquireInstanceLock(LEASE_ROOT, 'cluster', { timeoutMs, pollMs: 200 });
  try {
    const state = readState();
    const alive = await Promise.all(state.runs.map((r) => isHolderAlive(r)));
    state.runs = state.runs.filter((_, i) => alive[i]);
    const users = state.rapiUsers ?? [];
    const usersAlive = await Promise.all(users.map((r) => isHolderAlive(r)));
    state.rapiUsers = users.filter((_, i) => usersAlive[i]);
    const out = await fn(state);
    writeState(state);
    return out;
  } finally {
    await lock.release();
  }
}

/** Runs `fn` holding the lease lock, without touching the state (excludes `withRapiStopped`). */
export async function withLeaseLock<T>(fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  mkdirSync(LEASE_ROOT, { recursive: true, mode: 0o700 });
  const lock = await acquireInstanceLock(LEASE_ROOT, 'cluster', { timeoutMs, pollMs: 100 });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * Runs `fn` with RAPI kept up: a test of another file that stops RAPI (`withRapiStopped`) waits
 * until `fn` is done, and `fn` waits for a stop under way to end. The lease lock is held only to
 * register and unregister, so requests inside `fn` (which take it to exclude a stop) go on.
 */
export async function withRapiUp<T>(fn: () => Promise<T>, timeoutMs = 300_000): Promise<T> {
  const me = newRun();
  await withLease(async (state) => {
    (state.rapiUsers ??= []).push(me);
  }, timeoutMs);
  try {
    return await fn();
  } finally {
    await withLease(async (state) => {
      state.rapiUsers = (state.rapiUsers ?? []).filter((u) => u.token !== me.token);
    }, timeoutMs);
  }
}

/** Whether a state file exists at all (no run ever used the cluster on this boot otherwise). */
export function leaseExists(): boolean {
  try {
    readFileSync(STATE_FILE);
    return true;
  } catch {
    return false;
  }
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The shared cluster script: `PLUGBOARD_GANETI_CLUSTER_SCRIPT`, else `shared/ganeti/one-node-cluster.sh`
 * in the repository's parent directory or one above (a clone with `../shared` beside it, as .ci/run
 * expects, or a worktree under `wt/`).
 */
export function findClusterScript(): string | undefined {
  const env = process.env['PLUGBOARD_GANETI_CLUSTER_SCRIPT'];
  if (env) return existsSync(env) ? env : undefined;
  for (let d = path.dirname(REPO_ROOT), i = 0; i < 3 && d !== path.dirname(d); d = path.dirname(d), i++) {
    const s = path.join(d, 'shared', 'ganeti', 'one-node-cluster.sh');
    if (existsSync(s)) return s;
  }
  return undefined;
}

/** Why the Ganeti cluster tests cannot run here, or undefined when they can. */
export function ganetiSkipReason(): string | undefined {
  if (process.env['PLUGBOARD_GANETI_TESTS'] === 'skip') return 'skipped: PLUGBOARD_GANETI_TESTS=skip';
  if (process.getuid?.() !== 0) return 'skipped: the Ganeti cluster tests need root (one-node-cluster.sh creates network namespaces and runs Ganeti\'s daemons)';
  if (findClusterScript() === undefined) return 'skipped: the Ganeti cluster tests need ../shared/ganeti/one-node-cluster.sh (or PLUGBOARD_GANETI_CLUSTER_SCRIPT)';
  if (spawnSync('unshare', ['--net', '--uts', 'true']).status !== 0) return 'skipped: the Ganeti cluster tests need network and UTS namespaces (unshare --net --uts failed)';
  return undefined;
}
