/**
 * Helpers shared by the benchmarks: statistics, the result line, the machine description, paths
 * into the built tree (`dist/`), temp roots and cleanup.
 *
 * A result is one JSON line on stdout:
 *   {"name", "unit", "value", "baseline", "ratio", "target", "ok", "runs", "note"?}
 * `value` and `baseline` are medians over `runs` repeated measurements taken in the same run, in
 * alternation (value, baseline, value, baseline…) so that both see the same machine load.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(REPO, 'bin', 'plugboard.js');

/** Diagnostics go to stderr; stdout carries only the JSON result lines. */
export function log(...parts) {
  process.stderr.write(`${parts.join(' ')}\n`);
}

export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Quantile q in [0, 1] (nearest rank). */
export function quantile(xs, q) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

export function summary(xs) {
  return { median: median(xs), min: Math.min(...xs), p90: quantile(xs, 0.9), max: Math.max(...xs), n: xs.length };
}

const round = (x, digits = 3) => (x === null || x === undefined || Number.isNaN(x) ? x : Number(x.toFixed(digits)));

/**
 * The result line. `target` is a small object the line carries as text (`ratio<=2.5`,
 * `value<=250ms`…) and that decides `ok`.
 */
export function result({ name, unit, value, baseline = null, target, runs, note }) {
  const ratio = baseline ? value / baseline : null;
  const checks = [];
  if (target.ratio !== undefined) checks.push({ text: `ratio<=${target.ratio}`, ok: ratio !== null && ratio <= target.ratio });
  if (target.value !== undefined) checks.push({ text: `value<=${target.value}${unit}`, ok: value <= target.value });
  const line = {
    name,
    unit,
    value: round(value),
    baseline: baseline === null ? null : round(baseline),
    ratio: ratio === null ? null : round(ratio),
    target: checks.map((c) => c.text).join(' and '),
    ok: checks.every((c) => c.ok),
    runs,
  };
  if (note) line.note = note;
  return line;
}

/** A figure that could not be measured (not built yet, or the measurement failed). */
export function notMeasured(name, note) {
  return { name, ok: null, note };
}

/** Imports a module of the build (`dist/…`); says to build first when it is missing. */
export async function fromDist(rel) {
  const file = path.join(REPO, 'dist', rel);
  if (!existsSync(file)) throw new Error(`${path.relative(REPO, file)} is missing: run npm run build first`);
  return import(pathToFileURL(file).href);
}

export function distExists(rel) {
  return existsSync(path.join(REPO, 'dist', rel));
}

/**
 * A fresh temp directory on tmpfs when there is one (/dev/shm): Ganeti's runtime root
 * (/var/run/ganeti) is a tmpfs on a hypervisor, so fsync costs what it costs there.
 */
export function tempRoot(prefix) {
  const base = isDir('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return mkdtempSync(path.join(base, `pb-bench-${prefix}-`));
}

function isDir(p) {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

const cleanups = new Set();

/** Registers work to run when the bench ends or is interrupted; returns the unregister function. */
export function onCleanup(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

export async function runCleanups() {
  const fns = [...cleanups].reverse();
  cleanups.clear();
  for (const fn of fns) {
    try {
      await fn();
    } catch (err) {
      log(`bench: cleanup failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** Rejects after `ms` with a message naming what was waited for. */
export async function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function firstLine(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {
    return undefined;
  }
}

/** What the numbers were measured on. */
export function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    qemu: firstLine('qemu-system-x86_64', ['--version']) ?? 'not found',
    tmp: isDir('/dev/shm') ? '/dev/shm (tmpfs)' : os.tmpdir(),
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Runs `fn` `n` times in a row; resolves with the durations (ms, performance.now()). */
export async function timeRuns(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` (async, truthy = done) every `everyMs` until `timeoutMs`; throws naming `what`. */
export async function waitFor(check, { timeoutMs = 5_000, everyMs = 5, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
