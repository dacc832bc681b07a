/**
 * What plugboard knows about QEMU devices on the PC machine (i440FX, `pci.0`): the SCSI
 * controllers and their target ranges, which drivers are PCI devices, and Ganeti's per-instance
 * limits. Data, not code: every decision elsewhere reads these tables.
 *
 * Sources: measured on QEMU 7.2 (docs/qemu-ganeti-facts.md, "SCSI controllers": lsi, megasas,
 * virtio-scsi-pci; the other SCSI controllers measured the same way with device_add scsi-hd,
 * scsi-id/lun scans); QEMU 7.2's source for which drivers are PCI devices; Ganeti 3.0 constants
 * for the limits.
 */

/** Ganeti `constants.MAX_DISKS`. */
export const MAX_DISKS = 16;
/** Ganeti `constants.MAX_NICS`. */
export const MAX_NICS = 8;
/** Slots of `pci.0` (Ganeti `QEMU_PCI_SLOTS`), 0x00–0x1f. */
export const PCI_SLOT_COUNT = 32;
/** Width of Ganeti's SCSI bitarray (`_DEFAULT_SCSI_RESERVATIONS`): it hands out scsi-id 0–15. */
export const GANETI_SCSI_SLOTS = 16;

export interface ScsiControllerInfo {
  /** The QEMU type (QOM name) behind the driver name. */
  qomType: string;
  /** Highest scsi-id accepted (QEMU `SCSIBusInfo.max_target`, inclusive). */
  maxTarget: number;
  /** Highest lun accepted (`max_lun`). */
  maxLun: number;
  /** Highest channel accepted (`max_channel`). 0 for all of these. */
  maxChannel: number;
  /** How the figures are known. */
  basis: string;
  /** `query-pci` class description (`class_info.desc`). */
  pciClass: string;
}

const LSI: ScsiControllerInfo = {
  qomType: 'lsi53c895a',
  maxTarget: 7,
  maxLun: 0,
  maxChannel: 0,
  basis: 'measured on QEMU 7.2: scsi-id 0-7 (8 → "bad scsi device id: 8"), lun 0 only, channel 0 only',
  pciClass: 'SCSI controller',
};

const MEGASAS: ScsiControllerInfo = {
  qomType: 'megasas',
  maxTarget: 64,
  maxLun: 255,
  maxChannel: 0,
  basis: 'measured on QEMU 7.2: scsi-id 0-64, lun 0-255, channel 0 only',
  pciClass: 'RAID controller',
};

const VIRTIO_SCSI: ScsiControllerInfo = {
  qomType: 'virtio-scsi-pci',
  maxTarget: 255,
  maxLun: 16383,
  maxChannel: 0,
  basis: 'measured on QEMU 7.2: scsi-id 0-255, lun 0-16383, channel 0 only',
  pciClass: 'SCSI controller',
};

/**
 * dc390 (Tekram DC-390) is QEMU's `am53c974` PCI ESP HBA with another PCI subsystem id; both use
 * `esp_pci_scsi_info` (hw/scsi/esp-pci.c: `max_target = ESP_MAX_DEVS` = 7, `max_lun = 7`).
 */
const ESP_PCI = (qomType: string): ScsiControllerInfo => ({
  qomType,
  maxTarget: 7,
  maxLun: 7,
  maxChannel: 0,
  basis: 'measured on QEMU 7.2: scsi-id 0-7 (8 → "bad scsi device id: 8"), lun 0-7',
  pciClass: 'SCSI controller',
});

const measured = (qomType: string, maxTarget: number, maxLun: number, pciClass: string): ScsiControllerInfo => ({
  qomType,
  maxTarget,
  maxLun,
  maxChannel: 0,
  basis: `measured on QEMU 7.2: scsi-id 0-${maxTarget}, lun 0-${maxLun}`,
  pciClass,
});

/**
 * SCSI controllers by the driver name used in `-device NAME,id=scsi` (Ganeti writes its
 * `scsi_controller_type`: `lsi`, `megasas`, `virtio-scsi-pci`, and `dc390`: docs/qemu-ganeti-facts.md,
 * "Device ids and parameters").
 */
export const SCSI_CONTROLLERS: Readonly<Record<string, ScsiControllerInfo>> = {
  lsi: LSI,
  lsi53c895a: LSI,
  megasas: MEGASAS,
  'virtio-scsi-pci': VIRTIO_SCSI,
  'virtio-scsi': VIRTIO_SCSI,
  dc390: ESP_PCI('dc390'),
  am53c974: ESP_PCI('am53c974'),
  lsi53c810: measured('lsi53c810', 7, 0, 'SCSI controller'),
  'megasas-gen2': measured('megasas-gen2', 64, 255, 'RAID controller'),
  mptsas1068: measured('mptsas1068', 8, 1, 'SCSI controller'),
  pvscsi: measured('pvscsi', 64, 0, 'SCSI controller'),
};

/** Max target assumed for a SCSI controller plugboard does not know: the smallest known range (lsi's 0–7). */
export const UNKNOWN_CONTROLLER_MAX_TARGET = 7;

export function scsiControllerInfo(driver: string): ScsiControllerInfo | undefined {
  return Object.hasOwn(SCSI_CONTROLLERS, driver) ? SCSI_CONTROLLERS[driver] : undefined;
}

/** What kind of bus a QEMU device type plugs into. */
export type DeviceBusKind = 'pci' | 'scsi' | 'usb' | 'isa' | 'ide' | 'virtio-serial' | 'hda' | 'none';

export interface DriverInfo {
  /** The QEMU type (QOM name) the driver name stands for. */
  qomType: string;
  bus: DeviceBusKind;
  role: 'disk' | 'nic' | 'controller' | 'other';
  /** Short human description. */
  description: string;
  /** `query-pci` class description, where known. */
  pciClass?: string;
}

/**
 * QEMU 7.2's qdev alias table (softmmu/qdev-monitor.c) for x86: `-device NAME` with one of these
 * names creates the type on the right.
 */
export const DRIVER_ALIASES: Readonly<Record<string, string>> = {
  lsi: 'lsi53c895a',
  'e1000-82540em': 'e1000',
  ahci: 'ich9-ahci',
  es1370: 'ES1370',
  ac97: 'AC97',
  'virtio-9p': 'virtio-9p-pci',
  'virtio-balloon': 'virtio-balloon-pci',
  'virtio-blk': 'virtio-blk-pci',
  'virtio-gpu': 'virtio-gpu-pci',
  'virtio-gpu-gl': 'virtio-gpu-gl-pci',
  'virtio-input-host': 'virtio-input-host-pci',
  'virtio-iommu': 'virtio-iommu-pci',
  'virtio-keyboard': 'virtio-keyboard-pci',
  'virtio-mouse': 'virtio-mouse-pci',
  'virtio-net': 'virtio-net-pci',
  'virtio-rng': 'virtio-rng-pci',
  'virtio-scsi': 'virtio-scsi-pci',
  'virtio-serial': 'virtio-serial-pci',
  'virtio-tablet': 'virtio-tablet-pci',
};

/** The QEMU type behind a driver name (`lsi` → `lsi53c895a`, `virtio-balloon` → `virtio-balloon-pci`). */
export function canonicalDriver(driver: string): string {
  return Object.hasOwn(DRIVER_ALIASES, driver) ? DRIVER_ALIASES[driver]! : driver;
}

const pci = (role: DriverInfo['role'], description: string, pciClass?: string): Omit<DriverInfo, 'qomType'> =>
  pciClass === undefined ? { bus: 'pci', role, description } : { bus: 'pci', role, description, pciClass };

/**
 * Known device types by QEMU type name. PCI devices take a slot of `pci.0` (unless `bus=` puts
 * them behind a bridge); the others never do. Class descriptions are QEMU's `query-pci`
 * `class_info.desc` for the device's class code.
 */
const DRIVERS: Readonly<Record<string, Omit<DriverInfo, 'qomType'>>> = {
  // Disks and block controllers
  'virtio-blk-pci': pci('disk', 'virtio block device', 'SCSI controller'),
  'virtio-blk-pci-transitional': pci('disk', 'virtio block device', 'SCSI controller'),
  'virtio-blk-pci-non-transitional': pci('disk', 'virtio block device', 'SCSI controller'),
  lsi53c895a: pci('controller', 'LSI 53C895A SCSI controller', 'SCSI controller'),
  lsi53c810: pci('controller', 'LSI 53C810 SCSI controller', 'SCSI controller'),
  megasas: pci('controller', 'LSI MegaRAID SAS 1078', 'RAID controller'),
  'megasas-gen2': pci('controller', 'LSI MegaRAID SAS 2108', 'RAID controller'),
  'virtio-scsi-pci': pci('controller', 'virtio SCSI controller', 'SCSI controller'),
  'virtio-scsi-pci-transitional': pci('controller', 'virtio SCSI controller', 'SCSI controller'),
  'virtio-scsi-pci-non-transitional': pci('controller', 'virtio SCSI controller', 'SCSI controller'),
  dc390: pci('controller', 'Tekram DC-390 SCSI controller', 'SCSI controller'),
  am53c974: pci('controller', 'AMD Am53c974 SCSI controller', 'SCSI controller'),
  mptsas1068: pci('controller', 'LSI SAS 1068 controller'),
  pvscsi: pci('controller', 'VMware paravirtual SCSI controller'),
  'vhost-scsi-pci': pci('controller', 'vhost SCSI controller'),
  'vhost-user-scsi-pci': pci('controller', 'vhost-user SCSI controller'),
  'vhost-user-blk-pci': pci('disk', 'vhost-user block device'),
  nvme: pci('disk', 'NVMe controller'),
  'ich9-ahci': pci('controller', 'ICH9 AHCI (SATA) controller', 'SATA controller'),
  'piix3-ide': pci('controller', 'PIIX3 IDE controller', 'IDE controller'),
  'piix4-ide': pci('controller', 'PIIX4 IDE controller', 'IDE controller'),
  // NICs
  'virtio-net-pci': pci('nic', 'virtio network device', 'Ethernet controller'),
  'virtio-net-pci-transitional': pci('nic', 'virtio network device', 'Ethernet controller'),
  'virtio-net-pci-non-transitional': pci('nic', 'virtio network device', 'Ethernet controller'),
  e1000: pci('nic', 'Intel 82540EM (e1000)', 'Ethernet controller'),
  e1000e: pci('nic', 'Intel 82574L (e1000e)', 'Ethernet controller'),
  'e1000-82544gc': pci('nic', 'Intel 82544GC', 'Ethernet controller'),
  'e1000-82545em': pci('nic', 'Intel 82545EM', 'Ethernet controller'),
  rtl8139: pci('nic', 'Realtek RTL8139', 'Ethernet controller'),
  ne2k_pci: pci('nic', 'NE2000 PCI', 'Ethernet controller'),
  pcnet: pci('nic', 'AMD PCnet', 'Ethernet controller'),
  i82550: pci('nic', 'Intel i82550', 'Ethernet controller'),
  i82551: pci('nic', 'Intel i82551', 'Ethernet controller'),
  i82557a: pci('nic', 'Intel i82557A', 'Ethernet controller'),
  i82557b: pci('nic', 'Intel i82557B', 'Ethernet controller'),
  i82557c: pci('nic', 'Intel i82557C', 'Ethernet controller'),
  i82558a: pci('nic', 'Intel i82558A', 'Ethernet controller'),
  i82558b: pci('nic', 'Intel i82558B', 'Ethernet controller'),
  i82559a: pci('nic', 'Intel i82559A', 'Ethernet controller'),
  i82559b: pci('nic', 'Intel i82559B', 'Ethernet controller'),
  i82559c: pci('nic', 'Intel i82559C', 'Ethernet controller'),
  i82559er: pci('nic', 'Intel i82559ER', 'Ethernet controller'),
  i82562: pci('nic', 'Intel i82562', 'Ethernet controller'),
  i82801: pci('nic', 'Intel i82801', 'Ethernet controller'),
  vmxnet3: pci('nic', 'VMware vmxnet3', 'Ethernet controller'),
  tulip: pci('nic', 'DEC 21143 Tulip', 'Ethernet controller'),
  igb: pci('nic', 'Intel 82576 (igb)', 'Ethernet controller'),
  // Display
  VGA: pci('other', 'standard VGA', 'VGA controller'),
  'cirrus-vga': pci('other', 'Cirrus CLGD 5446 VGA', 'VGA controller'),
  'qxl-vga': pci('other', 'QXL VGA', 'VGA controller'),
  qxl: pci('other', 'QXL (secondary display)'),
  'vmware-svga': pci('other', 'VMware SVGA', 'VGA controller'),
  'virtio-vga': pci('other', 'virtio VGA', 'VGA controller'),
  'virtio-vga-gl': pci('other', 'virtio VGA (GL)', 'VGA controller'),
  'virtio-gpu-pci': pci('other', 'virtio GPU'),
  'virtio-gpu-gl-pci': pci('other', 'virtio GPU (GL)'),
  'ati-vga': pci('other', 'ATI VGA', 'VGA controller'),
  'bochs-display': pci('other', 'Bochs display'),
  'secondary-vga': pci('other', 'secondary VGA'),
  // Other virtio PCI devices
  'virtio-balloon-pci': pci('other', 'virtio memory balloon'),
  'virtio-balloon-pci-transitional': pci('other', 'virtio memory balloon'),
  'virtio-balloon-pci-non-transitional': pci('other', 'virtio memory balloon'),
  'virtio-serial-pci': pci('other', 'virtio serial controller'),
  'virtio-serial-pci-transitional': pci('other', 'virtio serial controller'),
  'virtio-serial-pci-non-transitional': pci('other', 'virtio serial controller'),
  'virtio-rng-pci': pci('other', 'virtio entropy source'),
  'virtio-rng-pci-transitional': pci('other', 'virtio entropy source'),
  'virtio-rng-pci-non-transitional': pci('other', 'virtio entropy source'),
  'virtio-9p-pci': pci('other', 'virtio 9p filesystem'),
  'virtio-input-host-pci': pci('other', 'virtio input (host)'),
  'virtio-keyboard-pci': pci('other', 'virtio keyboard'),
  'virtio-mouse-pci': pci('other', 'virtio mouse'),
  'virtio-tablet-pci': pci('other', 'virtio tablet'),
  'virtio-iommu-pci': pci('other', 'virtio IOMMU'),
  'virtio-pmem-pci': pci('other', 'virtio pmem'),
  'virtio-mem-pci': pci('other', 'virtio mem'),
  'vhost-vsock-pci': pci('other', 'vhost vsock'),
  'vhost-user-fs-pci': pci('other', 'vhost-user fs'),
  'vhost-user-vsock-pci': pci('other', 'vhost-user vsock'),
  // USB host controllers (the devices on them are not PCI)
  'piix3-usb-uhci': pci('controller', 'PIIX3 USB UHCI', 'USB controller'),
  'piix4-usb-uhci': pci('controller', 'PIIX4 USB UHCI', 'USB controller'),
  'usb-ehci': pci('controller', 'USB EHCI', 'USB controller'),
  'ich9-usb-ehci1': pci('controller', 'ICH9 USB EHCI', 'USB controller'),
  'ich9-usb-ehci2': pci('controller', 'ICH9 USB EHCI', 'USB controller'),
  'ich9-usb-uhci1': pci('controller', 'ICH9 USB UHCI', 'USB controller'),
  'ich9-usb-uhci2': pci('controller', 'ICH9 USB UHCI', 'USB controller'),
  'ich9-usb-uhci3': pci('controller', 'ICH9 USB UHCI', 'USB controller'),
  'ich9-usb-uhci4': pci('controller', 'ICH9 USB UHCI', 'USB controller'),
  'ich9-usb-uhci5': pci('controller', 'ICH9 USB UHCI', 'USB controller'),
  'ich9-usb-uhci6': pci('controller', 'ICH9 USB UHCI', 'USB controller'),
  'nec-usb-xhci': pci('controller', 'NEC USB 3.0 xHCI', 'USB controller'),
  'qemu-xhci': pci('controller', 'QEMU USB 3.0 xHCI', 'USB controller'),
  'pci-ohci': pci('controller', 'USB OHCI', 'USB controller'),
  // Sound
  AC97: pci('other', 'Intel 82801AA AC97 audio', 'Audio controller'),
  ES1370: pci('other', 'Ensoniq ES1370 audio', 'Audio controller'),
  'intel-hda': pci('other', 'Intel HD Audio controller'),
  'ich9-intel-hda': pci('other', 'ICH9 HD Audio controller'),
  // Misc PCI
  i6300esb: pci('other', 'Intel 6300ESB watchdog'),
  'pci-bridge': pci('controller', 'PCI-PCI bridge', 'PCI bridge'),
  'pci-bridge-seat': pci('controller', 'PCI-PCI bridge (multiseat)', 'PCI bridge'),
  pxb: pci('controller', 'PCI expander bridge'),
  'pci-serial': pci('other', 'PCI 16550 serial port'),
  'pci-serial-2x': pci('other', 'PCI 16550 serial ports (2)'),
  'pci-serial-4x': pci('other', 'PCI 16550 serial ports (4)'),
  'ivshmem-plain': pci('other', 'inter-VM shared memory'),
  'ivshmem-doorbell': pci('other', 'inter-VM shared memory (doorbell)'),
  'pvpanic-pci': pci('other', 'pvpanic'),
  'vfio-pci': pci('other', 'VFIO host PCI device passthrough'),
  'pci-testdev': pci('other', 'PCI test device'),
  edu: pci('other', 'edu test device'),
  'sdhci-pci': pci('other', 'SD host controller'),
  vmgenid: { bus: 'none', role: 'other', description: 'VM generation id (ACPI)' },
  // Not on PCI
  'scsi-hd': { bus: 'scsi', role: 'disk', description: 'SCSI disk' },
  'scsi-cd': { bus: 'scsi', role: 'disk', description: 'SCSI CD-ROM' },
  'scsi-block': { bus: 'scsi', role: 'disk', description: 'SCSI block device passthrough' },
  'scsi-generic': { bus: 'scsi', role: 'disk', description: 'SCSI generic passthrough' },
  'scsi-disk': { bus: 'scsi', role: 'disk', description: 'SCSI disk (legacy name, removed in QEMU 6.0)' },
  'ide-hd': { bus: 'ide', role: 'disk', description: 'IDE disk' },
  'ide-cd': { bus: 'ide', role: 'disk', description: 'IDE CD-ROM' },
  'ide-drive': { bus: 'ide', role: 'disk', description: 'IDE drive (removed in QEMU 6.0)' },
  floppy: { bus: 'none', role: 'disk', description: 'floppy drive' },
  ne2k_isa: { bus: 'isa', role: 'nic', description: 'NE2000 ISA' },
  'isa-serial': { bus: 'isa', role: 'other', description: 'ISA serial port' },
  'isa-parallel': { bus: 'isa', role: 'other', description: 'ISA parallel port' },
  'isa-vga': { bus: 'isa', role: 'other', description: 'ISA VGA' },
  'isa-cirrus-vga': { bus: 'isa', role: 'other', description: 'ISA Cirrus VGA' },
  'isa-fdc': { bus: 'isa', role: 'other', description: 'ISA floppy controller' },
  'isa-debugcon': { bus: 'isa', role: 'other', description: 'ISA debug console' },
  'isa-debug-exit': { bus: 'isa', role: 'other', description: 'ISA debug exit' },
  'isa-applesmc': { bus: 'isa', role: 'other', description: 'Apple SMC' },
  'isa-ipmi-bt': { bus: 'isa', role: 'other', description: 'IPMI BT interface' },
  'isa-ipmi-kcs': { bus: 'isa', role: 'other', description: 'IPMI KCS interface' },
  ib700: { bus: 'isa', role: 'other', description: 'iBASE 700 watchdog' },
  sb16: { bus: 'isa', role: 'other', description: 'Creative Sound Blaster 16' },
  adlib: { bus: 'isa', role: 'other', description: 'Yamaha YM3812 (AdLib)' },
  gus: { bus: 'isa', role: 'other', description: 'Gravis Ultrasound GF1' },
  cs4231a: { bus: 'isa', role: 'other', description: 'Crystal CS4231A' },
  pvpanic: { bus: 'isa', role: 'other', description: 'pvpanic (ISA)' },
  'tpm-tis': { bus: 'isa', role: 'other', description: 'TPM TIS' },
  'tpm-crb': { bus: 'none', role: 'other', description: 'TPM CRB' },
  'hda-duplex': { bus: 'hda', role: 'other', description: 'HDA audio codec' },
  'hda-micro': { bus: 'hda', role: 'other', description: 'HDA audio codec' },
  'hda-output': { bus: 'hda', role: 'other', description: 'HDA audio codec' },
  virtserialport: { bus: 'virtio-serial', role: 'other', description: 'virtio serial port' },
  virtconsole: { bus: 'virtio-serial', role: 'other', description: 'virtio console' },
  'nvme-ns': { bus: 'none', role: 'disk', description: 'NVMe namespace' },
  'pc-dimm': { bus: 'none', role: 'other', description: 'memory DIMM' },
  nvdimm: { bus: 'none', role: 'other', description: 'NVDIMM' },
  'intel-iommu': { bus: 'none', role: 'other', description: 'Intel IOMMU' },
  vmcoreinfo: { bus: 'none', role: 'other', description: 'vmcoreinfo' },
};

/**
 * How plugboard classifies a driver name. `known` false means plugboard guessed from the name's
 * pattern (`*-pci` → PCI, `usb-*` → USB, `isa-*` → ISA, `scsi-*` → SCSI, `ide-*` → IDE) or not at
 * all: an unknown driver is taken to be PCI, the choice that can only make plugboard avoid a slot
 * too many, never hand out one QEMU took.
 */
export function driverInfo(driver: string): DriverInfo & { known: boolean } {
  const qomType = canonicalDriver(driver);
  if (Object.hasOwn(DRIVERS, qomType)) return { qomType, ...DRIVERS[qomType]!, known: true };
  const guess = (bus: DeviceBusKind, role: DriverInfo['role'] = 'other'): DriverInfo & { known: boolean } => ({
    qomType,
    bus,
    role,
    description: qomType,
    known: bus !== 'pci' || /-pci$/.test(qomType),
  });
  if (/^usb-/.test(qomType)) return guess('usb');
  if (/^isa-/.test(qomType)) return guess('isa');
  if (/^scsi-/.test(qomType)) return guess('scsi', 'disk');
  if (/^ide-/.test(qomType)) return guess('ide', 'disk');
  if (/^hda-/.test(qomType)) return guess('hda');
  if (/-(device|ccw)$/.test(qomType) && /^(virtio|vhost)-/.test(qomType)) return guess('none');
  if (/-cpu$/.test(qomType)) return guess('none');
  return guess('pci');
}

export function isPciDriver(driver: string): boolean {
  return driverInfo(driver).bus === 'pci';
}

/** Legacy `-net nic,model=X` / `-nic …,model=X` names → QEMU type (QEMU `pci_nic_init_nofail`). */
export const NIC_MODEL_ALIASES: Readonly<Record<string, string>> = {
  virtio: 'virtio-net-pci',
};

/** Default NIC model of machine `pc` (`-net nic` without model, and the default NIC). */
export const PC_DEFAULT_NIC = 'e1000';

/** `-vga TYPE` → the device it creates on slot 2 of a `pc` machine (QEMU 7.2 vga_interfaces). */
export const VGA_TYPES: Readonly<Record<string, string | null>> = {
  std: 'VGA',
  cirrus: 'cirrus-vga',
  vmware: 'vmware-svga',
  qxl: 'qxl-vga',
  virtio: 'virtio-vga',
  'virtio-gl': 'virtio-vga-gl',
  none: null,
  // tcx/cg3 are SPARC-only; xenfb is a Xen PV framebuffer (no PCI device).
  xenfb: null,
};

/** Driver names that, given with -device, make QEMU drop the default VGA (vl.c `default_list`). */
export const VGA_DEVICE_DRIVERS: ReadonlySet<string> = new Set([
  'VGA',
  'isa-vga',
  'cirrus-vga',
  'isa-cirrus-vga',
  'vmware-svga',
  'qxl-vga',
  'virtio-vga',
  'ati-vga',
  'vhost-user-vga',
  'virtio-vga-gl',
]);

/**
 * `-soundhw NAME` / `-audio …,model=NAME` → the device created (QEMU ≤ 7.0 `-soundhw`, 7.1+
 * `-audio`). `hda` creates `intel-hda` (PCI) plus a `hda-duplex` codec on it.
 */
export const SOUND_MODELS: Readonly<Record<string, string>> = {
  ac97: 'AC97',
  es1370: 'ES1370',
  hda: 'intel-hda',
  sb16: 'sb16',
  gus: 'gus',
  cs4231a: 'cs4231a',
  adlib: 'adlib',
};
