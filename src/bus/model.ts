/**
 * The bus model of an instance, built from its runtime file: the 32 slots of `pci.0` and, when
 * kvm_cmd has a SCSI controller (`-device TYPE,id=scsi`), the targets of `scsi.0`.
 *
 * Every slot is one of:
 *   - `used`: a Ganeti disk/NIC (hvinfo), or a kvm_cmd device with an explicit `addr=`;
 *   - `qemu`: inside the first `kvm_pci_reservations` slots, or taken by QEMU itself (the machine's
 *     devices, kvm_cmd devices without `addr=`: see kvmcmd.ts);
 *   - `free`: nothing there, outside the reservations.
 *
 * Whatever does not add up is reported in `problems` (never hidden, never "fixed"): two devices
 * on one slot or target, a device inside the reservations, a device where QEMU puts one of its own
 * (QEMU would not start: a migration would fail), SCSI disks without a controller, a target the
 * controller refuses, an id QEMU refuses, a duplicate id, an unknown bus, a Q35 machine, more
 * disks/NICs than Ganeti allows.
 *
 * The live layer (src/live/overlay.ts) lays what QEMU reports over this model; allocation only
 * reads the model, so it honours live knowledge automatically.
 */

import { checkQemuId } from '../runtime/ids.js';
import { diskDriver, isScsiDiskType, nicDriver } from '../runtime/hvparams.js';
import type { Hvinfo, RuntimeDisk, RuntimeFile, RuntimeNic } from '../runtime/types.js';
import { parsePciAddr } from '../qemu/argv.js';
import {
  GANETI_SCSI_SLOTS,
  MAX_DISKS,
  MAX_NICS,
  PCI_SLOT_COUNT,
  UNKNOWN_CONTROLLER_MAX_TARGET,
  driverInfo,
  scsiControllerInfo,
} from './controllers.js';
import { predictPci } from './kvmcmd.js';
import type { PlacedDevice, Prediction, StartDevice, StartDrive } from './prediction.js';
import type { BusDevice, BusModel, PciSlot, Problem, ScsiBus, ScsiTarget } from './types.js';

/** disk_type values Ganeti starts as `-drive if=TYPE` without a `-device` (no hot-plug). */
export const LEGACY_DISK_TYPES: ReadonlySet<string> = new Set(['ide', 'scsi', 'sd', 'mtd', 'pflash']);

/** Whether Ganeti 3.0 starts disks of this disk_type with `-device` (paravirtual, scsi-*). */
export function isDeviceDiskType(diskType: string): boolean {
  return diskType === 'paravirtual' || isScsiDiskType(diskType);
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** A Ganeti disk or NIC as the model sees it. */
export interface RuntimeDeviceRef {
  kind: 'disk' | 'nic';
  index: number;
  uuid: string;
  name: string | undefined;
  hvinfo: Hvinfo;
  /** `disk/1 (disk-9f5c5bd4-6f60-480b)`: how messages name it. */
  label: string;
}

function hvinfoId(h: Hvinfo): string | undefined {
  const id = (h as { id?: unknown }).id;
  return typeof id === 'string' ? id : undefined;
}
function hvinfoField(h: Hvinfo, key: string): unknown {
  return (h as Record<string, unknown>)[key];
}

export function runtimeDevices(rf: RuntimeFile): RuntimeDeviceRef[] {
  const ref = (kind: 'disk' | 'nic', d: RuntimeDisk | RuntimeNic): RuntimeDeviceRef => {
    const id = hvinfoId(d.hvinfo);
    return {
      kind,
      index: d.index,
      uuid: d.uuid,
      name: d.name,
      hvinfo: d.hvinfo,
      label: id !== undefined ? `${kind}/${d.index} (${id})` : `${kind}/${d.index}`,
    };
  };
  return [...rf.disks.map((d) => ref('disk', d)), ...rf.nics.map((n) => ref('nic', n))];
}

interface PciOccupant {
  device: BusDevice;
  /** runtime: a Ganeti disk/NIC; explicit: kvm_cmd device with addr=; qemu: placed by QEMU itself. */
  how: 'runtime' | 'explicit' | 'qemu';
  label: string;
}

interface ScsiOccupant {
  device: BusDevice;
  lun: number;
  channel: number;
  label: string;
}

function runtimeBusDevice(r: RuntimeDeviceRef, driver: string, description?: string): BusDevice {
  const d: BusDevice = { id: hvinfoId(r.hvinfo) ?? '', driver, kind: r.kind, uuid: r.uuid, source: 'runtime' };
  const desc = [r.name, description].filter((x) => x !== undefined && x !== '').join('; ');
  if (desc !== '') d.description = desc;
  return d;
}

function predictedBusDevice(p: PlacedDevice, rf: RuntimeFile): BusDevice {
  const d: BusDevice = { id: p.id ?? '', driver: p.driver, kind: p.kind, source: 'predicted', description: p.description };
  if (p.owner) {
    const list = p.owner.kind === 'disk' ? rf.disks : rf.nics;
    const uuid = list[p.owner.index]?.uuid;
    if (uuid !== undefined) d.uuid = uuid;
  }
  if (p.id === 'scsi') d.kind = 'controller';
  return d;
}

function labelOfPlaced(p: PlacedDevice): string {
  const name = p.id !== undefined && p.id !== '' ? `${p.driver} (id ${p.id})` : p.driver;
  return `${name} [${p.description}]`;
}

/**
 * What Ganeti adds at start that lands on pci.0 or changes placement (`_ExecuteKVMRuntime`,
 * `_GenerateKVMBlockDevicesOptions`): NICs first (a `-device` for each; without hvinfo it has no
 * `addr=` and QEMU places it), then disks (`-device` from hvinfo for paravirtual/scsi-* disk types,
 * `-drive if=TYPE` for legacy ones).
 */
export function startDevicesOf(rf: RuntimeFile): { devices: StartDevice[]; drives: StartDrive[] } {
  const devices: StartDevice[] = [];
  const drives: StartDrive[] = [];
  const slotOf = (h: Hvinfo): number | undefined => {
    if (hvinfoField(h, 'bus') !== 'pci.0') return undefined;
    const addr = hvinfoField(h, 'addr');
    return typeof addr === 'string' ? parsePciAddr(addr)?.slot : undefined;
  };
  for (const nic of rf.nics) {
    const id = hvinfoId(nic.hvinfo);
    const owner = { kind: 'nic' as const, index: nic.index };
    if (id === undefined) {
      devices.push({ driver: nicDriver(rf.hvparams.nic_type), owner });
      continue;
    }
    const driver = String(hvinfoField(nic.hvinfo, 'driver') ?? nicDriver(rf.hvparams.nic_type));
    const bus = hvinfoField(nic.hvinfo, 'bus');
    if (bus !== undefined && bus !== 'pci.0') continue; // not on pci.0: reported by the model
    const slot = slotOf(nic.hvinfo);
    const d: StartDevice = { driver, id, owner };
    if (slot !== undefined) d.slot = slot;
    devices.push(d);
  }
  const diskType = rf.hvparams.disk_type;
  for (const disk of rf.disks) {
    const owner = { kind: 'disk' as const, index: disk.index };
    if (!isDeviceDiskType(diskType)) {
      drives.push({ if: diskType, owner });
      continue;
    }
    const id = hvinfoId(disk.hvinfo);
    if (id === undefined) continue; // no hvinfo: Ganeti cannot start it; reported by the model
    const bus = hvinfoField(disk.hvinfo, 'bus');
    if (bus !== undefined && bus !== 'pci.0') continue;
    const driver = String(hvinfoField(disk.hvinfo, 'driver') ?? diskDriver(diskType));
    const slot = slotOf(disk.hvinfo);
    const d: StartDevice = { driver, id, owner };
    if (slot !== undefined) d.slot = slot;
    devices.push(d);
  }
  return { devices, drives };
}

/** The prediction used by buildBusModel (exported for the allocator's skip reasons and for tests). */
export function predictFor(rf: RuntimeFile): Prediction {
  const start = startDevicesOf(rf);
  return predictPci({ kvmCmd: rf.kvmCmd, networkAtStart: true, startDevices: start.devices, startDrives: start.drives });
}

export function clampReservations(n: number): number {
  if (!Number.isFinite(n)) return 12;
  return Math.min(PCI_SLOT_COUNT, Math.max(0, Math.trunc(n)));
}

export function buildBusModel(rf: RuntimeFile): BusModel {
  const problems: Problem[] = [];
  const add = (code: string, message: string): void => {
    problems.push({ code, message });
  };
  const reservations = clampReservations(rf.hvparams.kvm_pci_reservations);
  if (reservations !== rf.hvparams.kvm_pci_reservations) {
    add('bad-reservations', `kvm_pci_reservations ${rf.hvparams.kvm_pci_reservations} is outside 0–32: using ${reservations}`);
  }
  const prediction = predictFor(rf);
  const machine = prediction.machine;
  if (machine.family === 'q35') {
    add(
      'pcie-root-bus',
      `machine ${machine.type} (Q35) has a PCIe root bus (pcie.0) whose slots cannot be hot-plugged the way Ganeti does on pci.0: plugboard does not plan on it`,
    );
  } else if (machine.family === 'other') {
    add('unsupported-machine', `machine ${machine.type} is not the i440FX "pc" machine: plugboard does not know its buses and does not plan on them`);
  }

  const diskType = rf.hvparams.disk_type;
  const refs = runtimeDevices(rf);
  const pciOcc: PciOccupant[][] = Array.from({ length: PCI_SLOT_COUNT }, () => []);
  const scsiOcc = new Map<number, ScsiOccupant[]>();
  const scsiDevices: { ref: RuntimeDeviceRef; target: number; lun: number; channel: number; device: BusDevice }[] = [];

  for (const r of refs) {
    const h = r.hvinfo;
    const id = hvinfoId(h);
    if (id === undefined) {
      if (r.kind === 'disk' && isDeviceDiskType(diskType)) {
        add(
          'no-hvinfo',
          `${r.label} has no hvinfo: Ganeti 3.0 builds the -device of a ${diskType} disk from it and fails to start the instance (or a migration target) without it`,
        );
      }
      continue;
    }
    const idProblem = checkQemuId(id);
    if (idProblem !== null) add('bad-device-id', `${r.label}: ${idProblem}`);
    const driver = String(hvinfoField(h, 'driver') ?? '');
    const bus = hvinfoField(h, 'bus');
    const info = driverInfo(driver);
    const legacyPaper = r.kind === 'disk' && LEGACY_DISK_TYPES.has(driver);
    if (r.kind === 'disk' && isDeviceDiskType(diskType) && legacyPaper) {
      add(
        'disk-type-mismatch',
        `${r.label} has driver ${driver} (disk_type ${driver}) but disk_type is ${diskType}: Ganeti 3.0 would pass -device ${driver}, which QEMU does not know, at the next start or migration`,
      );
    } else if (r.kind === 'disk' && LEGACY_DISK_TYPES.has(diskType) && !legacyPaper) {
      add(
        'disk-type-mismatch',
        `${r.label} is a ${driver} but disk_type is ${diskType}: Ganeti 3.0 starts every disk as -drive if=${diskType}, so at the next start or migration it would not be a ${driver}${bus === 'pci.0' ? ' on this slot' : ''}`,
      );
    }
    if (bus === 'pci.0') {
      const addr = hvinfoField(h, 'addr');
      const parsed = typeof addr === 'string' ? parsePciAddr(addr) : null;
      if (!parsed) {
        add('bad-addr', `${r.label}: addr ${JSON.stringify(addr)} is not a slot of pci.0 (0x0–0x1f)`);
        continue;
      }
      let note: string | undefined;
      if (legacyPaper && LEGACY_DISK_TYPES.has(diskType)) {
        note = `disk_type ${driver}: started as -drive if=${driver}, no device on this slot; Ganeti counts the slot as used`;
      } else if (info.known && info.bus !== 'pci') {
        add('wrong-bus', `${r.label}: ${driver} is not a PCI device but hvinfo puts it on pci.0 slot ${hex(parsed.slot)}: QEMU refuses it`);
      }
      pciOcc[parsed.slot]!.push({ device: runtimeBusDevice(r, driver, note), how: 'runtime', label: r.label });
      if (parsed.slot < reservations) {
        add(
          'in-reserved-range',
          `${r.label} is on slot ${hex(parsed.slot)}, inside the ${reservations} slots left to QEMU (kvm_pci_reservations=${reservations}, 0x0–${hex(reservations - 1)})`,
        );
      }
    } else if (bus === 'scsi.0') {
      if (info.known && info.bus !== 'scsi') {
        add('wrong-bus', `${r.label}: ${driver} is not a SCSI device but hvinfo puts it on scsi.0: QEMU refuses it`);
      }
      const target = Number(hvinfoField(h, 'scsi-id'));
      const lun = Number(hvinfoField(h, 'lun') ?? 0);
      const channel = Number(hvinfoField(h, 'channel') ?? 0);
      const device = runtimeBusDevice(r, driver);
      scsiDevices.push({ ref: r, target, lun, channel, device });
      if (Number.isInteger(target) && target >= GANETI_SCSI_SLOTS) {
        add(
          'ganeti-scsi-range',
          `${r.label} is on scsi-id ${target}: Ganeti 3.0 tracks scsi-id 0–${GANETI_SCSI_SLOTS - 1} only, so its next hot-plug on this instance fails (IndexError in _GetBusSlots)`,
        );
      }
    } else {
      add(
        'unknown-bus',
        bus === undefined
          ? `${r.label} has an id but no bus in its hvinfo: QEMU places it where it likes; plugboard (like Ganeti) only knows pci.0 and scsi.0`
          : `${r.label} is on bus ${JSON.stringify(bus)}: plugboard (like Ganeti) only knows pci.0 and scsi.0, so it is not in the bus map, and Ganeti 3.0's next hot-plug on this instance fails (KeyError in _GetBusSlots)`,
      );
    }
  }

  // What QEMU places by itself, and kvm_cmd devices at an explicit addr.
  for (const p of prediction.devices) {
    if (p.origin === 'start' && p.placement === 'explicit') continue; // the Ganeti devices above
    const how: PciOccupant['how'] = p.origin === 'kvm_cmd' && p.placement === 'explicit' ? 'explicit' : 'qemu';
    pciOcc[p.slot]!.push({ device: predictedBusDevice(p, rf), how, label: labelOfPlaced(p) });
  }
  for (const { device, holder } of prediction.clashes) {
    const what =
      device.origin === 'start' && device.owner
        ? (refs.find((r) => r.kind === device.owner!.kind && r.index === device.owner!.index)?.label ?? device.description)
        : labelOfPlaced(device);
    if (holder.placement === 'explicit') {
      // Two devices asking for one slot. When the refused one is a Ganeti device, both are in the
      // slot's occupants and the slot-conflict is reported below; a kvm_cmd device is not.
      if (device.origin === 'start') continue;
      const holderName =
        holder.origin === 'start' && holder.owner
          ? (refs.find((r) => r.kind === holder.owner!.kind && r.index === holder.owner!.index)?.label ?? holder.description)
          : labelOfPlaced(holder);
      add('slot-conflict', `${what} and ${holderName} both on slot ${hex(device.slot)}: QEMU would refuse to start`);
      continue;
    }
    add(
      'qemu-slot-clash',
      `${what} is on slot ${hex(device.slot)}, where QEMU itself puts ${labelOfPlaced(holder)}: QEMU would refuse to start this instance (a migration target too)`,
    );
  }
  for (const n of prediction.noSlot) {
    add('pci-full', `QEMU finds no free slot on pci.0 for ${n.driver} [${n.description}]: it would refuse to start`);
  }
  for (const b of prediction.badAddr) {
    add('bad-addr', `${b.driver} [${b.description}]: addr=${b.addr} is not a slot of pci.0: QEMU refuses it`);
  }
  for (const u of prediction.unknownDrivers) {
    add('unknown-device', `kvm_cmd: -device ${u.driver}: plugboard does not know this device; it assumes it takes a PCI slot`);
  }
  for (const u of prediction.unpredictable) {
    add('unpredictable-option', `kvm_cmd: ${u.option} ${u.value}: ${u.reason}; the bus map may miss devices`);
  }
  for (const n of prediction.notes) add('old-qemu-option', `kvm_cmd: ${n}`);

  const slots: PciSlot[] = pciOcc.map((occ, slot) => {
    const reserved = slot < reservations;
    if (occ.length === 0) return { slot, state: reserved ? 'qemu' : 'free', reserved };
    const runtime = occ.filter((o) => o.how === 'runtime');
    const explicit = occ.filter((o) => o.how === 'explicit');
    const qemu = occ.filter((o) => o.how === 'qemu');
    const shown = runtime[0] ?? explicit[0] ?? qemu[0];
    const state: PciSlot['state'] = runtime.length > 0 || explicit.length > 0 ? 'used' : qemu.length > 0 || reserved ? 'qemu' : 'free';
    if (runtime.length + explicit.length > 1) {
      const names = [...runtime, ...explicit].map((o) => o.label);
      add('slot-conflict', `${joinNames(names)} both on slot ${hex(slot)}`);
    }
    const s: PciSlot = { slot, state, reserved };
    if (shown) s.device = shown.device;
    return s;
  });
  // A QEMU-placed device sharing a slot with a Ganeti device that QEMU creates *before* it cannot
  // happen (QEMU would have placed it elsewhere); one created after it is a qemu-slot-clash above.

  // scsi.0
  const ctrl = prediction.scsiController;
  let scsi: ScsiBus | null = null;
  const scsiDisksPresent = scsiDevices.length > 0;
  if (!ctrl) {
    if (scsiDisksPresent) {
      add(
        'scsi-no-controller',
        `${joinNames(scsiDevices.map((d) => d.ref.label))} ${scsiDevices.length > 1 ? 'are' : 'is'} on scsi.0, but kvm_cmd has no SCSI controller (-device TYPE,id=scsi): QEMU would refuse to start`,
      );
    }
  } else {
    const info = scsiControllerInfo(ctrl.driver);
    if (!info) {
      const what = driverInfo(ctrl.driver).role === 'controller' ? 'a SCSI controller plugboard does not know' : 'not a SCSI controller plugboard knows';
      add(
        'unknown-controller',
        `kvm_cmd: -device ${ctrl.driver},id=scsi is ${what}: plugboard assumes targets 0–${UNKNOWN_CONTROLLER_MAX_TARGET} (the smallest range it knows)`,
      );
    }
    const maxTarget = info?.maxTarget ?? UNKNOWN_CONTROLLER_MAX_TARGET;
    const maxLun = info?.maxLun ?? 0;
    const maxChannel = info?.maxChannel ?? 0;
    for (const d of scsiDevices) {
      const where = `scsi-id ${d.target}, lun ${d.lun}, channel ${d.channel}`;
      if (!Number.isInteger(d.target) || d.target < 0 || d.target > maxTarget) {
        add(
          'target-out-of-range',
          `${d.ref.label} is on ${where}: controller ${ctrl.driver} accepts scsi-id 0–${maxTarget} only, QEMU refuses it`,
        );
        continue;
      }
      if (!Number.isInteger(d.lun) || d.lun < 0 || d.lun > maxLun) {
        add('target-out-of-range', `${d.ref.label} is on ${where}: controller ${ctrl.driver} accepts lun 0–${maxLun} only, QEMU refuses it`);
      }
      if (!Number.isInteger(d.channel) || d.channel < 0 || d.channel > maxChannel) {
        add('target-out-of-range', `${d.ref.label} is on ${where}: controller ${ctrl.driver} accepts channel 0 only, QEMU refuses it`);
      }
      const list = scsiOcc.get(d.target) ?? [];
      list.push({ device: d.device, lun: d.lun, channel: d.channel, label: d.ref.label });
      scsiOcc.set(d.target, list);
    }
    const targets: ScsiTarget[] = [];
    // Up to 256 targets (virtio-scsi-pci) per instance, nearly all free: look only at used ones.
    for (let t = 0; t <= maxTarget; t++) {
      const occ = scsiOcc.get(t);
      if (occ === undefined) {
        targets.push({ target: t, state: 'free' });
        continue;
      }
      if (occ.length > 1) {
        const seen = new Map<string, string[]>();
        for (const o of occ) {
          const k = `${o.channel}:${o.lun}`;
          seen.set(k, [...(seen.get(k) ?? []), o.label]);
        }
        for (const [k, names] of seen) {
          if (names.length > 1) {
            const lun = k.split(':')[1];
            add('target-conflict', `${joinNames(names)} both on scsi.0 target ${t}${lun === '0' ? '' : ` lun ${lun}`}`);
          }
        }
      }
      targets.push({ target: t, state: 'used', device: occ[0]!.device });
    }
    scsi = { bus: 'scsi.0', controller: ctrl.driver, maxTarget, targets };
  }

  // Duplicate device ids (QEMU: "Duplicate device ID 'X'", across all devices, controllers too).
  const ids = new Map<string, string[]>();
  for (const r of refs) {
    const id = hvinfoId(r.hvinfo);
    if (id !== undefined) ids.set(id, [...(ids.get(id) ?? []), `${r.kind}/${r.index}`]);
  }
  for (const k of prediction.kvmCmdIds) ids.set(k.id, [...(ids.get(k.id) ?? []), `kvm_cmd -device ${k.driver}`]);
  for (const [id, owners] of ids) {
    if (owners.length > 1) add('duplicate-id', `device id ${id} is used by ${joinNames(owners)}: QEMU refuses a duplicate device id`);
  }

  if (rf.disks.length > MAX_DISKS) add('too-many-disks', `${rf.disks.length} disks: Ganeti allows at most ${MAX_DISKS} per instance`);
  if (rf.nics.length > MAX_NICS) add('too-many-nics', `${rf.nics.length} NICs: Ganeti allows at most ${MAX_NICS} per instance`);

  if (rf.disks.length > 0 && LEGACY_DISK_TYPES.has(diskType) && diskType !== 'ide') {
    add(
      'legacy-disk-type',
      diskType === 'scsi'
        ? `disk_type scsi: disks start as -drive if=scsi, which QEMU 2.12 and later refuse on machine pc and which cannot be hot-added; disk_type scsi-hd is the replacement (at the next start)`
        : `disk_type ${diskType}: disks start as -drive if=${diskType}, which machine pc has no bus for`,
    );
  }

  return { pci: { bus: 'pci.0', reservations, slots }, scsi, problems };
}

function joinNames(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}
