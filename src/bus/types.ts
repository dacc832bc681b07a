/**
 * The bus model of one instance: `pci.0` (32 slots) and, when there is a SCSI controller, `scsi.0`.
 * Built from a runtime file (and, from the live-QEMU layer on, overlaid with what QEMU reports).
 */

export type DeviceRole = 'disk' | 'nic' | 'controller' | 'other';

/** Where the knowledge of a device comes from. */
export type DeviceSource =
  /** Ganeti's disks and NICs, from hvinfo in the runtime file. */
  | 'runtime'
  /** Placed by QEMU itself: fixed machine devices (host bridge, ISA bridge, VGA) or `kvm_cmd` devices without addr. */
  | 'predicted'
  /** Seen in the running QEMU. */
  | 'live';

export interface BusDevice {
  id: string;
  driver: string;
  kind: DeviceRole;
  uuid?: string;
  source: DeviceSource;
  /** Human description, e.g. "host bridge", "ISA bridge (+IDE/USB/ACPI)", "from kvm_cmd: -device virtio-balloon". */
  description?: string;
}

export type SlotState = 'qemu' | 'free' | 'used';

export interface PciSlot {
  slot: number;
  /**
   * `qemu`: in the QEMU-managed range (the first kvm_pci_reservations slots) or taken by QEMU itself;
   * `used`: a Ganeti disk/NIC (or another device at an explicit addr); `free`: allocatable.
   */
  state: SlotState;
  /** Inside the first `kvm_pci_reservations` slots. */
  reserved: boolean;
  device?: BusDevice;
}

export interface PciBus {
  bus: 'pci.0';
  reservations: number;
  slots: PciSlot[];
}

export interface ScsiTarget {
  target: number;
  state: 'free' | 'used';
  device?: BusDevice;
}

export interface ScsiBus {
  bus: 'scsi.0';
  /** Controller QEMU driver: lsi, megasas, virtio-scsi-pci, dc390. */
  controller: string;
  /** Highest scsi-id the controller accepts (lsi 7, megasas 64, virtio-scsi-pci 255). */
  maxTarget: number;
  targets: ScsiTarget[];
}

export interface Problem {
  /** Stable machine code, e.g. `slot-conflict`, `in-reserved-range`, `scsi-no-controller`, `target-out-of-range`, `bad-device-id`. */
  code: string;
  message: string;
}

export interface BusModel {
  pci: PciBus;
  scsi: ScsiBus | null;
  problems: Problem[];
}

export type Allocation =
  | { bus: 'pci.0'; addr: string; slot: number; skipped: { slot: number; reason: string }[] }
  | { bus: 'scsi.0'; 'scsi-id': number; channel: 0; lun: 0; skipped: { target: number; reason: string }[] };

export type AllocationResult = { ok: true; allocation: Allocation } | { ok: false; error: string };
