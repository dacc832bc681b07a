/**
 * Everything the view knows about one place on the map (a slot of pci.0, a target of scsi.0) and the
 * device on it: hvinfo, backend, host path, the QEMU options it starts with, how it compares with
 * QEMU. Pure: computed from an InstanceView.
 */
import type { BusDevice } from '../bus/types.js';
import { firstLineOf } from '../errors.js';
import { backendOf } from '../live/backend.js';
import { fdsetOf } from '../qmp/fdpass/plan.js';
import type { DriftItem } from '../live/drift.js';
import { deviceOptions, type StartOption } from '../qemu/options.js';
import type { Hvinfo, RuntimeDisk, RuntimeNic } from '../runtime/types.js';
import type { DeviceMark, InstanceView } from './view.js';
import type { GanetiDeviceMatch, GanetiMark } from '../ganeti/compare.js';

/** A place on the map. */
export type MapPlace = { bus: 'pci.0'; slot: number } | { bus: 'scsi.0'; target: number };

export const hexSlot = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

export function placeText(p: MapPlace): string {
  return p.bus === 'pci.0' ? `pci.0 slot ${hexSlot(p.slot)}` : `scsi.0 target ${p.target}`;
}

/** The Ganeti disk or NIC of the runtime file behind a device, if it is one. */
export type RuntimeEntry = { kind: 'disk'; entry: RuntimeDisk } | { kind: 'nic'; entry: RuntimeNic };

export interface DeviceDetail {
  place: MapPlace;
  /** `disk/1`, `nic/0`, or the device's description for QEMU's own devices; null for an empty place. */
  title: string | null;
  device: BusDevice | null;
  runtime: RuntimeEntry | null;
  /** Where the knowledge comes from, in words. */
  source: string;
  hvinfo: Hvinfo | null;
  /** Disks: the host path (the disk link) and URI; NICs: MAC, mode and link. */
  host: string[];
  /** Disks: how QEMU holds the image (named drive / block node) when QEMU was asked. */
  backend: string | null;
  /** The options Ganeti starts this device with (`-device …`, `-drive …`, `-netdev …`). */
  startOptions: string[];
  /** The device compared with QEMU, in one line. */
  live: string;
  mark: DeviceMark;
  drift: DriftItem[];
  /** Whether the wizard's unplug can be offered for it (a Ganeti disk or NIC with a bus). */
  unpluggable: boolean;
  /** On a Ganeti node: the device as Ganeti's configuration has it (null: not in it, or not compared). */
  ganeti: GanetiDeviceMatch | null;
  /** On a Ganeti node: the device's mark (not in Ganeti's configuration), with what it means and what to do. */
  ganetiMark: GanetiMark | null;
  /**
   * How an unplug of it goes: `ganeti` (a job: the instance is Ganeti's and so is the device), `qmp`
   * (plugboard's own; on a Ganeti node that is the node-local repair of a device Ganeti lacks).
   */
  unplugVia: 'ganeti' | 'qmp';
}

export function deviceAt(view: InstanceView, place: MapPlace): BusDevice | null {
  if (place.bus === 'pci.0') return view.model.pci.slots[place.slot]?.device ?? null;
  return view.model.scsi?.targets[place.target]?.device ?? null;
}

function hvinfoId(h: Hvinfo): string | undefined {
  return 'id' in h && typeof h.id === 'string' ? h.id : undefined;
}

/** The runtime entry of a device: by uuid, else by hvinfo id. */
export function runtimeEntryOf(view: InstanceView, device: BusDevice | null): RuntimeEntry | null {
  if (!device || (device.kind !== 'disk' && device.kind !== 'nic')) return null;
  const byId = (h: Hvinfo) => device.id !== '' && hvinfoId(h) === device.id;
  const disk = view.rf.disks.find((d) => (device.uuid !== undefined && d.uuid === device.uuid) || byId(d.hvinfo));
  if (disk) return { kind: 'disk', entry: disk };
  const nic = view.rf.nics.find((n) => (device.uuid !== undefined && n.uuid === device.uuid) || byId(n.hvinfo));
  if (nic) return { kind: 'nic', entry: nic };
  return null;
}

function optionsFor(view: InstanceView, r: RuntimeEntry): string[] {
  let all: StartOption[];
  try {
    all = deviceOptions(view.rf);
  } catch (error) {
    return [`(Ganeti could not build the options: ${firstLineOf(error)})`];
  }
  return all.filter((o) => o.device?.kind === r.kind && o.device.index === r.entry.index).map((o) => `${o.option} ${o.value}`);
}

function sourceText(d: BusDevice, r: RuntimeEntry | null): string {
  switch (d.source) {
    case 'runtime':
      return 'runtime file (hvinfo)';
    case 'predicted':
      return r ? 'runtime file (placed by QEMU at start)' : 'placed by QEMU itself (predicted from kvm_cmd)';
    case 'live':
      return r ? 'seen in QEMU' : 'seen in QEMU only (the runtime file does not list it)';
    default: {
      const never: never = d.source;
      return String(never);
    }
  }
}

function liveText(view: InstanceView, d: BusDevice | null, mark: DeviceMark, drift: DriftItem[]): string {
  switch (view.liveStatus.kind) {
    case 'stopped':
      return 'not running: the runtime file is all there is';
    case 'busy':
      return `QEMU not asked: ${view.liveStatus.message}`;
    case 'error':
    case 'ganeti-job':
      return `QEMU not asked: ${view.liveStatus.message}`;
    case 'not-asked':
      return 'QEMU not asked yet';
    case 'live':
      break;
    default: {
      const never: never = view.liveStatus;
      return String(never);
    }
  }
  if (!d) return 'QEMU has nothing here';
  switch (mark) {
    case 'ok':
      return d.id !== '' ? `QEMU has ${d.id} here, as the runtime file says` : 'QEMU has this device here';
    case 'pending': {
      const since = drift.find((i) => i.code === 'unplug-pending')?.since;
      return `unplug pending${since ? ` since ${since}` : ''}: QEMU still has it, the guest has not acknowledged the PCI unplug`;
    }
    default:
      return drift[0]?.message ?? mark;
  }
}

export function deviceDetail(view: InstanceView, place: MapPlace): DeviceDetail {
  const device = deviceAt(view, place);
  const runtime = runtimeEntryOf(view, device);
  const drift = device && device.id !== '' ? (view.drift?.items.filter((i) => i.id === device.id) ?? []) : [];
  const mark: DeviceMark = device && device.id !== '' ? (view.marks.get(device.id) ?? 'ok') : 'ok';
  const host: string[] = [];
  let backend: string | null = null;
  if (runtime?.kind === 'disk') {
    const d = runtime.entry;
    host.push(`host path ${d.link}`);
    if (d.uri !== null) host.push(`uri ${d.uri}`);
    if (d.size !== undefined) host.push(`size ${d.size} MiB${d.devType ? ` (${d.devType})` : ''}`);
    if (view.live && device && device.id !== '') {
      const b = backendOf(view.live, device.id);
      const image = b?.file === undefined ? '' : fdsetOf(b.file) !== undefined ? `, image passed by descriptor (${b.file}; the runtime file has ${d.link})` : `, image ${b.file}`;
      backend = !b
        ? 'QEMU reports no image attached to it'
        : b.kind === 'drive'
          ? `named drive ${b.drive} (-drive / drive_add: goes away with the device)${image}`
          : `block node ${b.nodeName} (-blockdev / blockdev-add: blockdev-del after the unplug)${image}`;
    }
  } else if (runtime?.kind === 'nic') {
    const n = runtime.entry;
    host.push(`MAC ${n.mac}`);
    host.push(`mode ${n.mode ?? '(default)'}, link ${n.link ?? '(default)'}`);
  }
  let title: string | null = null;
  if (runtime) title = `${runtime.kind}/${runtime.entry.index}${runtime.entry.name ? ` (${runtime.entry.name})` : ''}`;
  else if (device) title = device.description ?? (device.driver || 'device');
  const hvinfo = runtime ? runtime.entry.hvinfo : null;
  const g = view.ganeti?.kind === 'compared' && device && device.id !== '' ? view.ganeti.comparison : null;
  const ganeti = g?.devices.find((m) => m.id === device?.id) ?? null;
  const ganetiMark = g?.marks.find((m) => m.id === device?.id) ?? null;
  return {
    place,
    title,
    device,
    runtime,
    source: device ? sourceText(device, runtime) : place.bus === 'pci.0' ? emptySlotText(view, place.slot) : 'free target',
    hvinfo,
    host,
    backend,
    startOptions: runtime ? optionsFor(view, runtime) : [],
    live: liveText(view, device, mark, drift),
    mark,
    drift,
    unpluggable: runtime !== null && hvinfo !== null && 'bus' in hvinfo,
    ganeti: ganeti?.ganeti ? ganeti : null,
    ganetiMark,
    unplugVia: unplugViaOf(view, ganeti?.ganeti ? ganeti : null),
  };
}

/**
 * Through Ganeti for a device of Ganeti's; over QMP for one Ganeti does not have (the node-local
 * repair) or on an instance Ganeti does not manage; through Ganeti too when Ganeti could not be asked
 * (the job screen then says why nothing can be sent: plugboard does not go behind Ganeti's back
 * because RAPI is down; `--via qmp` on the CLI is the explicit way).
 */
function unplugViaOf(view: InstanceView, match: GanetiDeviceMatch | null): 'ganeti' | 'qmp' {
  switch (view.ganeti?.kind) {
    case 'compared':
      return match ? 'ganeti' : 'qmp';
    case 'error':
      return 'ganeti';
    case 'unknown':
    case undefined:
      return 'qmp';
    default: {
      const never: never = view.ganeti;
      return never;
    }
  }
}

function emptySlotText(view: InstanceView, slot: number): string {
  const s = view.model.pci.slots[slot];
  if (!s) return 'no such slot';
  if (s.reserved) return `left to QEMU (inside kvm_pci_reservations=${view.model.pci.reservations}), empty`;
  return 'free';
}
