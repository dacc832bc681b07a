/**
 * What the interactive view shows of one instance: a reading of the read path
 * (usecases/read-instance.ts: the runtime file, the bus model with the live state laid over it when
 * QEMU answered, the drift, the pending unplugs, where the next hot-added disk and NIC go) plus the
 * marks of each device. Pure: `viewOf` takes a reading, `buildInstanceView` what a test made up.
 */
import type { Drift, DriftItem } from '../live/drift.js';
import type { PendingUnplug } from '../live/pending.js';
import type { LiveState } from '../live/probe.js';
import type { RuntimeFile } from '../runtime/types.js';
import { instancePicture, type InstanceReading, type LiveStatus } from '../usecases/read-instance.js';

/**
 * How a device on the map compares with QEMU:
 * - `ok`: both agree (or QEMU was not asked);
 * - `drift`: both have it, at another place or as another driver;
 * - `pending`: an unplug was requested and the guest has not acknowledged it;
 * - `missing`: the runtime file lists it, QEMU does not have it (a completed unplug, a lost device);
 * - `live-only`: QEMU has it, the runtime file does not list it.
 */
export type DeviceMark = 'ok' | 'drift' | 'pending' | 'missing' | 'live-only';

export interface InstanceView extends InstanceReading {
  name: string;
  /** By device id; devices not listed are `ok`. */
  marks: ReadonlyMap<string, DeviceMark>;
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

/** The view of a reading. */
export function viewOf(reading: InstanceReading, now: number = Date.now()): InstanceView {
  return { ...reading, name: reading.rf.instance, marks: marksOf(reading.drift), builtAt: now };
}

export interface ViewInputs {
  rf: RuntimeFile;
  live: LiveState | null;
  liveStatus: LiveStatus;
  pending: readonly PendingUnplug[];
  warnings?: string[];
  now?: number;
}

/** A view from parts (tests, previews of made-up states): the read path's picture of them. */
export function buildInstanceView(inputs: ViewInputs): InstanceView {
  const { rf, live, pending } = inputs;
  return viewOf({ rf, live, liveStatus: inputs.liveStatus, pending, warnings: inputs.warnings ?? [], ...instancePicture(rf, live, pending) }, inputs.now);
}

/** The drift in one word for the instance list: none, drift, pending (an unplug waits), or unknown (QEMU not asked). */
export type DriftSummary = 'none' | 'drift' | 'pending' | 'unknown';

export function driftSummary(drift: Drift | null): DriftSummary {
  if (!drift) return 'unknown';
  if (drift.items.some((i) => i.code === 'unplug-pending')) return 'pending';
  return drift.ok ? 'none' : 'drift';
}
