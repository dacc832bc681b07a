/**
 * Ganeti 2.15's own answers about a runtime file (test/compat/ganeti215_runtime.py, Python 2.7, on
 * the tree test/compat/ganeti215/make-tree.sh builds into .cache/ganeti-2.15). Ganeti 2.15 is the
 * last version before the hvinfo design: what `plugboard downgrade` writes for. Nothing on a fresh
 * machine can fetch Ganeti 2.15 or a Python 2, so the tests that use this skip (saying why) unless
 * the tree was built by hand; see test/README.md.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Json, JsonObject } from '../../src/runtime/types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GANETI215_TREE = process.env['PLUGBOARD_GANETI215_TREE'] ?? path.join(repoRoot, '.cache', 'ganeti-2.15');
export const GANETI215_HARNESS = path.join(repoRoot, 'test', 'compat', 'ganeti215_runtime.py');
const TIMEOUT_MS = 30_000;
const EXIT_GANETI_RAISED = 3;

/** What Ganeti 2.15's `_AnalyzeSerializedRuntime` makes of a file, and the id it gives each device. */
export interface Ganeti215Runtime {
  nics: JsonObject[];
  disks: [JsonObject, string | null, string | null][];
  ids: { nics: (string | { error: JsonObject })[]; disks: (string | { error: JsonObject })[] };
}

export class Ganeti215RaisedError extends Error {
  override name = 'Ganeti215RaisedError';
  constructor(
    readonly ganetiClass: string,
    readonly ganetiMessage: string,
    command: string,
  ) {
    super(`Ganeti 2.15 raised ${ganetiClass} for '${command}': ${ganetiMessage}`);
  }
}

function python(): string | undefined {
  try {
    return fs.readFileSync(path.join(GANETI215_TREE, 'PYTHON'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

let available: string | null | undefined;

/** Why the Ganeti 2.15 harness cannot run here, or null when it can. */
export function ganeti215Unavailable(): string | null {
  if (available !== undefined) return available;
  const py = python();
  if (!fs.existsSync(path.join(GANETI215_TREE, 'ganeti', 'hypervisor', 'hv_kvm', '__init__.py')) || !py) {
    available = `no Ganeti 2.15 tree at ${GANETI215_TREE} (build it with test/compat/ganeti215/make-tree.sh GANETI_GIT_DIR PYTHON2)`;
  } else if (spawnSync(py, ['-c', 'from ganeti.hypervisor import hv_kvm'], { env: env(), timeout: TIMEOUT_MS, stdio: 'ignore' }).status !== 0) {
    available = `${py} cannot import Ganeti 2.15's hv_kvm from ${GANETI215_TREE}`;
  } else {
    available = null;
  }
  return available;
}

function env(): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    PYTHONPATH: `${GANETI215_TREE}:${path.join(GANETI215_TREE, 'stubs')}`,
    PYTHONNOUSERSITE: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    LC_ALL: 'C.UTF-8',
  };
}

function run(args: string[]): JsonObject {
  const what = args.join(' ');
  const r = spawnSync(python()!, [GANETI215_HARNESS, ...args], { env: env(), encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw new Error(`ganeti215_runtime.py ${what}: ${r.error.message}`);
  let out: JsonObject | undefined;
  try {
    out = JSON.parse(r.stdout) as JsonObject;
  } catch {
    out = undefined;
  }
  if (r.status === EXIT_GANETI_RAISED && out && typeof out['error'] === 'object' && out['error'] !== null) {
    const e = out['error'] as JsonObject;
    throw new Ganeti215RaisedError(String(e['class']), String(e['message']), what);
  }
  if (r.status !== 0 || out === undefined) {
    throw new Error(`ganeti215_runtime.py ${what}: exit ${r.status}\n${r.stderr.trim().split('\n').slice(-20).join('\n')}`);
  }
  return out;
}

/** The runtime file as Ganeti 2.15 loads it, with the id it derives for each device. */
export function ganeti215Load(file: string): Ganeti215Runtime {
  return run(['load', file]) as unknown as Ganeti215Runtime;
}

/** The QEMU command line Ganeti 2.15 starts a migration target with (AcceptInstance), tap fds as TAPFDn. */
export function ganeti215Start(file: string, kvm?: string): Json[] {
  return (run(['start', file, ...(kvm ? ['--kvm', kvm] : [])]) as { argv: Json[] }).argv;
}

/** Ganeti 2.15's hot-unplug of disk/NIC number `index` over a real QMP socket: the id it sent. */
export function ganeti215HotDel(file: string, kind: 'disk' | 'nic', index: number, qmpSocket: string): string {
  return (run(['hot-del', file, kind, String(index), '--qmp', qmpSocket]) as { id: string }).id;
}
