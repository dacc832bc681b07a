/**
 * What the interactive view shows of one instance, computed from the core: the runtime file, the
 * bus model (with the live state laid over it when QEMU answered), the drift, the pending unplugs,
 * and where the next hot-added disk and NIC go. Pure: `buildInstanceView` takes what was read.
 */
import { allocate } from '../bus/allocate.js';
import { buildBusModel } from '../bus/model.js';
import type { AllocationResult, BusModel } from '../bus/types.js';
import { computeDrift, type Drift, type DriftItem } from '../live/drift.js';
import { overlayLive } from '../live/overlay.js';
import type { PendingUnplug } from '../live/pending.js';
import type { LiveState } from '../live/probe.js';
import type { RuntimeFile } from '../runtime/types.js';

/** How the live part of a view came about. */
export type LiveStatus =
  /** QEMU answered at `at` (Date.now()). */
  | { kind: 'live'; at: number }
  /** The instance does not run on this node: the runtime file is all there is. */
  | { kind: 'stopped' }
  /** Someone else holds the QMP socket (Ganeti itself, another plugboard): try again. */
  | { kind: 'busy'; message: string }
  /** QEMU could not be asked, for another reason (the message says which). */
  | { kind: 'error'; message: string }
  /** Not asked (yet). */
  | { kind: 'not-asked' };

/**
 * How a device on the map compares with QEMU:
 * - `ok`: both agree (or QEMU was not asked);
 * - `drift`: both have it, at another place or as another driver;
 * - `pending`: an unplug was requested and the guest has not acknowledged it;
 * - `missing`: the runtime file lists it, QEMU does not have it (a completed unplug, a lost device);
 * - `live-only`: QEMU has it, the runtime file does not list it.
 */
export type DeviceMark = 'ok' | 'drift' | 'pending' | 'missing' | 'live-only';

export interface NextPlaces {
  disk: AllocationResult;
  nic: AllocationResult;
}

export interface InstanceView {
  name: string;
  rf: RuntimeFile;
  /** The runtime file's model, with QEMU's state laid over it when QEMU answered. */
  model: BusModel;
  live: LiveState | null;
  liveStatus: LiveStatus;
  drift: Drift | null;
  pending: readonly PendingUnplug[];
  /** By device id; devices not listed are `ok`. */
  marks: ReadonlyMap<string, DeviceMark>;
  next: NextPlaces;
  /** Problems reading side files (a broken pending-unplug record…): shown, never fatal. */
  warnings: string[];
  /** Date.now() when the view was built. */
  builtAt: number;
}

const MARK_OF: Record<DriftItem['code'], DeviceMark> = {
  'missing-from-qemu': 'missing',
  'unknown-to-file': 'live-only',
  moved: 'drift',
  'driver-differs': 'drift',
  'unplug-pending': 'pending',
  'controller-missing': 'drift',
  'controller-differs': 'drift',
};

/** Which mark wins when one device has several drift items. */
const MARK_RANK: Record<DeviceMark, number> = { ok: 0, 'live-only': 1, drift: 2, missing: 3, pending: 4 };

export function marksOf(drift: Drift | null): Map<string, DeviceMark> {
  const marks = new Map<string, DeviceMark>();
  if (!drift) return marks;
  for (const item of drift.items) {
    if (item.id === '') continue;
    const mark = MARK_OF[item.code];
    const had = marks.get(item.id);
    if (had === undefined || MARK_RANK[mark] > MARK_RANK[had]) marks.set(item.id, mark);
  }
  return marks;
}

export interface ViewInputs {
  rf: RuntimeFile;
  live: LiveState | null;
  liveStatus: LiveStatus;
  pending: readonly PendingUnplug[];
  warnings?: string[];
  now?: number;
}

export function buildInstanceView(inputs: ViewInputs): InstanceView {
  const { rf, live } = inputs;
  const fileModel = buildBusModel(rf);
  const model = live ? overlayLive(fileModel, live) : fileModel;
  const drift = live ? computeDrift(rf, live, inputs.pending) : null;
  return {
    name: rf.instance,
    rf,
    model,
    live,
    liveStatus: inputs.liveStatus,
    drift,
    pending: inputs.pending,
    marks: marksOf(drift),
    next: {
      disk: allocate(model, rf, { kind: 'disk' }),
      nic: allocate(model, rf, { kind: 'nic' }),
    },
    warnings: inputs.warnings ?? [],
    builtAt: inputs.now ?? Date.now(),
  };
}

/** The drift in one word for the instance list: none, drift, pending (an unplug waits), or unknown (QEMU not asked). */
export type DriftSummary = 'none' | 'drift' | 'pending' | 'unknown';

export function driftSummary(drift: Drift | null): DriftSummary {
  if (!drift) return 'unknown';
  if (drift.items.some((i) => i.code === 'unplug-pending')) return 'pending';
  return drift.ok ? 'none' : 'drift';
}
