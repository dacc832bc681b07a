/**
 * The core side of the interactive view: everything the screens show or do goes through here, and
 * from here through the same core the CLI uses (the read path, the use cases). No terminal code:
 * the views subscribe to it and call it. Its parts:
 * - list.ts: the instance list as a store, and the subscribers told in batches;
 * - action-runner.ts: previews and runs of actions;
 * - here: the runtime-file and view caches, the list's refresh, and the session's extras (the
 *   demo's banner, notes, spare disks, read-only mode).
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
import type { Action, Plan } from '../actions/types.js';
import { firstLineOf } from '../errors.js';
import type { ProgressEvent } from '../executor/outcome.js';
import type { Transcript } from '../qmp/transcript.js';
import { newUuid } from '../runtime/ids.js';
import { instanceStatus, listInstances, runtimeFilePath } from '../runtime/root.js';
import type { RuntimeFile } from '../runtime/types.js';
import { loadInstanceFile, readInstance, type Look } from '../usecases/read-instance.js';
import { ActionRunner, type ActionResult } from './action-runner.js';
import { InstanceList, pool, Subscribers, summaryOf, type ListState, type ServiceListener } from './list.js';
import { checkDiskPath, completePath, type FieldCheck } from './validate.js';
import { buildInstanceView, viewOf, type InstanceView } from './view.js';

// The screens know the service and the types of what it gives them.
export type { ActionResult } from './action-runner.js';
export type { InstanceState, InstanceSummary, ListState, ServiceListener } from './list.js';

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

/** One empty list for every instance without notes (snapshots must be stable for subscribers). */
const NO_NOTES: readonly string[] = Object.freeze([]);

interface CachedFile {
  key: string;
  rf: RuntimeFile;
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
  private readonly files = new Map<string, CachedFile>();
  private readonly views = new Map<string, InstanceView>();
  private readonly notesByName = new Map<string, readonly string[]>();
  private bannerLines: readonly string[] = [];
  private readonly subscribers: Subscribers;
  private readonly list: InstanceList;
  private readonly actions: ActionRunner;
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
    this.subscribers = new Subscribers(() => this.list.rebuild());
    this.list = new InstanceList(() => this.subscribers.changed());
    this.actions = new ActionRunner({
      root: this.root,
      transcript: this.transcript,
      readOnly: this.readOnly,
      linked: (signal) => this.linked(signal),
      onEnded: (name) => this.files.delete(name),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Subscription

  /** Called (batched) whenever the list, a view, the notes or the banner change. Returns unsubscribe. */
  subscribe(listener: ServiceListener): () => void {
    return this.subscribers.add(listener);
  }

  /** The list as it is now; the same object until it changes (for useSyncExternalStore). */
  getList(): ListState {
    return this.list.get();
  }

  dispose(): void {
    this.life.abort();
    this.subscribers.clear();
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
   * Builds the instance's view through the read path: runtime file, status, one short QMP probe
   * when it runs, pending unplugs. `record` puts the probe's traffic in the transcript
   * (operator-asked loads); `keep` (default true) keeps the view for cachedView().
   * Never probes an instance an action of ours is running on (the last live state is kept).
   */
  async loadView(name: string, opts: { signal?: AbortSignal; record?: boolean; keep?: boolean } = {}): Promise<InstanceView> {
    const signal = this.linked(opts.signal);
    const rf = await this.loadFile(name);
    // The list pass (keep: false) of an instance nobody opened reads the overview (the SCSI
    // addresses of the devices the runtime file describes taken from it: one qom-get fewer per
    // disk, for every instance every few seconds); an opened instance is read in full.
    const prev = this.views.get(name);
    const look: Look = this.actions.isActing(name)
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
    this.list.setRow(name, summaryOf(view));
    return view;
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
      this.list.failed(firstLineOf(error));
      this.markListed();
      return;
    }
    this.list.setNames(names);
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
            this.list.setRow(name, { ...summaryOf(view), status, drift: status === 'running' ? 'unknown' : 'none' });
          }
        } catch (error) {
          if (signal.aborted) return;
          const status = await instanceStatus(this.root, name).catch(() => 'unknown' as const);
          this.list.setRow(name, { phase: 'error', status, error: firstLineOf(error), drift: 'unknown' });
        }
      },
      signal,
    );
    if (!signal.aborted) this.list.publish({ phase: 'ready', refreshedAt: Date.now() });
  }

  // ---------------------------------------------------------------------------------------------
  // Actions (action-runner.ts)

  /** Whether an action is running on the instance (its socket is in use by us). */
  isActing(name: string): boolean {
    return this.actions.isActing(name);
  }

  /** A fresh UUID for a device the wizard is about to add (so preview and run use the same id). */
  newUuid(): string {
    return newUuid();
  }

  /** The plan of an action (one short QMP connection when the instance runs; nothing changes). */
  preview(action: Action, signal?: AbortSignal): Promise<Plan> {
    return this.actions.preview(action, signal);
  }

  /** Runs an action for real; never throws for what the operator should read (see ActionRunner.run). */
  run(action: Action, opts: { signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void } = {}): Promise<ActionResult> {
    return this.actions.run(action, opts);
  }

  /**
   * After dispose() (which cancels their waits): waits until the actions still under way have
   * finished undoing what they did, and returns one line per action saying what state it left.
   */
  settle(): Promise<string[]> {
    return this.actions.settle();
  }

  checkDiskPath(path: string, diskType: string, name?: string): Promise<FieldCheck> {
    const rf = name !== undefined ? this.views.get(name)?.rf : undefined;
    return checkDiskPath(path, diskType, rf);
  }

  completePath(prefix: string): Promise<string[]> {
    return completePath(prefix);
  }

  // ---------------------------------------------------------------------------------------------
  // The session's extras (the demo)

  /** Lines about the session shown above every screen (the demo's sandbox…). */
  get banner(): readonly string[] {
    return this.bannerLines;
  }

  setBanner(lines: readonly string[]): void {
    this.bannerLines = lines;
    this.subscribers.changed();
  }

  /** Notes about one instance (why its PCI unplugs stay pending in the demo…). */
  notes(name: string): readonly string[] {
    return this.notesByName.get(name) ?? NO_NOTES;
  }

  setNotes(name: string, lines: readonly string[]): void {
    this.notesByName.set(name, lines);
    this.subscribers.changed();
  }

  /** A spare disk image no instance uses yet (the demo's), to propose in the wizard. */
  suggestDiskPath(): string | undefined {
    const used = new Set<string>();
    for (const v of this.views.values()) for (const d of v.rf.disks) used.add(d.link);
    for (const c of this.files.values()) for (const d of c.rf.disks) used.add(d.link);
    return this.spareDisks.find((p) => !used.has(p));
  }
}
