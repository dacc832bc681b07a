/**
 * Hot-add and unplug through Ganeti: the second executor behind the same action → plan path.
 *
 *   Ganeti's view (RAPI) → device references resolved to Ganeti's UUIDs → plan (actions/plan-ganeti.ts:
 *   the exact request) → under plugboard's instance lock: the view read again, planned again, the
 *   request sent and the job followed (executor/ganeti/run.ts: its log as it comes) → the node read
 *   again (the read path, Ganeti's side included) → outcome
 *
 * The outcome is read from the job's opresult, honestly:
 * - `done`: every device change hot-plugged (`hotplug:done`); where each new device landed on the
 *   node is read from the runtime file Ganeti wrote and from QEMU;
 * - `hotplug-failed`: the job succeeded but a hotplug did not (`hotplug:failed`): Ganeti changed its
 *   configuration and the node did not. The reading after the job shows the resulting marks, and
 *   `repairs` the node-local commands that bring the node in line (or the Ganeti-side ones);
 * - `next-start`: the instance does not run (or the change is one of hypervisor parameters): Ganeti's
 *   configuration changed, the node follows at the next start;
 * - a job that failed throws its JobFailedError (an OpPrereqError changed nothing); a job that
 *   outlives the timeout throws JobTimeoutError (its id and how to follow it).
 *
 * plugboard itself sends nothing to QEMU here, and while the job runs nothing of plugboard's
 * connects to the instance's QMP socket (Ganeti connects to it once per command, without retry):
 * this process only reads QEMU after the job, and a view of this process (or another plugboard)
 * sees the job under way (read-instance.ts) and leaves the socket alone.
 */
import { existsSync } from 'node:fs';
import { planGanetiRequest, type DeviceRef, type DiskChange, type GanetiAction, type GanetiPlan, type NicChange } from '../actions/plan-ganeti.js';
import { firstLineOf, InputError } from '../errors.js';
import type { GanetiMark } from '../ganeti/compare.js';
import type { JobResult } from '../ganeti/job.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../ganeti/rapi.js';
import { ganetiLabel, isRunning, type GanetiDisk, type GanetiInstance, type GanetiNic } from '../ganeti/view.js';
import { deviceId } from '../runtime/ids.js';
import { withInstanceLock } from '../runtime/lock.js';
import { runtimeFilePath, validateInstanceName } from '../runtime/root.js';
import type { Hvinfo, RuntimeFile } from '../runtime/types.js';
import { runGanetiPlan, type GanetiProgressEvent } from '../executor/ganeti/run.js';
import type { GanetiSource } from './ganeti-source.js';
import { loadInstanceFile, readInstance, type InstanceReading } from './read-instance.js';

export type { GanetiProgressEvent } from '../executor/ganeti/run.js';

export interface GanetiActionOptions {
  root: string;
  source: GanetiSource;
  signal?: AbortSignal;
  /** How long to follow the job (default 300 s). */
  jobTimeoutMs?: number;
  onProgress?: (event: GanetiProgressEvent) => void;
  lockTimeoutMs?: number;
}

export type GanetiOutcomeStatus = 'done' | 'hotplug-failed' | 'next-start';

/** Where a device the job changed is now. */
export interface LandedDevice {
  kind: 'disk' | 'nic';
  action: string;
  /** `disk/1 (data1)`, as Ganeti names it (before the change, for a removal). */
  label: string;
  id: string | undefined;
  uuid: string | undefined;
  /** `scsi.0 target 1`, `pci.0 slot 0x6`; null when the node does not have it (removed, or not hot-plugged). */
  where: string | null;
  /** Whether QEMU has it now (undefined: not asked). */
  inQemu: boolean | undefined;
  /** What the job said of its hotplug. */
  hotplug: 'done' | 'failed' | undefined;
}

export interface GanetiOutcome {
  status: GanetiOutcomeStatus;
  plan: GanetiPlan;
  job: JobResult;
  /** One line (or a few): what happened. */
  message: string;
  landed: LandedDevice[];
  /** The node read after the job (null when the instance has no runtime file here, or the read failed: `readError`). */
  reading: InstanceReading | null;
  readError: string | null;
  /** Ganeti's marks after the job. */
  marks: GanetiMark[];
  /** Commands that bring the node in line with Ganeti's configuration (after a failed hotplug). */
  repairs: string[];
  timings: { totalMs: number; jobMs: number };
}

/**
 * The reads a change depends on (its plan, the node after the job): RAPI that cannot be reached for
 * a moment (a daemon restart takes 1–3 s) is asked again for 5 s, and each answer may take as long as
 * any RAPI request (a busy master), not the view's short refresh timeout.
 */
export const CHANGE_READ: { retryMs: number; timeoutMs: number } = { retryMs: 5_000, timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS };

/** Ganeti's view of the instance and the plan of `action` against it (reads only: one GET). */
export async function previewGanetiAction(action: GanetiAction, opts: Pick<GanetiActionOptions, 'root' | 'source' | 'signal'>): Promise<GanetiPlan> {
  const name = validateInstanceName(action.instance);
  const view = await opts.source.instance(name, opts.signal, CHANGE_READ);
  return planAgainst(action, view, await runtimeOf(opts.root, name), opts.source.nodeName);
}

/** Runs `action` through Ganeti (see the module comment). */
export async function runGanetiAction(action: GanetiAction, opts: GanetiActionOptions): Promise<GanetiOutcome> {
  const started = Date.now();
  const name = validateInstanceName(action.instance);
  const { source } = opts;
  const here = existsSync(runtimeFilePath(opts.root, name));
  const work = async (): Promise<GanetiOutcome> => {
    // Planned under the lock from a fresh view: what is sent is never a stale preview.
    source.forget();
    const view = await source.instance(name, opts.signal, CHANGE_READ);
    const plan = planAgainst(action, view, await runtimeOf(opts.root, name), source.nodeName);
    opts.onProgress?.({ phase: 'planned', plan });
    const t0 = Date.now();
    const job = await runGanetiPlan(source.node.client(), plan, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.jobTimeoutMs !== undefined ? { jobTimeoutMs: opts.jobTimeoutMs } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    const jobMs = Date.now() - t0;
    if (job.failure) throw job.failure;
    opts.onProgress?.({ phase: 'reading' });
    source.forget();
    let reading: InstanceReading | null = null;
    let readError: string | null = null;
    if (existsSync(runtimeFilePath(opts.root, name))) {
      try {
        reading = await readInstance(opts.root, name, { ganeti: source, ganetiRead: CHANGE_READ, qemuTrouble: 'report', ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (error) {
        readError = firstLineOf(error);
      }
    } else if (isRunning(view)) {
      readError = view.primaryNode !== source.nodeName ? `${name} runs on ${view.primaryNode}: open it there to see where the devices are` : `no runtime file for ${name} on this node`;
    }
    return outcomeOf(plan, job, view, reading, readError, { totalMs: Date.now() - started, jobMs });
  };
  // plugboard's lock orders plugboards on this node (Ganeti's own jobs are ordered by the master).
  return here ? withInstanceLock(opts.root, name, { timeoutMs: opts.lockTimeoutMs ?? 10_000, ...(opts.signal ? { signal: opts.signal } : {}) }, work) : work();
}

async function runtimeOf(root: string, name: string): Promise<RuntimeFile | null> {
  if (!existsSync(runtimeFilePath(root, name))) return null;
  try {
    return await loadInstanceFile(root, name);
  } catch {
    return null;
  }
}

/**
 * `action` with its device references resolved to Ganeti's UUIDs, planned against `view`. An
 * hvparams change keeps only the values that differ from Ganeti's configuration (which a change not
 * yet started may have set apart from the runtime file): nothing left is refused.
 */
function planAgainst(action: GanetiAction, view: GanetiInstance, rf: RuntimeFile | null, nodeName: string | undefined): GanetiPlan {
  if (action.kind === 'hvparams') {
    const changed = Object.fromEntries(Object.entries(action.hvparams).filter(([k, v]) => !(k in view.hvparams) || String(view.hvparams[k]) !== String(v)));
    if (Object.keys(changed).length === 0) {
      const said = Object.entries(action.hvparams).map(([k, v]) => `${k}=${String(v)}`).join(',');
      throw new InputError(`nothing to change: Ganeti's configuration of ${view.name} has ${said} already (it takes effect at the next start if the instance runs with other values)`);
    }
    action = { ...action, hvparams: changed };
  }
  const resolved = resolveRefs(action, view, rf);
  // hotplug and unplug ask Ganeti for a hotplug, whatever its view says now: on an instance that is
  // not running Ganeti refuses it (OpPrereqError wrong_state) and changes nothing, rather than
  // plugboard turning a hot-add into a change for the next start behind the operator's back.
  const plan = planGanetiRequest(resolved, { running: true });
  if (resolved.kind !== 'hvparams' && !isRunning(view)) {
    plan.notes.push(
      `Ganeti says ${view.name} is not running (${view.status}): it will refuse the hotplug (wrong_state) and change nothing; to change its configuration for the next start use gnt-instance modify on the master`,
    );
  }
  // The planner names a removed device by the UUID sent; the operator knows it as disk/1 (data1).
  for (const d of [...view.disks, ...view.nics]) {
    const said = `${'mac' in d ? 'NIC' : 'disk'} ${d.uuid}`;
    const label = `${ganetiLabel(d)} (${'mac' in d ? `UUID ${d.uuid}` : `${d.size} MiB, UUID ${d.uuid}`})`;
    plan.steps = plan.steps.map((st) => st.replace(said, label));
    plan.description = plan.description.replace(said, label);
  }
  if (resolved.kind !== 'hvparams' && isRunning(view) && nodeName !== undefined && view.primaryNode !== nodeName) {
    plan.notes.push(`${view.name} runs on ${view.primaryNode}, not on this node (${nodeName}): Ganeti hot-plugs it there; plugboard cannot show from here where it lands`);
  }
  return plan;
}

/** A device reference of the operator's → Ganeti's UUID (unambiguous for Ganeti; see refOf). */
function resolveRefs(action: GanetiAction, view: GanetiInstance, rf: RuntimeFile | null): GanetiAction {
  switch (action.kind) {
    case 'disk-remove':
      return { ...action, disk: refOf('disk', action.disk, view, rf) };
    case 'nic-remove':
      return { ...action, nic: refOf('nic', action.nic, view, rf) };
    case 'devices':
      return {
        ...action,
        disks: action.disks.map((c): DiskChange => (c.op === 'remove' ? { op: 'remove', disk: refOf('disk', c.disk, view, rf) } : c)),
        nics: action.nics.map((c): NicChange => (c.op === 'remove' ? { op: 'remove', nic: refOf('nic', c.nic, view, rf) } : c)),
      };
    case 'disk-add':
    case 'nic-add':
    case 'hvparams':
      return action;
    default: {
      const never: never = action;
      return never;
    }
  }
}

const INDEX_REF = /^(?:(disk|nic)[./])?(\d+)$/i;

/**
 * Finds Ganeti's device for a reference: its index (`1`, `disk/1`, `nic.1`), its name, its UUID, or
 * plugboard's device id (`disk-5154f301-522b-46cb`: QEMU's id, `disk-` + the UUID's first 18
 * characters), also through the runtime file's entry of that id. A device the node has but Ganeti
 * does not is refused with how to remove it on the node.
 */
export function refOf(kind: 'disk' | 'nic', ref: DeviceRef, view: GanetiInstance, rf: RuntimeFile | null): string {
  const devices: (GanetiDisk | GanetiNic)[] = kind === 'disk' ? view.disks : view.nics;
  const what = kind === 'disk' ? 'disk' : 'NIC';
  const text = String(ref).trim();
  const listed = devices.length === 0 ? `it has no ${what}` : `it has ${devices.map((d) => ganetiLabel(d)).join(', ')}`;
  const m = INDEX_REF.exec(text);
  if (m && (m[1] === undefined || m[1].toLowerCase() === kind)) {
    const d = devices[Number(m[2])];
    if (!d) throw new InputError(`Ganeti's ${view.name} has no ${kind === 'disk' ? 'disk/' : 'nic.'}${m[2]} (${listed})`);
    return d.uuid;
  }
  const lower = text.toLowerCase();
  const hit = devices.find((d) => d.uuid === lower || deviceId(kind, d.uuid) === text || (d.name !== null && d.name === text));
  if (hit) return hit.uuid;
  // The runtime file's entry of that id (a legacy id, or a UUID the node has).
  const entry = rf ? (kind === 'disk' ? rf.disks : rf.nics).find((e) => e.uuid === lower || hvinfoId(e.hvinfo) === text) : undefined;
  if (entry) {
    const g = devices.find((d) => d.uuid === entry.uuid);
    if (g) return g.uuid;
    throw new InputError(
      `${text} is on the node (the runtime file's ${kind}/${entry.index}) but not in Ganeti's configuration of ${view.name}: Ganeti cannot remove it; ` +
        `remove it on the node only: plugboard unplug ${kind} ${view.name} ${hvinfoId(entry.hvinfo) ?? entry.uuid} --via qmp`,
    );
  }
  throw new InputError(`Ganeti's ${view.name} has no ${what} ${JSON.stringify(text.slice(0, 60))} (${listed}; give its index, name, UUID or device id)`);
}

function hvinfoId(h: Hvinfo): string | undefined {
  return 'id' in h && typeof h.id === 'string' && h.id !== '' ? h.id : undefined;
}

function addressOf(h: Hvinfo): string | null {
  if ('addr' in h && typeof h.addr === 'string') return `${h.bus} slot 0x${parseInt(h.addr, 16).toString(16)}`;
  if ('scsi-id' in h && typeof h['scsi-id'] === 'number') return `${h.bus} target ${h['scsi-id']}`;
  return null;
}

function outcomeOf(
  plan: GanetiPlan,
  job: JobResult,
  before: GanetiInstance,
  reading: InstanceReading | null,
  readError: string | null,
  timings: GanetiOutcome['timings'],
): GanetiOutcome {
  const g = reading?.ganeti;
  const after = g?.kind === 'compared' ? g.view : null;
  const comparison = g?.kind === 'compared' ? g.comparison : null;
  if (g && g.kind !== 'compared' && readError === null) readError = g.message;
  const landed: LandedDevice[] = job.devices.map((d) => {
    const out = d.action === 'remove' || d.action === 'detach';
    const list = (v: GanetiInstance | null) => (v ? (d.kind === 'disk' ? v.disks : v.nics) : []);
    const gdev = (out ? list(before) : list(after))[d.index];
    const id = gdev ? deviceId(d.kind, gdev.uuid) : undefined;
    let where: string | null = null;
    let inQemu: boolean | undefined;
    if (reading && gdev) {
      const entries = d.kind === 'disk' ? reading.rf.disks : reading.rf.nics;
      const entry = entries.find((e) => e.uuid === gdev.uuid || hvinfoId(e.hvinfo) === id);
      where = entry ? addressOf(entry.hvinfo) : null;
      if (reading.live && id) inQemu = reading.live.peripherals.some((p) => p.id === id);
    }
    return {
      kind: d.kind,
      action: d.action,
      label: gdev ? ganetiLabel(gdev) : `${d.kind}/${d.index}`,
      id,
      uuid: gdev?.uuid,
      where,
      inQemu,
      hotplug: d.hotplug,
    };
  });
  const marks = comparison?.marks ?? [];
  const failed = job.hotplugFailed.length > 0;
  const notHot = plan.effect === 'next-start' || job.devices.some((d) => d.hotplug === undefined);
  const status: GanetiOutcomeStatus = failed ? 'hotplug-failed' : notHot ? 'next-start' : 'done';
  const instance = plan.instance;
  const lines: string[] = [];
  switch (status) {
    case 'done':
      lines.push(`Ganeti job ${job.id} succeeded: ${landed.map((l) => landedText(l)).join('; ') || plan.steps.join('; ')}`);
      break;
    case 'hotplug-failed':
      lines.push(
        `Ganeti job ${job.id} succeeded, but the hotplug of ${job.hotplugFailed.map((d) => `${d.kind}/${d.index} (${d.action})`).join(', ')} failed: ` +
          `Ganeti changed its configuration, the node did not`,
      );
      break;
    case 'next-start':
      lines.push(`Ganeti job ${job.id} succeeded: ${plan.steps.join('; ')}; in Ganeti's configuration now, on the node at the next start of ${instance}`);
      break;
    default: {
      const never: never = status;
      lines.push(String(never));
    }
  }
  const repairs = failed ? marks.map((m) => repairCommand(instance, m)).filter((r): r is string => r !== null) : [];
  return { status, plan, job, message: lines.join('\n'), landed, reading, readError, marks, repairs, timings };
}

function landedText(l: LandedDevice): string {
  const out = l.action === 'remove' || l.action === 'detach';
  if (out) return `${l.label} hot-unplugged${l.inQemu === true ? ' (QEMU still lists it)' : ''}`;
  return `${l.label} hot-plugged${l.where ? ` at ${l.where}` : ''}${l.id ? ` (${l.id})` : ''}`;
}

/** The node-local command that repairs a mark (or null when there is none). */
export function repairCommand(instance: string, mark: GanetiMark): string | null {
  const r = mark.repair;
  if (!r) return null;
  switch (r.kind) {
    case 'unplug-on-node':
      return `plugboard unplug ${r.device} ${instance} ${r.id} --via qmp   (remove it on the node only; Ganeti no longer has it)`;
    case 'hot-add-on-node':
      if (r.device === 'nic') {
        return `plugboard hotplug nic ${instance} --via qmp --uuid ${r.uuid} --mac ${r.mac} --link ${r.link}   (put Ganeti's NIC on the node; or: gnt-instance reboot ${instance})`;
      }
      return `plugboard hotplug disk ${instance} --via qmp --uuid ${r.uuid} --path ${r.path ?? `/var/run/ganeti/instance-disks/${instance}:${mark.ganeti?.index ?? 'N'}`}   (put Ganeti's disk on the node; or: gnt-instance reboot ${instance})`;
    default: {
      const never: never = r;
      return String(never);
    }
  }
}
