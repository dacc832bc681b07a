/**
 * The migration dry-run (`plugboard check`): start a second QEMU from an instance's runtime file,
 * paused and waiting for an incoming migration (`-incoming defer`), and compare its device layout
 * with the running instance's; plus the drift (the runtime file against the running QEMU), read by
 * the same read path as `show --live` and the view (usecases/read-instance.ts).
 *
 *   argv.ts     the check QEMU's command line, made harmless beside the instance
 *   layout.ts   what is read of each QEMU
 *   compare.ts  the differences, each a migration that would fail
 *   run.ts      this: the check from start to stop, bounded by one deadline
 *
 * The check uses the instance's QMP socket briefly (connect → probe → close) and always stops its
 * QEMU and removes its temp dir, on errors and aborts too.
 */
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InputError, InternalError, messageOf, RefusedError } from '../../errors.js';
import type { Drift } from '../../live/drift.js';
import { withQmp } from '../../qmp/client.js';
import { QmpAbortedError } from '../../qmp/errors.js';
import { launchQemu, type QemuHandle } from '../../qemu/launch.js';
import { qmpSocketPath, validateInstanceName } from '../../runtime/root.js';
import { loadInstanceFile, readInstance, type GanetiReading } from '../read-instance.js';
import type { GanetiSource } from '../ganeti-source.js';
import { buildCheckArgv, type Accel } from './argv.js';
import { compareLayouts, type LayoutDifference } from './compare.js';
import { MigrationCheckError } from './error.js';
import { probeLayout, type Layout } from './layout.js';

export interface MigrationCheckOptions {
  signal?: AbortSignal;
  /** The whole check, from reading the runtime file to the check QEMU gone (default 30000 ms). */
  timeoutMs?: number;
  /** Return the check QEMU's log (`-D`) and stderr in the result (`log`). Default false. */
  keepLog?: boolean;
  /** `auto` (default): KVM when the command line asks for it and /dev/kvm is usable, else TCG. */
  accel?: 'auto' | Accel;
  /** The QEMU binary of the check (default: the runtime file's kvm_cmd[0], as a migration target has). */
  binary?: string;
  /** Where the private temp dir is made (default os.tmpdir()). */
  tmpDir?: string;
  /** How long the instance's QMP socket may take to greet before it counts as busy (default 1000 ms). */
  greetingTimeoutMs?: number;
  /** On a Ganeti node: Ganeti's side (its marks count against the check: such a device does not follow a migration). */
  ganeti?: GanetiSource;
}

export interface MigrationCheckResult {
  instance: string;
  /** No drift and no layout difference: a migration target started from the runtime file fits. */
  ok: boolean;
  /** The check QEMU has the same devices at the same places as the running QEMU. */
  layoutOk: boolean;
  differences: LayoutDifference[];
  /** The runtime file against the running QEMU (the same as `show --live` reports). */
  drift: Drift;
  /** On a Ganeti node: Ganeti's view compared with the node (its marks make the check fail). */
  ganeti?: GanetiReading;
  /** What was compared. */
  compared: { pciFunctions: number; scsiDevices: number; devicesWithId: number };
  /** What the check did differently from a real target, and what it could not compare. */
  notes: string[];
  accel: Accel;
  /** The check QEMU's command line (binary first). */
  commandLine: string[];
  /** Wall time of the whole check. */
  durationMs: number;
  timings: { probeInstanceMs: number; startMs: number; probeCheckMs: number; stopMs: number };
  /** With `keepLog`: the check QEMU's `-D` log and stderr. */
  log?: string;
}

export const CHECK_NAME_SUFFIX = '-plugboard-check';
export const DEFAULT_CHECK_TIMEOUT_MS = 30_000;

/**
 * Runs the migration dry-run for instance `name` under `root`: reads the runtime file, probes the
 * running QEMU (one short QMP connection), starts the check QEMU from the file (paused,
 * `-incoming defer`, nothing of the instance touched: see argv.ts), probes it, compares,
 * and stops it. The check QEMU is stopped and its temp dir removed on every path.
 *
 * Throws InputError/NotFoundError for a bad name or runtime file, QMP errors when the instance is
 * not running or its socket is busy, RefusedError when the command line cannot be started safely,
 * MigrationCheckError when the check QEMU fails to start or the check runs out of time.
 *
 * The file is read before QEMU is probed: a hot-add or unplug running at the same time can only
 * make the check report a difference that is not there, never hide one.
 */
export async function checkMigration(root: string, name: string, opts: MigrationCheckOptions = {}): Promise<MigrationCheckResult> {
  const started = performance.now();
  const result = await runCheck(root, name, opts);
  // Stopping the check QEMU (in runCheck's finally) is part of the wall time.
  result.durationMs = Math.round(performance.now() - started);
  for (const k of Object.keys(result.timings) as (keyof MigrationCheckResult['timings'])[]) {
    result.timings[k] = Math.round(result.timings[k] * 10) / 10;
  }
  return result;
}

async function runCheck(root: string, name: string, opts: MigrationCheckOptions): Promise<MigrationCheckResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new InputError(`migration check timeout must be a positive number of ms, got ${timeoutMs}`);
  validateInstanceName(name);
  if (opts.signal?.aborted) throw new QmpAbortedError('migration check', qmpSocketPath(root, name), { cause: opts.signal.reason });

  // One signal for everything: the caller's abort, or our deadline.
  const deadline = Date.now() + timeoutMs;
  const controller = new AbortController();
  let timedOut = false;
  let step = 'reading the runtime file';
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new MigrationCheckError(`migration check timed out after ${timeoutMs} ms`));
  }, timeoutMs);
  const onAbort = () => controller.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  const remaining = (): number => Math.max(1, deadline - Date.now());

  let dir: string | undefined;
  let qemu: QemuHandle | undefined;
  const logFile = (): string | undefined => (dir === undefined ? undefined : path.join(dir, 'qemu.log'));
  const readLog = async (): Promise<string> => {
    const parts: string[] = [];
    const f = logFile();
    if (f !== undefined) {
      const text = await readFile(f, 'utf8').catch(() => '');
      if (text.trim() !== '') parts.push(text.trimEnd());
    }
    const err = qemu?.stderrTail() ?? '';
    if (err.trim() !== '') parts.push(err.trimEnd());
    return parts.join('\n');
  };
  const timings = { probeInstanceMs: 0, startMs: 0, probeCheckMs: 0, stopMs: 0 };
  try {
    const rf = await loadInstanceFile(root, name);
    step = 'building the check command line';
    const check = await buildCheckArgv(rf, {
      ...(opts.accel !== undefined ? { accel: opts.accel } : {}),
      ...(opts.binary !== undefined ? { binary: opts.binary } : {}),
    });
    if (check.binary.includes('/')) {
      try {
        await access(check.binary, fsConstants.X_OK);
      } catch {
        throw new RefusedError(`the runtime file's QEMU binary ${check.binary} cannot be run on this node: a migration target started from it would fail too`);
      }
    }

    // The read path, reading the whole PCI tree too over the same connection.
    step = `probing ${name}'s QEMU`;
    let t = performance.now();
    let layout: Layout | undefined;
    const { drift, ganeti } = await readInstance(root, name, {
      rf,
      ...(opts.ganeti ? { ganeti: opts.ganeti } : {}),
      look: { probe: async (qmp) => (layout = await probeLayout(qmp, { timeoutMs: remaining(), signal })).state },
      greetingTimeoutMs: Math.min(opts.greetingTimeoutMs ?? 1_000, remaining()),
      commandTimeoutMs: remaining(),
      signal,
    });
    timings.probeInstanceMs = performance.now() - t;
    if (!layout || !drift) throw new InternalError('the read path did not ask QEMU');
    const live = layout;

    step = 'starting the check QEMU';
    dir = await mkdtemp(path.join(opts.tmpDir ?? os.tmpdir(), 'plugboard-check-'));
    t = performance.now();
    qemu = await launchQemu({
      binary: check.binary,
      qmpSocket: path.join(dir, 'qmp.sock'),
      argv: check.argv,
      paused: true,
      accel: check.accel,
      memoryMb: check.memoryMb,
      name: `${name}${CHECK_NAME_SUFFIX}`,
      logFile: logFile()!,
      signal,
      startTimeoutMs: remaining(),
    }).catch(async (err: unknown) => {
      if (signal.aborted) throw err;
      const stderr = err instanceof Error && 'stderr' in err ? String((err as { stderr: unknown }).stderr) : '';
      const log = [await readLog(), stderr.trim()].filter((s) => s !== '').join('\n');
      throw new MigrationCheckError(
        `a QEMU started from ${rf.source} did not come up: ${messageOf(err)} — a migration target would not start either`,
        log,
        { cause: err },
      );
    });
    timings.startMs = performance.now() - t;

    step = 'probing the check QEMU';
    t = performance.now();
    const target = await withQmp(qemu.qmpSocket, { greetingTimeoutMs: remaining(), commandTimeoutMs: remaining(), signal }, (qmp) =>
      probeLayout(qmp, { timeoutMs: remaining(), signal }),
    );
    timings.probeCheckMs = performance.now() - t;

    const differences = compareLayouts(live, target, check.substituted);
    const notes = [...check.notes];
    if (live.pci.some((f) => f.path.length > 1)) notes.push('devices behind PCI bridges were compared by their path of slots');
    for (const n of [...live.state.notes]) notes.push(`instance: ${n}`);
    const ids = new Set(live.state.peripherals.map((p) => p.id));
    const result: MigrationCheckResult = {
      instance: name,
      ok: differences.length === 0 && drift.ok && !(ganeti?.kind === 'compared' && !ganeti.comparison.ok),
      layoutOk: differences.length === 0,
      differences,
      drift,
      ...(ganeti ? { ganeti } : {}),
      compared: { pciFunctions: live.pci.length, scsiDevices: live.state.scsi.length, devicesWithId: ids.size },
      notes,
      accel: check.accel,
      commandLine: [...qemu.commandLine],
      durationMs: 0,
      timings,
    };
    if (opts.keepLog) result.log = await readLog();
    return result;
  } catch (err) {
    // The deadline also bounds each wait inside (the greeting, the wait for a busy socket), so a wait
    // can give up in the same millisecond as the timer: whichever fires first, it is the deadline.
    if (timedOut || Date.now() >= deadline) {
      throw new MigrationCheckError(`the migration check of ${name} did not finish within ${timeoutMs} ms (while ${step})`, await readLog(), { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    const t = performance.now();
    try {
      if (qemu) await qemu.stop();
    } finally {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      timings.stopMs = performance.now() - t;
    }
  }
}
