/**
 * What QEMU puts on `pci.0` by itself, predicted from a runtime file's `kvm_cmd` (machine `pc`,
 * i440FX) plus the `-device`s Ganeti adds when it starts the instance.
 *
 * QEMU 7.2 creates PCI devices in this order, and a device without `addr=` takes the lowest free
 * slot at the moment it is created (measured: `-nodefaults -device virtio-balloon -device
 * lsi,id=scsi` → balloon 0x02, lsi 0x03):
 *
 *   1. the machine: 00.0 i440FX host bridge; 01.0 PIIX3 ISA bridge with 01.1 IDE, 01.2 USB UHCI
 *      (`-usb`, `-usbdevice`, `-machine usb=on`) and 01.3 ACPI (unless `-no-acpi`): slot 1 only.
 *   2. board init (pc_init1): the VGA card on slot 2 (the default `VGA` unless `-nodefaults`,
 *      `-vga none`, or a VGA-class `-device`; `-vga TYPE` picks the card. `-nographic` and
 *      `-display none` do NOT remove it: measured), then the NICs of `-nic`, then of `-net nic`
 *      (measured in that order), or QEMU's default e1000 when there is no `-net`/`-netdev`/`-nic`
 *      at all and no `-nodefaults` (never for a Ganeti instance, which gets `-net none` or
 *      `-netdev` at start), then, on QEMU < 2.12 only,
 *      one implicit lsi53c895a per 7 `-drive if=scsi` (later QEMUs refuse if=scsi on `pc`).
 *   3. `-soundhw` (QEMU < 7.1) / `-audio …,model=` (7.1+; measured: before every -device) cards.
 *   4. every `-device` (and the old `-balloon virtio`, `-watchdog MODEL`) in command-line order:
 *      those of kvm_cmd first, then those Ganeti appends at start (NICs, then disks); then one
 *      virtio-blk-pci per `-drive if=virtio` (added to the device list after the command line was
 *      read); then `-device '{json}'` ones (QEMU 7.2 creates those after the others). Measured:
 *      `-device {json rng} -drive if=virtio -device virtio-balloon` → balloon 2, blk 3, rng 4.
 *
 * `kvm_extra` needs no special case: Ganeti appends it to kvm_cmd when it writes the runtime file
 * (`_GenerateKVMRuntime`), so it is already in there.
 *
 * What is not predicted is reported (`unpredictable`: `-readconfig`, `-set`), and a driver
 * plugboard does not know is assumed to be PCI (`unknownDrivers`): that can only make plugboard
 * avoid a slot too many, never hand out one that QEMU took.
 */

import type { DeviceRole } from './types.js';
import { optsGet, parsePciAddr, parseOptsValue, parseQemuArgv, type OptsPair, type QemuOption } from '../qemu/argv.js';
import {
  NIC_MODEL_ALIASES,
  PCI_SLOT_COUNT,
  PC_DEFAULT_NIC,
  SOUND_MODELS,
  VGA_DEVICE_DRIVERS,
  VGA_TYPES,
  canonicalDriver,
  driverInfo,
} from './controllers.js';

export type MachineFamily = 'i440fx' | 'q35' | 'other';

export interface MachineInfo {
  /** The machine type as given (`pc-1.1`, `pc-i440fx-7.2`, `q35`), or `pc` when kvm_cmd names none. */
  type: string;
  family: MachineFamily;
  /** kvm_cmd names the machine (`-machine`/`-M`). */
  explicit: boolean;
}

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
interface Pending {
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

function roleOf(driver: string): DeviceRole {
  return driverInfo(driver).role;
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

const HELP = new Set(['help', '?']);

/** The bus a `-device` names, if any, is `pci.0` (the root bus of machine pc) or absent. */
function onRootBus(pairs: readonly OptsPair[]): boolean {
  const bus = optsGet(pairs, 'bus');
  return bus === undefined || bus === 'pci.0' || bus === 'pci';
}

const hexSlot = (slot: number): string => `0x${slot.toString(16)}`;

/**
 * Predict what QEMU places on pci.0. Only machine family i440fx is predicted; for other machines
 * the result holds the machine and no devices.
 */
export function predictPci(input: PredictInput): Prediction {
  const { options } = parseQemuArgv(input.kvmCmd);
  const machine = machineOf(options);
  const result: Prediction = {
    machine,
    devices: [],
    clashes: [],
    noSlot: [],
    badAddr: [],
    unknownDrivers: [],
    unpredictable: [],
    kvmCmdIds: [],
    notes: [],
  };

  // Facts from the whole command line first (QEMU reads all options before creating devices).
  let nodefaults = false;
  let usb = false;
  let acpi = true;
  let vgaOption: string | undefined;
  let vgaIndex = -1;
  let netOption = false;
  // QEMU creates the NICs of all -nic options first, then those of -net nic (measured on 7.2:
  // `-net nic,model=virtio -nic user` → e1000 on 0x02, virtio-net on 0x03).
  const nicOptionNics: Pending[] = [];
  const netOptionNics: Pending[] = [];
  const soundCards: Pending[] = [];
  const cliDevices: Pending[] = [];
  const jsonDevices: Pending[] = [];
  const virtioDrives: Pending[] = [];
  let ifScsiDrives = 0;
  let ifScsiMaxBus = -1;
  let vgaDevice = false;

  const addDevice = (o: QemuOption, pairs: OptsPair[], json: boolean): void => {
    const driver = optsGet(pairs, 'driver');
    if (driver === undefined || HELP.has(driver) || optsGet(pairs, 'help') !== undefined) return;
    const id = optsGet(pairs, 'id');
    if (id !== undefined) result.kvmCmdIds.push({ id, driver, argIndex: o.index });
    const qomType = canonicalDriver(driver);
    if (VGA_DEVICE_DRIVERS.has(qomType)) vgaDevice = true;
    const info = driverInfo(driver);
    // The first device with id=scsi owns bus scsi.0 (a second one is a duplicate id QEMU refuses).
    // One plugboard does not know as a SCSI controller is kept too: the model reports it.
    if (id === 'scsi' && result.scsiController === undefined) {
      result.scsiController = { driver, qomType, argIndex: o.index };
    }
    if (info.bus !== 'pci' || !onRootBus(pairs)) return;
    if (!info.known) result.unknownDrivers.push({ driver, argIndex: o.index });
    const addr = optsGet(pairs, 'addr');
    const p: Pending = {
      driver,
      placement: addr === undefined ? 'auto' : 'explicit',
      origin: 'kvm_cmd',
      description: `from kvm_cmd: ${o.spelled} ${o.value ?? ''}`.trimEnd(),
      argIndex: o.index,
    };
    if (id !== undefined) p.id = id;
    if (addr !== undefined) p.addr = addr;
    (json ? jsonDevices : cliDevices).push(p);
  };

  for (const o of options) {
    const v = o.value ?? '';
    switch (o.name) {
      case 'nodefaults':
        nodefaults = true;
        break;
      case 'usb':
      case 'usbdevice':
        usb = true;
        break;
      case 'no-acpi':
        acpi = false;
        break;
      case 'machine':
      case 'M': {
        const pairs = parseOptsValue(v, 'type');
        const u = optsGet(pairs, 'usb');
        if (u !== undefined) usb = u === 'on' || u === 'yes' || u === 'true';
        const a = optsGet(pairs, 'acpi');
        if (a !== undefined) acpi = !(a === 'off' || a === 'no' || a === 'false');
        break;
      }
      case 'vga':
        vgaOption = v;
        vgaIndex = o.index;
        break;
      case 'net':
      case 'nic': {
        netOption = true;
        const pairs = parseOptsValue(v, 'type');
        const type = optsGet(pairs, 'type');
        const makesNic = o.name === 'net' ? type === 'nic' : type !== 'none';
        if (!makesNic) break;
        const model = optsGet(pairs, 'model') ?? PC_DEFAULT_NIC;
        if (HELP.has(model)) break;
        const driver = Object.hasOwn(NIC_MODEL_ALIASES, model) ? NIC_MODEL_ALIASES[model]! : model;
        if (driverInfo(driver).bus !== 'pci') break; // ne2k_isa
        const addr = optsGet(pairs, 'addr');
        const p: Pending = {
          driver,
          placement: addr === undefined ? 'board' : 'explicit',
          origin: 'kvm_cmd',
          description: `from kvm_cmd: ${o.spelled} ${v}`,
          argIndex: o.index,
        };
        if (addr !== undefined) p.addr = addr;
        const id = optsGet(pairs, 'id');
        if (id !== undefined) p.id = id;
        (o.name === 'nic' ? nicOptionNics : netOptionNics).push(p);
        break;
      }
      case 'netdev':
        netOption = true;
        break;
      case 'device': {
        const props = deviceProps(v);
        if (props) addDevice(o, props.pairs, props.json);
        break;
      }
      case 'balloon': {
        // QEMU < 3.1: `-balloon virtio[,addr=X]` = `-device virtio-balloon-pci[,addr=X]`; `-balloon none`.
        const pairs = parseOptsValue(v, 'type');
        if (optsGet(pairs, 'type') !== 'virtio') break;
        const addr = optsGet(pairs, 'addr');
        const p: Pending = {
          driver: 'virtio-balloon-pci',
          placement: addr === undefined ? 'auto' : 'explicit',
          origin: 'kvm_cmd',
          description: `from kvm_cmd: ${o.spelled} ${v} (old spelling of -device virtio-balloon)`,
          argIndex: o.index,
        };
        if (addr !== undefined) p.addr = addr;
        cliDevices.push(p);
        break;
      }
      case 'watchdog': {
        // `-watchdog MODEL` adds `-device MODEL` in place (QEMU < 7.2; 7.2 refuses the option).
        result.notes.push(`${o.spelled} ${v}: QEMU 7.2 refuses -watchdog; the prediction assumes an older QEMU`);
        const model = v.toLowerCase();
        if (HELP.has(model) || driverInfo(model).bus !== 'pci') break;
        cliDevices.push({
          driver: model,
          placement: 'auto',
          origin: 'kvm_cmd',
          description: `from kvm_cmd: ${o.spelled} ${v}`,
          argIndex: o.index,
        });
        break;
      }
      case 'soundhw':
      case 'audio': {
        const models =
          o.name === 'soundhw'
            ? v.split(',')
            : [optsGet(parseOptsValue(v, 'driver'), 'model')].filter((m): m is string => m !== undefined);
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
          soundCards.push({
            driver,
            placement: 'board',
            origin: 'kvm_cmd',
            description: `from kvm_cmd: ${o.spelled} ${v}`,
            argIndex: o.index,
          });
        }
        break;
      }
      case 'drive': {
        const pairs = parseOptsValue(v, 'file');
        const iface = optsGet(pairs, 'if') ?? 'ide';
        if (iface === 'virtio') {
          virtioDrives.push({
            driver: 'virtio-blk-pci',
            placement: 'auto',
            origin: 'kvm_cmd',
            description: `from kvm_cmd: ${o.spelled} ${v} (if=virtio makes a virtio-blk-pci)`,
            argIndex: o.index,
          });
        } else if (iface === 'scsi') {
          ifScsiDrives++;
          const bus = optsGet(pairs, 'bus');
          if (bus !== undefined && /^\d+$/.test(bus)) ifScsiMaxBus = Math.max(ifScsiMaxBus, Number(bus));
        }
        break;
      }
      case 'readconfig':
        result.unpredictable.push({ option: o.spelled, value: v, argIndex: o.index, reason: 'devices in a config file are not read' });
        break;
      case 'set':
        if (/^device\./.test(v)) {
          result.unpredictable.push({ option: o.spelled, value: v, argIndex: o.index, reason: '-set changes device properties after the fact' });
        }
        break;
      default:
        break;
    }
  }

  if (machine.family !== 'i440fx') return result;

  // Start-time devices (Ganeti `_ExecuteKVMRuntime`), after kvm_cmd's -devices.
  for (const d of input.startDevices ?? []) {
    if (driverInfo(d.driver).bus !== 'pci') continue;
    const p: Pending = {
      driver: d.driver,
      placement: d.slot === undefined ? 'auto' : 'explicit',
      origin: 'start',
      owner: d.owner,
      description:
        d.slot === undefined
          ? `${d.owner.kind}/${d.owner.index}: -device ${d.driver} without addr (no hvinfo): QEMU places it`
          : `${d.owner.kind}/${d.owner.index}`,
    };
    if (d.id !== undefined) p.id = d.id;
    if (d.slot !== undefined) p.slot = d.slot;
    cliDevices.push(p);
  }
  for (const d of input.startDrives ?? []) {
    if (d.if === 'virtio') {
      virtioDrives.push({
        driver: 'virtio-blk-pci',
        placement: 'auto',
        origin: 'start',
        owner: d.owner,
        description: `${d.owner.kind}/${d.owner.index}: -drive if=virtio makes a virtio-blk-pci`,
      });
    } else if (d.if === 'scsi') {
      ifScsiDrives++;
    }
  }

  // 1. The machine.
  const occupied = new Map<number, PlacedDevice>();
  const place = (d: PlacedDevice): void => {
    occupied.set(d.slot, d);
    result.devices.push(d);
  };
  place({
    slot: 0,
    driver: 'i440FX-pcihost',
    qomType: 'i440FX-pcihost',
    kind: 'other',
    placement: 'fixed',
    origin: 'machine',
    description: 'host bridge (i440FX)',
  });
  const fns = ['01.1 IDE', ...(usb ? ['01.2 USB'] : []), ...(acpi ? ['01.3 ACPI'] : [])];
  place({
    slot: 1,
    driver: 'PIIX3',
    qomType: 'PIIX3',
    kind: 'other',
    placement: 'fixed',
    origin: 'machine',
    description: `ISA bridge (PIIX3; +${fns.join(', ')})`,
  });

  // 2. Board init: VGA on slot 2, NICs, implicit SCSI controllers.
  const board: Pending[] = [];
  let vgaDriver: string | null = null;
  if (vgaOption !== undefined) {
    vgaDriver = Object.hasOwn(VGA_TYPES, vgaOption) ? VGA_TYPES[vgaOption]! : null;
    if (!Object.hasOwn(VGA_TYPES, vgaOption) && !HELP.has(vgaOption)) {
      result.unpredictable.push({ option: '-vga', value: vgaOption, argIndex: vgaIndex, reason: 'unknown -vga type' });
    }
  } else if (!nodefaults && !vgaDevice) {
    vgaDriver = 'VGA';
  }
  if (vgaDriver !== null) {
    board.push({
      driver: vgaDriver,
      placement: 'board',
      origin: 'kvm_cmd',
      description: vgaOption !== undefined ? `VGA card (-vga ${vgaOption})` : 'VGA card (QEMU default; -nodefaults or -vga none removes it)',
    });
  }
  if (!netOption && !nodefaults && input.networkAtStart === false) {
    board.push({ driver: PC_DEFAULT_NIC, placement: 'board', origin: 'kvm_cmd', description: 'default NIC (no -net/-netdev/-nic)' });
  }
  board.push(...nicOptionNics, ...netOptionNics);
  if (ifScsiDrives > 0) {
    const hbas = Math.max(Math.ceil(ifScsiDrives / 7), ifScsiMaxBus + 1);
    for (let i = 0; i < hbas; i++) {
      board.push({
        driver: 'lsi53c895a',
        placement: 'board',
        origin: 'kvm_cmd',
        description: 'implicit SCSI controller for -drive if=scsi (QEMU < 2.12 only; later QEMUs refuse if=scsi on pc)',
      });
    }
  }
  board.push(...soundCards);

  // 3./4. In creation order.
  const create = (p: Pending): void => {
    const base: Omit<PlacedDevice, 'slot'> = {
      driver: p.driver,
      qomType: canonicalDriver(p.driver),
      kind: p.owner?.kind ?? roleOf(p.driver),
      placement: p.placement,
      origin: p.origin,
      description: p.description,
    };
    if (p.id !== undefined) base.id = p.id;
    if (p.owner !== undefined) base.owner = p.owner;
    if (p.argIndex !== undefined) base.argIndex = p.argIndex;
    let slot = p.slot;
    if (slot === undefined && p.addr !== undefined) {
      const a = parsePciAddr(p.addr);
      if (!a) {
        const bad: Prediction['badAddr'][number] = { driver: p.driver, addr: p.addr, description: p.description };
        if (p.argIndex !== undefined) bad.argIndex = p.argIndex;
        result.badAddr.push(bad);
        return;
      }
      slot = a.slot;
    }
    if (slot !== undefined) {
      const d: PlacedDevice = { ...base, slot, placement: 'explicit' };
      const holder = occupied.get(slot);
      if (holder) result.clashes.push({ device: d, holder });
      else place(d);
      return;
    }
    for (let s = 0; s < PCI_SLOT_COUNT; s++) {
      if (!occupied.has(s)) {
        place({ ...base, slot: s });
        if (p.id === 'scsi' && result.scsiController && result.scsiController.argIndex === p.argIndex) {
          result.scsiController.slot = s;
        }
        return;
      }
    }
    result.noSlot.push(base);
  };
  for (const p of [...board, ...cliDevices, ...virtioDrives, ...jsonDevices]) create(p);
  if (result.scsiController && result.scsiController.slot === undefined) {
    const placed = result.devices.find((d) => d.argIndex === result.scsiController!.argIndex && d.origin === 'kvm_cmd');
    if (placed) result.scsiController.slot = placed.slot;
  }
  return result;
}

export { hexSlot };
