/**
 * What-if: the runtime file Ganeti 3.0 would write at the instance's NEXT START with other values of
 * disk_type, scsi_controller_type and kvm_pci_reservations, and so the bus maps and device options
 * the instance would start with, plus the `gnt-instance modify -H …` line that makes it so.
 *
 * At start Ganeti regenerates the runtime file (`_GenerateKVMRuntime`): kvm_cmd gets
 * `-device <scsi_controller_type>,id=scsi` (before the balloon) only when disk_type is a SCSI type,
 * and every disk, then every NIC, gets a fresh hvinfo from `_GenerateDeviceHVInfo`: the id
 * `<disk|nic>-<uuid part>`, the driver from disk_type/nic_type, and the lowest free place of a
 * bus map that starts with the first kvm_pci_reservations slots taken (pci.0, 32 slots) and no
 * target taken (scsi.0, 16 targets). Ganeti fails the start with "All slots occupied" when a map
 * is full. None of this changes a running instance: a live migration keeps the current layout.
 */
import { buildBusModel } from '../bus/model.js';
import type { BusModel } from '../bus/types.js';
import { messageOf, PlugboardError } from '../errors.js';
import { GANETI_SCSI_SLOTS, PCI_SLOT_COUNT } from '../bus/controllers.js';
import { deviceOptions, type StartOption } from '../qemu/options.js';
import { cloneJson } from '../runtime/json.js';
import { deviceId } from '../runtime/ids.js';
import { DISK_TYPES, SCSI_CONTROLLER_TYPES, diskDriver, isScsiDiskType, nicDriver } from '../runtime/hvparams.js';
import { runtimeFileFromDocument } from '../runtime/load.js';
import { optsGet, parseOptsValue } from '../qemu/argv.js';
import type { Json, JsonObject, RuntimeFile } from '../runtime/types.js';

export interface WhatIfParams {
  diskType: string;
  scsiControllerType: string;
  /** kvm_pci_reservations, 0–32. */
  reservations: number;
}

export interface WhatIfResult {
  params: WhatIfParams;
  current: WhatIfParams;
  /** `disk_type=scsi-hd` for each parameter that differs from the instance's. */
  changes: string[];
  /** The runtime file Ganeti would write at the next start; null when it would refuse to start. */
  rf: RuntimeFile | null;
  model: BusModel | null;
  /** The per-device options (`-netdev`/`-device`/`-drive`) it would start with. */
  options: StartOption[];
  /** Why Ganeti would not start the instance this way (a full bus…), when it would not. */
  error: string | null;
  /** `gnt-instance modify -H disk_type=scsi-hd,… NAME`, or null when nothing changes. */
  command: string | null;
  notes: string[];
}

export function currentParams(rf: RuntimeFile): WhatIfParams {
  return {
    diskType: rf.hvparams.disk_type,
    scsiControllerType: rf.hvparams.scsi_controller_type,
    reservations: rf.hvparams.kvm_pci_reservations,
  };
}

const isScsiController = (v: Json | undefined): boolean => typeof v === 'string' && optsGet(parseOptsValue(v, 'driver'), 'id') === 'scsi';

/** kvm_cmd without its `-device …,id=scsi`, and with the one the parameters ask for. */
export function kvmCmdFor(kvmCmd: readonly Json[], params: WhatIfParams): Json[] {
  const out: Json[] = [];
  for (let i = 0; i < kvmCmd.length; i++) {
    if (kvmCmd[i] === '-device' && isScsiController(kvmCmd[i + 1])) {
      i++;
      continue;
    }
    out.push(kvmCmd[i] as Json);
  }
  if (isScsiDiskType(params.diskType)) {
    let at = out.findIndex((a, i) => a === '-device' && typeof out[i + 1] === 'string' && /^virtio-balloon(?:,|$)/.test(out[i + 1] as string));
    if (at < 0) at = out.indexOf('-daemonize');
    if (at < 0) at = out.length;
    out.splice(at, 0, '-device', `${params.scsiControllerType},id=scsi`);
  }
  return out;
}

class SlotsFull extends PlugboardError {}

/** Ganeti `utils.GetFreeSlot(slots, reserve=True)`. */
function takeFree(slots: boolean[], bus: string): number {
  const i = slots.indexOf(false);
  if (i < 0) throw new SlotsFull(`All slots occupied on ${bus}`);
  slots[i] = true;
  return i;
}

export function checkParams(p: WhatIfParams): string | null {
  if (!(DISK_TYPES as readonly string[]).includes(p.diskType)) return `unknown disk_type ${p.diskType}`;
  if (!(SCSI_CONTROLLER_TYPES as readonly string[]).includes(p.scsiControllerType)) return `unknown scsi_controller_type ${p.scsiControllerType}`;
  if (!Number.isInteger(p.reservations) || p.reservations < 0 || p.reservations > PCI_SLOT_COUNT) {
    return `kvm_pci_reservations ${p.reservations} is not 0–${PCI_SLOT_COUNT}`;
  }
  return null;
}

export function whatIf(rf: RuntimeFile, params: WhatIfParams): WhatIfResult {
  const current = currentParams(rf);
  const changes: string[] = [];
  if (params.diskType !== current.diskType) changes.push(`disk_type=${params.diskType}`);
  if (params.scsiControllerType !== current.scsiControllerType) changes.push(`scsi_controller_type=${params.scsiControllerType}`);
  if (params.reservations !== current.reservations) changes.push(`kvm_pci_reservations=${params.reservations}`);
  const command = changes.length > 0 ? `gnt-instance modify -H ${changes.join(',')} ${rf.instance}` : null;
  const notes: string[] = [];
  const base = { params, current, changes, command, notes };
  const bad = checkParams(params);
  if (bad) return { ...base, rf: null, model: null, options: [], error: bad };
  if (params.scsiControllerType !== current.scsiControllerType && !isScsiDiskType(params.diskType)) {
    notes.push(`scsi_controller_type only matters with a SCSI disk_type (scsi-hd, scsi-block, scsi-generic, scsi-cd): with ${params.diskType} there is no controller`);
  }
  if (params.diskType === 'scsi') {
    notes.push('disk_type scsi is the deprecated -drive if=scsi (no hot-plug; QEMU 2.12+ refuses it on machine pc): scsi-hd is its replacement');
  }

  const doc = cloneJson(rf.raw as unknown as Json) as Json[];
  const hvparams = doc[2] as JsonObject;
  hvparams.disk_type = params.diskType;
  hvparams.scsi_controller_type = params.scsiControllerType;
  hvparams.kvm_pci_reservations = params.reservations;
  doc[0] = kvmCmdFor(doc[0] as Json[], params);

  const pci = Array.from({ length: PCI_SLOT_COUNT }, (_, i) => i < params.reservations);
  const scsi = Array.from({ length: GANETI_SCSI_SLOTS }, () => false);
  const diskScsi = isScsiDiskType(params.diskType);
  try {
    for (const entry of doc[3] as Json[][]) {
      const disk = entry[0] as JsonObject;
      const id = deviceId('disk', String(disk.uuid));
      disk.hvinfo = diskScsi
        ? { driver: diskDriver(params.diskType), id, bus: 'scsi.0', channel: 0, 'scsi-id': takeFree(scsi, 'scsi.0'), lun: 0 }
        : { driver: diskDriver(params.diskType), id, bus: 'pci.0', addr: `0x${takeFree(pci, 'pci.0').toString(16)}` };
    }
    for (const nic of doc[1] as JsonObject[]) {
      const id = deviceId('nic', String(nic.uuid));
      nic.hvinfo = { driver: nicDriver(rf.hvparams.nic_type), id, bus: 'pci.0', addr: `0x${takeFree(pci, 'pci.0').toString(16)}` };
    }
  } catch (error) {
    if (error instanceof SlotsFull) {
      return {
        ...base,
        rf: null,
        model: null,
        options: [],
        error: `Ganeti would refuse to start it: ${error.message} (${rf.disks.length} disks and ${rf.nics.length} NICs do not fit with kvm_pci_reservations=${params.reservations})`,
      };
    }
    throw error;
  }
  const next = runtimeFileFromDocument(doc as Json, { source: `${rf.source} (what-if)`, instance: rf.instance });
  const model = buildBusModel(next);
  let options: StartOption[] = [];
  let error: string | null = null;
  try {
    options = deviceOptions(next);
  } catch (e) {
    error = messageOf(e);
  }
  if (rf.format !== 'current' || rf.upgrades.length > 0) {
    notes.push('legacy device ids (hotdisk-…) are replaced by the current ones (disk-…) at the next start');
  }
  return { ...base, rf: next, model, options, error };
}
