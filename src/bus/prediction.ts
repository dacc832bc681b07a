/**
 * The vocabulary of the pci.0 prediction (kvmcmd.ts): the machine, the devices Ganeti adds at
 * start, and what QEMU would place where.
 */
import type { DeviceRole } from './types.js';

export type MachineFamily = 'i440fx' | 'q35' | 'other';

export interface MachineInfo {
  /** The machine type as given (`pc-1.1`, `pc-i440fx-7.2`, `q35`), or `pc` when kvm_cmd names none. */
  type: string;
  family: MachineFamily;
  /** kvm_cmd names the machine (`-machine`/`-M`). */
  explicit: boolean;
}

/** Who a device belongs to when Ganeti adds it at start. */
export interface DeviceOwner {
  kind: 'disk' | 'nic';
  /** Index in the runtime file's disks / nics list. */
  index: number;
}

/** A `-device` Ganeti adds at start (`_ExecuteKVMRuntime`), in its order: NICs first, then disks. */
export interface StartDevice {
  driver: string;
  id?: string;
  /** The slot of its `addr=` (from hvinfo), or undefined when QEMU places it (a NIC without hvinfo). */
  slot?: number;
  owner: DeviceOwner;
}

/** A `-drive if=X` Ganeti adds at start for a disk of a legacy disk_type (ide, scsi, …). */
export interface StartDrive {
  if: string;
  owner: DeviceOwner;
}

export interface PredictInput {
  kvmCmd: readonly (string | number)[];
  /**
   * Ganeti adds `-net none` (no NICs) or `-netdev` (NICs) at start, so QEMU never adds its default
   * NIC to an instance. Default true; false predicts the bare kvm_cmd.
   */
  networkAtStart?: boolean;
  startDevices?: readonly StartDevice[];
  startDrives?: readonly StartDrive[];
}

export type Placement =
  /** Part of the machine (host bridge, ISA bridge). */
  | 'fixed'
  /** Created by the machine's init (VGA, `-net nic` NICs, implicit SCSI controllers, sound cards). */
  | 'board'
  /** A device without `addr=`: the lowest free slot when it is created. */
  | 'auto'
  /** A device with `addr=`. */
  | 'explicit';

export interface PlacedDevice {
  slot: number;
  /** Driver name as written (`lsi`, `virtio-balloon`). */
  driver: string;
  /** The QEMU type it stands for (`lsi53c895a`, `virtio-balloon-pci`). */
  qomType: string;
  id?: string;
  kind: DeviceRole;
  placement: Placement;
  /** Where it comes from: the machine, kvm_cmd, or Ganeti's start-time options. */
  origin: 'machine' | 'kvm_cmd' | 'start';
  owner?: DeviceOwner;
  /** Human description: `from kvm_cmd: -device virtio-balloon`. */
  description: string;
  /** Index of the option in kvm_cmd, when it comes from kvm_cmd. */
  argIndex?: number;
}

export interface Prediction {
  machine: MachineInfo;
  /** Devices on pci.0 as QEMU would create them, in creation order (one per slot). */
  devices: PlacedDevice[];
  /** A device with `addr=` on a slot an earlier device holds: QEMU would refuse to start. */
  clashes: { device: PlacedDevice; holder: PlacedDevice }[];
  /** A device without `addr=` that finds no free slot: QEMU would refuse to start. */
  noSlot: Omit<PlacedDevice, 'slot'>[];
  /** A `-device …,addr=X` whose addr QEMU would refuse. */
  badAddr: { driver: string; addr: string; description: string; argIndex?: number }[];
  /** kvm_cmd drivers plugboard does not know; assumed to be PCI devices. */
  unknownDrivers: { driver: string; argIndex: number }[];
  /** kvm_cmd options whose effect on the buses plugboard cannot predict. */
  unpredictable: { option: string; value: string; argIndex: number; reason: string }[];
  /** Every `-device` of kvm_cmd with an id (controllers, serial ports…), for duplicate-id checks. */
  kvmCmdIds: { id: string; driver: string; argIndex: number }[];
  /** The `-device TYPE,id=scsi` of kvm_cmd: its bus is `scsi.0`. */
  scsiController?: { driver: string; qomType: string; argIndex: number; slot?: number };
  /** Remarks on options that only older QEMUs accept. */
  notes: string[];
}

/** A device waiting to be created, in QEMU's creation order. */
export interface PendingDevice {
  driver: string;
  id?: string;
  /** Requested addr text, or undefined for auto placement. */
  addr?: string;
  /** Slot already known (start devices from hvinfo). */
  slot?: number;
  placement: 'board' | 'auto' | 'explicit';
  origin: 'kvm_cmd' | 'start';
  owner?: DeviceOwner;
  description: string;
  argIndex?: number;
}
