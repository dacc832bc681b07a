/**
 * Everything a planner needs, gathered from the runtime file, QEMU and the host: the plan context.
 * The executor's use case (usecases/run-action.ts) builds it under the instance lock from the live
 * state it just probed; the preview (usecases/preview.ts) from one short look, or from the file alone.
 *
 * The part that needs no QEMU (host facts, the uuid source, the file's bus model) is gathered first
 * (`offlineContext`), so that a caller can do it while QEMU reads its probe; `withLive` lays what
 * QEMU said over it. The bus model is built on first use: an unplug's planner never reads it.
 */
import { buildBusModel } from '../bus/model.js';
import type { BusModel } from '../bus/types.js';
import type { LiveState } from '../live/probe.js';
import { overlayLive } from '../live/overlay.js';
import { detectBackendStyle } from '../live/backend.js';
import { newUuid } from '../runtime/ids.js';
import type { RuntimeFile } from '../runtime/types.js';
import { messageOf } from '../errors.js';
import { FdInputError } from '../qmp/fdpass/errors.js';
import { checkDiskPath } from '../qmp/fdpass/inspect.js';
import { inspectHostPath, type HostPathInfo } from './host.js';
import { diskFdReason, type DiskPlanContext } from './plan-disk.js';
import { resolveNicLink, tapNameFor, type NicHostFacts, type NicPlanContext } from './plan-nic.js';
import { TUN_DEVICE, VHOST_NET_DEVICE, inspectLink, isCharDevice, readNicRecords, type LinkInfo } from './host-net.js';
import type { Action } from './types.js';

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

/** Everything a planner needs, gathered from the file, QEMU (`live`, when it answered) and the host. */
export async function planContext(
  action: Action,
  rf: RuntimeFile,
  live: LiveState | undefined,
  opts: { newUuid?: () => string; nodeNames?: readonly string[]; root?: string },
): Promise<PlanContext> {
  const offline = await offlineContext(action, rf, opts, live);
  return live ? withLive(offline, live, { nodeNames: opts.nodeNames }) : contextOf(offline, { ...(opts.nodeNames !== undefined ? { nodeNames: opts.nodeNames } : {}) });
}

/**
 * The part of the plan context that needs no QEMU: the host facts (the disk's path, the NIC's
 * bridge and tap), the uuid source, and the bus model of the runtime file — built on first use
 * (`model()`), since an unplug's planner never reads it.
 */
export interface OfflineContext {
  rf: RuntimeFile;
  model: () => BusModel;
  hostPath: HostPathInfo | undefined;
  /** A disk hot-add's path checked for descriptor passing (DiskPlanContext.checkedPath). */
  checkedPath: DiskPlanContext['checkedPath'];
  nicHost: NicHostFacts | undefined;
  newUuid: () => string;
}

export async function offlineContext(
  action: Action,
  rf: RuntimeFile,
  opts: { newUuid?: () => string; root?: string },
  /** What QEMU said, when known already (decides whether the disk is passed by descriptor). */
  live?: LiveState,
): Promise<OfflineContext> {
  let model: BusModel | undefined;
  let hostPath: HostPathInfo | undefined;
  let checkedPath: DiskPlanContext['checkedPath'];
  if (action.type === 'hot-add-disk') {
    hostPath = await inspectHostPath(action.path);
    // Only for a disk passed by descriptor: the plain hot-add pays nothing for it.
    if (diskFdReason(rf, live) !== undefined) checkedPath = checkPathForFdPassing(action, rf);
  }
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
  return { rf, model: () => (model ??= buildBusModel(rf)), hostPath, checkedPath, nicHost, newUuid: uuidSource };
}

/**
 * The path as descriptor passing needs it (where it resolves, its device and inode), or the bad
 * input it is: the planner uses it only when the plan passes a descriptor (a few system calls).
 */
export function checkPathForFdPassing(action: Extract<Action, { type: 'hot-add-disk' }>, rf: RuntimeFile): DiskPlanContext['checkedPath'] {
  const path = action.path;
  const diskType = action.diskType ?? rf.hvparams.disk_type;
  try {
    return { ok: true, path: checkDiskPath(path, diskType) };
  } catch (error) {
    // Only a plan that passes a descriptor reads it: a hot-add QEMU opens itself must not fail here.
    return { ok: false, error: error instanceof FdInputError ? error : new FdInputError(`--path ${path}: cannot be checked (${messageOf(error)})`, { cause: error }) };
  }
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
    checkedPath: offline.checkedPath,
    detectedBackend: undefined,
    ...(offline.nicHost !== undefined ? { nicHost: offline.nicHost } : {}),
    newUuid: offline.newUuid,
    ...more,
  };
  return Object.defineProperty(ctx, 'model', { get: () => (built ??= model()), enumerable: true }) as PlanContext;
}

/**
 * The offline context with what QEMU has laid over it: the live state, the backend style of the
 * instance's own disks, the block nodes (`nodeNames`) and whether QEMU has the device to unplug
 * (`present`: see DiskPlanContext.present), when known.
 */
export function withLive(offline: OfflineContext, live: LiveState, known: { nodeNames?: readonly string[] | undefined; present?: boolean | undefined } = {}): PlanContext {
  const detected = detectBackendStyle(live, offline.rf);
  return contextOf(
    offline,
    {
      live,
      detectedBackend: detected === 'unknown' ? undefined : detected,
      ...(known.nodeNames !== undefined ? { nodeNames: known.nodeNames } : {}),
      ...(known.present !== undefined ? { present: known.present } : {}),
    },
    () => overlayLive(offline.model(), live),
  );
}
