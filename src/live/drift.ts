/**
 * Drift: where the runtime file and the running QEMU disagree. The runtime file is what a migration
 * target is started from, so every difference here is a migration that would fail (or a hot-add
 * that would be planned on a wrong picture).
 */
import { optsGet, parseOptsValue, parseQemuArgv } from '../qemu/argv.js';
import type { Hvinfo, RuntimeFile } from '../runtime/types.js';
import { GANETI_ID, hexSlot, qomTypeOf, sameDriver } from './drivers.js';
import { splitPending, type PendingUnplug } from './pending.js';
import type { LiveState } from './probe.js';

export type DriftCode =
  /** The runtime file lists the device, QEMU does not have it. */
  | 'missing-from-qemu'
  /** QEMU has a device (Ganeti-style id, on scsi.0, or at/above the reservations) the file does not list. */
  | 'unknown-to-file'
  /** Both have it, at different places (bus, slot, or target/channel/lun). */
  | 'moved'
  /** Both have it at the same id, as different QEMU drivers. */
  | 'driver-differs'
  /** An unplug was requested and the guest has not acknowledged it: QEMU still has the device. */
  | 'unplug-pending'
  /** The runtime file's kvm_cmd has the SCSI controller (`-device TYPE,id=scsi`), QEMU has none. */
  | 'controller-missing'
  /** QEMU's SCSI controller is another type than the runtime file's. */
  | 'controller-differs';

export type DeviceAddress =
  | { bus: 'pci.0'; slot: number }
  | { bus: string; target: number; channel: number; lun: number }
  /** Not on an explicit bus (`{}` hvinfo), or QEMU has it somewhere plugboard does not map (an ISA device). */
  | { bus: null };

export interface DriftSide {
  driver: string | undefined;
  address: DeviceAddress;
}

export interface DriftItem {
  code: DriftCode;
  /** Device id ('' for a device QEMU has without id). */
  id: string;
  /** What the runtime file says, when it lists the device. */
  file: DriftSide | null;
  /** What QEMU has, when it has the device. */
  live: DriftSide | null;
  /** One line for the operator. */
  message: string;
  /** For `unplug-pending` (and a completed one): when the unplug was requested. */
  since?: string;
}

export interface Drift {
  ok: boolean;
  items: DriftItem[];
}

/** `pci.0 slot 0xa`, `scsi.0 target 2`, `scsi.0 target 2 channel 0 lun 1`. */
export function formatAddress(a: DeviceAddress): string {
  if (a.bus === null) return 'no bus address';
  if ('slot' in a) return `pci.0 slot ${hexSlot(a.slot)}`;
  const extra = a.channel !== 0 || a.lun !== 0 ? ` channel ${a.channel} lun ${a.lun}` : '';
  return `${a.bus} target ${a.target}${extra}`;
}

/** The live address said short when the bus is the same: `0xb`, `target 3`. */
function shortAddress(a: DeviceAddress, other: DeviceAddress): string {
  if (a.bus === null || a.bus !== other.bus) return formatAddress(a);
  if ('slot' in a) return hexSlot(a.slot);
  return formatAddress(a).slice(a.bus.length + 1);
}

function sameAddress(a: DeviceAddress, b: DeviceAddress): boolean {
  if (a.bus !== b.bus) return false;
  if ('slot' in a) return 'slot' in b && a.slot === b.slot;
  if ('target' in a) return 'target' in b && a.target === b.target && a.channel === b.channel && a.lun === b.lun;
  return true;
}

function addressOfHvinfo(h: Hvinfo): DeviceAddress {
  if ('addr' in h && typeof h.addr === 'string') {
    const slot = Number.parseInt(h.addr.replace(/^0x/i, ''), 16);
    if (Number.isInteger(slot)) return { bus: 'pci.0', slot };
  }
  if ('scsi-id' in h && typeof h['scsi-id'] === 'number') {
    return { bus: h.bus, target: h['scsi-id'], channel: h.channel ?? 0, lun: h.lun ?? 0 };
  }
  return { bus: null };
}

interface FileDevice {
  id: string;
  kind: 'disk' | 'nic';
  driver: string | undefined;
  address: DeviceAddress;
}

function fileDevices(rf: RuntimeFile): FileDevice[] {
  const out: FileDevice[] = [];
  const add = (kind: 'disk' | 'nic', h: Hvinfo) => {
    if (!('id' in h) || typeof h.id !== 'string' || h.id === '') return;
    out.push({ id: h.id, kind, driver: typeof h.driver === 'string' ? h.driver : undefined, address: addressOfHvinfo(h) });
  };
  for (const d of rf.disks) add('disk', d.hvinfo);
  for (const n of rf.nics) add('nic', n.hvinfo);
  return out;
}

/**
 * `-device` options of kvm_cmd (argv[0] is the binary): their driver and id
 * (`-device lsi,id=scsi` → {driver: lsi, id: scsi}; the JSON form `-device {"driver":…}` too).
 */
export function kvmCmdDevices(kvmCmd: readonly (string | number)[]): { driver: string | undefined; id: string | undefined }[] {
  const out: { driver: string | undefined; id: string | undefined }[] = [];
  for (const opt of parseQemuArgv(kvmCmd).options) {
    if (opt.name !== 'device' || opt.value === undefined) continue;
    if (opt.value.trimStart().startsWith('{')) {
      let json: unknown;
      try {
        json = JSON.parse(opt.value);
      } catch {
        continue;
      }
      const o = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
      out.push({
        driver: typeof o['driver'] === 'string' ? o['driver'] : undefined,
        id: typeof o['id'] === 'string' ? o['id'] : undefined,
      });
      continue;
    }
    const pairs = parseOptsValue(opt.value, 'driver');
    out.push({ driver: optsGet(pairs, 'driver'), id: optsGet(pairs, 'id') });
  }
  return out;
}

function liveAddress(live: LiveState, id: string): DeviceAddress {
  const fn = live.pci.find((f) => f.qdevId === id);
  if (fn) return { bus: 'pci.0', slot: fn.slot };
  const s = live.scsi.find((d) => d.id === id);
  if (s) return { bus: s.bus, target: s.scsiId, channel: s.channel, lun: s.lun };
  return { bus: null };
}

/**
 * Compares the runtime file with what QEMU has. `pending` is the list of recorded unplugs as read
 * (`readPending`), before or after pruning: records whose device QEMU still has are reported as
 * `unplug-pending`; a record whose device is gone explains the `missing-from-qemu` of its entry.
 */
export function computeDrift(rf: RuntimeFile, live: LiveState, pending: readonly PendingUnplug[] = []): Drift {
  const items: DriftItem[] = [];
  const { pending: stillPending, completed } = splitPending(pending, live);
  const pendingById = new Map(stillPending.map((p) => [p.id, p]));
  const completedById = new Map(completed.map((p) => [p.id, p]));
  const liveDriver = new Map(live.peripherals.map((p) => [p.id, p.driver]));
  const files = fileDevices(rf);
  const fileIds = new Set(files.map((f) => f.id));
  const cmdDevices = kvmCmdDevices(rf.kvmCmd);
  const cmdIds = new Set(cmdDevices.flatMap((d) => (d.id === undefined ? [] : [d.id])));
  const reservations = rf.hvparams.kvm_pci_reservations;

  for (const f of files) {
    const fileSide: DriftSide = { driver: f.driver, address: f.address };
    const driver = liveDriver.get(f.id);
    if (driver === undefined) {
      const done = completedById.get(f.id);
      items.push({
        code: 'missing-from-qemu',
        id: f.id,
        file: fileSide,
        live: null,
        message: done
          ? `${f.id}: the unplug requested at ${done.since} has completed, but the runtime file still lists it at ${formatAddress(f.address)} — remove the entry, or a migration target is started with a device the source lacks`
          : `${f.id}: runtime file lists it at ${formatAddress(f.address)}, QEMU does not have it — a migration target would be started with a device the source lacks`,
        ...(done ? { since: done.since } : {}),
      });
      continue;
    }
    const liveSide: DriftSide = { driver, address: liveAddress(live, f.id) };
    if (f.address.bus !== null && !sameAddress(f.address, liveSide.address)) {
      items.push({
        code: 'moved',
        id: f.id,
        file: fileSide,
        live: liveSide,
        message:
          liveSide.address.bus === null
            ? `${f.id}: runtime file says ${formatAddress(f.address)}, QEMU has it on no bus plugboard maps (${driver}) — a migration would fail`
            : `${f.id}: runtime file says ${formatAddress(f.address)}, QEMU has it at ${shortAddress(liveSide.address, f.address)} — a migration would fail`,
      });
    }
    if (f.driver !== undefined && !sameDriver(f.driver, driver)) {
      items.push({
        code: 'driver-differs',
        id: f.id,
        file: fileSide,
        live: liveSide,
        message: `${f.id}: runtime file says driver ${f.driver}, QEMU has ${driver} — a migration would fail`,
      });
    }
    const p = pendingById.get(f.id);
    if (p) items.push(pendingItem(p, fileSide, liveSide));
  }

  // Devices QEMU has that the file does not list.
  for (const dev of live.peripherals) {
    if (fileIds.has(dev.id)) continue;
    const liveSide: DriftSide = { driver: dev.driver, address: liveAddress(live, dev.id) };
    const p = pendingById.get(dev.id);
    if (p) {
      items.push(pendingItem(p, null, liveSide));
      continue;
    }
    if (cmdIds.has(dev.id)) continue;
    if (dev.id === 'scsi' && live.controller) continue; // reported with the controller below
    const a = liveSide.address;
    const ganeti = GANETI_ID.test(dev.id);
    const onScsi0 = a.bus === 'scsi.0';
    const aboveReservations = 'slot' in a && a.slot >= reservations;
    if (!ganeti && !onScsi0 && !aboveReservations) continue;
    const where = a.bus === null ? `(${dev.driver}, no bus address)` : `at ${formatAddress(a)} (${dev.driver})`;
    items.push({
      code: 'unknown-to-file',
      id: dev.id,
      file: null,
      live: liveSide,
      message: `${dev.id}: QEMU has it ${where}, the runtime file does not list it — a migration would fail (hot-added by someone else?)`,
    });
  }
  // Devices without id at/above the reservations: in the range where Ganeti places disks and NICs.
  const anonymousSlots = new Set<number>();
  for (const fn of live.pci) {
    if (fn.slot < reservations || anonymousSlots.has(fn.slot)) continue;
    if (live.pci.some((g) => g.slot === fn.slot && g.qdevId !== '')) continue;
    anonymousSlots.add(fn.slot);
    const desc = fn.classDesc ?? `PCI class 0x${fn.classCode.toString(16)}`;
    items.push({
      code: 'unknown-to-file',
      id: '',
      file: null,
      live: { driver: undefined, address: { bus: 'pci.0', slot: fn.slot } },
      message: `pci.0 slot ${hexSlot(fn.slot)}: QEMU has a device without id there (${desc}), at or above the ${reservations} reserved slots, that the runtime file does not know — a migration would fail`,
    });
  }

  // The SCSI controller: the file's is `-device TYPE,id=scsi` in kvm_cmd.
  const fileCtl = cmdDevices.find((d) => d.id === 'scsi' && d.driver !== undefined);
  if (fileCtl?.driver !== undefined) {
    const ctl = live.controller;
    if (!ctl) {
      items.push({
        code: 'controller-missing',
        id: 'scsi',
        file: { driver: fileCtl.driver, address: { bus: null } },
        live: null,
        message: `scsi: the runtime file starts the SCSI controller ${fileCtl.driver}, QEMU has none — a migration would fail, and SCSI disks cannot be hot-added`,
      });
    } else if (qomTypeOf(fileCtl.driver) !== ctl.driver) {
      items.push({
        code: 'controller-differs',
        id: 'scsi',
        file: { driver: fileCtl.driver, address: { bus: null } },
        live: { driver: ctl.driver, address: ctl.slot === undefined ? { bus: null } : { bus: 'pci.0', slot: ctl.slot } },
        message: `scsi: the runtime file starts the SCSI controller ${fileCtl.driver}, QEMU has ${ctl.type} — a migration would fail`,
      });
    }
  } else if (live.controller && !cmdIds.has('scsi')) {
    const ctl = live.controller;
    items.push({
      code: 'unknown-to-file',
      id: 'scsi',
      file: null,
      live: { driver: ctl.driver, address: ctl.slot === undefined ? { bus: null } : { bus: 'pci.0', slot: ctl.slot } },
      message: `scsi: QEMU has the SCSI controller ${ctl.type}, the runtime file's kvm_cmd starts none — a migration would fail`,
    });
  }

  return { ok: items.length === 0, items };
}

function pendingItem(p: PendingUnplug, file: DriftSide | null, live: DriftSide): DriftItem {
  return {
    code: 'unplug-pending',
    id: p.id,
    file,
    live,
    since: p.since,
    message: `${p.id}: unplug requested at ${p.since} is still pending (the guest has not acknowledged it); QEMU still has it at ${formatAddress(live.address)}`,
  };
}
