/**
 * `plugboard show`: the bus maps of one instance, as JSON (stable shape for scripts) and as text.
 */
import type { RuntimeFile } from '../runtime/types.js';
import type { AllocationResult, BusDevice, BusModel, PciSlot, Problem, ScsiTarget } from '../bus/types.js';
import type { GanetiComparison, GanetiMarkCode } from '../ganeti/compare.js';
import { ganetiAttributes, GANETI_MARK_SYMBOL, GANETI_MARK_TITLE } from '../usecases/ganeti-text.js';

export interface DeviceJson {
  id: string;
  driver: string;
  kind: BusDevice['kind'];
  uuid?: string;
  source: BusDevice['source'];
  description?: string;
  /** On a Ganeti node: Ganeti's name of the device (`disk/1 (data1)`), its attributes, or its mark. */
  ganeti?: { label: string | null; attributes: string; mark: GanetiMarkCode | null };
}

export type NextJson =
  | { bus: 'pci.0'; addr: string }
  | { bus: 'scsi.0'; 'scsi-id': number; channel: 0; lun: 0 }
  | { error: string };

export interface ShowJson {
  instance: string;
  source: string;
  hvparams: {
    disk_type: string;
    nic_type: string;
    scsi_controller_type: string;
    kvm_pci_reservations: number;
  };
  pci: {
    bus: 'pci.0';
    reservations: number;
    slots: { slot: number; addr: string; state: PciSlot['state']; reserved: boolean; device?: DeviceJson }[];
  };
  scsi: null | {
    bus: 'scsi.0';
    controller: string;
    maxTarget: number;
    targets: { target: number; state: ScsiTarget['state']; device?: DeviceJson }[];
  };
  next: { disk: NextJson; nic: NextJson };
  problems: Problem[];
  upgrades: { path: string; message: string }[];
}

export const hex = (n: number): string => `0x${n.toString(16)}`;

function deviceJson(d: BusDevice | undefined, ganeti: GanetiComparison | undefined): DeviceJson | undefined {
  if (!d) return undefined;
  const out: DeviceJson = { id: d.id, driver: d.driver, kind: d.kind, source: d.source };
  if (d.uuid !== undefined) out.uuid = d.uuid;
  if (d.description !== undefined) out.description = d.description;
  const g = ganeti?.compared && d.id !== '' ? ganeti.devices.find((m) => m.id === d.id) : undefined;
  if (g) out.ganeti = { label: g.label ?? null, attributes: g.ganeti ? ganetiAttributes(g.ganeti) : '', mark: g.mark ?? null };
  return out;
}

export function nextJson(result: AllocationResult): NextJson {
  if (!result.ok) return { error: result.error };
  const a = result.allocation;
  return a.bus === 'pci.0'
    ? { bus: 'pci.0', addr: a.addr }
    : { bus: 'scsi.0', 'scsi-id': a['scsi-id'], channel: 0, lun: 0 };
}

/** `ganeti`: on a Ganeti node, Ganeti's comparison, whose names and marks go on the devices. */
export function showJson(
  rf: RuntimeFile,
  model: BusModel,
  next: { disk: AllocationResult; nic: AllocationResult },
  ganeti?: GanetiComparison,
): ShowJson {
  const h = rf.hvparams;
  return {
    instance: rf.instance,
    source: rf.source,
    hvparams: {
      disk_type: h.disk_type,
      nic_type: h.nic_type,
      scsi_controller_type: h.scsi_controller_type,
      kvm_pci_reservations: h.kvm_pci_reservations,
    },
    pci: {
      bus: 'pci.0',
      reservations: model.pci.reservations,
      slots: model.pci.slots.map((s) => {
        const device = deviceJson(s.device, ganeti);
        return { slot: s.slot, addr: hex(s.slot), state: s.state, reserved: s.reserved, ...(device ? { device } : {}) };
      }),
    },
    scsi: model.scsi && {
      bus: 'scsi.0',
      controller: model.scsi.controller,
      maxTarget: model.scsi.maxTarget,
      targets: model.scsi.targets.map((t) => {
        const device = deviceJson(t.device, ganeti);
        return { target: t.target, state: t.state, ...(device ? { device } : {}) };
      }),
    },
    next: { disk: nextJson(next.disk), nic: nextJson(next.nic) },
    problems: model.problems,
    upgrades: rf.upgrades,
  };
}

/** One line per slot that holds something; runs of empty slots folded into one line. */
export function renderShowText(show: ShowJson): string {
  const lines: string[] = [];
  const h = show.hvparams;
  lines.push(`instance ${show.instance}  (${show.source})`);
  lines.push(
    `disk_type ${h.disk_type} · nic_type ${h.nic_type} · scsi_controller_type ${h.scsi_controller_type} · kvm_pci_reservations ${h.kvm_pci_reservations}`,
  );
  lines.push('');
  const res = show.pci.reservations;
  lines.push(
    res > 0
      ? `pci.0  32 slots; ${pad(hex(0))}–${pad(hex(res - 1))} left to QEMU (kvm_pci_reservations=${res})`
      : 'pci.0  32 slots; none left to QEMU (kvm_pci_reservations=0)',
  );
  const nextPci = new Map<string, string[]>();
  for (const [kind, n] of Object.entries(show.next)) {
    if ('bus' in n && n.bus === 'pci.0') nextPci.set(n.addr, [...(nextPci.get(n.addr) ?? []), `next ${kind}`]);
  }
  const slots = show.pci.slots;
  for (let i = 0; i < slots.length; ) {
    const s = slots[i]!;
    const marks = nextPci.get(s.addr);
    if (!s.device && !marks) {
      let j = i;
      while (j + 1 < slots.length) {
        const t = slots[j + 1]!;
        if (t.device || nextPci.has(t.addr) || t.state !== s.state || t.reserved !== s.reserved) break;
        j++;
      }
      const range = j > i ? `${pad(s.addr)}–${pad(slots[j]!.addr)}` : pad(s.addr);
      const what = s.reserved ? 'left to QEMU, empty' : 'free';
      lines.push(`  ${range.padEnd(12)} ${label(s.state).padEnd(5)} ${j > i ? `(${j - i + 1} slots) ` : ''}${what}`);
      i = j + 1;
      continue;
    }
    lines.push(`  ${pad(s.addr).padEnd(12)} ${label(s.state).padEnd(5)} ${describe(s.device)}${marks ? `  ← ${marks.join(', ')}` : ''}`);
    i++;
  }
  lines.push('');
  if (!show.scsi) {
    lines.push('scsi.0  none (no SCSI controller in kvm_cmd)');
  } else {
    const sc = show.scsi;
    const used = sc.targets.filter((t) => t.state === 'used');
    lines.push(
      `scsi.0  controller ${sc.controller}, targets 0–${sc.maxTarget}; ${used.length} used, ${sc.targets.length - used.length} free`,
    );
    const next = show.next.disk;
    const nextTarget = 'bus' in next && next.bus === 'scsi.0' ? next['scsi-id'] : undefined;
    for (const t of sc.targets) {
      if (t.device || t.target === nextTarget) {
        lines.push(
          `  target ${String(t.target).padEnd(4)} ${t.state.padEnd(5)} ${describe(t.device)}${t.target === nextTarget ? '  ← next disk' : ''}`,
        );
      }
    }
  }
  lines.push('');
  lines.push(`next hot-add: disk → ${nextText(show.next.disk)} · nic → ${nextText(show.next.nic)}`);
  if (show.upgrades.length > 0) {
    lines.push('');
    lines.push('upgraded while loading (legacy runtime file):');
    for (const u of show.upgrades) lines.push(`  ${u.path}: ${u.message}`);
  }
  lines.push('');
  if (show.problems.length === 0) lines.push('problems: none');
  else {
    lines.push(`problems (${show.problems.length}):`);
    for (const p of show.problems) lines.push(`  ! ${p.code}: ${p.message}`);
  }
  return `${lines.join('\n')}\n`;
}

function pad(addr: string): string {
  return `0x${addr.slice(2).padStart(2, '0')}`;
}

function label(state: string): string {
  return state === 'used' ? 'used' : state;
}

function describe(d: DeviceJson | undefined): string {
  if (!d) return '';
  const name = d.id ? d.id : d.description ?? d.driver;
  const extra = d.id && d.description ? ` (${d.description})` : '';
  const g = d.ganeti;
  const ganeti = g ? `${g.label ? `  ${g.label}${g.attributes ? ` ${g.attributes}` : ''}` : ''}${g.mark ? `  ${GANETI_MARK_SYMBOL[g.mark]} ${GANETI_MARK_TITLE[g.mark]}` : ''}` : '';
  return `${d.kind.padEnd(10)} ${name}  ${d.driver}${extra}${ganeti}`;
}

export function nextText(n: NextJson): string {
  if ('error' in n) return `refused: ${n.error}`;
  return n.bus === 'pci.0' ? `pci.0 slot ${n.addr}` : `scsi.0 target ${n['scsi-id']}`;
}
