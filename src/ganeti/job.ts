/**
 * What a Ganeti job did, read honestly from its `opresult` (pure; no I/O).
 *
 * Seen on the real Ganeti 3.0.2 cluster (test/fixtures/ganeti-rapi/):
 * - `OP_INSTANCE_SET_PARAMS` that succeeded: `opresult[0]` is a list of `[item, change]` pairs,
 *   `[["disk/1", "add:size=32,mode=rw"], ["disk/1", "hotplug:done"], ["nic.1", "add:mac=…,ip=None,
 *   mode=bridged,link=gntbr0,network=None"], ["nic.1", "hotplug:done"]]`; a removal is
 *   `[["disk/1", "remove"], ["disk/1", "hotplug:done"]]` or `[["NIC/1", "remove"], …]`.
 *   **A job can succeed while its hotplug failed**: `["NIC/1", "hotplug:failed"]` (the guest did not
 *   acknowledge the unplug): Ganeti changed its configuration, the node kept the device. Also
 *   `["disk/N", "assemble:failed"]` (the new disk could not be activated; no hotplug was tried).
 *   An hvparams change (`-H`) is `[["hv/disk_type", "scsi-block"]]` and takes effect at the next start.
 * - A job that failed: `status: "error"` and, per opcode, `["OpPrereqError", ["Hotplug is not
 *   possible: …", "wrong_state"]]` (Ganeti's exception class and its arguments: message and error
 *   code). Ganeti checks prerequisites before changing anything, so an OpPrereqError changed nothing.
 * - A cancelled job: `status: "canceled"`, opresult null entries.
 */
import { JobFailedError, type GanetiOpError } from './errors.js';
import type { RapiJob, RapiLogEntry } from './schemas.js';
import { oneLine } from './text.js';

/** A job's status once it will not change any more. */
export const FINAL_JOB_STATUSES: ReadonlySet<string> = new Set(['success', 'error', 'canceled']);

/** One line of a job's log, as the wait loop streams it. */
export interface JobLogEntry {
  serial: number;
  /** When Ganeti logged it. */
  time: Date;
  /** `message` for what Ganeti says to the operator; other types carry data. */
  type: string;
  /** One printable line (text.ts). */
  message: string;
}

export function logEntryOf(e: RapiLogEntry): JobLogEntry {
  const [serial, [sec, usec], type, message] = e;
  return {
    serial,
    time: new Date(sec * 1000 + Math.floor(usec / 1000)),
    type,
    message: oneLine(typeof message === 'string' ? message : JSON.stringify(message) ?? '', 400),
  };
}

/** One `[item, change]` pair of an OP_INSTANCE_SET_PARAMS result. */
export interface JobChange {
  /** `disk/1`, `nic.1`, `NIC/1`, `hv/disk_type`, `be/maxmem`… as Ganeti wrote it. */
  item: string;
  change: string;
  /** The device it is about, when it is one: `disk/1` → disk 1. */
  device: { kind: 'disk' | 'nic'; index: number } | undefined;
}

export type HotplugOutcome = 'done' | 'failed';

/** A device change of the job and what became of its hotplug. */
export interface DeviceChange {
  kind: 'disk' | 'nic';
  /** Ganeti's index of the device (after the change for an add, before it for a remove). */
  index: number;
  /** `add`, `remove`, `modify`, `attach`, `detach` (from the change text). */
  action: string;
  /** The change text, e.g. `add:size=32,mode=rw` or `add:mac=aa:00:00:…,ip=None,mode=bridged,link=gntbr0,network=None`. */
  detail: string;
  /** `done`, `failed`, or undefined when the job did not hotplug (instance stopped, no `hotplug`). */
  hotplug: HotplugOutcome | undefined;
  /** `assemble:failed`: the new disk could not be activated on the node. */
  assembleFailed: boolean;
}

export interface JobResult {
  id: number;
  status: string;
  /** The opcode ids, e.g. `OP_INSTANCE_SET_PARAMS`. */
  opIds: string[];
  /** The raw opresult (one entry per opcode). */
  opresult: unknown[] | null;
  /** For a successful modify: every `[item, change]` pair. */
  changes: JobChange[];
  /** The device changes, with their hotplug outcome. */
  devices: DeviceChange[];
  /** Devices whose hotplug failed: Ganeti's configuration changed, the node did not. */
  hotplugFailed: DeviceChange[];
  /** The opcode error of a failed job. */
  error: GanetiOpError | undefined;
  /** For a job that did not succeed: the error to throw (one line). */
  failure: JobFailedError | undefined;
  /** The job's whole log. */
  log: JobLogEntry[];
}

const DEVICE_ITEM = /^(disk|nic)[./](\d+)$/i;

function deviceOf(item: string): JobChange['device'] {
  const m = DEVICE_ITEM.exec(item);
  if (!m) return undefined;
  return { kind: (m[1] as string).toLowerCase() as 'disk' | 'nic', index: Number(m[2]) };
}

/** `["OpPrereqError", ["msg", "wrong_state"]]` → the error; undefined if it is not one. */
export function opErrorOf(value: unknown): GanetiOpError | undefined {
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string' || !/^[A-Za-z][A-Za-z0-9]*$/.test(value[0])) return undefined;
  const args: unknown = value[1];
  let message: string;
  let code: string | undefined;
  if (Array.isArray(args)) {
    message = args.length > 0 ? (typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0])) : '';
    code = typeof args[1] === 'string' && /^[a-z_]{2,40}$/.test(args[1]) ? args[1] : undefined;
  } else message = typeof args === 'string' ? args : JSON.stringify(args);
  return { errorClass: value[0], message: oneLine(message, 400), code };
}

/** Reads a finished (or unfinished) job: its changes, hotplug outcomes, error. */
export function readJobResult(job: RapiJob): JobResult {
  const opresult = Array.isArray(job.opresult) ? job.opresult : null;
  const opIds = (job.ops ?? []).map((o) => o.OP_ID ?? '?');
  const changes: JobChange[] = [];
  let error: GanetiOpError | undefined;
  if (job.status === 'success' && opresult) {
    for (const r of opresult) {
      if (!Array.isArray(r)) continue;
      for (const pair of r) {
        if (Array.isArray(pair) && pair.length === 2 && typeof pair[0] === 'string') {
          const change = typeof pair[1] === 'string' ? pair[1] : JSON.stringify(pair[1]);
          changes.push({ item: oneLine(pair[0], 80), change: oneLine(change, 300), device: deviceOf(pair[0]) });
        }
      }
    }
  } else if (opresult) {
    error = opresult.map(opErrorOf).find((e) => e !== undefined);
  }

  // Device changes in order; `hotplug:*` and `assemble:failed` belong to the change before them.
  const devices: DeviceChange[] = [];
  for (const c of changes) {
    if (!c.device) continue;
    const last = devices.at(-1);
    const same = last !== undefined && last.kind === c.device.kind && last.index === c.device.index;
    if (c.change === 'hotplug:done' || c.change === 'hotplug:failed') {
      if (same) last.hotplug = c.change === 'hotplug:done' ? 'done' : 'failed';
      continue;
    }
    if (c.change === 'assemble:failed') {
      if (same) last.assembleFailed = true;
      continue;
    }
    const action = c.change.split(':')[0] ?? c.change;
    devices.push({ kind: c.device.kind, index: c.device.index, action, detail: c.change, hotplug: undefined, assembleFailed: false });
  }

  const log = (job.oplog ?? []).flat().map(logEntryOf);
  let failure: JobFailedError | undefined;
  if (job.status !== 'success' && FINAL_JOB_STATUSES.has(job.status)) {
    const what = opIds.length > 0 ? ` (${opIds.join(', ')})` : '';
    const said = error ? `: ${error.errorClass}: ${error.message}${error.code ? ` [${error.code}]` : ''}` : '';
    const nothing = error?.errorClass === 'OpPrereqError' ? '; Ganeti changed nothing' : '';
    failure = new JobFailedError(job.id, job.status, error, `Ganeti job ${job.id}${what} ${job.status === 'canceled' ? 'was cancelled' : 'failed'}${said}${nothing}`);
  }
  return {
    id: job.id,
    status: job.status,
    opIds,
    opresult,
    changes,
    devices,
    hotplugFailed: devices.filter((d) => d.hotplug === 'failed'),
    error,
    failure,
    log,
  };
}

/** One line for the operator about a finished modify job: what changed and what the hotplug did. */
export function describeJobResult(r: JobResult): string {
  if (r.failure) return r.failure.message;
  if (r.status !== 'success') return `Ganeti job ${r.id} is ${r.status}`;
  if (r.changes.length === 0) return `Ganeti job ${r.id} succeeded (nothing to change)`;
  const parts = r.devices.map((d) => {
    const out = d.action === 'remove' || d.action === 'detach';
    const hp =
      d.hotplug === 'done'
        ? out
          ? 'hot-unplugged'
          : 'hot-plugged'
        : d.hotplug === 'failed'
          ? 'HOTPLUG FAILED: the configuration changed, the node did not'
          : d.assembleFailed
            ? 'not activated (assemble failed)'
            : 'at the next start';
    return `${d.kind}/${d.index} ${d.action} (${hp})`;
  });
  const other = r.changes.filter((c) => !c.device).map((c) => `${c.item}=${c.change}`);
  return `Ganeti job ${r.id} succeeded: ${[...parts, ...other].join(', ')}`;
}
