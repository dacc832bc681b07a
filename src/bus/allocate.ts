/**
 * Where a hot-added disk or NIC goes: the same choice Ganeti 3.0 makes (`_GetBusSlots` +
 * `utils.GetFreeSlot`: the lowest slot of pci.0 at or above `kvm_pci_reservations` that no
 * hvinfo uses; the lowest scsi-id of scsi.0 no hvinfo uses), except that plugboard
 *
 *   - never hands out a slot QEMU takes by itself (predicted from kvm_cmd) or one the live layer
 *     saw in use: it takes the next free one and says why in `skipped`;
 *   - plans SCSI targets against the controller's real range (lsi 0–7: Ganeti's 16-wide bitarray
 *     would hand out 8, which QEMU refuses) and within Ganeti's 16-wide bitarray (0–15: a larger
 *     scsi-id in the runtime file breaks Ganeti's next `_GetBusSlots`);
 *   - refuses, with the reason, what cannot work: a full bus, an instance at Ganeti's 16 disks /
 *     8 NICs, a SCSI disk without a controller in kvm_cmd, a type that cannot be hot-added (never
 *     falling back to virtio-blk-pci, the bug kvm-scsi-design.txt fixes), a machine that is not
 *     i440FX.
 *
 * Allocation reads only the model (plus the runtime file's hvinfo, for Ganeti's view used in
 * `skipped`), so a model with the live overlay laid over it is honoured as it is.
 */

import { DISK_TYPES, NIC_TYPES, isHotpluggableNicType, isScsiDiskType } from '../runtime/hvparams.js';
import type { Hvinfo, RuntimeFile } from '../runtime/types.js';
import { parsePciAddr, parseQemuArgv } from '../qemu/argv.js';
import { GANETI_SCSI_SLOTS, MAX_DISKS, MAX_NICS, PCI_SLOT_COUNT } from './controllers.js';
import { machineOf } from './kvmcmd-options.js';
import { LEGACY_DISK_TYPES, isDeviceDiskType } from './model.js';
import type { Allocation, AllocationResult, BusModel, PciSlot, ScsiTarget } from './types.js';

export interface AllocationRequest {
  kind: 'disk' | 'nic';
  /** disk_type / nic_type of the new device; default: the instance's (runtime file hvparams). */
  type?: string;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function refuse(error: string): AllocationResult {
  return { ok: false, error };
}

function field(h: Hvinfo, key: string): unknown {
  return (h as Record<string, unknown>)[key];
}

/** Ganeti's view of pci.0 (`_GetBusSlots`): the reservations plus every hvinfo `addr`. */
export function ganetiPciUsed(rf: RuntimeFile, reservations: number): Set<number> {
  const used = new Set<number>();
  for (let s = 0; s < Math.min(reservations, PCI_SLOT_COUNT); s++) used.add(s);
  for (const d of [...rf.disks, ...rf.nics]) {
    if (field(d.hvinfo, 'bus') !== 'pci.0') continue;
    const addr = field(d.hvinfo, 'addr');
    const p = typeof addr === 'string' ? parsePciAddr(addr) : null;
    if (p) used.add(p.slot);
  }
  return used;
}

/** Ganeti's view of scsi.0: every hvinfo `scsi-id`. */
export function ganetiScsiUsed(rf: RuntimeFile): Set<number> {
  const used = new Set<number>();
  for (const d of [...rf.disks, ...rf.nics]) {
    if (field(d.hvinfo, 'bus') !== 'scsi.0') continue;
    const t = field(d.hvinfo, 'scsi-id');
    if (typeof t === 'number' && Number.isInteger(t)) used.add(t);
  }
  return used;
}

/** Ganeti 3.0's own choice (`GetFreeSlot`), for comparison: lowest slot not in its view, or null. */
export function ganetiPciChoice(rf: RuntimeFile, reservations: number): number | null {
  const used = ganetiPciUsed(rf, reservations);
  for (let s = 0; s < PCI_SLOT_COUNT; s++) if (!used.has(s)) return s;
  return null;
}

/** Ganeti 3.0's SCSI choice: lowest scsi-id 0–15 not in its view, or null ("All slots occupied"). */
export function ganetiScsiChoice(rf: RuntimeFile): number | null {
  const used = ganetiScsiUsed(rf);
  for (let t = 0; t < GANETI_SCSI_SLOTS; t++) if (!used.has(t)) return t;
  return null;
}

function whyTaken(slot: PciSlot): string {
  const d = slot.device;
  if (!d) return 'taken';
  const name = d.id !== '' ? `${d.driver} (id ${d.id})` : d.driver || 'a device';
  const desc = d.description !== undefined ? `: ${d.description}` : '';
  switch (d.source) {
    case 'predicted':
      return slot.state === 'used' ? `kvm_cmd puts ${name} here${desc}` : `QEMU puts ${name} here by itself${desc}`;
    case 'live':
      return `the running QEMU has ${name} here${desc}`;
    default:
      return `${name} is here${desc}`;
  }
}

function whyTargetTaken(t: ScsiTarget): string {
  const d = t.device;
  if (!d) return 'taken';
  const name = d.id !== '' ? `${d.driver} (id ${d.id})` : d.driver || 'a device';
  return d.source === 'live' ? `the running QEMU has ${name} here` : `${name} is here`;
}

/**
 * The place for a new disk or NIC, or the reason there is none. Deterministic: the same model and
 * runtime file give the same answer.
 */
export function allocate(model: BusModel, rf: RuntimeFile, what: AllocationRequest): AllocationResult {
  const machine = machineOf(parseQemuArgv(rf.kvmCmd).options);
  if (machine.family === 'q35') {
    return refuse(
      `machine ${machine.type} (Q35) has a PCIe root bus (pcie.0): hot-plugging on pci.0 slots the way Ganeti does is not possible there`,
    );
  }
  if (machine.family !== 'i440fx') {
    return refuse(`machine ${machine.type} is not the i440FX "pc" machine: plugboard does not know its buses`);
  }

  if (what.kind === 'nic') {
    const type = what.type ?? rf.hvparams.nic_type;
    if (!(NIC_TYPES as readonly string[]).includes(type)) {
      return refuse(`unknown nic_type ${type} (one of: ${NIC_TYPES.join(', ')})`);
    }
    if (!isHotpluggableNicType(type)) {
      return refuse(`nic_type ${type} is an ISA card and cannot be hot-added: choose a PCI NIC type (paravirtual, e1000, rtl8139, …)`);
    }
    if (rf.nics.length >= MAX_NICS) {
      return refuse(`the instance already has ${rf.nics.length} NICs, Ganeti's maximum is ${MAX_NICS}`);
    }
    return allocatePci(model, rf);
  }

  const type = what.type ?? rf.hvparams.disk_type;
  if (!(DISK_TYPES as readonly string[]).includes(type)) {
    return refuse(`unknown disk_type ${type} (one of: ${DISK_TYPES.join(', ')})`);
  }
  if (type === 'scsi') {
    return refuse(
      'disk_type scsi is the legacy -drive if=scsi, which cannot be hot-added: hot-add needs disk_type scsi-hd (plugboard does not fall back to virtio-blk-pci)',
    );
  }
  if (LEGACY_DISK_TYPES.has(type)) {
    return refuse(`disk_type ${type} (-drive if=${type}) cannot be hot-added: hot-add needs paravirtual or a scsi-* type`);
  }
  const runtimeType = rf.hvparams.disk_type;
  if (!isDeviceDiskType(runtimeType)) {
    return refuse(
      `the instance runs with disk_type ${runtimeType}: Ganeti 3.0 rebuilds every disk as -drive if=${runtimeType} at a migration or restart, so a hot-added ${type} disk would not come back as it was added`,
    );
  }
  if (rf.disks.length >= MAX_DISKS) {
    return refuse(`the instance already has ${rf.disks.length} disks, Ganeti's maximum is ${MAX_DISKS}`);
  }
  if (isScsiDiskType(type)) {
    if (!model.scsi) {
      return refuse(
        `no SCSI controller in kvm_cmd: hot-adding one is not supported; the instance needs disk_type=${type} at its next start`,
      );
    }
    return allocateScsi(model, rf);
  }
  return allocatePci(model, rf);
}

function allocatePci(model: BusModel, rf: RuntimeFile): AllocationResult {
  const reservations = model.pci.reservations;
  const ganeti = ganetiPciUsed(rf, reservations);
  const skipped: { slot: number; reason: string }[] = [];
  for (let s = reservations; s < PCI_SLOT_COUNT; s++) {
    const slot = model.pci.slots[s];
    if (!slot) break;
    if (slot.state === 'free' && !ganeti.has(s)) {
      const allocation: Allocation = { bus: 'pci.0', addr: hex(s), slot: s, skipped };
      return { ok: true, allocation };
    }
    if (!ganeti.has(s)) skipped.push({ slot: s, reason: whyTaken(slot) });
  }
  if (reservations >= PCI_SLOT_COUNT) {
    return refuse(`pci.0 has no slot for hot-added devices: kvm_pci_reservations=${reservations} leaves all ${PCI_SLOT_COUNT} slots to QEMU`);
  }
  const range = `${hex(reservations)}–${hex(PCI_SLOT_COUNT - 1)}`;
  const left = reservations > 0 ? ` (kvm_pci_reservations=${reservations} leaves slots 0x0–${hex(reservations - 1)} to QEMU)` : '';
  const qemuNote =
    skipped.length > 0 ? `; ${skipped.length} of them ${skipped.length > 1 ? 'are' : 'is'} taken by devices Ganeti does not count (QEMU's own, kvm_cmd's, or seen live)` : '';
  return refuse(`pci.0 is full: no free slot in ${range}${left}${qemuNote}`);
}

function allocateScsi(model: BusModel, rf: RuntimeFile): AllocationResult {
  const scsi = model.scsi!;
  const limit = Math.min(scsi.maxTarget, GANETI_SCSI_SLOTS - 1);
  const ganeti = ganetiScsiUsed(rf);
  const skipped: { target: number; reason: string }[] = [];
  for (let t = 0; t <= limit; t++) {
    const target = scsi.targets[t];
    if (!target) break;
    if (target.state === 'free' && !ganeti.has(t)) {
      return { ok: true, allocation: { bus: 'scsi.0', 'scsi-id': t, channel: 0, lun: 0, skipped } };
    }
    if (!ganeti.has(t)) skipped.push({ target: t, reason: whyTargetTaken(target) });
  }
  const g = ganetiScsiChoice(rf);
  const why =
    scsi.maxTarget < GANETI_SCSI_SLOTS - 1
      ? `controller ${scsi.controller} accepts scsi-id 0–${scsi.maxTarget} only`
      : `Ganeti 3.0 keeps track of scsi-id 0–${GANETI_SCSI_SLOTS - 1} only (controller ${scsi.controller} would accept up to ${scsi.maxTarget})`;
  const ganetiNote =
    g !== null && g > scsi.maxTarget
      ? `; Ganeti 3.0 would choose scsi-id ${g}, which QEMU refuses ("bad scsi device id: ${g}")`
      : '';
  return refuse(`scsi.0 is full: ${why} and all are used${ganetiNote}`);
}
