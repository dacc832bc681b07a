/**
 * The bus model with what QEMU really uses laid over it. Occupancy is the union of the two: a slot
 * or target stays taken when the runtime file says so (a migration target is started from the
 * file), and becomes taken when QEMU uses it (a hot-add there would fail). So allocation for a
 * hot-add avoids both. Devices the file did not know get `source: 'live'`; a runtime device is
 * kept as it is when QEMU has the same device at that place.
 */
import { UNKNOWN_CONTROLLER_MAX_TARGET } from '../bus/controllers.js';
import type { BusDevice, BusModel, PciSlot, Problem, ScsiBus, ScsiTarget } from '../bus/types.js';
import { hexSlot, roleOf, sameDriver } from './drivers.js';
import type { LivePciFunction, LiveScsiDevice, LiveState } from './probe.js';

/**
 * A new model (the given one is not changed) with every slot of pci.0 and target of scsi.0 that
 * QEMU uses marked. What QEMU has that the model lacks becomes a `source: 'live'` device (`used`,
 * or `qemu` for a device without id or inside the reservations); what the model has that QEMU
 * lacks stays. scsi.0 follows QEMU's controller (none → null; another type → its target range).
 * Differences in occupant are added to `problems` (`live-slot-differs`, `live-prediction-differs`,
 * `live-target-differs`, `live-no-controller`, `live-controller-differs`, `live-controller-unknown`,
 * `live-target-out-of-range`); the per-device comparison is computeDrift's.
 */
export function overlayLive(model: BusModel, live: LiveState): BusModel {
  const problems: Problem[] = [...model.problems];
  const known = knownDevices(model);
  const pci = { ...model.pci, slots: model.pci.slots.map((s) => overlaySlot(s, live, known, problems)) };
  const scsi = overlayScsi(model.scsi, live, known, problems);
  return { pci, scsi, problems };
}

/** Every device of the model by id, to carry uuid/kind over to a live sighting elsewhere. */
function knownDevices(model: BusModel): Map<string, BusDevice> {
  const m = new Map<string, BusDevice>();
  for (const s of model.pci.slots) if (s.device && s.device.id !== '') m.set(s.device.id, s.device);
  for (const t of model.scsi?.targets ?? []) if (t.device && t.device.id !== '') m.set(t.device.id, t.device);
  return m;
}

/** The function that stands for a slot: the one with an id (function 0 first), else function 0. */
function representative(fns: LivePciFunction[]): LivePciFunction | undefined {
  const sorted = [...fns].sort((a, b) => a.function - b.function);
  return sorted.find((f) => f.qdevId !== '') ?? sorted[0];
}

function classText(f: LivePciFunction): string {
  const ids = `${f.vendorId.toString(16).padStart(4, '0')}:${f.deviceId.toString(16).padStart(4, '0')}`;
  return `${f.classDesc ?? `PCI class 0x${f.classCode.toString(16)}`} ${ids}`;
}

function elsewhere(modelDev: BusDevice | undefined): string | undefined {
  if (!modelDev) return undefined;
  return modelDev.source === 'predicted'
    ? 'seen in QEMU here; plugboard predicted it elsewhere from kvm_cmd'
    : 'seen in QEMU here; the runtime file has it elsewhere';
}

function liveDeviceOfPci(f: LivePciFunction, known: Map<string, BusDevice>): BusDevice {
  if (f.qdevId === '') {
    return { id: '', driver: '', kind: 'other', source: 'live', description: `seen in QEMU, no id: ${classText(f)}` };
  }
  const same = known.get(f.qdevId);
  const dev: BusDevice = {
    id: f.qdevId,
    driver: f.driver ?? '',
    kind: same?.kind ?? roleOf(f.qdevId, f.driver),
    source: 'live',
    description: elsewhere(same) ?? `seen in QEMU, not in the runtime file: ${f.driver ?? classText(f)}`,
  };
  if (same?.uuid !== undefined) dev.uuid = same.uuid;
  return dev;
}

/**
 * Whether the model's device at a place is the device QEMU has there: the same id, or, for a device
 * without id, one the model predicted QEMU would put there (also without id). A different driver
 * under the same id is drift's business (`driver-differs`), not a different occupant.
 */
function matches(modelDev: BusDevice, liveId: string): boolean {
  if (liveId === '') return modelDev.source === 'predicted' && modelDev.id === '';
  return modelDev.id === liveId;
}

function overlaySlot(slot: PciSlot, live: LiveState, known: Map<string, BusDevice>, problems: Problem[]): PciSlot {
  const fns = live.pci.filter((f) => f.slot === slot.slot);
  const rep = representative(fns);
  if (!rep) return slot;
  if (slot.device && matches(slot.device, rep.qdevId)) {
    // QEMU has what the model has; a slot the model thought free cannot hold a device, so keep it.
    return slot;
  }
  const device = liveDeviceOfPci(rep, known);
  if (slot.device) {
    const now = rep.qdevId === '' ? `a device without id (${classText(rep)})` : rep.qdevId;
    const d = slot.device;
    if (d.source === 'predicted') {
      problems.push({
        code: 'live-prediction-differs',
        message: `pci.0 slot ${hexSlot(slot.slot)}: plugboard predicted ${d.id === '' ? d.driver : `${d.driver} (id ${d.id})`} there from kvm_cmd, QEMU has ${now}`,
      });
    } else {
      problems.push({
        code: 'live-slot-differs',
        message: `pci.0 slot ${hexSlot(slot.slot)}: the runtime file has ${d.id === '' ? d.driver : d.id} there, QEMU has ${now}`,
      });
    }
  }
  const state = slot.reserved || rep.qdevId === '' ? 'qemu' : 'used';
  return { ...slot, state, device };
}

function liveDeviceOfScsi(d: LiveScsiDevice, known: Map<string, BusDevice>): BusDevice {
  const same = known.get(d.id);
  const dev: BusDevice = {
    id: d.id,
    driver: d.driver,
    kind: same?.kind ?? roleOf(d.id, d.driver),
    source: 'live',
    description: elsewhere(same) ?? `seen in QEMU, not in the runtime file: ${d.driver}`,
  };
  if (same?.uuid !== undefined) dev.uuid = same.uuid;
  return dev;
}

function overlayScsi(
  bus: ScsiBus | null,
  live: LiveState,
  known: Map<string, BusDevice>,
  problems: Problem[],
): ScsiBus | null {
  const ctl = live.controller;
  if (!ctl) {
    if (bus) {
      problems.push({
        code: 'live-no-controller',
        message: `the runtime file expects the SCSI controller ${bus.controller} (scsi.0), QEMU has none: no SCSI disk can be hot-added`,
      });
    }
    return null;
  }
  let maxTarget = ctl.maxTarget;
  if (maxTarget === undefined) {
    maxTarget = UNKNOWN_CONTROLLER_MAX_TARGET;
    problems.push({
      code: 'live-controller-unknown',
      message: `QEMU's SCSI controller is ${ctl.driver}, whose target limit plugboard does not know: targets above ${maxTarget} are not offered`,
    });
  }
  if (bus && bus.controller !== ctl.type && !sameDriver(bus.controller, ctl.driver)) {
    problems.push({
      code: 'live-controller-differs',
      message: `the runtime file expects the SCSI controller ${bus.controller}, QEMU has ${ctl.type}: targets follow QEMU's (0–${maxTarget})`,
    });
  }
  const old = new Map((bus?.targets ?? []).map((t) => [t.target, t]));
  for (const t of bus?.targets ?? []) {
    if (t.target > maxTarget && t.device) {
      problems.push({
        code: 'live-target-out-of-range',
        message: `scsi.0 target ${t.target} (${t.device.id}) is above what QEMU's controller ${ctl.type} accepts (0–${maxTarget})`,
      });
    }
  }
  const targets: ScsiTarget[] = [];
  for (let n = 0; n <= maxTarget; n++) {
    const t: ScsiTarget = old.get(n) ?? { target: n, state: 'free' };
    // One device per target: Ganeti uses lun 0, channel 0; another lun on the same target still takes it.
    const here = live.scsi.filter((d) => d.bus === 'scsi.0' && d.scsiId === n);
    const rep = here.find((d) => d.lun === 0 && d.channel === 0) ?? here[0];
    if (!rep || (t.device && matches(t.device, rep.id))) {
      targets.push(t);
      continue;
    }
    if (t.device) {
      problems.push({
        code: 'live-target-differs',
        message: `scsi.0 target ${n}: the runtime file has ${t.device.id} there, QEMU has ${rep.id}`,
      });
    }
    targets.push({ target: n, state: 'used', device: liveDeviceOfScsi(rep, known) });
  }
  return { bus: 'scsi.0', controller: ctl.type, maxTarget, targets };
}
