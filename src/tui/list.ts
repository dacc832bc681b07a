/**
 * The instance list of the view, as a store: one row per instance, filled in as the instances load,
 * and the subscribers told in batches (200 instances loading in do not cost 200 redraws). The rows
 * are rebuilt into a new ListState once per batch, not once per row: a snapshot stays the same
 * object until it changes (useSyncExternalStore).
 */
import type { InstanceView } from './view.js';
import { driftSummary, type DriftSummary } from './view.js';

export type InstanceState = 'unknown' | 'running' | 'stopped' | 'busy';

/** One row of the instance list. Fields are undefined until that part has been loaded. */
export interface InstanceSummary {
  name: string;
  /** `listed`: only the name is known yet; `loaded`: the runtime file was read; `error`: it could not be. */
  phase: 'listed' | 'loaded' | 'error';
  status: InstanceState;
  diskType?: string;
  nicType?: string;
  /** The SCSI controller of kvm_cmd, or null when there is none. */
  controller?: string | null;
  disks?: number;
  nics?: number;
  /** Problems the bus model found in the runtime file. */
  problems?: number;
  drift: DriftSummary;
  driftCount?: number;
  /** The runtime file is in a legacy form (upgraded while loading). */
  legacy?: boolean;
  /** Why the runtime file could not be read, or why QEMU could not be asked (one line). */
  error?: string;
}

export interface ListState {
  /** `loading` until the first pass over every instance is done. */
  phase: 'loading' | 'ready' | 'error';
  /** Why the instances could not be listed (no such root…). */
  error: string | null;
  instances: readonly InstanceSummary[];
  refreshedAt: number | null;
}

export type ServiceListener = () => void;

/** Subscribers are told at most this often while things keep changing (a list loading in). */
const NOTIFY_INTERVAL_MS = 60;

/** Listeners, told in batches: at once (next tick) after a quiet spell, else at most every NOTIFY_INTERVAL_MS. */
export class Subscribers {
  private readonly listeners = new Set<ServiceListener>();
  private scheduled = false;
  private last = 0;

  /** `beforeNotify` runs once per batch, before the listeners (the list is rebuilt there). */
  constructor(private readonly beforeNotify: () => void) {}

  add(listener: ServiceListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.last + NOTIFY_INTERVAL_MS - Date.now();
    if (wait > 0) setTimeout(() => this.flush(), wait).unref();
    else setImmediate(() => this.flush());
  }

  clear(): void {
    this.listeners.clear();
  }

  private flush(): void {
    this.scheduled = false;
    this.last = Date.now();
    this.beforeNotify();
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (err) {
        process.emitWarning(`plugboard view listener failed: ${String(err)}`);
      }
    }
  }
}

/** The rows, their order, and the ListState made of them. */
export class InstanceList {
  private state: ListState = { phase: 'loading', error: null, instances: [], refreshedAt: null };
  private readonly rows = new Map<string, InstanceSummary>();
  private order: string[] = [];
  private dirty = false;

  /** `changed` is told of every change (batched by the caller). */
  constructor(private readonly changed: () => void) {}

  /** The list as it is now; the same object until it changes. */
  get(): ListState {
    this.rebuild();
    return this.state;
  }

  /** Makes the ListState of the rows, when they changed since the last one. */
  rebuild(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const instances = this.order.map((n) => this.rows.get(n)).filter((r): r is InstanceSummary => r !== undefined);
    this.state = { ...this.state, instances };
  }

  /** Marks the list changed (rows are rebuilt once per batch, not once per row: 200 rows load in one pass). */
  publish(patch: Partial<ListState> = {}): void {
    this.state = { ...this.state, ...patch };
    this.dirty = true;
    this.changed();
  }

  setRow(name: string, patch: Partial<InstanceSummary>): void {
    const had = this.rows.get(name) ?? { name, phase: 'listed', status: 'unknown', drift: 'unknown' };
    this.rows.set(name, { ...had, ...patch });
    this.publish();
  }

  /** The instances listed now: rows of names no longer there dropped, new names listed in order. */
  setNames(names: readonly string[]): void {
    const known = new Set(names);
    for (const n of [...this.rows.keys()]) if (!known.has(n)) this.rows.delete(n);
    for (const n of names) if (!this.rows.has(n)) this.rows.set(n, { name: n, phase: 'listed', status: 'unknown', drift: 'unknown' });
    this.order = [...names];
    this.publish({ error: null });
  }

  /** The instances could not be listed. */
  failed(message: string): void {
    this.order = [];
    this.rows.clear();
    this.publish({ phase: 'error', error: message, refreshedAt: Date.now() });
  }
}

/** The row of an instance whose view was built. */
export function summaryOf(view: InstanceView): Partial<InstanceSummary> {
  const { rf, model } = view;
  const status: InstanceState =
    view.liveStatus.kind === 'live' ? 'running' : view.liveStatus.kind === 'busy' ? 'busy' : view.liveStatus.kind === 'stopped' ? 'stopped' : 'running';
  const row: Partial<InstanceSummary> = {
    phase: 'loaded',
    status,
    diskType: rf.hvparams.disk_type,
    nicType: rf.hvparams.nic_type,
    controller: model.scsi?.controller ?? null,
    disks: rf.disks.length,
    nics: rf.nics.length,
    problems: model.problems.length,
    drift: driftSummary(view.drift),
    driftCount: view.drift?.items.length ?? 0,
    legacy: rf.upgrades.length > 0,
    error: undefined,
  };
  if (view.liveStatus.kind === 'error') row.error = view.liveStatus.message;
  return row;
}

/** Runs `work` over `items` with at most `limit` at a time. */
export async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !signal?.aborted) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
