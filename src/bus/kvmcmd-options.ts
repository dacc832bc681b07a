/**
 * What a `kvm_cmd` says before QEMU creates any device (QEMU reads every option first): the
 * machine, the defaults (`-nodefaults`, `-vga`, `-usb`, `-no-acpi`), and the devices its options
 * will create, sorted into QEMU's creation groups (see kvmcmd.ts for the order). One reader per
 * option; each records what the prediction reports about it (ids, unknown drivers, notes).
 */
import { optsGet, parseOptsValue, type OptsPair, type QemuOption } from '../qemu/argv.js';
import { NIC_MODEL_ALIASES, PC_DEFAULT_NIC, SOUND_MODELS, VGA_DEVICE_DRIVERS, canonicalDriver, driverInfo } from './controllers.js';
import type { MachineFamily, MachineInfo, PendingDevice, Prediction } from './prediction.js';

/** `-device help`, `-vga ?`: asks QEMU for a list, creates nothing. */
export const HELP: ReadonlySet<string> = new Set(['help', '?']);

/**
 * The machine of a command line: the `type` of the last `-machine`/`-M` that sets one (QEMU merges
 * them, the last wins). Without any, QEMU x86_64's default machine is `pc` (i440FX).
 */
export function machineOf(options: readonly QemuOption[]): MachineInfo {
  let type: string | undefined;
  for (const o of options) {
    if ((o.name === 'machine' || o.name === 'M') && o.value !== undefined) {
      const t = optsGet(parseOptsValue(o.value, 'type'), 'type');
      if (t !== undefined && t !== 'help' && t !== '?') type = t;
    }
  }
  if (type === undefined) return { type: 'pc', family: 'i440fx', explicit: false };
  return { type, family: machineFamily(type), explicit: true };
}

/** `pc`, `pc-i440fx-*` and the old `pc-0.x`/`pc-1.x` names are i440FX; `q35`/`pc-q35-*` are Q35. */
export function machineFamily(type: string): MachineFamily {
  if (type === 'pc' || /^pc-i440fx-/.test(type) || /^pc-\d/.test(type)) return 'i440fx';
  if (type === 'q35' || /^pc-q35-/.test(type)) return 'q35';
  return 'other';
}

/** What the whole command line says, before any device is created. */
export interface CommandLineFacts {
  nodefaults: boolean;
  usb: boolean;
  acpi: boolean;
  /** The last `-vga TYPE`. */
  vga?: { value: string; index: number };
  /** A `-device` of a VGA class (then QEMU adds no default VGA card). */
  vgaDevice: boolean;
  /** Any `-net`, `-nic` or `-netdev` (then QEMU adds no default NIC). */
  netOption: boolean;
  /** QEMU creates the NICs of all -nic options first, then those of -net nic (measured on 7.2: `-net nic,model=virtio -nic user` → e1000 on 0x02, virtio-net on 0x03). */
  nicOptionNics: PendingDevice[];
  netOptionNics: PendingDevice[];
  soundCards: PendingDevice[];
  /** `-device` (QemuOpts), `-balloon virtio`, `-watchdog`, and the devices Ganeti adds at start. */
  cliDevices: PendingDevice[];
  /** `-device '{json}'`: created after the others (QEMU 7.2). */
  jsonDevices: PendingDevice[];
  /** One virtio-blk-pci per `-drive if=virtio`, added after the command line was read. */
  virtioDrives: PendingDevice[];
  ifScsiDrives: number;
  ifScsiMaxBus: number;
}

/** Reads every option of `options` (see readers); what is to be reported about them goes into `result`. */
export function readCommandLine(options: readonly QemuOption[], result: Prediction): CommandLineFacts {
  const facts: CommandLineFacts = {
    nodefaults: false,
    usb: false,
    acpi: true,
    vgaDevice: false,
    netOption: false,
    nicOptionNics: [],
    netOptionNics: [],
    soundCards: [],
    cliDevices: [],
    jsonDevices: [],
    virtioDrives: [],
    ifScsiDrives: 0,
    ifScsiMaxBus: -1,
  };
  for (const o of options) {
    const reader = Object.hasOwn(READERS, o.name) ? READERS[o.name] : undefined;
    reader?.(o, o.value ?? '', facts, result);
  }
  return facts;
}

type OptionReader = (o: QemuOption, v: string, facts: CommandLineFacts, result: Prediction) => void;

const READERS: Readonly<Record<string, OptionReader>> = {
  nodefaults: (_o, _v, facts) => {
    facts.nodefaults = true;
  },
  usb: (_o, _v, facts) => {
    facts.usb = true;
  },
  usbdevice: (_o, _v, facts) => {
    facts.usb = true;
  },
  'no-acpi': (_o, _v, facts) => {
    facts.acpi = false;
  },
  machine: readMachine,
  M: readMachine,
  vga: (o, v, facts) => {
    facts.vga = { value: v, index: o.index };
  },
  net: readNic,
  nic: readNic,
  netdev: (_o, _v, facts) => {
    facts.netOption = true;
  },
  device: (o, v, facts, result) => {
    const props = deviceProps(v);
    if (props) readDevice(o, props.pairs, props.json, facts, result);
  },
  balloon: readBalloon,
  watchdog: readWatchdog,
  soundhw: readSound,
  audio: readSound,
  drive: readDrive,
  readconfig: (o, v, _facts, result) => {
    result.unpredictable.push({ option: o.spelled, value: v, argIndex: o.index, reason: 'devices in a config file are not read' });
  },
  set: (o, v, _facts, result) => {
    if (/^device\./.test(v)) {
      result.unpredictable.push({ option: o.spelled, value: v, argIndex: o.index, reason: '-set changes device properties after the fact' });
    }
  },
};

/** `-machine …,usb=on,acpi=off`: the machine's own USB and ACPI functions. */
function readMachine(_o: QemuOption, v: string, facts: CommandLineFacts): void {
  const pairs = parseOptsValue(v, 'type');
  const u = optsGet(pairs, 'usb');
  if (u !== undefined) facts.usb = u === 'on' || u === 'yes' || u === 'true';
  const a = optsGet(pairs, 'acpi');
  if (a !== undefined) facts.acpi = !(a === 'off' || a === 'no' || a === 'false');
}

/** `-net nic,…` and `-nic …`: NICs the board creates. */
function readNic(o: QemuOption, v: string, facts: CommandLineFacts): void {
  facts.netOption = true;
  const pairs = parseOptsValue(v, 'type');
  const type = optsGet(pairs, 'type');
  const makesNic = o.name === 'net' ? type === 'nic' : type !== 'none';
  if (!makesNic) return;
  const model = optsGet(pairs, 'model') ?? PC_DEFAULT_NIC;
  if (HELP.has(model)) return;
  const driver = Object.hasOwn(NIC_MODEL_ALIASES, model) ? NIC_MODEL_ALIASES[model]! : model;
  if (driverInfo(driver).bus !== 'pci') return; // ne2k_isa
  const addr = optsGet(pairs, 'addr');
  const p: PendingDevice = {
    driver,
    placement: addr === undefined ? 'board' : 'explicit',
    origin: 'kvm_cmd',
    description: `from kvm_cmd: ${o.spelled} ${v}`,
    argIndex: o.index,
  };
  if (addr !== undefined) p.addr = addr;
  const id = optsGet(pairs, 'id');
  if (id !== undefined) p.id = id;
  (o.name === 'nic' ? facts.nicOptionNics : facts.netOptionNics).push(p);
}

/** A -device value: QemuOpts (`drv,k=v`) or JSON (`{"driver": …}`, QEMU 6.2+). */
function deviceProps(value: string): { pairs: OptsPair[]; json: boolean } | null {
  const trimmed = value.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      const obj: unknown = JSON.parse(trimmed);
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return null;
      const pairs = Object.entries(obj as Record<string, unknown>).map(([key, v]) => ({
        key,
        value: typeof v === 'string' ? v : JSON.stringify(v),
      }));
      return { pairs, json: true };
    } catch {
      return null;
    }
  }
  return { pairs: parseOptsValue(value, 'driver'), json: false };
}

/** The bus a `-device` names, if any, is `pci.0` (the root bus of machine pc) or absent. */
function onRootBus(pairs: readonly OptsPair[]): boolean {
  const bus = optsGet(pairs, 'bus');
  return bus === undefined || bus === 'pci.0' || bus === 'pci';
}

/** `-device DRIVER,…`: its id (duplicate checks), the SCSI controller, and a PCI device on pci.0. */
function readDevice(o: QemuOption, pairs: OptsPair[], json: boolean, facts: CommandLineFacts, result: Prediction): void {
  const driver = optsGet(pairs, 'driver');
  if (driver === undefined || HELP.has(driver) || optsGet(pairs, 'help') !== undefined) return;
  const id = optsGet(pairs, 'id');
  if (id !== undefined) result.kvmCmdIds.push({ id, driver, argIndex: o.index });
  const qomType = canonicalDriver(driver);
  if (VGA_DEVICE_DRIVERS.has(qomType)) facts.vgaDevice = true;
  const info = driverInfo(driver);
  // The first device with id=scsi owns bus scsi.0 (a second one is a duplicate id QEMU refuses).
  // One plugboard does not know as a SCSI controller is kept too: the model reports it.
  if (id === 'scsi' && result.scsiController === undefined) {
    result.scsiController = { driver, qomType, argIndex: o.index };
  }
  if (info.bus !== 'pci' || !onRootBus(pairs)) return;
  if (!info.known) result.unknownDrivers.push({ driver, argIndex: o.index });
  const addr = optsGet(pairs, 'addr');
  const p: PendingDevice = {
    driver,
    placement: addr === undefined ? 'auto' : 'explicit',
    origin: 'kvm_cmd',
    description: `from kvm_cmd: ${o.spelled} ${o.value ?? ''}`.trimEnd(),
    argIndex: o.index,
  };
  if (id !== undefined) p.id = id;
  if (addr !== undefined) p.addr = addr;
  (json ? facts.jsonDevices : facts.cliDevices).push(p);
}

/** QEMU < 3.1: `-balloon virtio[,addr=X]` = `-device virtio-balloon-pci[,addr=X]`; `-balloon none`. */
function readBalloon(o: QemuOption, v: string, facts: CommandLineFacts): void {
  const pairs = parseOptsValue(v, 'type');
  if (optsGet(pairs, 'type') !== 'virtio') return;
  const addr = optsGet(pairs, 'addr');
  const p: PendingDevice = {
    driver: 'virtio-balloon-pci',
    placement: addr === undefined ? 'auto' : 'explicit',
    origin: 'kvm_cmd',
    description: `from kvm_cmd: ${o.spelled} ${v} (old spelling of -device virtio-balloon)`,
    argIndex: o.index,
  };
  if (addr !== undefined) p.addr = addr;
  facts.cliDevices.push(p);
}

/** `-watchdog MODEL` adds `-device MODEL` in place (QEMU < 7.2; 7.2 refuses the option). */
function readWatchdog(o: QemuOption, v: string, facts: CommandLineFacts, result: Prediction): void {
  result.notes.push(`${o.spelled} ${v}: QEMU 7.2 refuses -watchdog; the prediction assumes an older QEMU`);
  const model = v.toLowerCase();
  if (HELP.has(model) || driverInfo(model).bus !== 'pci') return;
  facts.cliDevices.push({
    driver: model,
    placement: 'auto',
    origin: 'kvm_cmd',
    description: `from kvm_cmd: ${o.spelled} ${v}`,
    argIndex: o.index,
  });
}

/** `-soundhw` (QEMU < 7.1) and `-audio …,model=` (7.1+; measured: before every -device): cards the board creates. */
function readSound(o: QemuOption, v: string, facts: CommandLineFacts, result: Prediction): void {
  const models =
    o.name === 'soundhw' ? v.split(',') : [optsGet(parseOptsValue(v, 'driver'), 'model')].filter((m): m is string => m !== undefined);
  if (o.name === 'soundhw') {
    result.notes.push(`${o.spelled} ${v}: QEMU 7.1 removed -soundhw (7.2 refuses it); the prediction assumes an older QEMU`);
  }
  for (const m of models) {
    if (m === 'all') {
      result.unpredictable.push({ option: o.spelled, value: v, argIndex: o.index, reason: 'which cards "all" makes depends on the QEMU build' });
      continue;
    }
    const driver = SOUND_MODELS[m];
    if (driver === undefined || driverInfo(driver).bus !== 'pci') continue;
    facts.soundCards.push({
      driver,
      placement: 'board',
      origin: 'kvm_cmd',
      description: `from kvm_cmd: ${o.spelled} ${v}`,
      argIndex: o.index,
    });
  }
}

/** `-drive if=virtio` makes a virtio-blk-pci; `-drive if=scsi` an implicit SCSI controller (QEMU < 2.12). */
function readDrive(o: QemuOption, v: string, facts: CommandLineFacts): void {
  const pairs = parseOptsValue(v, 'file');
  const iface = optsGet(pairs, 'if') ?? 'ide';
  if (iface === 'virtio') {
    facts.virtioDrives.push({
      driver: 'virtio-blk-pci',
      placement: 'auto',
      origin: 'kvm_cmd',
      description: `from kvm_cmd: ${o.spelled} ${v} (if=virtio makes a virtio-blk-pci)`,
      argIndex: o.index,
    });
  } else if (iface === 'scsi') {
    facts.ifScsiDrives++;
    const bus = optsGet(pairs, 'bus');
    if (bus !== undefined && /^\d+$/.test(bus)) facts.ifScsiMaxBus = Math.max(facts.ifScsiMaxBus, Number(bus));
  }
}
