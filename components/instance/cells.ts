/**
 * The bus maps as text cells: what each slot of pci.0 and each target of scsi.0 shows, readable
 * without colour (tags, marks, shading characters). Pure, so it is computed once per view (memo)
 * and unit-tested without rendering.
 */
import type { AllocationResult, BusDevice, BusModel, ScsiBus } from '../../src/bus/types.js';
import type { DeviceMark, InstanceView } from '../../src/tui/view.js';
import type { RuntimeFile } from '../../src/runtime/types.js';
import { displayWidth, sliceToWidth } from '../text.js';

export type CellKind = 'reserved' | 'qemu' | 'disk' | 'nic' | 'controller' | 'other' | 'free';

/** The character a mark adds to a tag. */
export const MARK_CHAR: Record<DeviceMark, string> = { ok: '', drift: '~', pending: '…', missing: '!', 'live-only': '*' };

/** Shading of the QEMU-managed range (the first kvm_pci_reservations slots). */
export const SHADE = '░';
export const FREE = '·';
export const NEXT = '+';

export interface PciCell {
  slot: number;
  kind: CellKind;
  /** Short tag (≤ 3 characters): `D0`, `N1`, `hb`, `bal`, `+`, `·`, '' (shaded). */
  tag: string;
  /** Longer tag (≤ 7 characters) for wide cells: `D0 vblk`, `balloon`. */
  long: string;
  mark: DeviceMark;
  /** The next hot-added disk and/or NIC go here. */
  next: ('disk' | 'nic')[];
  reserved: boolean;
  device?: BusDevice;
}

export interface DeviceIndex {
  kind: 'disk' | 'nic';
  index: number;
}

/** uuid and hvinfo id → `disk/N` / `nic/N` of the runtime file. */
export function runtimeIndex(rf: RuntimeFile): Map<string, DeviceIndex> {
  const m = new Map<string, DeviceIndex>();
  const add = (kind: 'disk' | 'nic', index: number, uuid: string, h: unknown) => {
    m.set(uuid, { kind, index });
    const id = (h as { id?: unknown }).id;
    if (typeof id === 'string') m.set(id, { kind, index });
  };
  for (const d of rf.disks) add('disk', d.index, d.uuid, d.hvinfo);
  for (const n of rf.nics) add('nic', n.index, n.uuid, n.hvinfo);
  return m;
}

function indexOf(index: Map<string, DeviceIndex>, d: BusDevice): DeviceIndex | undefined {
  return (d.uuid !== undefined ? index.get(d.uuid) : undefined) ?? (d.id !== '' ? index.get(d.id) : undefined);
}

const SHORT_DRIVER: Record<string, string> = {
  'virtio-blk-pci': 'vblk',
  'virtio-net-pci': 'vnet',
  'virtio-scsi-pci': 'vscsi',
  lsi: 'lsi',
  lsi53c895a: 'lsi',
  megasas: 'megasas',
  dc390: 'dc390',
  'i440FX-pcihost': 'host-br',
  PIIX3: 'ISA-br',
  'virtio-balloon': 'balloon',
  'virtio-balloon-pci': 'balloon',
  VGA: 'VGA',
};

function shortDriver(driver: string): string {
  return SHORT_DRIVER[driver] ?? driver.replace(/-pci$/, '').slice(0, 7);
}

/** A 2–3 letter tag for a device QEMU placed itself. */
export function qemuTag(d: BusDevice): string {
  const drv = d.driver;
  if (d.kind === 'controller' || d.id === 'scsi') return 'scs';
  if (drv === 'i440FX-pcihost' || /host bridge/i.test(d.description ?? '')) return 'hb';
  if (drv === 'PIIX3' || /ISA bridge/i.test(d.description ?? '')) return 'isa';
  if (/vga/i.test(drv) || /VGA/.test(d.description ?? '')) return 'vga';
  if (/balloon/.test(drv)) return 'bal';
  if (drv === '') return 'q';
  return drv.replace(/^virtio-/, 'v').slice(0, 3);
}

function longQemuTag(d: BusDevice): string {
  if (d.kind === 'controller' || d.id === 'scsi') return shortDriver(d.driver);
  if (d.driver === '') return 'qemu';
  return shortDriver(d.driver);
}

/** Slots and targets the next hot-add takes, from the allocation results. */
export interface NextPlaces {
  pci: Map<number, ('disk' | 'nic')[]>;
  scsiTarget: number | null;
}

export function nextPlaces(next: { disk: AllocationResult; nic: AllocationResult }): NextPlaces {
  const pci = new Map<number, ('disk' | 'nic')[]>();
  let scsiTarget: number | null = null;
  for (const kind of ['disk', 'nic'] as const) {
    const r = next[kind];
    if (!r.ok) continue;
    const a = r.allocation;
    if (a.bus === 'pci.0') pci.set(a.slot, [...(pci.get(a.slot) ?? []), kind]);
    else if (kind === 'disk') scsiTarget = a['scsi-id'];
  }
  return { pci, scsiTarget };
}

export function pciCells(model: BusModel, marks: ReadonlyMap<string, DeviceMark>, index: Map<string, DeviceIndex>, next: NextPlaces): PciCell[] {
  return model.pci.slots.map((s) => {
    const nextKinds = next.pci.get(s.slot) ?? [];
    const base = { slot: s.slot, reserved: s.reserved, next: nextKinds };
    const d = s.device;
    if (!d) {
      if (nextKinds.length > 0) return { ...base, kind: 'free', tag: NEXT, long: `${NEXT} next`, mark: 'ok' };
      if (s.reserved) return { ...base, kind: 'reserved', tag: '', long: '', mark: 'ok' };
      return { ...base, kind: 'free', tag: FREE, long: FREE, mark: 'ok' };
    }
    const mark = d.id !== '' ? (marks.get(d.id) ?? 'ok') : 'ok';
    if (d.kind === 'disk' || d.kind === 'nic') {
      const at = indexOf(index, d);
      const letter = d.kind === 'disk' ? 'D' : 'N';
      const tag = at ? `${letter}${at.index}` : `${letter}?`;
      return { ...base, kind: d.kind, tag, long: `${tag} ${shortDriver(d.driver)}`.slice(0, 7), mark, device: d };
    }
    if (d.kind === 'controller') return { ...base, kind: 'controller', tag: 'scs', long: longQemuTag(d), mark, device: d };
    const kind: CellKind = s.state === 'used' ? 'other' : 'qemu';
    return { ...base, kind, tag: qemuTag(d), long: longQemuTag(d), mark, device: d };
  });
}

/**
 * The text of one grid cell, exactly `width` characters: `[`…`]` around the selected cell, the
 * shading character as padding inside the QEMU-managed range, the mark after the tag.
 */
export function cellText(cell: PciCell, width: number, selected: boolean): string {
  const innerWidth = Math.max(1, width - 2);
  const pad = cell.reserved ? SHADE : ' ';
  const tag = innerWidth >= 7 ? cell.long : cell.tag;
  const mark = MARK_CHAR[cell.mark];
  let inner = tag + mark;
  let right = selected ? ']' : pad;
  // Widths as shown: a tag from QEMU's words may hold characters shown escaped.
  if (displayWidth(inner) > innerWidth) {
    inner = sliceToWidth(tag, innerWidth);
    if (!selected && mark !== '') right = mark;
  }
  inner += pad.repeat(Math.max(0, innerWidth - displayWidth(inner)));
  return `${selected ? '[' : pad}${inner}${right}`;
}

/** One line of the SCSI pane's list: a used target, the next target, or a run of free ones. */
export interface ScsiRow {
  first: number;
  last: number;
  kind: 'device' | 'next' | 'free';
  /** `D0`, `+`, `·`. */
  tag: string;
  mark: DeviceMark;
  device?: BusDevice;
}

export function scsiRows(scsi: ScsiBus, marks: ReadonlyMap<string, DeviceMark>, index: Map<string, DeviceIndex>, nextTarget: number | null): ScsiRow[] {
  const rows: ScsiRow[] = [];
  let run: ScsiRow | null = null;
  for (const t of scsi.targets) {
    if (t.device) {
      run = null;
      const d = t.device;
      const at = indexOf(index, d);
      rows.push({
        first: t.target,
        last: t.target,
        kind: 'device',
        tag: at ? `D${at.index}` : d.kind === 'disk' ? 'D?' : 'q',
        mark: d.id !== '' ? (marks.get(d.id) ?? 'ok') : 'ok',
        device: d,
      });
    } else if (t.target === nextTarget) {
      run = null;
      rows.push({ first: t.target, last: t.target, kind: 'next', tag: NEXT, mark: 'ok' });
    } else if (run) {
      run.last = t.target;
    } else {
      run = { first: t.target, last: t.target, kind: 'free', tag: FREE, mark: 'ok' };
      rows.push(run);
    }
  }
  return rows;
}

/** Everything the map panes draw, computed once per view. */
export interface MapCells {
  pci: PciCell[];
  scsi: ScsiRow[] | null;
  next: NextPlaces;
  index: Map<string, DeviceIndex>;
}

export function mapCells(view: Pick<InstanceView, 'rf' | 'model' | 'marks' | 'next'>): MapCells {
  const index = runtimeIndex(view.rf);
  const next = nextPlaces(view.next);
  return {
    pci: pciCells(view.model, view.marks, index, next),
    scsi: view.model.scsi ? scsiRows(view.model.scsi, view.marks, index, next.scsiTarget) : null,
    next,
    index,
  };
}

/** `0x0d`. */
export const hex2 = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/** `t3` or `t3–7`. */
export function targetRange(r: Pick<ScsiRow, 'first' | 'last'>): string {
  return r.first === r.last ? `t${r.first}` : `t${r.first}–${r.last}`;
}
