/**
 * How plugboard writes Ganeti's side, for the CLI and the view alike: the plan of a change through
 * Ganeti (the exact request), the job's progress, its outcome, and Ganeti's view of an instance
 * beside the node's maps (`show`, `show --live`, `check`, the device detail), with the two marks,
 * each with what it means and what to do. Plain text and JSON, pure; what came from outside is
 * escaped at the output boundary (the CLI's io, the view's Text: src/text/terminal.ts).
 */
import type { GanetiPlan } from '../actions/plan-ganeti.js';
import type { GanetiComparison, GanetiDeviceMatch, GanetiMark, GanetiMarkCode } from '../ganeti/compare.js';
import type { GanetiDisk, GanetiNic } from '../ganeti/view.js';
import type { Hvinfo, RuntimeFile } from '../runtime/types.js';
import type { GanetiOutcome, GanetiProgressEvent } from './run-ganeti.js';
import type { GanetiReading } from './read-instance.js';

/** The symbol of a mark in the maps and lists (the TUI's legend has the same). */
export const GANETI_MARK_SYMBOL: Record<GanetiMarkCode, string> = { 'not-in-ganeti': '#', 'not-on-node': '?' };

export const GANETI_MARK_TITLE: Record<GanetiMarkCode, string> = {
  'not-in-ganeti': "not in Ganeti's configuration",
  'not-on-node': "in Ganeti's configuration, not on the node",
};

/** The plan as `--dry-run` and a run print it. */
export function renderGanetiPlan(plan: GanetiPlan, cluster: string): string {
  const lines = [
    `through Ganeti (cluster ${cluster}): ${plan.description}`,
    `request: ${plan.requestLine}`,
    ...plan.steps.map((s, i) => `  ${i + 1}. ${s}`),
    `effect: ${plan.effect === 'now' ? 'now (hotplug: Ganeti changes its configuration and the running QEMU)' : `at the next start of ${plan.instance} (Ganeti's configuration only)`}`,
    ...plan.notes.map((n) => `note: ${n}`),
  ];
  return `${lines.join('\n')}\n`;
}

export function ganetiPlanJson(plan: GanetiPlan, cluster: string): Record<string, unknown> {
  return {
    via: 'ganeti',
    cluster,
    instance: plan.instance,
    request: plan.request,
    description: plan.description,
    steps: plan.steps,
    effect: plan.effect,
    notes: plan.notes,
  };
}

/** One stderr line for a progress event (undefined: nothing to say). */
export function progressLine(e: GanetiProgressEvent): string | undefined {
  switch (e.phase) {
    case 'planned':
      return undefined;
    case 'submitted':
      return `ganeti: job ${e.jobId} submitted`;
    case 'job-status':
      return `ganeti: job ${e.jobId} ${e.status}`;
    case 'job-log':
      return `ganeti: job ${e.jobId}: ${e.entry.message}`;
    case 'retry':
      return `ganeti: ${e.message}`;
    case 'reading':
      return 'ganeti: the job ended; reading the node again (runtime file, QEMU, Ganeti)';
    default: {
      const never: never = e;
      return String(never);
    }
  }
}

/** The outcome, as text. */
export function renderGanetiOutcome(o: GanetiOutcome): string {
  const lines: string[] = [`${o.status}: ${o.message}`];
  for (const l of o.landed) {
    const out = l.action === 'remove' || l.action === 'detach';
    const where = out ? (l.inQemu === true ? 'QEMU still has it' : 'gone from the node') : l.where ? `on the node at ${l.where}` : 'not on the node';
    lines.push(`  ${l.label}${l.id ? ` ${l.id}` : ''}: ${l.action}, hotplug ${l.hotplug ?? 'not tried'}; ${where}`);
  }
  if (o.readError) lines.push(`  (the node was not read after the job: ${o.readError})`);
  if (o.status === 'hotplug-failed' || o.marks.length > 0) {
    lines.push(...marksLines(o.marks, o.status === 'hotplug-failed' ? 'marks after the job' : 'marks'));
  }
  if (o.repairs.length > 0) {
    lines.push('repair (node-local, to bring the node in line with Ganeti):');
    for (const r of o.repairs) lines.push(`  ${r}`);
  }
  lines.push(`(job ${o.job.id}: ${(o.timings.jobMs / 1000).toFixed(1)} s; in all ${(o.timings.totalMs / 1000).toFixed(1)} s)`);
  return `${lines.join('\n')}\n`;
}

export function ganetiOutcomeJson(o: GanetiOutcome): Record<string, unknown> {
  return {
    via: 'ganeti',
    status: o.status,
    message: o.message,
    request: o.plan.request,
    job: {
      id: o.job.id,
      status: o.job.status,
      changes: o.job.changes,
      devices: o.job.devices,
      log: o.job.log.map((e) => ({ serial: e.serial, time: e.time.toISOString(), type: e.type, message: e.message })),
    },
    landed: o.landed,
    marks: o.marks.map(markJson),
    repairs: o.repairs,
    readError: o.readError,
    ms: o.timings.totalMs,
    jobMs: o.timings.jobMs,
  };
}

/** The marks, each with what it means and what to do. */
export function marksLines(marks: readonly GanetiMark[], title = 'marks'): string[] {
  if (marks.length === 0) return [`${title}: none (the node and Ganeti's configuration agree)`];
  const out = [`${title} (${marks.length}):`];
  for (const m of marks) {
    out.push(`  ${GANETI_MARK_SYMBOL[m.code]} ${GANETI_MARK_TITLE[m.code]}: ${m.message}`);
    out.push(`      what it means: ${m.meaning}`);
    out.push(`      what to do: ${m.action}`);
  }
  return out;
}

function sizeText(mib: number): string {
  return mib >= 1024 && mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

/** Ganeti's attributes of a device, in one phrase: `32 MiB file rw` / `bridged gntbr0 network net1`. */
export function ganetiAttributes(g: GanetiDisk | GanetiNic): string {
  if ('mac' in g) {
    return [g.mode, g.link, g.networkName ?? g.network ? `network ${g.networkName ?? g.network}` : '', g.ip ? `ip ${g.ip}` : '', g.vlan ? `vlan ${g.vlan}` : ''].filter(Boolean).join(' ');
  }
  return [sizeText(g.size), g.template, g.mode ?? ''].filter(Boolean).join(' ');
}

/** Ganeti's side of `show` / `show --live` / `check`, as text lines. */
export function ganetiSectionLines(g: GanetiReading, where: (d: GanetiDeviceMatch) => string = () => ''): string[] {
  switch (g.kind) {
    case 'error':
      return [`ganeti (cluster ${g.cluster}): ${g.message}`];
    case 'unknown':
      return [`ganeti: ${g.message}`];
    case 'compared': {
      const v = g.view;
      const here = g.nodeName === undefined ? '' : v.primaryNode === g.nodeName ? ' (this node)' : ` (this node is ${g.nodeName})`;
      const out = [`ganeti: cluster ${g.cluster} · ${v.name} ${v.status} on ${v.primaryNode}${here} · template ${v.diskTemplate}`];
      const c = g.comparison;
      if (!c.compared) return [...out, ...c.notes.map((n) => `  ${n}`)];
      const rows = c.devices.map((d) => [
        d.label ?? '(not in Ganeti)',
        d.ganeti ? ganetiAttributes(d.ganeti) : '',
        d.id,
        `${where(d)}${d.mark ? `  ${GANETI_MARK_SYMBOL[d.mark]} ${GANETI_MARK_TITLE[d.mark]}` : ''}`,
      ]);
      const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] as string).length)));
      for (const r of rows) out.push(`  ${r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i] as number) : cell)).join('  ')}`.trimEnd());
      out.push(...marksLines(c.marks));
      for (const n of c.notes) out.push(`  note: ${n}`);
      return out;
    }
    default: {
      const never: never = g;
      return [String(never)];
    }
  }
}

export function markJson(m: GanetiMark): Record<string, unknown> {
  return {
    code: m.code,
    title: GANETI_MARK_TITLE[m.code],
    kind: m.kind,
    id: m.id,
    uuid: m.uuid,
    node: m.node,
    ganeti: m.ganeti,
    message: m.message,
    meaning: m.meaning,
    action: m.action,
    repair: m.repair,
  };
}

/** Ganeti's side of `--json`. */
export function ganetiJson(g: GanetiReading): Record<string, unknown> {
  switch (g.kind) {
    case 'error':
      return { cluster: g.cluster, error: g.message };
    case 'unknown':
      return { cluster: g.cluster, known: false, message: g.message };
    case 'compared': {
      const c: GanetiComparison = g.comparison;
      const v = g.view;
      return {
        cluster: g.cluster,
        known: true,
        instance: { name: v.name, status: v.status, adminState: v.adminState, operState: v.operState, primaryNode: v.primaryNode, secondaryNodes: v.secondaryNodes, diskTemplate: v.diskTemplate },
        thisNode: g.nodeName ?? null,
        compared: c.compared,
        ok: c.ok,
        marks: c.marks.map(markJson),
        devices: c.devices.map((d) => ({ kind: d.kind, id: d.id, uuid: d.uuid, label: d.label, ganeti: d.ganeti, runtimeIndex: d.runtimeIndex, inQemu: d.inQemu, mark: d.mark ?? null, differences: d.differences })),
        notes: c.notes,
      };
    }
    default: {
      const never: never = g;
      return { error: String(never) };
    }
  }
}

function hvinfoPlace(h: Hvinfo): string | undefined {
  if ('addr' in h && typeof h.addr === 'string') return `${h.bus} slot 0x${parseInt(h.addr, 16).toString(16)}`;
  if ('scsi-id' in h && typeof h['scsi-id'] === 'number') return `${h.bus} target ${h['scsi-id']}`;
  return undefined;
}

/** Where a compared device is on the node: its place in the runtime file, and whether QEMU has it. */
export function placeOnNode(rf: RuntimeFile): (d: GanetiDeviceMatch) => string {
  return (d) => {
    const entry = d.runtimeIndex === null ? undefined : (d.kind === 'disk' ? rf.disks : rf.nics).find((e) => e.index === d.runtimeIndex);
    const place = entry ? (hvinfoPlace(entry.hvinfo) ?? 'placed by QEMU') : undefined;
    if (place === undefined) return d.inQemu ? 'in QEMU only' : 'not on the node';
    return d.inQemu === false ? `${place} (QEMU does not have it)` : place;
  };
}
