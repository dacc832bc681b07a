/**
 * The core side of the interactive view: everything the screens show or do goes through here, and
 * from here through the same core the CLI uses (runtime files, bus model, live probe, actions).
 * No terminal code: the views subscribe to it and call it.
 *
 * - The instance list loads lazily: names first (one readdir), then runtime files, status and a
 *   short QMP probe per running instance, a bounded number at a time, with subscribers told as
 *   results come in (batched). Runtime files are re-read only when they changed (mtime/size/inode).
 * - QMP connections are short (connect, probe, close): the socket is Ganeti's. A socket held by
 *   someone else shows as "QMP busy", never as a hang (short greeting timeout).
 * - While an action runs on an instance, no background probe touches its socket.
 * - Every async call takes an AbortSignal; dispose() aborts whatever is still running.
 */
import { setMaxListeners } from 'node:events';
import { stat } from 'node:fs/promises';
import { runAction } from '../usecases/run-action.js';
import { ActionFailedError } from '../executor/outcome.js';
import { previewAction } from '../usecases/preview.js';
import type { Action, Outcome, Plan } from '../actions/types.js';
import type { ProgressEvent } from '../executor/outcome.js';
import { firstLineOf, InputError, PlugboardError, RefusedError } from '../errors.js';
import type { Transcript } from '../qmp/transcript.js';
import { newUuid } from '../runtime/ids.js';
import { instanceStatus, listInstances, runtimeFilePath } from '../runtime/root.js';
import type { RuntimeFile } from '../runtime/types.js';
import { loadInstanceFile, readInstance, type Look } from '../usecases/read-instance.js';
import { checkDiskPath, completePath, type FieldCheck } from './validate.js';
import { buildInstanceView, driftSummary, viewOf, type DriftSummary, type InstanceView } from './view.js';

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

export type ActionResult =
  | { ok: true; outcome: Outcome }
  | {
      ok: false;
      message: string;
      /** Set when something was sent (what was undone, what is left). */
      outcome: Outcome | null;
      /** Refused before anything was sent (bad input, bus full, not supported…). */
      refused: boolean;
    };

export interface InstanceServiceOptions {
  root: string;
  /** Where the QMP traffic of previews, actions and operator-asked loads is recorded. */
  transcript?: Transcript;
  /** How long a QMP socket may take to greet before it counts as busy (default 500 ms). */
  greetingTimeoutMs?: number;
  /** Reply timeout of probe commands (default 3000 ms). */
  commandTimeoutMs?: number;
  /** Instances loaded at the same time (default 16). */
  concurrency?: number;
  /** When set, actions are refused with this reason (the demo without QEMU). */
  readOnly?: string | null;
  /** Disk images the wizard may propose (the demo's spare images). */
  spareDisks?: readonly string[];
  /** How long an unplug waits for the guest (default 8000 ms). */
  unplugTimeoutMs?: number;
}

export type ServiceListener = () => void;

/** Subscribers are told at most this often while things keep changing (a list loading in). */
const NOTIFY_INTERVAL_MS = 60;

/** One empty list for every instance without notes (snapshots must be stable for subscribers). */
const NO_NOTES: readonly string[] = Object.freeze([]);

interface CachedFile {
  key: string;
  rf: RuntimeFile;
}

/** Runs `work` over `items` with at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>, signal?: AbortSignal): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !signal?.aborted) {
      const item = items[next++]!;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class InstanceService {
  readonly root: string;
  readonly transcript: Transcript | undefined;
  readonly readOnly: string | null;
  readonly unplugTimeoutMs: number;
  private readonly greetingTimeoutMs: number;
  private readonly commandTimeoutMs: number;
  private readonly concurrency: number;
  private readonly spareDisks: readonly string[];
  private readonly listeners = new Set<ServiceListener>();
  private readonly files = new Map<string, CachedFile>();
  private readonly views = new Map<string, InstanceView>();
  private readonly notesByName = new Map<string, readonly string[]>();
  private bannerLines: readonly string[] = [];
  private readonly acting = new Set<string>();
  /** Actions under way, so that quitting (q, Ctrl-C) waits for their rollback and reports their state. */
  private readonly running = new Set<Promise<ActionResult>>();
  private list: ListState = { phase: 'loading', error: null, instances: [], refreshedAt: null };
  private rows = new Map<string, InstanceSummary>();
  private order: string[] = [];
  private notifyScheduled = false;
  private lastNotify = 0;
  private listDirty = false;
  private refreshing: Promise<void> | undefined;
  private readonly life = new AbortController();
  private markListed: () => void = () => undefined;
  private readonly listed = new Promise<void>((resolve) => {
    this.markListed = resolve;
  });

  constructor(options: InstanceServiceOptions) {
    this.root = options.root;
    this.transcript = options.transcript;
    this.readOnly = options.readOnly ?? null;
    this.greetingTimeoutMs = options.greetingTimeoutMs ?? 500;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 3_000;
    this.concurrency = Math.max(1, options.concurrency ?? 16);
    this.spareDisks = options.spareDisks ?? [];
    this.unplugTimeoutMs = options.unplugTimeoutMs ?? 8_000;
    setMaxListeners(0, this.life.signal);
  }

  // ---------------------------------------------------------------------------------------------
  // Subscription

  /** Called (batched) whenever the list, a view, the notes or the banner change. Returns unsubscribe. */
  subscribe(listener: ServiceListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** The list as it is now; the same object until it changes (for useSyncExternalStore). */
  getList(): ListState {
    this.rebuildList();
    return this.list;
  }

  /**
   * Tells the subscribers, batched: at once (next tick) after a quiet spell, else at most every
   * NOTIFY_INTERVAL_MS, so that 200 instances loading in do not cost 200 redraws.
   */
  private changed(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    const wait = this.lastNotify + NOTIFY_INTERVAL_MS - Date.now();
    if (wait > 0) setTimeout(() => this.flush(), wait).unref();
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    {
      this.notifyScheduled = false;
      this.lastNotify = Date.now();
      this.rebuildList();
      for (const l of [...this.listeners]) {
        try {
          l();
        } catch (err) {
          process.emitWarning(`plugboard view listener failed: ${String(err)}`);
        }
      }
    }
  }

  /** Marks the list changed (rows are rebuilt once per batch, not once per row: 200 rows load in one pass). */
  private publishList(patch: Partial<ListState> = {}): void {
    this.list = { ...this.list, ...patch };
    this.listDirty = true;
    this.changed();
  }

  private rebuildList(): void {
    if (!this.listDirty) return;
    this.listDirty = false;
    const instances = this.order.map((n) => this.rows.get(n)).filter((r): r is InstanceSummary => r !== undefined);
    this.list = { ...this.list, instances };
  }

  private setRow(name: string, patch: Partial<InstanceSummary>): void {
    const had = this.rows.get(name) ?? { name, phase: 'listed', status: 'unknown', drift: 'unknown' };
    this.rows.set(name, { ...had, ...patch });
    this.publishList();
  }

  /** Lines about the session shown above every screen (the demo's sandbox…). */
  get banner(): readonly string[] {
    return this.bannerLines;
  }

  setBanner(lines: readonly string[]): void {
    this.bannerLines = lines;
    this.changed();
  }

  /** Notes about one instance (why its PCI unplugs stay pending in the demo…). */
  notes(name: string): readonly string[] {
    return this.notesByName.get(name) ?? NO_NOTES;
  }

  setNotes(name: string, lines: readonly string[]): void {
    this.notesByName.set(name, lines);
    this.changed();
  }

  /** Whether an action is running on the instance (its socket is in use by us). */
  isActing(name: string): boolean {
    return this.acting.has(name);
  }

  dispose(): void {
    this.life.abort();
    this.listeners.clear();
  }

  /** The caller's signal joined with the service's own (dispose). Many loads share one signal. */
  private linked(signal?: AbortSignal): AbortSignal {
    if (!signal) return this.life.signal;
    setMaxListeners(0, signal);
    const joined = AbortSignal.any([signal, this.life.signal]);
    setMaxListeners(0, joined);
    return joined;
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  /** The runtime file, re-read only when it changed on disk. */
  async loadFile(name: string): Promise<RuntimeFile> {
    const file = runtimeFilePath(this.root, name);
    const st = await stat(file).catch(() => null);
    const key = st ? `${st.ino}:${st.size}:${st.mtimeMs}` : '';
    const hit = this.files.get(name);
    if (hit && key !== '' && hit.key === key) return hit.rf;
    const rf = await loadInstanceFile(this.root, name);
    if (key !== '') this.files.set(name, { key, rf });
    return rf;
  }

  /** The last view built for the instance, if any (shown at once while a fresh one loads). */
  cachedView(name: string): InstanceView | undefined {
    return this.views.get(name);
  }

  /**
   * Builds the instance's view: runtime file, status, one short QMP probe when it runs, pending
   * unplugs. `record` puts the probe's traffic in the transcript (operator-asked loads); `keep`
   * (default true) keeps the view for cachedView().
   * Never probes an instance an action of ours is running on (the last live state is kept).
   */
  async loadView(name: string, opts: { signal?: AbortSignal; record?: boolean; keep?: boolean } = {}): Promise<InstanceView> {
    const signal = this.linked(opts.signal);
    const rf = await this.loadFile(name);
    // The list pass (keep: false) of an instance nobody opened reads the overview (the SCSI
    // addresses of the devices the runtime file describes taken from it: one qom-get fewer per
    // disk, for every instance every few seconds); an opened instance is read in full. An
    // instance an action of ours runs on is not asked (the last live state is kept).
    const prev = this.views.get(name);
    const look: Look = this.acting.has(name)
      ? { kept: { live: prev?.live ?? null, liveStatus: prev?.liveStatus ?? { kind: 'not-asked' } } }
      : opts.keep === false && !prev
        ? 'overview'
        : 'all';
    const reading = await readInstance(this.root, name, {
      rf,
      look,
      qemuTrouble: 'report',
      greetingTimeoutMs: this.greetingTimeoutMs,
      commandTimeoutMs: this.commandTimeoutMs,
      signal,
      ...(opts.record === true && this.transcript ? { transcript: this.transcript } : {}),
    });
    const view = viewOf(reading);
    // Views are kept for the instances that were opened (and given to the list pass only when one
    // is kept already): 200 instances in the list need their summaries, not 200 views in memory.
    if (opts.keep !== false || this.views.has(name)) this.views.set(name, view);
    this.setRow(name, this.summaryOf(view));
    return view;
  }

  private summaryOf(view: InstanceView): Partial<InstanceSummary> {
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

  /**
   * Resolves when the first refresh has listed the instances' names (or failed to), before their
   * files are read: the view's first frame can show the list, then fill it in.
   */
  whenListed(): Promise<void> {
    return this.listed;
  }

  /**
   * Lists the instances and loads each (runtime file, status, probe when `probe` is true), a bounded
   * number at a time. Concurrent calls share one pass.
   */
  refreshList(opts: { signal?: AbortSignal; probe?: boolean } = {}): Promise<void> {
    this.refreshing ??= this.doRefresh(this.linked(opts.signal), opts.probe ?? true).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(signal: AbortSignal, probe: boolean): Promise<void> {
    let names: string[];
    try {
      names = await listInstances(this.root);
    } catch (error) {
      this.order = [];
      this.rows.clear();
      this.publishList({ phase: 'error', error: firstLineOf(error), refreshedAt: Date.now() });
      this.markListed();
      return;
    }
    const known = new Set(names);
    for (const n of [...this.rows.keys()]) if (!known.has(n)) this.rows.delete(n);
    for (const n of names) if (!this.rows.has(n)) this.rows.set(n, { name: n, phase: 'listed', status: 'unknown', drift: 'unknown' });
    this.order = names;
    this.publishList({ error: null });
    this.markListed();
    await pool(
      names,
      this.concurrency,
      async (name) => {
        try {
          if (probe) {
            await this.loadView(name, { signal, keep: false });
          } else {
            const rf = await this.loadFile(name);
            const status = await instanceStatus(this.root, name);
            const view = buildInstanceView({ rf, live: null, liveStatus: status === 'running' ? { kind: 'not-asked' } : { kind: 'stopped' }, pending: [] });
            this.setRow(name, { ...this.summaryOf(view), status, drift: status === 'running' ? 'unknown' : 'none' });
          }
        } catch (error) {
          if (signal.aborted) return;
          const status = await instanceStatus(this.root, name).catch(() => 'unknown' as const);
          this.setRow(name, { phase: 'error', status, error: firstLineOf(error), drift: 'unknown' });
        }
      },
      signal,
    );
    if (!signal.aborted) this.publishList({ phase: 'ready', refreshedAt: Date.now() });
  }

  // ---------------------------------------------------------------------------------------------
  // Actions

  /** A fresh UUID for a device the wizard is about to add (so preview and run use the same id). */
  newUuid(): string {
    return newUuid();
  }

  /** The plan of an action (one short QMP connection when the instance runs; nothing changes). */
  async preview(action: Action, signal?: AbortSignal): Promise<Plan> {
    if (this.readOnly) throw new RefusedError(this.readOnly);
    return previewAction(action, {
      root: this.root,
      signal: this.linked(signal),
      greetingTimeoutMs: 1_000,
      ...(this.transcript ? { transcript: this.transcript } : {}),
    });
  }

  /**
   * Runs an action for real (the executor: lock, re-plan against QEMU, steps, verify, runtime file).
   * Never throws for what the operator should read: the result says what happened.
   */
  run(action: Action, opts: { signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void } = {}): Promise<ActionResult> {
    const result = this.runNow(action, opts);
    this.running.add(result);
    void result.finally(() => this.running.delete(result));
    return result;
  }

  /**
   * After dispose() (which cancels their waits): waits until the actions still under way have
   * finished undoing what they did, and returns one line per action saying what state it left.
   */
  async settle(): Promise<string[]> {
    const results = await Promise.all([...this.running]);
    return results.map((r) => (r.ok ? `${r.outcome.status}: ${r.outcome.message}` : r.message));
  }

  private async runNow(action: Action, opts: { signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void }): Promise<ActionResult> {
    if (this.readOnly) return { ok: false, message: this.readOnly, outcome: null, refused: true };
    const name = action.instance;
    this.acting.add(name);
    try {
      const outcome = await runAction(action, {
        root: this.root,
        signal: this.linked(opts.signal),
        ...(this.transcript ? { transcript: this.transcript } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      return { ok: true, outcome };
    } catch (error) {
      if (error instanceof ActionFailedError) return { ok: false, message: error.message, outcome: error.outcome, refused: false };
      const refused = error instanceof RefusedError || error instanceof InputError;
      const message = error instanceof PlugboardError ? error.message : `internal error: ${firstLineOf(error)}`;
      return { ok: false, message, outcome: null, refused };
    } finally {
      this.acting.delete(name);
      this.files.delete(name);
    }
  }

  checkDiskPath(path: string, diskType: string, name?: string): Promise<FieldCheck> {
    const rf = name !== undefined ? this.views.get(name)?.rf : undefined;
    return checkDiskPath(path, diskType, rf);
  }

  completePath(prefix: string): Promise<string[]> {
    return completePath(prefix);
  }

  /** A spare disk image no instance uses yet (the demo's), to propose in the wizard. */
  suggestDiskPath(): string | undefined {
    const used = new Set<string>();
    for (const v of this.views.values()) for (const d of v.rf.disks) used.add(d.link);
    for (const c of this.files.values()) for (const d of c.rf.disks) used.add(d.link);
    return this.spareDisks.find((p) => !used.has(p));
  }
}
