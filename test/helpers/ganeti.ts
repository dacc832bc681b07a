/**
 * Ganeti 3.0's own answers about a runtime file, from `test/compat/ganeti_runtime.py` run with
 * Debian's python3 on the ganeti-3.0 tree that `test/setup/prepare.sh` extracts into `.cache/ganeti`.
 * Use these to compare plugboard's parser, slot allocator and option builder with Ganeti's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hvinfo, Json, JsonObject } from '../../src/runtime/types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Ganeti 3.0's Python tree (PYTHONPATH for the harness). */
export const GANETI_TREE = path.join(repoRoot, '.cache', 'ganeti', 'usr', 'share', 'ganeti', '3.0');
/** Debian's python3: the one whose python3-* packages prepare.sh installs. */
export const GANETI_PYTHON = '/usr/bin/python3';
export const GANETI_HARNESS = path.join(repoRoot, 'test', 'compat', 'ganeti_runtime.py');
const HARNESS_TIMEOUT_MS = 30_000;
const EXIT_GANETI_RAISED = 3;

/** The runtime as Ganeti's `_AnalyzeSerializedRuntime` returns it (NICs and disks via ToDict). */
export interface GanetiRuntime {
  cmd: Json[];
  nics: JsonObject[];
  hvparams: JsonObject;
  disks: [JsonObject, string | null, string | null][];
}

/** What Ganeti's `_ExecuteKVMRuntime` would start QEMU with (tap fds shown as `TAPFDn`/`VHOSTFDn`). */
export interface GanetiDeviceOptions {
  /** The QEMU whose `--help` and `-device ?` Ganeti looked at. */
  kvm: string;
  /** The whole command line. */
  argv: Json[];
  /** NIC options in order: `-netdev`, `-device` per NIC (or `-net`, `-net`; `-net none` without NICs). */
  nics: string[];
  /** `_GenerateKVMBlockDevicesOptions`: `-boot c` when booting from disk, then `-device`, `-drive` per disk. */
  disks: string[];
}

/** One step of Ganeti 3.0's hot-add, in the order it happens. */
export type GanetiHotAddStep =
  | { qmp: { execute: string; arguments?: JsonObject } }
  /** An HMP command on the `.monitor` socket (`drive_add dummy file=…`). */
  | { hmp: string }
  /** File descriptors passed over the QMP socket with SCM_RIGHTS (before add-fd / getfd). */
  | { 'send-fds': number };

/** What Ganeti 3.0's `HotAddDevice` does and writes (QEMU's answers canned as QEMU 7.2 gives them). */
export interface GanetiHotAdd {
  hvinfo: Hvinfo;
  commands: GanetiHotAddStep[];
  /** The runtime file Ganeti writes after the hot-add, parsed… */
  runtime: [Json[], JsonObject[], JsonObject, [JsonObject, string | null, string | null][]];
  /** …and byte for byte (`serializer.Dump`: one line of JSON and a newline). */
  runtime_text: string;
}

export interface GanetiHotAddOptions {
  /** UUID of the new device (default `00000000-1111-4222-8333-444444444444`). */
  uuid?: string;
  /** MAC of a new NIC (default `aa:00:00:00:00:01`). */
  mac?: string;
  /** Disk symlink (default `/var/run/ganeti/instance-disks/NAME:SEQ`); taken to exist, as on a node. */
  link?: string;
  /** Userspace URI of a new disk (default none). */
  uri?: string;
}

/** Ganeti's own code raised (a file it cannot load, no free slot…): its verdict, not a harness failure. */
export class GanetiRaisedError extends Error {
  override name = 'GanetiRaisedError';
  constructor(
    /** Python class name, e.g. `GenericError`, `KeyError`, `JSONDecodeError`. */
    readonly ganetiClass: string,
    readonly ganetiMessage: string,
    command: string,
  ) {
    super(`Ganeti 3.0 raised ${ganetiClass} for '${command}': ${ganetiMessage}`);
  }
}

let available: boolean | undefined;

/** True when the Ganeti tree is extracted and Debian's python3 can import its hv_kvm. */
export function ganetiAvailable(): boolean {
  if (available === undefined) {
    available =
      fs.existsSync(path.join(GANETI_TREE, 'ganeti', 'hypervisor', 'hv_kvm', '__init__.py')) &&
      fs.existsSync(GANETI_PYTHON) &&
      spawnSync(GANETI_PYTHON, ['-c', 'import ganeti.hypervisor.hv_kvm'], {
        env: harnessEnv(),
        timeout: HARNESS_TIMEOUT_MS,
        stdio: 'ignore',
      }).status === 0;
  }
  return available;
}

/** The runtime file as Ganeti 3.0 loads it, legacy upgrades included. */
export function ganetiLoad(file: string): GanetiRuntime {
  return runHarness(['load', file]) as unknown as GanetiRuntime;
}

/** The hvinfo Ganeti 3.0 would give a disk or NIC hot-added now (`uuid` names the new device). */
export function ganetiNextSlot(file: string, kind: 'disk' | 'nic', uuid?: string): Hvinfo {
  return runHarness(['next-slot', file, kind, ...(uuid ? ['--uuid', uuid] : [])]) as unknown as Hvinfo;
}

/** The per-device options Ganeti 3.0 adds when it starts the instance of this runtime file. */
export function ganetiDeviceOptions(file: string, options: { kvm?: string } = {}): GanetiDeviceOptions {
  return runHarness(['device-options', file, ...(options.kvm ? ['--kvm', options.kvm] : [])]) as unknown as GanetiDeviceOptions;
}

/** Runs Ganeti 3.0's whole `HotAddDevice` for a new disk or NIC against a recording QMP connection. */
export function ganetiHotAdd(file: string, kind: 'disk' | 'nic', options: GanetiHotAddOptions = {}): GanetiHotAdd {
  const flags = Object.entries(options).flatMap(([k, v]) => (v === undefined ? [] : [`--${k}`, String(v)]));
  return runHarness(['hot-add', file, kind, ...flags]) as unknown as GanetiHotAdd;
}

function harnessEnv(): NodeJS.ProcessEnv {
  // Only what the harness needs: no user site-packages, no pyenv shims, no stray PYTHON* settings.
  return {
    PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    PYTHONPATH: GANETI_TREE,
    PYTHONNOUSERSITE: '1',
    PYTHONDONTWRITEBYTECODE: '1',
    LC_ALL: 'C.UTF-8',
  };
}

function runHarness(args: string[]): JsonObject {
  const what = args.join(' ');
  const r = spawnSync(GANETI_PYTHON, [GANETI_HARNESS, ...args], {
    env: harnessEnv(),
    encoding: 'utf8',
    timeout: HARNESS_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error) throw new Error(`ganeti_runtime.py ${what}: ${r.error.message}`);
  if (r.signal) throw new Error(`ganeti_runtime.py ${what}: killed by ${r.signal}${stderrTail(r.stderr)}`);
  let out: JsonObject | undefined;
  try {
    out = JSON.parse(r.stdout) as JsonObject;
  } catch {
    out = undefined;
  }
  if (r.status === EXIT_GANETI_RAISED && out && typeof out['error'] === 'object' && out['error'] !== null) {
    const e = out['error'] as JsonObject;
    throw new GanetiRaisedError(String(e['class']), String(e['message']), what);
  }
  if (r.status !== 0 || out === undefined) {
    throw new Error(`ganeti_runtime.py ${what}: exit ${r.status}${stderrTail(r.stderr)}${r.stdout ? `\nstdout: ${r.stdout.slice(0, 2000)}` : ''}`);
  }
  return out;
}

function stderrTail(stderr: string): string {
  const t = stderr.trim();
  return t ? `\n${t.split('\n').slice(-20).join('\n')}` : '';
}
