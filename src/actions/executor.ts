/**
 * Runs an action against a running instance: under the instance lock, over one short QMP connection
 * (connect → probe → plan → steps → verify → disconnect), then the runtime file rewritten atomically.
 *
 * The plan is made here, under the lock, from the live state: a preview (`--dry-run`) can be stale,
 * what runs never is. On a failure every step done is undone in reverse order and the runtime file
 * is left untouched; a PCI unplug the guest does not acknowledge in time is reported as pending.
 *
 * An action asks QEMU only what its plan needs (probeFor; QEMU 7.2 reads its QMP socket one byte
 * at a time, so every command costs): an unplug what backs the device, a SCSI hot-add which devices
 * there are, what backs them and the addresses of the SCSI devices the runtime file does not
 * describe, a PCI hot-add the PCI functions instead. QEMU is the arbiter of what was not asked:
 * - a `device_add` refused because the slot or target is in use (a device the runtime file places
 *   elsewhere, or one added meanwhile): what was done is undone, everything is probed, and the plan
 *   is made and run once more;
 * - an unplug's `device_del` answered DeviceNotFound: nothing was done; planned again from which
 *   devices QEMU has.
 * Commands that only check (the verification after `device_add`, the first "is it gone" after
 * `device_del`) go in the same write as the command they check. Nothing that changes QEMU is sent
 * before the plan is made from QEMU's answers: a probe that fails leaves the instance as it was.
 */
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { PlugboardError } from '../errors.js';
import { buildBusModel } from '../bus/model.js';
import type { BusModel } from '../bus/types.js';
import { QmpAbortedError, QmpCommandError, QmpConnectError } from '../qmp/errors.js';
import { type QmpClient, withQmp } from '../qmp/client.js';
import type { Transcript } from '../qmp/transcript.js';
import { knownScsiAddresses, probeLive, type LiveState, type ProbeOptions } from '../live/probe.js';
import { overlayLive } from '../live/overlay.js';
import { backendOf, detectBackendStyle } from '../live/backend.js';
import { clearPendingUnplug, pendingFilePath, prunePending, recordPendingUnplug } from '../live/pending.js';
import { isHotpluggableDiskType, isScsiDiskType } from '../runtime/hvparams.js';
import { parseRuntimeText, readRuntimeTextSync } from '../runtime/load.js';
import { prepareRuntimeFileWrite, type PreparedWrite } from '../runtime/write.js';
import { serializeRuntime } from '../runtime/serialize.js';
import { qmpSocketPath, runtimeFilePath, validateInstanceName } from '../runtime/root.js';
import { withInstanceLock } from '../runtime/lock.js';
import { newUuid } from '../runtime/ids.js';
import type { RuntimeFile } from '../runtime/types.js';
import { inspectHostPath, type HostPathInfo } from './host.js';
import { allocationText, diskId, planDiskHotAdd, planDiskUnplug, type DiskPlanContext } from './plan-disk.js';
import { planNicHotAdd, planNicUnplug, resolveNicLink, tapNameFor, type NicHostFacts, type NicPlanContext } from './plan-nic.js';
import {
  TUN_DEVICE,
  VHOST_NET_DEVICE,
  describeHostCommand,
  executeHostCommand,
  inspectLink,
  isCharDevice,
  readNicRecords,
  type LinkInfo,
} from './host-net.js';
import type { Action, HostCommand, Outcome, Plan, PlanStep, QmpCommand } from './types.js';

export interface ExecuteOptions {
  root: string;
  transcript?: Transcript;
  /** Cancels waits; what was done is undone as far as possible (Ctrl-C). */
  signal?: AbortSignal;
  greetingTimeoutMs?: number;
  commandTimeoutMs?: number;
  lockTimeoutMs?: number;
  onProgress?: (event: ProgressEvent) => void;
  newUuid?: () => string;
  /**
   * Rollback of a hot-add: how long to wait for the added device to leave QEMU after `device_del`
   * (default 5000 ms; a PCI device needs the guest to acknowledge).
   */
  undoUnplugTimeoutMs?: number;
}

/** Default of ExecuteOptions.undoUnplugTimeoutMs. */
const UNDO_UNPLUG_TIMEOUT_MS = 5_000;

export type ProgressEvent =
  | { phase: 'planned'; plan: Plan }
  | { phase: 'step'; index: number; purpose: string }
  | { phase: 'waiting'; id: string; timeoutMs: number }
  | { phase: 'verified'; message: string }
  | { phase: 'undo'; purpose: string }
  | { phase: 'written'; file: string };

/** A failure during execution, after which what was done has been undone (see `outcome`). */
export class ActionFailedError extends PlugboardError {
  override name = 'ActionFailedError';
  constructor(
    message: string,
    readonly outcome: Outcome,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const isQmp = (c: QmpCommand | HostCommand): c is QmpCommand => 'execute' in c;

/** What every planner gets: the disk planners' context, plus host facts for NIC actions. */
export type PlanContext = DiskPlanContext & Pick<NicPlanContext, 'nicHost'>;

/**
 * The host facts a NIC plan needs: `/dev/net/tun`, `/dev/vhost-net`, the new NIC's bridge and the
 * planned tap name as `/sys/class/net` shows them, and the `nic/NAME/SEQ` records (with a root).
 */
export async function gatherNicHostFacts(action: Action, rf: RuntimeFile, opts: { root?: string; uuid?: string }): Promise<NicHostFacts> {
  const [tun, vhostNet] = await Promise.all([isCharDevice(TUN_DEVICE), isCharDevice(VHOST_NET_DEVICE)]);
  const names: string[] = [];
  if (action.type === 'hot-add-nic') {
    try {
      names.push(resolveNicLink(rf, action).link);
    } catch {
      // the planner says why
    }
    if (opts.uuid !== undefined) names.push(tapNameFor(opts.uuid));
  }
  const links: Record<string, LinkInfo> = {};
  for (const info of await Promise.all(names.map((n) => inspectLink(n)))) links[info.name] = info;
  const facts: NicHostFacts = { tun, vhostNet, links };
  if (opts.root !== undefined) facts.records = await readNicRecords(opts.root, rf.instance);
  return facts;
}

/** Everything a planner needs, gathered from the file, QEMU and the host. */
export async function planContext(
  action: Action,
  rf: RuntimeFile,
  live: LiveState | undefined,
  opts: { newUuid?: () => string; nodeNames?: readonly string[]; root?: string },
): Promise<PlanContext> {
  const offline = await offlineContext(action, rf, opts);
  return live ? withLive(offline, live, opts.nodeNames) : contextOf(offline, { ...(opts.nodeNames !== undefined ? { nodeNames: opts.nodeNames } : {}) });
}

/**
 * The part of the plan context that needs no QEMU: the host facts (the disk's path, the NIC's
 * bridge and tap), the uuid source, and the bus model of the runtime file — built on first use
 * (`model()`), since an unplug's planner never reads it. The executor gathers it while QEMU reads
 * the probe.
 */
interface OfflineContext {
  rf: RuntimeFile;
  model: () => BusModel;
  hostPath: HostPathInfo | undefined;
  nicHost: NicHostFacts | undefined;
  newUuid: () => string;
}

async function offlineContext(action: Action, rf: RuntimeFile, opts: { newUuid?: () => string; root?: string }): Promise<OfflineContext> {
  let model: BusModel | undefined;
  let hostPath: HostPathInfo | undefined;
  if (action.type === 'hot-add-disk') hostPath = await inspectHostPath(action.path);
  let uuidSource = opts.newUuid ?? newUuid;
  let nicHost: NicHostFacts | undefined;
  if (action.type === 'hot-add-nic' || action.type === 'unplug-nic') {
    // The tap name comes from the UUID: fix the UUID now so the facts are about the planned tap.
    let uuid = action.type === 'hot-add-nic' ? action.uuid : undefined;
    if (action.type === 'hot-add-nic' && uuid === undefined) {
      const fresh = uuidSource();
      uuid = fresh;
      uuidSource = () => fresh;
    }
    nicHost = await gatherNicHostFacts(action, rf, { ...(opts.root !== undefined ? { root: opts.root } : {}), ...(uuid !== undefined ? { uuid } : {}) });
  }
  return { rf, model: () => (model ??= buildBusModel(rf)), hostPath, nicHost, newUuid: uuidSource };
}

/** A PlanContext whose `model` is built on first use (by `model`, default the file's). */
function contextOf(
  offline: OfflineContext,
  more: Partial<Pick<PlanContext, 'live' | 'detectedBackend' | 'nodeNames' | 'present'>>,
  model: () => BusModel = offline.model,
): PlanContext {
  let built: BusModel | undefined;
  const ctx = {
    rf: offline.rf,
    live: undefined,
    hostPath: offline.hostPath,
    detectedBackend: undefined,
    ...(offline.nicHost !== undefined ? { nicHost: offline.nicHost } : {}),
    newUuid: offline.newUuid,
    ...more,
  };
  return Object.defineProperty(ctx, 'model', { get: () => (built ??= model()), enumerable: true }) as PlanContext;
}

/** The offline context with what QEMU has laid over it (`present`: see DiskPlanContext.present). */
function withLive(offline: OfflineContext, live: LiveState, nodeNames: readonly string[] | undefined, present?: boolean): PlanContext {
  const detected = detectBackendStyle(live, offline.rf);
  return contextOf(
    offline,
    {
      live,
      detectedBackend: detected === 'unknown' ? undefined : detected,
      ...(nodeNames !== undefined ? { nodeNames } : {}),
      ...(present !== undefined ? { present } : {}),
    },
    () => overlayLive(offline.model(), live),
  );
}

export function makePlan(action: Action, ctx: PlanContext): Plan {
  switch (action.type) {
    case 'hot-add-disk':
      return planDiskHotAdd(action, ctx);
    case 'unplug-disk':
      return planDiskUnplug(action, ctx);
    case 'hot-add-nic':
      return planNicHotAdd(action, ctx);
    case 'unplug-nic':
      return planNicUnplug(action, ctx);
    default: {
      const never: never = action;
      throw new Error(`unknown action ${String(never)}`);
    }
  }
}

async function sendStep(qmp: QmpClient, command: QmpCommand | HostCommand, opts: ExecuteOptions): Promise<unknown> {
  if (!isQmp(command)) return executeHostCommand(command, { root: opts.root, ...(opts.signal ? { signal: opts.signal } : {}) });
  const call = { signal: opts.signal };
  if (command.execute === 'human-monitor-command') {
    return qmp.hmp(String((command.arguments ?? {})['command-line']), call);
  }
  return qmp.execute(command.execute, command.arguments, call);
}

/**
 * QEMU says the object is already gone, or never came: `netdev_del`/`device_del` → DeviceNotFound,
 * `blockdev-del` → "Failed to find node", HMP `drive_del` → "Device 'X' not found". Undoing a step
 * whose answer never came (it may or may not have been carried out) relies on this.
 */
function alreadyGone(cmd: QmpCommand | HostCommand, error: unknown): boolean {
  if (!isQmp(cmd) || !(error instanceof QmpCommandError)) return false;
  switch (cmd.execute) {
    case 'netdev_del':
    case 'device_del':
      return error.errorClass === 'DeviceNotFound';
    case 'blockdev-del':
      return /Failed to find node/.test(error.desc);
    case 'human-monitor-command':
      return /^drive_del /.test(String(cmd.arguments?.['command-line'])) && /not found/i.test(error.desc);
    default:
      return false;
  }
}

/** The command got no answer (timeout, connection lost): QEMU may or may not have carried it out. */
function unanswered(error: unknown): boolean {
  return !(error instanceof QmpCommandError);
}

/**
 * Undoes the steps done, last first. A `device_del` is not done when QEMU answers `{}`: the device
 * is only gone when it left QEMU (see waitGone), and its backend can be removed only then. A PCI
 * device nobody acknowledges (no guest OS, a hung guest) stays: that is reported as a leftover and
 * recorded as a pending unplug (so `show --live` explains the device the runtime file lacks), and a
 * block node under it is left for the operator rather than failing on "in use".
 */
async function undoSteps(
  qmp: QmpClient,
  done: PlanStep[],
  opts: ExecuteOptions,
  plan: Plan,
): Promise<{ undone: string[]; leftovers: string[] }> {
  const undone: string[] = [];
  const leftovers: string[] = [];
  // Undo runs even after a Ctrl-C: it must not be cancelled by the same signal.
  const uncancelled: ExecuteOptions = { ...opts, signal: undefined };
  const stuck: string[] = [];
  const removed: string[] = [];
  for (const step of [...done].reverse()) {
    for (const cmd of step.undo ?? []) {
      opts.onProgress?.({ phase: 'undo', purpose: step.purpose });
      if (isQmp(cmd) && cmd.execute === 'blockdev-del' && stuck.length > 0) {
        leftovers.push(
          `block node ${String(cmd.arguments?.['node-name'])} kept: its device ${stuck.join(', ')} is still in QEMU; ` +
            `once the unplug completes remove it with QMP ${describeCommand(cmd)}`,
        );
        continue;
      }
      try {
        if (isQmp(cmd) && cmd.execute === 'device_del') {
          const id = String(cmd.arguments?.['id']);
          const mark = qmp.mark();
          try {
            await sendStep(qmp, cmd, uncancelled);
          } catch (error) {
            if (!alreadyGone(cmd, error)) throw error;
            undone.push(`${describeCommand(cmd)} (was not there)`);
            removed.push(id);
            continue;
          }
          const timeoutMs = opts.undoUnplugTimeoutMs ?? UNDO_UNPLUG_TIMEOUT_MS;
          if (!(await waitGone(qmp, id, mark, timeoutMs, uncancelled))) {
            stuck.push(id);
            await recordPendingUnplug(opts.root, plan.instance, { id, kind: plan.device.kind }).catch(() => undefined);
            leftovers.push(
              `${id} is still in QEMU: its unplug is pending (${plan.allocation?.bus === 'pci.0' ? 'the guest has not acknowledged it' : 'QEMU still lists it'} after ${seconds(timeoutMs)}); ` +
                'the runtime file does not list it, so a migration would fail until the guest acknowledges it or the instance restarts',
            );
            continue;
          }
          removed.push(id);
        } else if (isQmp(cmd) && cmd.execute === 'blockdev-del') {
          try {
            await sendRetryingInUse(qmp, cmd, uncancelled);
          } catch (error) {
            if (!alreadyGone(cmd, error)) throw error;
            undone.push(`${describeCommand(cmd)} (was not there)`);
            continue;
          }
        } else if (removed.length > 0 && isQmp(cmd) && cmd.execute === 'human-monitor-command') {
          // A drive_add drive goes with its device (QEMU deletes it when the device is finalized).
          try {
            await sendStep(qmp, cmd, uncancelled);
          } catch (error) {
            if (!(error instanceof QmpCommandError && /not found/i.test(error.desc))) throw error;
            undone.push(`${describeCommand(cmd)} (already gone with its device)`);
            continue;
          }
        } else {
          try {
            await sendStep(qmp, cmd, uncancelled);
          } catch (error) {
            if (!alreadyGone(cmd, error)) throw error;
            undone.push(`${describeCommand(cmd)} (already gone)`);
            continue;
          }
        }
        undone.push(describeCommand(cmd));
      } catch (error) {
        leftovers.push(`${describeCommand(cmd)} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
  return { undone, leftovers };
}

export function describeCommand(c: QmpCommand | HostCommand): string {
  if (!isQmp(c)) return `host: ${describeHostCommand(c)}`;
  if (c.execute === 'human-monitor-command') return `HMP ${String((c.arguments ?? {})['command-line'])}`;
  return `${c.execute} ${JSON.stringify(c.arguments ?? {})}`;
}

/** Whether QEMU lists device `id` at the planned address (a targeted check, not a full probe). */
async function verifyPresent(qmp: QmpClient, plan: Plan, opts: ExecuteOptions): Promise<string | null> {
  const v = plan.verify;
  if (v.kind !== 'present') return null;
  const call = { signal: opts.signal };
  if (v.allocation.bus === 'pci.0') {
    const pci = await qmp.execute<{ bus: number; devices: { slot: number; function: number; qdev_id: string }[] }[]>(
      'query-pci',
      undefined,
      call,
    );
    const want = Number.parseInt(v.allocation.addr, 16);
    const found = pci.flatMap((b) => (b.bus === 0 ? b.devices : [])).find((d) => d.qdev_id === v.id);
    if (!found) return `QEMU does not list ${v.id} on pci.0 after device_add`;
    if (found.slot !== want) return `QEMU put ${v.id} at slot 0x${found.slot.toString(16)}, not ${v.allocation.addr}`;
    return null;
  }
  const base = `/machine/peripheral/${v.id}`;
  try {
    // device_add named bus scsi.0, so QEMU put it there or refused: the target is what to check.
    const scsiId = await qmp.execute<number>('qom-get', { path: base, property: 'scsi-id' }, call);
    if (scsiId !== v.allocation['scsi-id']) return `QEMU put ${v.id} at target ${scsiId}, not ${v.allocation['scsi-id']}`;
    return null;
  } catch (error) {
    if (error instanceof QmpCommandError) return `QEMU does not list ${v.id} after device_add (${error.desc})`;
    throw error;
  }
}

async function isPresent(qmp: QmpClient, id: string, opts: ExecuteOptions): Promise<boolean> {
  const list = await qmp.execute<{ name: string; type: string }[]>('qom-list', { path: '/machine/peripheral' }, {
    signal: opts.signal,
  });
  return list.some((p) => p.name === id && p.type.startsWith('child<'));
}

const delay = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * After `device_del`: the device is gone as soon as QEMU no longer lists it in `/machine/peripheral`
 * or DEVICE_DELETED for it arrives, whichever comes first. On SCSI the event trails the removal by
 * ~55 ms (QEMU finalizes the device after an RCU grace period): the operator does not wait for it.
 * What that window still holds — the backend, closed at finalize — is dealt with where it matters:
 * `blockdev-del` retries while the node is "in use", and a hot-add of the same path waits for the
 * old backend to be released (see waitForReleasedBackend). Polls with a short, growing interval,
 * woken early by the event; `firstPoll` is a qom-list already sent right behind the `device_del`
 * (a SCSI device is usually gone by then: no round trip of its own). Returns false when the device
 * is still there at the deadline (a PCI unplug the guest has not acknowledged).
 */
async function waitGone(
  qmp: QmpClient,
  id: string,
  since: number,
  timeoutMs: number,
  opts: ExecuteOptions,
  firstPoll?: Promise<boolean>,
): Promise<boolean> {
  // The usual SCSI case: the qom-list sent right behind the device_del already shows the device
  // gone. Answer at once, without an event waiter and its abort plumbing (the `since` mark keeps
  // a DEVICE_DELETED that arrived meanwhile for the loop below).
  let present = firstPoll === undefined ? undefined : await firstPoll;
  if (present === false) return true;
  const deadline = Date.now() + timeoutMs;
  let eventSeen = false;
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const event = qmp
    .waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === id, {
      since,
      timeoutMs,
      signal: ac.signal,
      what: `DEVICE_DELETED for ${id}`,
    })
    .then(
      () => {
        eventSeen = true;
      },
      () => undefined,
    );
  try {
    let interval = 1;
    for (;;) {
      if (eventSeen) return true;
      if (!(present ?? (await isPresent(qmp, id, { ...opts, signal: undefined })))) return true;
      present = undefined;
      const left = deadline - Date.now();
      if (left <= 0 || opts.signal?.aborted) return false;
      await Promise.race([event, delay(Math.min(interval, left), ac.signal)]);
      interval = Math.min(interval * 2, 100);
    }
  } finally {
    ac.abort();
    opts.signal?.removeEventListener('abort', onAbort);
    await event;
  }
}

/** How long a hot-add waits for QEMU to close the backend of a just-unplugged device on the same path. */
const BACKEND_RELEASE_TIMEOUT_MS = 2_000;

/**
 * A device unplugged a moment ago (by us or anyone) keeps its backend open until QEMU finalizes it
 * (~55 ms after it left the device tree): `query-block` then lists the image with no device. A
 * hot-add of that same path would fail on the image's write lock, so wait — bounded — until QEMU
 * has let it go, and return the fresh live state.
 */
async function waitForReleasedBackend(
  qmp: QmpClient,
  live: LiveState,
  file: string,
  probe: ProbeOptions,
  opts: ExecuteOptions,
): Promise<LiveState> {
  const orphan = (l: LiveState) => {
    const present = new Set(l.peripherals.map((p) => p.id));
    return l.blocks.some((b) => b.file === file && !(b.deviceId !== undefined && present.has(b.deviceId)));
  };
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

/** `2 s`, `0.3 s`. */
function seconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) || s >= 10 ? Math.round(s) : s.toFixed(1)} s`;
}

/** Names of the block nodes QEMU has (`query-named-block-nodes`, flat: also the protocol nodes). */
export async function namedBlockNodes(qmp: QmpClient, opts: { signal?: AbortSignal } = {}): Promise<string[]> {
  const nodes = await qmp.execute<unknown>('query-named-block-nodes', { flat: true }, { signal: opts.signal });
  if (!Array.isArray(nodes)) return [];
  return nodes.flatMap((n: unknown) => {
    const name = typeof n === 'object' && n !== null ? (n as Record<string, unknown>)['node-name'] : undefined;
    return typeof name === 'string' ? [name] : [];
  });
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

/** `blockdev-del` of a node QEMU may still hold for a few ms after the device went: retry while "in use". */
async function sendRetryingInUse(qmp: QmpClient, command: QmpCommand | HostCommand, opts: ExecuteOptions): Promise<void> {
  const deadline = Date.now() + 2_000;
  let interval = 2;
  for (;;) {
    try {
      await sendStep(qmp, command, opts);
      return;
    } catch (error) {
      const inUse = error instanceof QmpCommandError && /is in use/.test(error.desc);
      if (!inUse || Date.now() >= deadline) throw error;
      await delay(interval, opts.signal);
      interval = Math.min(interval * 2, 100);
    }
  }
}

function outcome(plan: Plan, status: Outcome['status'], message: string, started: number, extra: Partial<Outcome> = {}): Outcome {
  return {
    status,
    plan,
    message,
    runtimeWritten: false,
    undone: [],
    leftovers: [],
    timings: { totalMs: Date.now() - started },
    ...extra,
  };
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
      return isScsiDiskType(type) ? { scope: 'scsi', knownScsi: knownScsiAddresses(rf) } : { scope: 'pci' };
    }
    default:
      return { scope: 'all' };
  }
}

/**
 * QEMU refused a `device_add` because the slot or target is in use:
 * `lun already used by 'ID'` (scsi-bus, QEMU 7.2) and
 * `PCI: slot N function 0 not available for DRIVER, in use by TYPE,id=ID` (pci.0), as measured.
 */
const PLACE_TAKEN = [/^lun already used by /, /^PCI: slot \d+ function \d+ not available for /];

function placeTaken(command: QmpCommand | HostCommand, error: unknown): error is QmpCommandError {
  return (
    isQmp(command) &&
    command.execute === 'device_add' &&
    error instanceof QmpCommandError &&
    PLACE_TAKEN.some((re) => re.test(error.desc))
  );
}

/** The device an unplug was planned for is not in QEMU (nothing was done): plan again from a full look. */
class DeviceAbsentError extends Error {
  constructor(readonly refusal: QmpCommandError) {
    super(refusal.desc);
  }
}

/** A hot-add's place was taken and what was done is undone: the action may be planned again. */
class PlaceTakenError extends Error {
  constructor(
    readonly refusal: QmpCommandError,
    readonly plan: Plan,
    readonly undone: string[],
  ) {
    super(refusal.desc);
  }
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
        commandTimeoutMs: opts.commandTimeoutMs ?? 10_000,
        transcript: opts.transcript,
        // The probe goes right behind qmp_capabilities.
        pipelineCapabilities: true,
      },
      (qmp) => planAndExecute(qmp, action, rf, { ...opts, file, text, started }),
    );
  });
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
async function planAndExecute(qmp: QmpClient, action: Action, rf: RuntimeFile, st: RunState): Promise<Outcome> {
  const probe = probeFor(action, rf);
  const first = await planFromLive(qmp, action, rf, probe, st);
  try {
    return await execute(qmp, first, {
      ...st,
      retryWhenTaken: action.type === 'hot-add-disk' || action.type === 'hot-add-nic',
      retryWhenAbsent: probe.scope === 'backends',
    });
  } catch (error) {
    if (error instanceof DeviceAbsentError) {
      // QEMU does not have the device: what it has (and which block node is left) decides, and
      // what sits at the device's place (another id there: the planner refuses, see unplug-guard.ts).
      const again = await planFromLive(qmp, action, rf, absentProbeFor(action, rf), st);
      return execute(qmp, again, { ...st, retryWhenTaken: false, retryWhenAbsent: false });
    }
    if (!(error instanceof PlaceTakenError)) throw error;
    // QEMU has a device where the plan saw none (the runtime file places a device wrongly, or
    // someone added one meanwhile): read everything and plan again, with the same uuid.
    const uuid = error.plan.device.uuid;
    const note =
      `QEMU refused ${error.plan.allocation ? allocationText(error.plan.allocation) : error.plan.device.id} (${error.refusal.desc})` +
      `${error.undone.length > 0 ? `; undone: ${error.undone.join('; ')}` : ''}; plugboard read QEMU's whole layout and planned again`;
    const again = await planFromLive(qmp, action, rf, { scope: 'all' }, { ...st, newUuid: () => uuid }, note);
    return execute(qmp, again, { ...st, retryWhenTaken: false, retryWhenAbsent: false });
  }
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
  if (action.type === 'hot-add-disk') live = await waitForReleasedBackend(qmp, live, action.path, probe, st);
  // An unplug also looks for a block node its device left behind (query-block lists attached nodes only).
  const nodeNames =
    action.type === 'unplug-disk' && needsNodeNames(rf, live, action.device, present) ? await namedBlockNodes(qmp, st) : undefined;
  const plan = makePlan(action, withLive(offline, live, nodeNames, present));
  if (note !== undefined) plan.notes.push(note);
  st.onProgress?.({ phase: 'planned', plan });
  return plan;
}

interface ExecState extends RunState {
  /** A `device_add` refused because its place is taken → undo, then PlaceTakenError (runAction plans again). */
  retryWhenTaken: boolean;
  /**
   * The plan took the device to unplug as there without asking (probe scope `backends`): a
   * `device_del` answered DeviceNotFound → DeviceAbsentError (runAction plans again).
   */
  retryWhenAbsent: boolean;
}

/** The text of a runtime file, or undefined if it cannot be made (the write then says why). */
function serializeQuietly(rf: RuntimeFile): string | undefined {
  try {
    return serializeRuntime(rf);
  } catch {
    return undefined;
  }
}

/** A promise whose rejection is handled later or never (a pipelined command whose step failed). */
function pipelined<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

async function execute(qmp: QmpClient, plan: Plan, st: ExecState): Promise<Outcome> {
  const write: { prepared?: PreparedWrite } = {};
  try {
    return await executeSteps(qmp, plan, st, write);
  } finally {
    // Not committed (the action failed, is pending, or is planned again): no temp file left behind.
    write.prepared?.discard();
  }
}

/** execute's work; `write.prepared` is the runtime file's temp file once made (see there). */
async function executeSteps(qmp: QmpClient, plan: Plan, st: ExecState, write: { prepared?: PreparedWrite }): Promise<Outcome> {
  const done: PlanStep[] = [];
  const mark = qmp.mark();
  const fail = async (
    message: string,
    cause: unknown,
    maybeDone = false,
    undoneAlready?: { undone: string[]; leftovers: string[] },
  ): Promise<never> => {
    let { undone, leftovers } = undoneAlready ?? { undone: [] as string[], leftovers: [] as string[] };
    if (undoneAlready === undefined && done.length > 0 && qmp.closed) {
      // The connection broke (QEMU closed it, garbage, an endless line): undo over a new one. If
      // QEMU is gone, so is everything it had: there is nothing to undo.
      try {
        ({ undone, leftovers } = await withQmp(
          qmp.socketPath,
          { greetingTimeoutMs: st.greetingTimeoutMs ?? 1_000, commandTimeoutMs: st.commandTimeoutMs ?? 10_000, transcript: st.transcript },
          (fresh) => undoSteps(fresh, done, st, plan),
        ));
      } catch (error) {
        if (error instanceof QmpConnectError && (error.reason === 'gone' || error.reason === 'not-running')) {
          undone = [`nothing: QEMU is gone (${error.message})`];
        } else {
          leftovers = [`undo not possible: ${error instanceof Error ? error.message : String(error)}`];
        }
      }
    } else if (undoneAlready === undefined) {
      ({ undone, leftovers } = await undoSteps(qmp, done, st, plan));
    }
    const status = leftovers.length === 0 ? 'rolled-back' : 'failed';
    const look = `run plugboard show --live ${plan.instance}`;
    const tail =
      undone.length === 0 && leftovers.length === 0
        ? maybeDone
          ? `QEMU did not answer, so it may have carried it out (${plan.device.id}); runtime file untouched — ${look}`
          : 'nothing had changed; runtime file untouched'
        : leftovers.length === 0
          ? `undone: ${undone.join('; ')}; runtime file untouched`
          : `could not undo everything: ${leftovers.join('; ')}; runtime file untouched — run plugboard check ${plan.instance}`;
    throw new ActionFailedError(`${message}; ${tail}`, outcome(plan, status, `${message}; ${tail}`, st.started, { undone, leftovers }), {
      cause,
    });
  };

  // A step is one short command: it is never abandoned halfway (an abandoned device_add may still
  // take effect, and then it would not be undone); a Ctrl-C is honoured between steps.
  const uncancelled: ExecState = { ...st, signal: undefined };
  let unplugUnanswered: unknown;
  // Sent in the same write as the command they check, read once it is answered: QEMU runs commands
  // in order, so they see its effect, and they cost no round trip of their own. Used only when the
  // command succeeded (otherwise their answer is ignored).
  let verifying: Promise<string | null> | undefined;
  let firstPoll: Promise<boolean> | undefined;
  // The runtime file's new text, made while QEMU works on the last step (written only at the end).
  let runtimeText: string | undefined;
  let index = 0;
  for (const step of plan.steps) {
    const cmd = step.command;
    if (st.signal?.aborted) return fail(`interrupted before: ${step.purpose}`, st.signal.reason);
    st.onProgress?.({ phase: 'step', index: index++, purpose: step.purpose });
    try {
      const sent = sendStep(qmp, cmd, uncancelled);
      if (isQmp(cmd) && cmd.execute === 'device_add' && plan.verify.kind === 'present' && cmd.arguments?.['id'] === plan.verify.id) {
        verifying = pipelined(verifyPresent(qmp, plan, st));
      } else if (isQmp(cmd) && cmd.execute === 'device_del' && plan.unplugWait && cmd.arguments?.['id'] === plan.unplugWait.id) {
        firstPoll = pipelined(isPresent(qmp, plan.unplugWait.id, uncancelled));
      }
      if (step === plan.steps[plan.steps.length - 1]) {
        // The command (and its check) go out now, not at the end of this tick: what follows is
        // done while QEMU reads and answers them.
        qmp.flush();
        runtimeText = serializeQuietly(plan.runtimeAfter);
        // The temp file (checks, write, fsync) too: only the rename and the directory fsync are
        // left for the end. Not when the wait may be long (a PCI unplug waits for the guest), so
        // that a killed process seldom leaves a temp file behind.
        if (runtimeText !== undefined && !plan.unplugWait?.needsGuest) write.prepared = prepareRuntimeFileWrite(st.file, runtimeText);
      }
      await sent;
      done.push(step);
    } catch (error) {
      // The pipelined poll is read only after a device_del QEMU accepted.
      if (isQmp(cmd) && cmd.execute === 'device_del') firstPoll = undefined;
      // A device_del of a device whose unplug is already pending is not a failure: keep waiting.
      const alreadyPending =
        error instanceof QmpCommandError && /already in the process of unplug/.test(error.desc) && plan.unplugWait;
      if (alreadyPending) continue;
      if (st.retryWhenAbsent && done.length === 0 && isQmp(cmd) && cmd.execute === 'device_del' && alreadyGone(cmd, error)) {
        throw new DeviceAbsentError(error as QmpCommandError);
      }
      if (st.retryWhenTaken && placeTaken(cmd, error)) {
        // QEMU is the arbiter of a taken place: undo, and let runAction probe everything and plan again.
        const undo = await undoSteps(qmp, done, st, plan);
        if (undo.leftovers.length === 0) throw new PlaceTakenError(error, plan, undo.undone);
        return fail(`${step.purpose} failed: ${error.message}`, error, false, undo);
      }
      if (placeTaken(cmd, error)) {
        return fail(
          `${step.purpose} failed: ${error.message} — QEMU refused the place it was given although plugboard had read its whole layout just before ` +
            `(is something else adding devices to ${plan.instance} at the same time?)`,
          error,
        );
      }
      if (unanswered(error)) {
        // QEMU may have carried it out: an unplug's device_del is settled by the wait below (over
        // this connection, or a new one); any other step is undone with the rest.
        if (plan.unplugWait && isQmp(step.command) && step.command.execute === 'device_del') {
          unplugUnanswered = error;
          continue;
        }
        done.push(step);
      }
      return fail(`${step.purpose} failed: ${error instanceof Error ? error.message : String(error)}`, error, unanswered(error));
    }
  }

  if (plan.verify.kind === 'present') {
    let problem: string | null;
    try {
      problem = await (verifying ?? verifyPresent(qmp, plan, st));
    } catch (error) {
      return fail(`verification failed: ${error instanceof Error ? error.message : String(error)}`, error);
    }
    if (problem) return fail(`verification failed: ${problem}`, undefined);
    st.onProgress?.({ phase: 'verified', message: `QEMU lists ${plan.device.id} at ${allocationText(plan.verify.allocation)}` });
  }

  if (plan.unplugWait) {
    const w = plan.unplugWait;
    st.onProgress?.({ phase: 'waiting', id: w.id, timeoutMs: w.timeoutMs });
    let gone: boolean;
    try {
      gone = qmp.closed
        ? await withQmp(qmp.socketPath, { greetingTimeoutMs: st.greetingTimeoutMs ?? 1_000 }, (fresh) => waitGone(fresh, w.id, fresh.mark(), w.timeoutMs, st))
        : await waitGone(qmp, w.id, mark, w.timeoutMs, st, firstPoll);
    } catch (error) {
      await recordPendingUnplug(st.root, plan.instance, { id: w.id, kind: plan.device.kind }).catch(() => undefined);
      const why = `${error instanceof Error ? error.message : String(error)}${unplugUnanswered ? ` (device_del: ${unplugUnanswered instanceof Error ? unplugUnanswered.message : String(unplugUnanswered)})` : ''}`;
      const message =
        `unplug of ${w.id} was requested, but plugboard lost track of it: ${why}; the runtime file still lists it ` +
        `and a pending unplug is recorded — run plugboard show --live ${plan.instance}, then plugboard unplug ${plan.device.kind} ${plan.instance} ${w.id} again to finish`;
      throw new ActionFailedError(message, outcome(plan, 'failed', message, st.started), { cause: error });
    }
    if (!gone) {
      await recordPendingUnplug(st.root, plan.instance, { id: w.id, kind: plan.device.kind });
      const why = st.signal?.aborted
        ? 'interrupted while waiting'
        : w.needsGuest
          ? `the guest did not acknowledge the PCI unplug within ${seconds(w.timeoutMs)}`
          : `QEMU still lists it after ${seconds(w.timeoutMs)}`;
      return outcome(
        plan,
        'pending',
        `unplug of ${w.id} is pending: ${why}. The runtime file entry is kept (QEMU still has the device)` +
          `${plan.device.kind === 'nic' ? ', and so are its netdev, its tap and its nic/ record' : ''}; ` +
          `it completes when the guest acknowledges it — run plugboard unplug ${plan.device.kind} ${plan.instance} ${w.id} again to finish`,
        st.started,
      );
    }
    st.onProgress?.({ phase: 'verified', message: `QEMU no longer lists ${w.id}` });
  }
  const leftovers: string[] = [];
  if (plan.unplugWait && (plan.after ?? []).length > 0) {
    // The backend is released when QEMU finalizes the device, which DEVICE_DELETED announces
    // (~55 ms after it left the tree on SCSI): wait for it, bounded; "in use" retries cover the rest.
    await qmp
      .waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === plan.unplugWait!.id, {
        since: mark,
        timeoutMs: BACKEND_RELEASE_TIMEOUT_MS,
        what: `DEVICE_DELETED for ${plan.unplugWait.id}`,
      })
      .catch(() => undefined);
  }
  for (const step of plan.after ?? []) {
    try {
      await sendRetryingInUse(qmp, step.command, uncancelled);
    } catch (error) {
      if (step.check?.kind === 'gone-ok' && alreadyGone(step.command, error)) continue;
      leftovers.push(`${step.purpose}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  // Most instances never had a pending unplug: no file, nothing to clear (and no root-tree checks).
  if (plan.verify.kind === 'absent' && lstatSync(pendingFilePath(st.root, plan.instance), { throwIfNoEntry: false }) !== undefined) {
    await clearPendingUnplug(st.root, plan.instance, plan.verify.id);
  }

  try {
    write.prepared ??= prepareRuntimeFileWrite(st.file, runtimeText ?? serializeRuntime(plan.runtimeAfter));
    await write.prepared.commit({ expectText: st.text });
  } catch (error) {
    if (plan.verify.kind === 'present') {
      return fail(`QEMU has ${plan.device.id}, but the runtime file could not be written (${error instanceof Error ? error.message : String(error)})`, error);
    }
    throw new ActionFailedError(
      `QEMU removed ${plan.device.id}, but the runtime file could not be written: ${error instanceof Error ? error.message : String(error)} — it still lists the device; run plugboard check ${plan.instance}`,
      outcome(plan, 'failed', 'runtime file not written', st.started),
      { cause: error },
    );
  }
  st.onProgress?.({ phase: 'written', file: st.file });
  const verb = plan.verify.kind === 'present' ? `hot-added ${plan.device.id} at ${allocationText(plan.verify.allocation)}` : `unplugged ${plan.device.id}`;
  const message = leftovers.length ? `${verb}; but: ${leftovers.join('; ')}` : verb;
  return outcome(plan, 'done', message, st.started, { runtimeWritten: true, leftovers });
}

/** Re-export so callers can prune pending records when they probe. */
export { prunePending };
