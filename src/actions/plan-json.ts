import type { HostCommand, Plan, PlanJson, PlanStep, QmpCommand, SequenceEntry } from './types.js';
import { allocationText } from './plan-disk.js';
import { describeHostCommand } from './host-net.js';
import { passFdText } from '../qmp/fdpass/plan.js';

const isQmp = (c: QmpCommand | HostCommand): c is QmpCommand => 'execute' in c;
const qmpOf = (steps: PlanStep[]): QmpCommand[] => steps.map((s) => s.command).filter(isQmp);
const hostOf = (steps: PlanStep[]): HostCommand[] => steps.map((s) => s.command).filter((c): c is HostCommand => !isQmp(c));

const entryOf = (s: PlanStep): SequenceEntry =>
  isQmp(s.command)
    ? { purpose: s.purpose, qmp: s.command, ...(s.passFd ? { passFd: s.passFd } : {}) }
    : { purpose: s.purpose, host: s.command };

export function planJson(plan: Plan): PlanJson {
  const undo = [...plan.steps].reverse().flatMap((s) => s.undo ?? []);
  const rollback = undo.filter(isQmp);
  const hostRollback = undo.filter((c): c is HostCommand => !isQmp(c));
  const out: PlanJson = {
    action: plan.action.type,
    instance: plan.instance,
    device: plan.device,
    allocation: plan.allocation,
    qmp: qmpOf(plan.steps),
    host: hostOf(plan.steps),
    rollback,
    verify: plan.verify,
    runtime: plan.runtimeChange,
    skipped: plan.skipped,
    notes: plan.notes,
  };
  if (hostRollback.length > 0) out.hostRollback = hostRollback;
  if (plan.fdPassing) out.fdPassing = plan.fdPassing;
  const all = [...plan.steps, ...(plan.after ?? [])];
  if (all.some((s) => !isQmp(s.command))) {
    out.sequence = [
      ...plan.steps.map(entryOf),
      ...(plan.unplugWait ? [{ purpose: `wait until QEMU no longer lists ${plan.unplugWait.id}`, wait: plan.unplugWait }] : []),
      ...(plan.after ?? []).map(entryOf),
    ];
  }
  if (plan.unplugWait || (plan.after && plan.after.length > 0)) {
    out.then = {
      wait: plan.unplugWait ?? { id: plan.device.id, timeoutMs: 0, needsGuest: false },
      qmp: qmpOf(plan.after ?? []),
      host: hostOf(plan.after ?? []),
    };
  }
  return out;
}

export function renderPlanText(plan: Plan): string {
  const lines: string[] = [];
  const verb = plan.action.type.startsWith('hot-add') ? 'hot-add' : 'unplug';
  lines.push(`plan: ${verb} ${plan.device.kind} ${plan.device.id} (${plan.device.driver}) on ${plan.instance}`);
  if (plan.allocation) lines.push(`  address: ${allocationText(plan.allocation)}`);
  for (const s of plan.skipped) lines.push(`  ${s}`);
  let n = 1;
  const cmd = (c: QmpCommand | HostCommand): string =>
    isQmp(c)
      ? c.execute === 'human-monitor-command'
        ? `HMP ${String((c.arguments ?? {})['command-line'])}`
        : `${c.execute} ${JSON.stringify(c.arguments ?? {})}`
      : `host: ${describeHostCommand(c)}`;
  for (const s of plan.steps) lines.push(`  ${n++}. ${cmd(s.command)}${s.passFd ? passFdText(s.passFd) : ''}    # ${s.purpose}`);
  if (plan.unplugWait) {
    const w = plan.unplugWait;
    lines.push(
      `  ${n++}. wait until QEMU no longer lists ${w.id} or sends DEVICE_DELETED (up to ${(w.timeoutMs / 1000).toFixed(0)} s${w.needsGuest ? '; the guest must acknowledge' : ''})`,
    );
  }
  for (const s of plan.after ?? []) lines.push(`  ${n++}. ${cmd(s.command)}    # ${s.purpose}`);
  lines.push(
    `  ${n++}. verify: ${plan.verify.kind === 'present' ? `QEMU lists ${plan.verify.id} at ${allocationText(plan.verify.allocation)}` : `QEMU no longer lists ${plan.verify.id}`}`,
  );
  lines.push(`  ${n}. runtime file: ${plan.runtimeChange} (atomic rewrite under the instance lock)`);
  const rollback = [...plan.steps].reverse().flatMap((s) => s.undo ?? []);
  if (rollback.length > 0) lines.push(`  on failure: ${rollback.map(cmd).join('; ')}; runtime file untouched`);
  for (const note of plan.notes) lines.push(`  note: ${note}`);
  return `${lines.join('\n')}\n`;
}
