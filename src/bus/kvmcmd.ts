/**
 * What QEMU puts on `pci.0` by itself, predicted from a runtime file's `kvm_cmd` (machine `pc`,
 * i440FX) plus the `-device`s Ganeti adds when it starts the instance (docs/qemu-ganeti-facts.md,
 * "PCI placement at start").
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

import { parsePciAddr, parseQemuArgv } from '../qemu/argv.js';
import { PCI_SLOT_COUNT, PC_DEFAULT_NIC, VGA_TYPES, canonicalDriver, driverInfo } from './controllers.js';
import { HELP, machineOf, readCommandLine, type CommandLineFacts } from './kvmcmd-options.js';
import type { PendingDevice, PlacedDevice, PredictInput, Prediction } from './prediction.js';

/**
 * Predict what QEMU places on pci.0. Only machine family i440fx is predicted; for other machines
 * the result holds the machine and no devices. In QEMU's order (see the module comment): what the
 * whole command line says (kvmcmd-options.ts), the start-time devices, the machine's own devices, the
 * board's, then every device in creation order.
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
  const cmd = readCommandLine(options, result);
  if (machine.family !== 'i440fx') return result;
  addStartDevices(cmd, input);

  const slots = new SlotTable(result);
  placeMachine(slots, cmd);
  for (const p of [...boardDevices(cmd, input, result), ...cmd.cliDevices, ...cmd.virtioDrives, ...cmd.jsonDevices]) slots.create(p);
  if (result.scsiController && result.scsiController.slot === undefined) {
    const placed = result.devices.find((d) => d.argIndex === result.scsiController!.argIndex && d.origin === 'kvm_cmd');
    if (placed) result.scsiController.slot = placed.slot;
  }
  return result;
}

/** Start-time devices (Ganeti `_ExecuteKVMRuntime`), after kvm_cmd's -devices. */
function addStartDevices(cmd: CommandLineFacts, input: PredictInput): void {
  for (const d of input.startDevices ?? []) {
    if (driverInfo(d.driver).bus !== 'pci') continue;
    const p: PendingDevice = {
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
    cmd.cliDevices.push(p);
  }
  for (const d of input.startDrives ?? []) {
    if (d.if === 'virtio') {
      cmd.virtioDrives.push({
        driver: 'virtio-blk-pci',
        placement: 'auto',
        origin: 'start',
        owner: d.owner,
        description: `${d.owner.kind}/${d.owner.index}: -drive if=virtio makes a virtio-blk-pci`,
      });
    } else if (d.if === 'scsi') {
      cmd.ifScsiDrives++;
    }
  }
}

/** 1. The machine: 00.0 host bridge, 01.0 ISA bridge (with its functions). */
function placeMachine(slots: SlotTable, cmd: CommandLineFacts): void {
  slots.place({
    slot: 0,
    driver: 'i440FX-pcihost',
    qomType: 'i440FX-pcihost',
    kind: 'other',
    placement: 'fixed',
    origin: 'machine',
    description: 'host bridge (i440FX)',
  });
  const fns = ['01.1 IDE', ...(cmd.usb ? ['01.2 USB'] : []), ...(cmd.acpi ? ['01.3 ACPI'] : [])];
  slots.place({
    slot: 1,
    driver: 'PIIX3',
    qomType: 'PIIX3',
    kind: 'other',
    placement: 'fixed',
    origin: 'machine',
    description: `ISA bridge (PIIX3; +${fns.join(', ')})`,
  });
}

/** 2. Board init: VGA on slot 2, the default NIC, the NICs of -nic and -net nic, implicit SCSI controllers, sound cards. */
function boardDevices(cmd: CommandLineFacts, input: PredictInput, result: Prediction): PendingDevice[] {
  const board: PendingDevice[] = [];
  let vgaDriver: string | null = null;
  if (cmd.vga !== undefined) {
    const { value, index } = cmd.vga;
    vgaDriver = Object.hasOwn(VGA_TYPES, value) ? VGA_TYPES[value]! : null;
    if (!Object.hasOwn(VGA_TYPES, value) && !HELP.has(value)) {
      result.unpredictable.push({ option: '-vga', value, argIndex: index, reason: 'unknown -vga type' });
    }
  } else if (!cmd.nodefaults && !cmd.vgaDevice) {
    vgaDriver = 'VGA';
  }
  if (vgaDriver !== null) {
    board.push({
      driver: vgaDriver,
      placement: 'board',
      origin: 'kvm_cmd',
      description: cmd.vga !== undefined ? `VGA card (-vga ${cmd.vga.value})` : 'VGA card (QEMU default; -nodefaults or -vga none removes it)',
    });
  }
  if (!cmd.netOption && !cmd.nodefaults && input.networkAtStart === false) {
    board.push({ driver: PC_DEFAULT_NIC, placement: 'board', origin: 'kvm_cmd', description: 'default NIC (no -net/-netdev/-nic)' });
  }
  board.push(...cmd.nicOptionNics, ...cmd.netOptionNics);
  if (cmd.ifScsiDrives > 0) {
    const hbas = Math.max(Math.ceil(cmd.ifScsiDrives / 7), cmd.ifScsiMaxBus + 1);
    for (let i = 0; i < hbas; i++) {
      board.push({
        driver: 'lsi53c895a',
        placement: 'board',
        origin: 'kvm_cmd',
        description: 'implicit SCSI controller for -drive if=scsi (QEMU < 2.12 only; later QEMUs refuse if=scsi on pc)',
      });
    }
  }
  board.push(...cmd.soundCards);
  return board;
}

/** pci.0's slots as QEMU fills them: 3./4. each device created in order takes its slot. */
class SlotTable {
  private readonly occupied = new Map<number, PlacedDevice>();

  constructor(private readonly result: Prediction) {}

  place(d: PlacedDevice): void {
    this.occupied.set(d.slot, d);
    this.result.devices.push(d);
  }

  /** A device with `addr=` takes that slot (or clashes); one without takes the lowest free slot. */
  create(p: PendingDevice): void {
    const { result } = this;
    const base: Omit<PlacedDevice, 'slot'> = {
      driver: p.driver,
      qomType: canonicalDriver(p.driver),
      kind: p.owner?.kind ?? driverInfo(p.driver).role,
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
      const holder = this.occupied.get(slot);
      if (holder) result.clashes.push({ device: d, holder });
      else this.place(d);
      return;
    }
    for (let s = 0; s < PCI_SLOT_COUNT; s++) {
      if (!this.occupied.has(s)) {
        this.place({ ...base, slot: s });
        if (p.id === 'scsi' && result.scsiController && result.scsiController.argIndex === p.argIndex) {
          result.scsiController.slot = s;
        }
        return;
      }
    }
    result.noSlot.push(base);
  }
}
