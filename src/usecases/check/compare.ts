/**
 * Comparing two layouts: the running QEMU's and the check QEMU's. A live migration matches device
 * state by place (PCI address, SCSI target), so every difference is a migration that would fail
 * (docs/qemu-ganeti-facts.md, "Migration").
 */
import { canonicalDriver, isPciDriver } from '../../bus/controllers.js';
import { formatPciPath, type Layout, type PciFunctionInfo, type PciHop } from './layout.js';

/** Where a device is, on one side of the comparison. */
export interface LayoutPlace {
  /** QEMU type (`virtio-blk-pci`, `lsi53c895a`…) when known: devices with an id, `-device`s without one on pci.0. */
  driver: string | undefined;
  /** In the operator's words: `slot 0xd`, `slot 0x1e → slot 0x1 function 2`, `scsi.0 target 2`. */
  address: string;
  pci?: { path: PciHop[]; vendorId: number; deviceId: number; classCode: number; classDesc: string | undefined };
  scsi?: { bus: string; channel: number; target: number; lun: number };
}

export type LayoutDifferenceCode =
  /** QEMU has it, a QEMU started from the runtime file would not. */
  | 'missing-from-target'
  /** A QEMU started from the runtime file would have it, the running QEMU does not. */
  | 'extra-in-target'
  /** Both have it, at different places. */
  | 'moved'
  /** Both have it at the same id or place, as different devices. */
  | 'driver-differs'
  /** Same place, same driver, but other PCI vendor/device/class ids (device properties differ). */
  | 'pci-id-differs'
  /** A different number of devices without id of a non-PCI type (USB tablet, …). */
  | 'count-differs';

export interface LayoutDifference {
  code: LayoutDifferenceCode;
  /** The device: its id, or `slot 0x2 (VGA controller 1234:1111)` for a device without id. */
  what: string;
  /** Where the running QEMU has it (null: it does not). */
  live: LayoutPlace | null;
  /** Where a QEMU started from the runtime file has it (null: it does not). */
  target: LayoutPlace | null;
  /** One line for the operator. */
  message: string;
}

interface IdPlace {
  id: string;
  driver: string;
  pci?: PciFunctionInfo;
  scsi?: { bus: string; channel: number; target: number; lun: number };
}

function idPlaces(layout: Layout, substituted: Readonly<Record<string, string>>): Map<string, IdPlace> {
  const out = new Map<string, IdPlace>();
  for (const p of layout.state.peripherals) out.set(p.id, { id: p.id, driver: substituted[p.id] ?? p.driver });
  for (const f of layout.pci) {
    const e = f.qdevId === '' ? undefined : out.get(f.qdevId);
    if (e) e.pci = f;
  }
  for (const s of layout.state.scsi) {
    const e = out.get(s.id);
    if (e) e.scsi = { bus: s.bus, channel: s.channel, target: s.scsiId, lun: s.lun };
  }
  return out;
}

const pciIds = (f: PciFunctionInfo): string => `${f.vendorId.toString(16).padStart(4, '0')}:${f.deviceId.toString(16).padStart(4, '0')}`;
const pciDesc = (f: PciFunctionInfo): string => `${f.driver ?? f.classDesc ?? `PCI class 0x${f.classCode.toString(16)}`} ${pciIds(f)}`;

function scsiAddress(s: NonNullable<IdPlace['scsi']>): string {
  const extra = s.channel !== 0 || s.lun !== 0 ? ` channel ${s.channel} lun ${s.lun}` : '';
  return `${s.bus} target ${s.target}${extra}`;
}

function addressOf(p: IdPlace): string {
  if (p.pci) return formatPciPath(p.pci.path);
  if (p.scsi) return scsiAddress(p.scsi);
  return 'no PCI or SCSI address';
}

function placeOf(p: IdPlace): LayoutPlace {
  const place: LayoutPlace = { driver: p.driver, address: addressOf(p) };
  if (p.pci) place.pci = pciPlace(p.pci);
  if (p.scsi) place.scsi = { ...p.scsi };
  return place;
}

function pciPlace(f: PciFunctionInfo): NonNullable<LayoutPlace['pci']> {
  return { path: f.path.map((h) => ({ ...h })), vendorId: f.vendorId, deviceId: f.deviceId, classCode: f.classCode, classDesc: f.classDesc };
}

function anonPlace(f: PciFunctionInfo): LayoutPlace {
  return { driver: f.driver, address: formatPciPath(f.path), pci: pciPlace(f) };
}

function samePlace(a: IdPlace, b: IdPlace): boolean {
  if (a.pci || b.pci) return a.pci !== undefined && b.pci !== undefined && a.pci.key === b.pci.key;
  if (a.scsi || b.scsi) {
    return (
      a.scsi !== undefined &&
      b.scsi !== undefined &&
      a.scsi.bus === b.scsi.bus &&
      a.scsi.channel === b.scsi.channel &&
      a.scsi.target === b.scsi.target &&
      a.scsi.lun === b.scsi.lun
    );
  }
  return true;
}

/** The file may say `lsi`, QEMU says `lsi53c895a`: bus/controllers' alias table. */
const sameQomType = (a: string, b: string): boolean => canonicalDriver(a) === canonicalDriver(b);

const FAIL = 'a migration would fail';

/**
 * The differences between the running QEMU (`live`) and a QEMU started from the runtime file
 * (`target`): devices with an id by id (driver, PCI place or SCSI address, PCI ids), PCI functions
 * without id by place (vendor/device/class), other devices without id by count per type.
 * `substituted`: ids the target has with another driver than the file's (scsi-block as scsi-hd).
 */
export function compareLayouts(live: Layout, target: Layout, substituted: Readonly<Record<string, string>> = {}): LayoutDifference[] {
  const out: LayoutDifference[] = [];
  const L = idPlaces(live, {});
  const T = idPlaces(target, substituted);

  for (const [id, l] of L) {
    const t = T.get(id);
    if (!t) {
      out.push({
        code: 'missing-from-target',
        what: id,
        live: placeOf(l),
        target: null,
        message: `${id} (${l.driver}) is at ${addressOf(l)} in QEMU but the runtime file would not start it: ${FAIL} (added without updating the runtime file?)`,
      });
      continue;
    }
    if (!sameQomType(l.driver, t.driver)) {
      out.push({
        code: 'driver-differs',
        what: id,
        live: placeOf(l),
        target: placeOf(t),
        message: `${id} is a ${l.driver} at ${addressOf(l)} in QEMU but the runtime file would start a ${t.driver} at ${addressOf(t)}: ${FAIL}`,
      });
    } else if (!samePlace(l, t)) {
      out.push({
        code: 'moved',
        what: id,
        live: placeOf(l),
        target: placeOf(t),
        message: `${id} is at ${addressOf(l)} in QEMU but the runtime file would start it at ${addressOf(t)}: ${FAIL}`,
      });
    } else if (l.pci && t.pci && (l.pci.vendorId !== t.pci.vendorId || l.pci.deviceId !== t.pci.deviceId || l.pci.classCode !== t.pci.classCode)) {
      out.push({
        code: 'pci-id-differs',
        what: id,
        live: placeOf(l),
        target: placeOf(t),
        message: `${id} at ${addressOf(l)} is ${pciDesc(l.pci)} in QEMU but ${pciDesc(t.pci)} when started from the runtime file (its properties differ): ${FAIL}`,
      });
    }
  }
  for (const [id, t] of T) {
    if (L.has(id)) continue;
    out.push({
      code: 'extra-in-target',
      what: id,
      live: null,
      target: placeOf(t),
      message: `the runtime file would start ${id} (${t.driver}) at ${addressOf(t)}, which QEMU does not have: ${FAIL}`,
    });
  }

  // PCI functions without id, by place.
  const liveAt = new Map(live.pci.map((f) => [f.key, f]));
  const targetAt = new Map(target.pci.map((f) => [f.key, f]));
  const occupant = (f: PciFunctionInfo | undefined): string =>
    f === undefined ? 'nothing' : f.qdevId !== '' ? `${f.qdevId}${f.driver ? ` (${f.driver})` : ''}` : `${pciDesc(f)} (without id)`;
  for (const l of live.pci) {
    if (l.qdevId !== '') continue;
    const t = targetAt.get(l.key);
    const where = formatPciPath(l.path);
    if (t && t.qdevId === '') {
      const otherType = l.driver !== undefined && t.driver !== undefined && !sameQomType(l.driver, t.driver);
      if (otherType || t.vendorId !== l.vendorId || t.deviceId !== l.deviceId || t.classCode !== l.classCode) {
        out.push({
          code: 'driver-differs',
          what: `${where} (${pciDesc(l)})`,
          live: anonPlace(l),
          target: anonPlace(t),
          message: `${where}: QEMU has ${pciDesc(l)} there, the runtime file would start ${pciDesc(t)} there: ${FAIL}`,
        });
      }
      continue;
    }
    out.push({
      code: 'missing-from-target',
      what: `${where} (${pciDesc(l)})`,
      live: anonPlace(l),
      target: null,
      message: `${where}: QEMU has ${pciDesc(l)} there (a device without id), the runtime file would put ${occupant(t)} there: ${FAIL}`,
    });
  }
  for (const t of target.pci) {
    if (t.qdevId !== '') continue;
    const l = liveAt.get(t.key);
    if (l && l.qdevId === '') continue; // compared above
    const where = formatPciPath(t.path);
    out.push({
      code: 'extra-in-target',
      what: `${where} (${pciDesc(t)})`,
      live: null,
      target: anonPlace(t),
      message: `${where}: the runtime file would start ${pciDesc(t)} there (a device without id), QEMU has ${occupant(l)} there: ${FAIL}`,
    });
  }

  // Devices without id that are not PCI functions (USB tablet, …): by count per type.
  const count = (types: readonly string[]) => {
    const m = new Map<string, number>();
    for (const t of types) if (!isPciDriver(t)) m.set(t, (m.get(t) ?? 0) + 1);
    return m;
  };
  const lc = count(live.anonymous);
  const tc = count(target.anonymous);
  for (const type of [...new Set([...lc.keys(), ...tc.keys()])].sort()) {
    const a = lc.get(type) ?? 0;
    const b = tc.get(type) ?? 0;
    if (a === b) continue;
    out.push({
      code: 'count-differs',
      what: type,
      live: null,
      target: null,
      message: `QEMU has ${a} ${type} without id, the runtime file would start ${b}: ${FAIL}`,
    });
  }
  return out;
}
