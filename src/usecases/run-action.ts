/**
 * Hot-add and unplug, for real: under the instance lock, over one short QMP connection (connect →
 * probe → plan → run → disconnect), then the runtime file rewritten atomically.
 *
 *   lock → read the runtime file → connect → probe (what the plan needs) ─┐
 *        ┌─────────────────────────────────────────────────────────────────┘
 *        └→ plan (actions/) → run (executor/) ─→ outcome
 *                 ↑                  │ QEMU's answer says the picture was wrong
 *                 └── probe more ────┘ (a hot-add's place taken, an unplug's device absent): once
 *
 * The plan is made here, under the lock, from the live state: a preview (`--dry-run`) can be stale,
 * what runs never is. An action asks QEMU only what its plan needs (probeFor; QEMU 7.2 reads its QMP
 * socket one byte at a time, so every command costs): an unplug what backs the device, a SCSI
 * hot-add which devices there are, what backs them and the addresses of the SCSI devices the
 * runtime file does not describe, a PCI hot-add the PCI functions instead. QEMU is the arbiter of
 * what was not asked:
 * - a `device_add` refused because the slot or target is in use (a device the runtime file places
 *   elsewhere, or one added meanwhile): what was done is undone, everything is probed, and the plan
 *   is made and run once more;
 * - an unplug's `device_del` answered DeviceNotFound: nothing was done; planned again from which
 *   devices QEMU has and what sits at the device's place (absentProbeFor).
 * Nothing that changes QEMU is sent before the plan is made from QEMU's answers: a probe that fails
 * leaves the instance as it was.
 */
import path from 'node:path';
import { InternalError } from '../errors.js';
import { withQmp, type QmpClient } from '../qmp/client.js';
import { QmpAbortedError } from '../qmp/errors.js';
import { knownScsiAddresses, probeFdState, probeLive, type LiveState, type ProbeOptions } from '../live/probe.js';
import { backendOf, namedBlockNodes } from '../live/backend.js';
import { isHotpluggableDiskType, isScsiDiskType } from '../runtime/hvparams.js';
import { parseRuntimeText, readRuntimeTextSync } from '../runtime/load.js';
import { pidFilePath, qemuPidOption, qmpSocketPath, runtimeFilePath, validateInstanceName } from '../runtime/root.js';
import { withInstanceLock } from '../runtime/lock.js';
import type { RuntimeFile } from '../runtime/types.js';
import { checkPathForFdPassing, offlineContext, withLive } from '../actions/context.js';
import { makePlan } from '../actions/plan.js';
import { allocationText, diskFdReason, diskId, type DiskPlanContext } from '../actions/plan-disk.js';
import { fdPassingReason, fdsetOf } from '../qmp/fdpass/plan.js';
import { holdsFile, readPidFile } from '../qmp/fdpass/inspect.js';
import { DescriptorChannel } from '../executor/fd.js';
import type { Action, Outcome, Plan } from '../actions/types.js';
import type { ExecutorOptions } from '../executor/outcome.js';
import { pipelined, runPlan } from '../executor/run.js';
import { BACKEND_RELEASE_TIMEOUT_MS, delay } from '../executor/verify.js';

export interface ExecuteOptions extends ExecutorOptions {
  lockTimeoutMs?: number;
  /** Where the new device's UUID comes from (default: a random one). */
  newUuid?: () => string;
}

/**
 * Runs `action` for real. Resolves with the outcome for `done` and `pending`; throws
 * ActionFailedError (with the outcome: what was undone, what is left) when it failed, and the
 * planner's RefusedError/InputError when nothing was sent.
 */
export async function runAction(action: Action, opts: ExecuteOptions): Promise<Outcome> {
  const started = Date.now();
  const name = validateInstanceName(action.instance);
  const file = runtimeFilePath(opts.root, name);
  const source = path.relative(opts.root, file) || file;
  const socket = qmpSocketPath(opts.root, name);
  return withInstanceLock(opts.root, name, { timeoutMs: opts.lockTimeoutMs ?? 10_000, signal: opts.signal }, async () => {
    const text = readRuntimeTextSync(file);
    const rf = parseRuntimeText(text, source, name);
    if (opts.signal?.aborted) throw new QmpAbortedError('the QMP connection', socket, { cause: opts.signal.reason });
    // The signal is NOT the connection's: aborting must cancel waits, not cut the connection that
    // the rollback and the pending record still need (connect itself is bounded by the greeting timeout).
    return withQmp(
      socket,
      {
        greetingTimeoutMs: opts.greetingTimeoutMs ?? 1_000,
        ...qemuPidOption(opts.root, name),
        commandTimeoutMs: opts.commandTimeoutMs ?? 10_000,
        transcript: opts.transcript,
        // The probe goes right behind qmp_capabilities.
        pipelineCapabilities: true,
      },
      (qmp) => withDescriptors(qmp, action, rf, (descriptors) => planAndRun(qmp, action, rf, { ...opts, file, text, started, descriptors })),
    );
  });
}

/**
 * The action's descriptor helper (file-descriptor passing), closed (exited) before the connection
 * is: started at once when the runtime file says the hot-add will pass descriptors (QEMU runs as
 * another user or chrooted), so that Python starts while QEMU answers the probe; otherwise only if
 * a step needs it (a disk matching fdset-backed siblings).
 */
async function withDescriptors<T>(qmp: QmpClient, action: Action, rf: RuntimeFile, work: (d: DescriptorChannel) => Promise<T>): Promise<T> {
  const descriptors = new DescriptorChannel(qmp);
  if ((action.type === 'hot-add-disk' || action.type === 'hot-add-nic') && fdPassingReason(rf.hvparams, action.type === 'hot-add-disk' ? 'disk' : 'nic')) {
    descriptors.start();
  }
  try {
    return await work(descriptors);
  } finally {
    await descriptors.close();
  }
}

/** What runAction knows once it holds the lock and has read the runtime file. */
interface RunState extends ExecuteOptions {
  file: string;
  text: string;
  started: number;
}

/**
 * Plans from what QEMU says and runs the plan; once more after a fuller probe when QEMU's answer
 * shows the first probe's picture wrong (a hot-add's place taken, an unplug's device not there).
 */
async function planAndRun(qmp: QmpClient, action: Action, rf: RuntimeFile, st: RunState): Promise<Outcome> {
  const probe = probeFor(action, rf);
  const first = await planFromLive(qmp, action, rf, probe, st);
  const result = await runPlan(qmp, first, {
    ...st,
    retryWhenTaken: action.type === 'hot-add-disk' || action.type === 'hot-add-nic',
    retryWhenAbsent: probe.scope === 'backends',
  });
  let again: Plan;
  switch (result.kind) {
    case 'outcome':
      return result.outcome;
    case 'device-absent':
      // QEMU does not have the device: what it has (and which block node is left) decides, and
      // what sits at the device's place (another id there: the planner refuses, see unplug-guard.ts).
      again = await planFromLive(qmp, action, rf, absentProbeFor(action, rf), st);
      break;
    case 'place-taken': {
      // QEMU has a device where the plan saw none (the runtime file places a device wrongly, or
      // someone added one meanwhile): read everything and plan again, with the same uuid.
      const uuid = first.device.uuid;
      const note =
        `QEMU refused ${first.allocation ? allocationText(first.allocation) : first.device.id} (${result.refusal.desc})` +
        `${result.undone.length > 0 ? `; undone: ${result.undone.join('; ')}` : ''}; plugboard read QEMU's whole layout and planned again`;
      again = await planFromLive(qmp, action, rf, { scope: 'all' }, { ...st, newUuid: () => uuid }, note);
      break;
    }
    default: {
      const never: never = result;
      return never;
    }
  }
  // Neither retry is allowed the second time: the run ends with an outcome or throws.
  const second = await runPlan(qmp, again, { ...st, retryWhenTaken: false, retryWhenAbsent: false });
  if (second.kind !== 'outcome') throw new InternalError(`planned again, and the run asked for it once more (${second.kind})`);
  return second.outcome;
}

/**
 * Probes (as `probe` says), then plans `action` from the runtime file and what QEMU has. What needs
 * no QEMU (the file's bus model, host facts) is gathered while QEMU reads the probe. An unplug's
 * probe (scope `backends`) does not ask which devices QEMU has: the plan takes the device as there,
 * and QEMU's answer to its device_del tells (DeviceNotFound: planned again from a full look).
 */
async function planFromLive(
  qmp: QmpClient,
  action: Action,
  rf: RuntimeFile,
  probe: ProbeOptions,
  st: RunState,
  note?: string,
): Promise<Plan> {
  const probing = pipelined(probeLive(qmp, { ...probe, signal: st.signal }));
  qmp.flush();
  const offline = await offlineContext(action, rf, st);
  const present = probe.scope === 'backends' ? true : undefined;
  // A hot-add allocates from the bus model: built now, while QEMU answers.
  if (action.type === 'hot-add-disk' || action.type === 'hot-add-nic') offline.model();
  let live = await probing;
  if (action.type === 'hot-add-disk') {
    // The instance's own disks are fdset-backed (hot-added by a newer Ganeti): the new one passes a
    // descriptor too, into a free fdset.
    if (live.fdsets === undefined && diskFdReason(rf, live) !== undefined) {
      st.descriptors?.start();
      offline.checkedPath ??= checkPathForFdPassing(action, rf);
      live = { ...live, ...(await probeFdState(qmp, st)) };
    }
    live = await waitForReleasedBackend(qmp, live, backendOfPath(action.path, offline.checkedPath, pidFilePath(st.root, rf.instance)), probe, st);
  }
  // An unplug also looks for a block node its device left behind (query-block lists attached nodes only).
  const nodeNames =
    action.type === 'unplug-disk' && needsNodeNames(rf, live, action.device, present) ? await namedBlockNodes(qmp, st) : undefined;
  const plan = makePlan(action, withLive(offline, live, { nodeNames, present }));
  if (note !== undefined) plan.notes.push(note);
  st.onProgress?.({ phase: 'planned', plan });
  return plan;
}

/**
 * What the plan of `action` needs QEMU to say (see ProbeOptions.scope): an unplug, what backs the
 * device (whether QEMU has it, QEMU's answer to its device_del says: see planFromLive); a SCSI
 * disk hot-add, which devices there are, what backs them and the SCSI addresses — those of the
 * devices the runtime file describes are taken from it; a PCI hot-add (virtio-blk, NICs), the PCI
 * functions instead. Anything else (a disk type the planner refuses) reads everything.
 */
function probeFor(action: Action, rf: RuntimeFile): ProbeOptions {
  switch (action.type) {
    case 'unplug-disk':
    case 'unplug-nic':
      return { scope: 'backends' };
    case 'hot-add-nic':
      return { scope: 'pci' };
    case 'hot-add-disk': {
      const type = action.diskType ?? rf.hvparams.disk_type;
      if (!isHotpluggableDiskType(type)) return { scope: 'all' };
      // Passing the disk by descriptor: which fdsets QEMU has, and whether it runs (same round trip).
      const fd = fdPassingReason(rf.hvparams, 'disk') !== undefined ? { fdsets: true } : {};
      return isScsiDiskType(type) ? { scope: 'scsi', knownScsi: knownScsiAddresses(rf), ...fd } : { scope: 'pci', ...fd };
    }
    default:
      return { scope: 'all' };
  }
}

/**
 * The probe after an unplug's device_del found no such device: the devices and backends, and the
 * bus the device is on (its PCI slot or SCSI target, where QEMU may have it under another id).
 */
function absentProbeFor(action: Action, rf: RuntimeFile): ProbeOptions {
  if (action.type === 'unplug-disk') {
    const disk = rf.disks.find((d) => d.uuid === action.device || diskId(d) === action.device);
    if (disk && 'scsi-id' in disk.hvinfo) return { scope: 'scsi', knownScsi: knownScsiAddresses(rf) };
  }
  return { scope: 'pci' };
}

/**
 * Whether an unplug must look for a block node left without its device (query-named-block-nodes,
 * a big reply): only when QEMU no longer lists the device, or lists no backend for it —
 * query-block shows the backend of a device that is there.
 */
function needsNodeNames(rf: RuntimeFile, live: LiveState, ref: string, present: boolean | undefined): boolean {
  const disk = rf.disks.find((d) => d.uuid === ref || diskId(d) === ref);
  if (!disk) return false; // the planner refuses it
  const id = diskId(disk);
  return !(present ?? live.peripherals.some((p) => p.id === id)) || backendOf(live, id) === undefined;
}

/**
 * Whether QEMU still has a backend of the disk at `file` without its device (see
 * waitForReleasedBackend). A disk passed by descriptor shows as `/dev/fdset/N`, whatever its path:
 * then QEMU holding the checked file (device and inode, in `/proc/PID/fd`) tells; when that cannot
 * be read, any such backend is waited for (bounded).
 */
function backendOfPath(file: string, checked: DiskPlanContext['checkedPath'], pidFile: string): (l: LiveState) => boolean {
  return (l) => {
    const present = new Set(l.peripherals.map((p) => p.id));
    const orphans = l.blocks.filter((b) => !(b.deviceId !== undefined && present.has(b.deviceId)));
    if (orphans.some((b) => b.file === file)) return true;
    if (!checked?.ok || !orphans.some((b) => fdsetOf(b.file) !== undefined)) return false;
    const pid = readPidFile(pidFile);
    return (pid !== undefined ? holdsFile(pid, checked.path.dev, checked.path.ino) : undefined) ?? true;
  };
}

/**
 * A device unplugged a moment ago (by us or anyone) keeps its backend open until QEMU finalizes it
 * (~55 ms after it left the device tree): `query-block` then lists the image with no device. A
 * hot-add of that same path would fail on the image's write lock, so wait — bounded — until QEMU
 * has let it go, and return the fresh live state.
 */
async function waitForReleasedBackend(
  qmp: QmpClient,
  live: LiveState,
  orphan: (l: LiveState) => boolean,
  probe: ProbeOptions,
  opts: { signal?: AbortSignal | undefined },
): Promise<LiveState> {
  if (!orphan(live)) return live;
  const deadline = Date.now() + BACKEND_RELEASE_TIMEOUT_MS;
  let interval = 2;
  let current = live;
  while (orphan(current) && Date.now() < deadline && !opts.signal?.aborted) {
    await delay(interval, opts.signal);
    interval = Math.min(interval * 2, 50);
    current = await probeLive(qmp, { ...probe, signal: opts.signal });
  }
  return current;
}
