/**
 * Where Ganeti's configuration and the node disagree about an instance's disks and NICs (pure).
 *
 * "The node" is the instance's runtime file and, when probed, the running QEMU: a device is on the
 * node when either has it (where those two disagree is plugboard's own drift, src/live/drift.ts).
 * Devices are matched by UUID: the runtime file stores Ganeti's UUID with every disk and NIC, and
 * QEMU's device id is `disk-`/`nic-` + the UUID up to its third '-' (Ganeti's `_GenerateDeviceKVMId`).
 * A NIC the runtime file has without Ganeti's UUID (a legacy file upgraded on load) is matched by MAC.
 *
 * Two marks:
 * - `not-in-ganeti`: on the node, not in Ganeti's configuration. Added outside Ganeti (plugboard over
 *   QMP, QMP by hand) or left behind by a Ganeti removal whose hot-unplug failed (the job succeeds
 *   with `hotplug:failed`: the configuration drops the device, the node keeps it). It vanishes at the
 *   next restart, is not replicated, does not follow a failover or migration.
 * - `not-on-node`: in Ganeti's configuration, not on the node. Ganeti's hot-add failed (`hotplug:failed`,
 *   e.g. QEMU refused the target) or the change was made without hotplug and waits for the next start.
 *
 * Nothing here depends on how QEMU backs a disk: Ganeti 3.0 hot-adds disks with `drive_add
 * file=/dev/fdset/N` (the file passed as a descriptor), so QEMU's `query-block` names `/dev/fdset/0`
 * where the runtime file has `/var/run/ganeti/instance-disks/NAME:N`; matching by UUID and id never
 * looks at paths, so such disks are not reported.
 *
 * Matched devices also carry Ganeti's attributes (index, name, size, template, mode; MAC, mode, link,
 * network) for the maps, and the attributes where configuration and node differ (a change made
 * without hotplug: it takes effect at the next start). Those are not marks.
 */
import { deviceId } from '../runtime/ids.js';
import type { Hvinfo, RuntimeDisk, RuntimeFile, RuntimeNic } from '../runtime/types.js';
import { ganetiLabel, type GanetiDisk, type GanetiInstance, type GanetiNic } from './view.js';

export type GanetiMarkCode = 'not-in-ganeti' | 'not-on-node';

/** What QEMU has, as the live probe reads it (phase 2 builds this from LiveState). */
export interface QemuSide {
  /** Every device with an id; `kind` from its driver (`other` for controllers, balloon, …). */
  devices: ReadonlyArray<{ id: string; kind: 'disk' | 'nic' | 'other' }>;
  /** `query-block`'s named drives: `attached` false for a drive no device uses. Optional. */
  drives?: ReadonlyArray<{ id: string; attached: boolean; file?: string | undefined }>;
}

export interface NodeSide {
  /** The instance's runtime file on this node; null when this node has none (the instance does not run here). */
  runtime: RuntimeFile | null;
  /** What QEMU has; undefined when it was not probed (then the runtime file alone is the node). */
  qemu?: QemuSide | undefined;
  /** This node's name in the cluster, when known (ssconf.ts `localNodeName`). */
  nodeName?: string | undefined;
}

/** A node-local change plugboard can offer to bring the node in line (phase 2 runs it over QMP). */
export type GanetiRepair =
  /** Remove the device from QEMU (if it still has it) and from the runtime file. */
  | { kind: 'unplug-on-node'; device: 'disk' | 'nic'; id: string }
  /** Hot-add Ganeti's device on the node with Ganeti's UUID (and for a disk, its data path). */
  | { kind: 'hot-add-on-node'; device: 'disk'; uuid: string; id: string; size: number; name: string | null; path: string | undefined }
  | { kind: 'hot-add-on-node'; device: 'nic'; uuid: string; id: string; mac: string; mode: string; link: string; name: string | null };

export interface GanetiMark {
  code: GanetiMarkCode;
  kind: 'disk' | 'nic';
  /** QEMU device id (`disk-5154f301-522b-46cb`). */
  id: string;
  uuid: string | undefined;
  /** Where the node has it (not-in-ganeti). */
  node: { runtimeIndex: number | null; inQemu: boolean | undefined; address: string | undefined } | null;
  /** Ganeti's device (not-on-node). */
  ganeti: GanetiDisk | GanetiNic | null;
  /** One line: what disagrees. */
  message: string;
  /** What it means for the instance. */
  meaning: string;
  /** What to do. */
  action: string;
  repair: GanetiRepair | undefined;
}

export interface AttributeDifference {
  field: 'size' | 'name' | 'mode' | 'template' | 'mac' | 'link' | 'nic-mode' | 'network';
  ganeti: string;
  node: string;
}

/** One device of either side. */
export interface GanetiDeviceMatch {
  kind: 'disk' | 'nic';
  id: string;
  uuid: string | undefined;
  /** Ganeti's device, when it is in the configuration. */
  ganeti: GanetiDisk | GanetiNic | null;
  /** `disk/1 (data1)` / `nic.1 aa:00:00:b7:37:ad (eth1)`: Ganeti's name for it, for the maps. */
  label: string | undefined;
  runtimeIndex: number | null;
  inQemu: boolean | undefined;
  /** Matched by MAC because the runtime file's NIC has no UUID of Ganeti's. */
  matchedByMac: boolean;
  differences: AttributeDifference[];
  mark: GanetiMarkCode | undefined;
}

export interface GanetiComparison {
  instance: string;
  /** False when there was nothing on this node to compare (the instance does not run here). */
  compared: boolean;
  /** Why nothing was compared, or what else the operator should know (one line each). */
  notes: string[];
  devices: GanetiDeviceMatch[];
  marks: GanetiMark[];
  /** No marks. */
  ok: boolean;
}

const GANETI_ID = /^(disk|nic)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}$/;

function addressOf(h: Hvinfo): string | undefined {
  if ('addr' in h && typeof h.addr === 'string') return `${h.bus} slot 0x${parseInt(h.addr, 16).toString(16)}`;
  if ('scsi-id' in h && typeof h['scsi-id'] === 'number') return `${h.bus} target ${h['scsi-id']}`;
  return undefined;
}

function idOf(kind: 'disk' | 'nic', d: RuntimeDisk | RuntimeNic): string {
  return 'id' in d.hvinfo && typeof d.hvinfo.id === 'string' && d.hvinfo.id !== '' ? d.hvinfo.id : deviceId(kind, d.uuid);
}

function kindOfId(id: string): 'disk' | 'nic' | undefined {
  if (/^(hot)?disk-/.test(id)) return 'disk';
  if (/^(hot)?nic-/.test(id)) return 'nic';
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function diskDifferences(g: GanetiDisk, r: RuntimeDisk): AttributeDifference[] {
  const out: AttributeDifference[] = [];
  if (r.size !== undefined && r.size !== g.size) out.push({ field: 'size', ganeti: `${g.size} MiB`, node: `${r.size} MiB` });
  const rName = r.name ?? null;
  if ((g.name ?? null) !== rName) out.push({ field: 'name', ganeti: g.name ?? '(none)', node: rName ?? '(none)' });
  const rMode = str(r.raw['mode']);
  if (g.mode !== undefined && rMode !== undefined && g.mode !== rMode) out.push({ field: 'mode', ganeti: g.mode, node: rMode });
  if (r.devType !== undefined && g.template !== r.devType && g.template !== 'mixed') out.push({ field: 'template', ganeti: g.template, node: r.devType });
  return out;
}

function nicDifferences(g: GanetiNic, r: RuntimeNic): AttributeDifference[] {
  const out: AttributeDifference[] = [];
  if (r.mac.toLowerCase() !== g.mac.toLowerCase()) out.push({ field: 'mac', ganeti: g.mac, node: r.mac });
  if (r.link !== undefined && r.link !== g.link) out.push({ field: 'link', ganeti: g.link, node: r.link });
  if (r.mode !== undefined && r.mode !== g.mode) out.push({ field: 'nic-mode', ganeti: g.mode, node: r.mode });
  const rNet = str(r.raw['network']) ?? null;
  if ((g.network ?? null) !== rNet) out.push({ field: 'network', ganeti: g.networkName ?? g.network ?? '(none)', node: rNet ?? '(none)' });
  const rName = r.name ?? null;
  if ((g.name ?? null) !== rName) out.push({ field: 'name', ganeti: g.name ?? '(none)', node: rName ?? '(none)' });
  return out;
}

function notInGaneti(
  instance: string,
  kind: 'disk' | 'nic',
  id: string,
  uuid: string | undefined,
  runtimeIndex: number | null,
  inQemu: boolean | undefined,
  address: string | undefined,
): GanetiMark {
  const where = address ? ` (${address})` : '';
  const stale = runtimeIndex !== null && inQemu === false;
  const onNode = stale ? 'in the runtime file (QEMU no longer has it)' : runtimeIndex === null ? 'in QEMU (not in the runtime file)' : 'on the node';
  const lost =
    kind === 'disk'
      ? 'it vanishes from the guest at the next restart, is not replicated, does not follow a failover or migration, and gnt-cluster verify does not see it'
      : 'it vanishes from the guest at the next restart, does not follow a failover or migration, and Ganeti may give its MAC to another NIC';
  return {
    code: 'not-in-ganeti',
    kind,
    id,
    uuid,
    node: { runtimeIndex, inQemu, address },
    ganeti: null,
    message: `${id}${where} is ${onNode} but not in Ganeti's configuration`,
    meaning: stale
      ? `a leftover: Ganeti removed this ${kind === 'disk' ? 'disk' : 'NIC'} from its configuration and QEMU let it go, but the runtime file still lists it (Ganeti's hot-unplug ended as hotplug:failed); a migration target would be started with it`
      : `Ganeti does not know this ${kind === 'disk' ? 'disk' : 'NIC'}: it was added outside Ganeti (plugboard over QMP, QMP by hand) or left behind by a Ganeti removal whose hot-unplug failed (hotplug:failed); ${lost}`,
    action: stale
      ? `remove the entry on the node only: plugboard unplug ${kind} ${instance} ${id} --via qmp (QEMU has nothing left to unplug)`
      : `to keep it, add a ${kind === 'disk' ? 'disk' : 'NIC'} through Ganeti (plugboard hotplug ${kind} ${instance}${kind === 'disk' ? ' --size SIZE' : ''})${kind === 'disk' ? ' and copy the data over' : ''}; to drop it, unplug it on the node only: plugboard unplug ${kind} ${instance} ${id} --via qmp`,
    repair: { kind: 'unplug-on-node', device: kind, id },
  };
}

function notOnNode(instance: string, g: GanetiDisk | GanetiNic): GanetiMark {
  const isNic = 'mac' in g;
  const kind = isNic ? 'nic' : 'disk';
  const id = deviceId(kind, g.uuid);
  const what = isNic
    ? `Ganeti's nic.${g.index} (${g.mac}${g.name ? `, ${g.name}` : ''}, ${g.mode} ${g.link})`
    : `Ganeti's disk/${g.index} (${g.name ? `${g.name}, ` : ''}${g.size} MiB)`;
  const option = isNic ? `--net ${g.index}:remove` : `--disk ${g.index}:remove`;
  return {
    code: 'not-on-node',
    kind,
    id,
    uuid: g.uuid,
    node: null,
    ganeti: g,
    message: `${what} is in Ganeti's configuration but not on the node (no ${id} in the runtime file or QEMU)`,
    meaning: `Ganeti's hot-add of it failed (the job ended with hotplug:failed) or it was added without hotplug and waits for the next start: the guest does not have it now, Ganeti thinks it does`,
    action: `restart the instance through Ganeti (gnt-instance reboot ${instance}) to bring the node in line, or drop it from the configuration (gnt-instance modify --hotplug ${option} ${instance}), or hot-add it on the node only with Ganeti's UUID (plugboard's node-local repair)`,
    repair: isNic
      ? { kind: 'hot-add-on-node', device: 'nic', uuid: g.uuid, id, mac: g.mac, mode: g.mode, link: g.link, name: g.name }
      : { kind: 'hot-add-on-node', device: 'disk', uuid: g.uuid, id, size: g.size, name: g.name, path: g.path },
  };
}

/** Compares Ganeti's view of an instance with what this node has (see the module comment). */
export function compareWithGaneti(node: NodeSide, ganeti: GanetiInstance): GanetiComparison {
  const instance = ganeti.name;
  const notes: string[] = [];
  const rf = node.runtime;
  if (rf === null) {
    const here = node.nodeName !== undefined && node.nodeName === ganeti.primaryNode;
    const why =
      ganeti.status === 'running' || ganeti.operState === true
        ? here
          ? `Ganeti says ${instance} runs on this node (${ganeti.primaryNode}), but this node has no runtime file for it`
          : `${instance} runs on ${ganeti.primaryNode}${node.nodeName ? `, not on this node (${node.nodeName})` : ''}: open it there`
        : `${instance} is not running (Ganeti: ${ganeti.status}, primary node ${ganeti.primaryNode}): there is nothing on a node to compare`;
    return { instance, compared: false, notes: [why], devices: [], marks: [], ok: true };
  }
  if (node.nodeName !== undefined && node.nodeName !== ganeti.primaryNode) {
    notes.push(`Ganeti's primary node for ${instance} is ${ganeti.primaryNode}, but this node (${node.nodeName}) has its runtime file: a leftover of a migration or failover?`);
  }
  if (ganeti.adminState !== 'up') {
    notes.push(`Ganeti wants ${instance} ${ganeti.adminState} (status ${ganeti.status}), but this node runs it`);
  }

  const qemu = node.qemu;
  const qemuKinds = new Map<string, 'disk' | 'nic'>();
  for (const d of qemu?.devices ?? []) {
    const k = d.kind === 'other' ? kindOfId(d.id) : d.kind;
    if (k !== undefined) qemuKinds.set(d.id, k);
  }
  const inQemuOf = (id: string): boolean | undefined => (qemu === undefined ? undefined : qemuKinds.has(id));

  const devices: GanetiDeviceMatch[] = [];
  const marks: GanetiMark[] = [];
  const seenIds = new Set<string>();

  const compareKind = <G extends GanetiDisk | GanetiNic, R extends RuntimeDisk | RuntimeNic>(
    kind: 'disk' | 'nic',
    gDevices: G[],
    rDevices: R[],
    differences: (g: G, r: R) => AttributeDifference[],
  ) => {
    const byUuid = new Map(gDevices.map((g) => [g.uuid, g]));
    const byId = new Map(gDevices.map((g) => [deviceId(kind, g.uuid), g]));
    const matched = new Set<string>();
    // The runtime file's devices, in its order.
    for (const r of rDevices) {
      const id = idOf(kind, r);
      seenIds.add(id);
      let g = byUuid.get(r.uuid) ?? byId.get(id);
      let byMac = false;
      if (g === undefined && kind === 'nic') {
        const mac = (r as RuntimeNic).mac.toLowerCase();
        const candidates = gDevices.filter((x) => 'mac' in x && x.mac.toLowerCase() === mac && !matched.has(x.uuid));
        if (candidates.length === 1) {
          g = candidates[0];
          byMac = true;
        }
      }
      const inQemu = inQemuOf(id);
      if (g !== undefined && !matched.has(g.uuid)) {
        matched.add(g.uuid);
        devices.push({ kind, id, uuid: r.uuid, ganeti: g, label: ganetiLabel(g), runtimeIndex: r.index, inQemu, matchedByMac: byMac, differences: differences(g, r), mark: undefined });
      } else {
        const mark = notInGaneti(instance, kind, id, r.uuid, r.index, inQemu, addressOf(r.hvinfo));
        marks.push(mark);
        devices.push({ kind, id, uuid: r.uuid, ganeti: null, label: undefined, runtimeIndex: r.index, inQemu, matchedByMac: false, differences: [], mark: mark.code });
      }
    }
    // Devices QEMU has that the runtime file does not list.
    for (const [id, k] of qemuKinds) {
      if (k !== kind || seenIds.has(id)) continue;
      seenIds.add(id);
      const g = byId.get(id);
      if (g !== undefined && !matched.has(g.uuid)) {
        matched.add(g.uuid);
        devices.push({ kind, id, uuid: g.uuid, ganeti: g, label: ganetiLabel(g), runtimeIndex: null, inQemu: true, matchedByMac: false, differences: [], mark: undefined });
      } else {
        const mark = notInGaneti(instance, kind, id, undefined, null, true, undefined);
        marks.push(mark);
        devices.push({ kind, id, uuid: undefined, ganeti: null, label: undefined, runtimeIndex: null, inQemu: true, matchedByMac: false, differences: [], mark: mark.code });
      }
    }
    // Ganeti's devices the node has in neither place.
    for (const g of gDevices) {
      if (matched.has(g.uuid)) continue;
      const mark = notOnNode(instance, g);
      marks.push(mark);
      devices.push({ kind, id: mark.id, uuid: g.uuid, ganeti: g, label: ganetiLabel(g), runtimeIndex: null, inQemu: inQemuOf(mark.id), matchedByMac: false, differences: [], mark: mark.code });
    }
  };
  compareKind('disk', ganeti.disks, rf.disks, diskDifferences);
  compareKind('nic', ganeti.nics, rf.nics, nicDifferences);

  // Drives QEMU holds without a device, named like Ganeti's disks: left by a failed Ganeti hot-add.
  for (const d of qemu?.drives ?? []) {
    if (d.attached || !GANETI_ID.test(d.id) || !d.id.startsWith('disk-')) continue;
    notes.push(
      `QEMU holds drive ${d.id}${d.file ? ` (${d.file})` : ''} with no device: left by a Ganeti hot-add that failed after drive_add; ` +
        `it keeps the disk's file open until the instance restarts (HMP drive_del ${d.id} releases it) and a node-local hot-add with that id must remove it first`,
    );
  }
  for (const d of devices) {
    if (d.differences.length > 0) {
      notes.push(
        `${d.label ?? d.id}: Ganeti's configuration says ${d.differences.map((x) => `${x.field} ${x.ganeti}`).join(', ')}, the node ${d.differences.map((x) => `${x.field} ${x.node}`).join(', ')} (a change made without hotplug takes effect at the next start)`,
      );
    }
    if (d.matchedByMac) notes.push(`${d.id}: matched to Ganeti's ${d.label ?? ''} by MAC: the runtime file's NIC has no UUID of Ganeti's (an old runtime file)`);
  }
  return { instance, compared: true, notes, devices, marks, ok: marks.length === 0 };
}
