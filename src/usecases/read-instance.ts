/**
 * The read path: what plugboard knows of one instance, the one way it is read — by `show --live`,
 * by the view (the list's refresh and an opened instance) and by `check`.
 *
 *   runtime file ──→ QEMU (one short QMP connection) ──→ pending unplugs
 *        └──────────────────┬───────────────────────────────┘
 *                 bus model of the file, QEMU laid over it → drift → where the next disk and NIC go
 *
 * On a Ganeti node (a root that is Ganeti's: src/ganeti/node.ts) the reading also has Ganeti's side
 * (`ganeti`: usecases/ganeti-source.ts): its view of the instance (asked while QEMU is), compared by
 * UUID with the runtime file and QEMU (ganeti/compare.ts: the two marks). Before QEMU is asked,
 * Ganeti's jobs under way are: while one names the instance, its QMP socket is left to Ganeti (the
 * reading says so instead: liveStatus `ganeti-job`). A RAPI failure never hides the node's maps: it
 * is the reading's `ganeti.kind === 'error'`, one line.
 *
 * The last line is pure (instancePicture: the view's tests and the what-if build it from what they
 * made up). The runtime file is read under the root's checks (no links, nothing others may write),
 * before QEMU is asked. What differs between the callers is said in ReadInstanceOptions: how much
 * QEMU is asked (`look`), and whether QEMU not answering is an error (the CLI) or part of the
 * reading (the view: stopped, busy, error).
 */
import { allocate } from '../bus/allocate.js';
import { buildBusModel } from '../bus/model.js';
import type { AllocationResult, BusModel } from '../bus/types.js';
import { firstLineOf } from '../errors.js';
import { computeDrift, type Drift } from '../live/drift.js';
import { overlayLive } from '../live/overlay.js';
import { readPending, type PendingUnplug } from '../live/pending.js';
import { knownScsiAddresses, probeLive, type LiveState } from '../live/probe.js';
import { withQmp, type QmpClient } from '../qmp/client.js';
import { QmpBusyError, QmpConnectError } from '../qmp/errors.js';
import type { ActiveJob } from '../ganeti/rapi.js';
import { ganetiReading, type GanetiReading } from './ganeti-reading.js';
import { GanetiJobRunningError, jobRunningMessage, type GanetiSource } from './ganeti-source.js';

export type { GanetiReading } from './ganeti-reading.js';
import type { Transcript } from '../qmp/transcript.js';
import { loadRuntimeFile } from '../runtime/load.js';
import { instanceStatus, qmpSocketPath, qemuPidOption, runtimeFilePath } from '../runtime/root.js';
import type { RuntimeFile } from '../runtime/types.js';

/** How the live part of a reading came about. */
export type LiveStatus =
  /** QEMU answered at `at` (Date.now()). */
  | { kind: 'live'; at: number }
  /** The instance does not run on this node: the runtime file is all there is. */
  | { kind: 'stopped' }
  /** Someone else holds the QMP socket (Ganeti itself, another plugboard): try again. */
  | { kind: 'busy'; message: string }
  /** QEMU could not be asked, for another reason (the message says which). */
  | { kind: 'error'; message: string }
  /** Not asked: Ganeti jobs are working on the instance (they connect to its QMP socket themselves). */
  | { kind: 'ganeti-job'; message: string; jobs: readonly ActiveJob[] }
  /** Not asked (yet). */
  | { kind: 'not-asked' };

export interface NextPlaces {
  disk: AllocationResult;
  nic: AllocationResult;
}

/** What follows from the runtime file and what QEMU has. */
export interface InstancePicture {
  /** The runtime file's bus model, with QEMU's state laid over it when QEMU answered. */
  model: BusModel;
  /** The runtime file against QEMU; null when QEMU was not asked or did not answer. */
  drift: Drift | null;
  /** Where the next hot-added disk and NIC go. */
  next: NextPlaces;
}

/** Everything the read path gives. */
export interface InstanceReading extends InstancePicture {
  rf: RuntimeFile;
  live: LiveState | null;
  liveStatus: LiveStatus;
  pending: readonly PendingUnplug[];
  /** Problems reading side files (a broken pending-unplug record…): reported, never fatal. */
  warnings: string[];
  /** Ganeti's side, on a Ganeti node; absent elsewhere. */
  ganeti?: GanetiReading;
}

/** The model, the drift and the next places: from the file, what QEMU has (when it answered) and the pending unplugs. */
export function instancePicture(rf: RuntimeFile, live: LiveState | null, pending: readonly PendingUnplug[]): InstancePicture {
  const fileModel = buildBusModel(rf);
  const model = live ? overlayLive(fileModel, live) : fileModel;
  return {
    model,
    drift: live ? computeDrift(rf, live, pending) : null,
    next: {
      disk: allocate(model, rf, { kind: 'disk' }),
      nic: allocate(model, rf, { kind: 'nic' }),
    },
  };
}

/** The instance's runtime file under `root`, read as the read path reads it (the root's checks first). */
export function loadInstanceFile(root: string, name: string): Promise<RuntimeFile> {
  return loadRuntimeFile(runtimeFilePath(root, name), { instance: name, root });
}

/**
 * How QEMU is asked:
 * - `all`: everything (`show --live`, an opened instance);
 * - `overview`: the list's refresh — the SCSI addresses of the devices the runtime file describes
 *   are taken from it (live/probe.ts, scope `overview`);
 * - `{ probe }`: a reading of its own over the same short connection, whose LiveState is the
 *   reading's (the check also reads the whole PCI tree);
 * - `{ kept }`: not asked; what is given is kept (an action of ours holds the socket).
 */
export type Look =
  | 'all'
  | 'overview'
  | { probe: (qmp: QmpClient) => Promise<LiveState> }
  | { kept: { live: LiveState | null; liveStatus: LiveStatus } };

export interface ReadInstanceOptions {
  /** The runtime file, when the caller has read it already (the view's cache; the check, which needs it first). */
  rf?: RuntimeFile;
  /** Default `all`. */
  look?: Look;
  /**
   * `throw` (default): QEMU not answering and an unreadable pending-unplug record are errors (the
   * CLI, the check). `report`: they are part of the reading — a stopped instance is not asked at
   * all, a busy socket or another error is its `liveStatus`, an unreadable record a warning (the view).
   */
  qemuTrouble?: 'throw' | 'report';
  /** How long the QMP socket may take to greet before it counts as busy (default 1000 ms). */
  greetingTimeoutMs?: number;
  commandTimeoutMs?: number;
  transcript?: Transcript;
  signal?: AbortSignal;
  /** On a Ganeti node: Ganeti's view and jobs (see the module comment). */
  ganeti?: GanetiSource;
  /** How Ganeti's view is asked (GanetiSource.instance): a reading that matters waits longer. */
  ganetiRead?: { retryMs?: number; timeoutMs?: number };
}

/** Reads instance `name` under `root`: the runtime file, QEMU, the pending unplugs, and what follows (see the module comment). */
export async function readInstance(root: string, name: string, opts: ReadInstanceOptions = {}): Promise<InstanceReading> {
  const rf = opts.rf ?? (await loadInstanceFile(root, name));
  const look = opts.look ?? 'all';
  const kept = typeof look === 'object' && 'kept' in look;
  const source = opts.ganeti;
  // Ganeti's view is asked while QEMU is; its jobs under way before QEMU is.
  const ganetiView = source ? settle(source.instance(name, opts.signal, opts.ganetiRead)) : undefined;
  const jobs = source && !kept ? await source.jobsOn(name, opts.signal).catch(() => [] as ActiveJob[]) : [];
  let qemu: { live: LiveState | null; liveStatus: LiveStatus };
  let pending: readonly PendingUnplug[];
  const warnings: string[] = [];
  if (opts.qemuTrouble === 'report') {
    const [status, pend] = await Promise.all([
      instanceStatus(root, name),
      readPending(root, name).catch((error: unknown) => {
        warnings.push(`pending-unplug record unreadable: ${firstLineOf(error)}`);
        return [];
      }),
    ]);
    pending = pend;
    if (typeof look === 'object' && 'kept' in look) qemu = look.kept;
    else if (status !== 'running') qemu = { live: null, liveStatus: { kind: 'stopped' } };
    else if (jobs.length > 0) qemu = { live: null, liveStatus: { kind: 'ganeti-job', message: jobRunningMessage(name, jobs), jobs } };
    else qemu = await askReporting(root, name, rf, look, opts);
  } else {
    if (typeof look === 'object' && 'kept' in look) qemu = look.kept;
    else if (jobs.length > 0) throw new GanetiJobRunningError(name, jobs);
    else qemu = { live: await ask(root, name, rf, look, opts), liveStatus: { kind: 'live', at: Date.now() } };
    pending = await readPending(root, name);
  }
  opts.signal?.throwIfAborted();
  const reading: InstanceReading = { rf, ...qemu, pending, warnings, ...instancePicture(rf, qemu.live, pending) };
  if (source && ganetiView) reading.ganeti = ganetiReading(source, rf, qemu.live, await ganetiView);
  return reading;
}

/** A promise's outcome as a value (never rejects), so that it can be started early and read later. */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** One short QMP connection: connect, read as `look` says, close. */
function ask(root: string, name: string, rf: RuntimeFile, look: Exclude<Look, { kept: unknown }>, opts: ReadInstanceOptions): Promise<LiveState> {
  const { signal } = opts;
  return withQmp(
    qmpSocketPath(root, name),
    {
      greetingTimeoutMs: opts.greetingTimeoutMs ?? 1_000,
      ...qemuPidOption(root, name),
      ...(opts.commandTimeoutMs !== undefined ? { commandTimeoutMs: opts.commandTimeoutMs } : {}),
      ...(signal ? { signal } : {}),
      ...(opts.transcript ? { transcript: opts.transcript } : {}),
    },
    (qmp) => {
      if (typeof look === 'object') return look.probe(qmp);
      return probeLive(qmp, look === 'overview' ? { signal, scope: 'overview', knownScsi: knownScsiAddresses(rf) } : { signal });
    },
  );
}

/** `ask`, with QEMU's trouble as the reading's status instead of an error. */
async function askReporting(
  root: string,
  name: string,
  rf: RuntimeFile,
  look: Exclude<Look, { kept: unknown }>,
  opts: ReadInstanceOptions,
): Promise<{ live: LiveState | null; liveStatus: LiveStatus }> {
  try {
    const live = await ask(root, name, rf, look, opts);
    return { live, liveStatus: { kind: 'live', at: Date.now() } };
  } catch (error) {
    if (error instanceof QmpBusyError) return { live: null, liveStatus: { kind: 'busy', message: firstLineOf(error) } };
    if (error instanceof QmpConnectError && (error.reason === 'not-running' || error.reason === 'gone')) {
      return { live: null, liveStatus: { kind: 'stopped' } };
    }
    return { live: null, liveStatus: { kind: 'error', message: firstLineOf(error) } };
  }
}
