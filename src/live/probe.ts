/**
 * What a running QEMU really has on its buses: PCI slots of `pci.0`, the devices with an id, the
 * SCSI targets, the block backends and the SCSI controller. Read over QMP in two pipelined round
 * trips (query-pci + qom-list + query-block together, then the qom-gets of the SCSI devices'
 * addresses together) and validated: QEMU's replies are input too, so a reply of an unexpected
 * shape is a LiveProbeError naming the command and the place, never a crash further down (the
 * checks are in reply-checks.ts).
 * An action reads only what its plan needs (ProbeOptions.scope).
 */
import { QmpCommandError } from '../qmp/errors.js';
import { parseFdsets, type FdsetInfo } from '../qmp/fdpass/plan.js';
import { scsiControllerInfo } from '../bus/controllers.js';
import { LiveProbeError, parseReply } from './reply-checks.js';
import type { RuntimeFile } from '../runtime/types.js';

/** What the probe needs of a QMP connection (`QmpClient` has it). */
export interface QmpExecutor {
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<T>;
}

export interface ProbeOptions {
  /** Reply timeout for each command (the client's default otherwise). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * What to read (default `all`: everything, for `check`, `show --live`, the TUI and previews).
   * - `backends`: only what backs each device (query-block): an unplug, whose `device_del` then
   *   tells by its answer whether QEMU has the device;
   *
   * the others read which devices QEMU has and what backs them (qom-list /machine/peripheral and
   * query-block), then
   * - `devices`: nothing more (one round trip) — an unplug whose device QEMU said it does not have;
   * - `pci`: query-pci too, in the same round trip, but no SCSI addresses — a PCI hot-add;
   * - `scsi`: the SCSI addresses, but no query-pci — a SCSI hot-add. Addresses in `knownScsi`
   *   (the runtime file's hvinfo) are taken as given for the SCSI devices QEMU lists under those
   *   ids; only the others are asked (qom-get). QEMU is the arbiter of a taken address: a device
   *   the runtime file places wrongly makes QEMU refuse the `device_add`, and the executor then
   *   probes everything and plans again.
   * - `overview`: everything `all` reads, except that the SCSI addresses of the devices in
   *   `knownScsi` are taken as given, as with `scsi`: the list of instances, refreshed every few
   *   seconds for every instance. A device moved by hand to another address under the same id is
   *   seen by what reads everything (the instance screen, `show --live`, `check`), and a hot-add
   *   onto its address is refused by QEMU and planned again.
   * The parts not read are empty and named in `LiveState.skipped`: nothing may conclude from them
   * (no PCI function, no SCSI device) what QEMU does not have.
   */
  scope?: 'all' | 'backends' | 'devices' | 'pci' | 'scsi' | 'overview';
  /** For scopes `scsi` and `overview`: the SCSI address of each device the runtime file describes, by device id. */
  knownScsi?: ReadonlyMap<string, KnownScsiAddress>;
  /**
   * Also `query-fdsets` and `query-status`, in the first round trip (file-descriptor passing: the
   * fdset a disk hot-add takes, and whether QEMU runs — a paused QEMU 7.2 keeps removed descriptors).
   */
  fdsets?: boolean;
}

/** A SCSI address as the runtime file gives it (hvinfo `bus`, `channel`, `scsi-id`, `lun`). */
/** The SCSI address of every disk and NIC whose hvinfo has one, by device id (ProbeOptions.knownScsi). */
export function knownScsiAddresses(rf: RuntimeFile): Map<string, KnownScsiAddress> {
  const known = new Map<string, KnownScsiAddress>();
  for (const d of [...rf.disks, ...rf.nics]) {
    const h = d.hvinfo;
    if (!('scsi-id' in h) || typeof h.id !== 'string' || typeof h.bus !== 'string') continue;
    known.set(h.id, { bus: h.bus, channel: h.channel, scsiId: h['scsi-id'], lun: h.lun });
  }
  return known;
}

export interface KnownScsiAddress {
  bus: string;
  channel: number;
  scsiId: number;
  lun: number;
}

/** One function of a device on `pci.0` (bus 0 of `query-pci`). */
export interface LivePciFunction {
  slot: number;
  function: number;
  /** The device id; '' for devices without one (QEMU's own, or added without `id`). */
  qdevId: string;
  /** QEMU driver (QOM type, e.g. `virtio-blk-pci`, `lsi53c895a`) when the device has an id. */
  driver: string | undefined;
  /** PCI class code (`0x100` SCSI, `0x200` Ethernet…) and QEMU's words for it, when it has some. */
  classCode: number;
  classDesc: string | undefined;
  vendorId: number;
  deviceId: number;
}

/** A device with an id (`/machine/peripheral/ID`). */
export interface LivePeripheral {
  id: string;
  /** QEMU driver = QOM type (`scsi-hd`, `virtio-net-pci`, `lsi53c895a`…). */
  driver: string;
}

/** A SCSI device (scsi-hd, scsi-cd, scsi-block, scsi-generic, scsi-disk) and where it sits. */
export interface LiveScsiDevice {
  id: string;
  driver: string;
  /** Bus name, as `bus=` takes it: `scsi.0`. */
  bus: string;
  /** Id of the controller that owns the bus (`scsi`), when it has one. */
  controllerId: string | undefined;
  channel: number;
  /** The target (`scsi-id`). */
  scsiId: number;
  lun: number;
}

/** A block backend attached to a device (`query-block`: unattached nodes are not listed). */
export interface LiveBlock {
  /** Named drive (`-drive …,id=D`, HMP `drive_add`): its name; '' for a `-blockdev`/`blockdev-add` node. */
  device: string;
  /** `named drive` vs `blockdev node`, from `device`. */
  style: 'drive' | 'blockdev';
  /** QEMU's `qdev`: `ID` (scsi-hd) or `/machine/peripheral/ID/virtio-backend` (virtio-blk). */
  qdev: string | undefined;
  /** The device id `qdev` names, when it is a device with an id. */
  deviceId: string | undefined;
  /** Top node name (a generated `#blockNNN` for named drives). */
  nodeName: string | undefined;
  /** The image file, when a medium is inserted. */
  file: string | undefined;
}

/** The SCSI controller with id `scsi`, which creates bus `scsi.0`. */
export interface LiveController {
  id: 'scsi';
  /** QOM type: `lsi53c895a`, `megasas`, `virtio-scsi-pci`, `dc390`… */
  driver: string;
  /** The `scsi_controller_type` value it corresponds to (`lsi` for lsi53c895a), or the QOM type. */
  type: string;
  bus: 'scsi.0';
  /** Highest scsi-id it accepts, when known for the type (src/bus/controllers.ts). */
  maxTarget: number | undefined;
  /** Its PCI slot on pci.0, when it is there. */
  slot: number | undefined;
}

export interface LiveState {
  /** Functions of the devices on pci.0, in query-pci order. */
  pci: LivePciFunction[];
  /** Every device with an id. */
  peripherals: LivePeripheral[];
  scsi: LiveScsiDevice[];
  blocks: LiveBlock[];
  controller: LiveController | null;
  /** Things the probe noticed and worked around (a device that vanished while probing…). */
  notes: string[];
  /**
   * Parts not read (ProbeOptions.scope): their lists are empty without meaning it (`peripherals`:
   * neither the devices nor, so, the controller were asked).
   */
  skipped?: readonly ('pci' | 'scsi' | 'peripherals')[];
  /**
   * SCSI devices whose address in `scsi` is the runtime file's (ProbeOptions.knownScsi), not read
   * from QEMU: QEMU lists a SCSI device under that id, but may have it elsewhere.
   */
  scsiFromFile?: readonly string[];
  /** QEMU's fdsets (`query-fdsets`), when asked (ProbeOptions.fdsets). */
  fdsets?: FdsetInfo[];
  /** Whether the guest runs (`query-status`), when asked with the fdsets. */
  running?: boolean;
}

/** Device types that sit on a SCSI bus (and so have scsi-id/lun/channel). */
export const SCSI_DEVICE_TYPES: readonly string[] = ['scsi-hd', 'scsi-cd', 'scsi-block', 'scsi-generic', 'scsi-disk'];

/** The SCSI bus of Ganeti's controller (`-device TYPE,id=scsi`) as qom-get `parent_bus` names it. */
const GANETI_SCSI_BUS_PATH = '/machine/peripheral/scsi/scsi.0';

/** QOM type of a controller → the `scsi_controller_type` value it stands for. Others map to themselves. */
const CONTROLLER_TYPE_OF_QOM: Readonly<Record<string, string>> = { lsi53c895a: 'lsi' };

/** The replies the probe reads, as QEMU returned them (the `return` values). */
export interface LiveReplies {
  queryPci: unknown;
  /** `qom-list /machine/peripheral`. */
  qomList: unknown;
  queryBlock: unknown;
  /**
   * `qom-get /machine/peripheral/ID PROP` by device id, for PROP in parent_bus, scsi-id, and lun
   * and channel unless the bus's controller only has lun 0 / channel 0.
   */
  scsiProps: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Devices listed by qom-list that vanished before their properties were read. */
  vanished?: readonly string[];
  /** Parts not asked (ProbeOptions.scope): `queryPci`, `scsiProps`, `qomList` are then not read. */
  skipped?: readonly ('pci' | 'scsi' | 'peripherals')[];
  /** Addresses taken from the runtime file for SCSI devices not in `scsiProps` (ProbeOptions.knownScsi). */
  knownScsi?: ReadonlyMap<string, KnownScsiAddress>;
}

/** `child<scsi-hd>` → `scsi-hd`; other property kinds (`string`, `link<…>`) → undefined. */
function childType(type: string): string | undefined {
  const m = /^child<(.+)>$/.exec(type);
  return m?.[1];
}

/** `qdev` of query-block → the device id it names (undefined for devices without id). */
export function deviceIdOfQdev(qdev: string | undefined): string | undefined {
  if (qdev === undefined || qdev === '') return undefined;
  if (!qdev.includes('/')) return qdev;
  const m = /^\/machine\/peripheral\/([^/]+)(?:\/.*)?$/.exec(qdev);
  return m?.[1];
}

/** `/machine/peripheral/scsi/scsi.0`, `/machine/peripheral/scsi/virtio-backend/scsi.0` → bus and controller id. */
function parseParentBus(path: string): { bus: string; controllerId: string | undefined } {
  const parts = path.split('/').filter((p) => p !== '');
  const bus = parts[parts.length - 1] ?? path;
  const controllerId = parts[0] === 'machine' && parts[1] === 'peripheral' ? parts[2] : undefined;
  return { bus, controllerId };
}

/** Builds the LiveState from the replies (pure; the unit tests feed recorded replies). */
export function parseLiveReplies(replies: LiveReplies): LiveState {
  const pciAll = replies.skipped?.includes('pci') ? [] : parseReply('queryPci', replies.queryPci, 'query-pci');
  const list = replies.skipped?.includes('peripherals') ? [] : parseReply('qomList', replies.qomList, 'qom-list /machine/peripheral');
  const blocksRaw = parseReply('queryBlock', replies.queryBlock, 'query-block');
  const vanished = new Set(replies.vanished ?? []);
  const notes: string[] = [];
  for (const id of vanished) notes.push(`${id} disappeared while probing (an unplug completing?)`);

  const peripherals: LivePeripheral[] = [];
  for (const p of list) {
    const driver = childType(p.type);
    if (driver === undefined || vanished.has(p.name)) continue;
    peripherals.push({ id: p.name, driver });
  }
  const driverOf = new Map(peripherals.map((p) => [p.id, p.driver]));

  const bus0 = pciAll.find((b) => b.bus === 0);
  const pci: LivePciFunction[] = (bus0?.devices ?? [])
    .filter((d) => d.bus === 0 && !vanished.has(d.qdev_id))
    .map((d) => ({
      slot: d.slot,
      function: d.function,
      qdevId: d.qdev_id,
      driver: d.qdev_id === '' ? undefined : driverOf.get(d.qdev_id),
      classCode: d.class_info.class,
      classDesc: d.class_info.desc,
      vendorId: d.id.vendor,
      deviceId: d.id.device,
    }));

  const scsi: LiveScsiDevice[] = [];
  const scsiFromFile: string[] = [];
  const skipped = replies.skipped ?? [];
  for (const p of peripherals) {
    if (!SCSI_DEVICE_TYPES.includes(p.driver) || skipped.includes('scsi')) continue;
    const props = replies.scsiProps[p.id];
    const known = props === undefined ? replies.knownScsi?.get(p.id) : undefined;
    if (known !== undefined) {
      // Ganeti's bus scsi.0 is the one of its controller `scsi`.
      const controllerId = known.bus === 'scsi.0' ? 'scsi' : undefined;
      scsi.push({ id: p.id, driver: p.driver, bus: known.bus, controllerId, channel: known.channel, scsiId: known.scsiId, lun: known.lun });
      scsiFromFile.push(p.id);
      continue;
    }
    if (props === undefined) {
      throw new LiveProbeError(`plugboard did not read the SCSI address of ${p.id} (internal: qom-get replies missing)`);
    }
    const v = parseReply('scsiProps', props, `qom-get /machine/peripheral/${p.id}`);
    const { bus, controllerId } = parseParentBus(v.parent_bus);
    const part = (property: 'lun' | 'channel'): number => {
      const value = v[property];
      if (value !== undefined) return value;
      if (onlyZero(v.parent_bus, property, driverOf)) return 0;
      throw new LiveProbeError(`plugboard did not read the SCSI ${property} of ${p.id} (internal: qom-get reply missing)`);
    };
    scsi.push({ id: p.id, driver: p.driver, bus, controllerId, channel: part('channel'), scsiId: v['scsi-id'], lun: part('lun') });
  }

  const blocks: LiveBlock[] = blocksRaw
    .filter((b) => !vanished.has(deviceIdOfQdev(b.qdev) ?? ''))
    .map((b) => ({
      device: b.device,
      style: b.device === '' ? 'blockdev' : 'drive',
      qdev: b.qdev,
      deviceId: deviceIdOfQdev(b.qdev),
      nodeName: b.inserted?.['node-name'],
      file: b.inserted?.file,
    }));

  let controller: LiveController | null = null;
  const ctl = driverOf.get('scsi');
  if (ctl !== undefined) {
    const type = CONTROLLER_TYPE_OF_QOM[ctl] ?? ctl;
    controller = {
      id: 'scsi',
      driver: ctl,
      type,
      bus: 'scsi.0',
      maxTarget: scsiControllerInfo(ctl)?.maxTarget,
      slot: pci.find((f) => f.qdevId === 'scsi')?.slot,
    };
  }

  return {
    pci,
    peripherals,
    scsi,
    blocks,
    controller,
    notes,
    ...(skipped.length > 0 ? { skipped } : {}),
    ...(scsiFromFile.length > 0 ? { scsiFromFile } : {}),
  };
}

/**
 * Whether every device on this bus has lun (channel) 0: its controller is a device with an id, of a
 * type whose `maxLun` (`maxChannel`) is 0 (lsi: lun and channel; megasas, virtio-scsi-pci, dc390:
 * channel; QEMU 7.2 refuses other values). Then the probe does not ask for it.
 */
function onlyZero(parentBus: string, property: 'lun' | 'channel', driverOf: ReadonlyMap<string, string>): boolean {
  const { controllerId } = parseParentBus(parentBus);
  const driver = controllerId === undefined ? undefined : driverOf.get(controllerId);
  const info = driver === undefined ? undefined : scsiControllerInfo(driver);
  return (property === 'lun' ? info?.maxLun : info?.maxChannel) === 0;
}

/**
 * Asks QEMU what it has. QEMU 7.2 serves one command at a time (without OOB it stops reading the
 * monitor until it has answered) and reads its QMP socket ONE BYTE per main-loop iteration
 * (2–15 µs of QEMU's time per byte sent, depending on the node's load: docs/qemu-ganeti-facts.md,
 * "QMP's cost is in the bytes"), so the cost is
 * the bytes of the commands more than the round trips; the probe sends few: query-pci, qom-list
 * /machine/peripheral and query-block; then per SCSI device qom-get of parent_bus and scsi-id, with
 * lun and channel only where the controller accepts others than 0 (lsi: neither; megasas,
 * virtio-scsi-pci, dc390: lun). Commands of a step are sent together: two round trips in all.
 * `options.scope` reads less (see ProbeOptions).
 *
 * A device that disappears between the steps (DeviceNotFound: an unplug completing) is left out
 * and noted. Other refusals and malformed replies → LiveProbeError; connection problems
 * (timeouts, closed socket) are thrown as the client raised them.
 */
export async function probeLive(qmp: QmpExecutor, options: ProbeOptions = {}): Promise<LiveState> {
  if (!options.fdsets) return probeBuses(qmp, options);
  // Sent first, in the same write as the buses' queries.
  const fd = probeFdState(qmp, options);
  fd.catch(() => undefined);
  const live = await probeBuses(qmp, options);
  return { ...live, ...(await fd) };
}

/**
 * QEMU's fdsets and whether the guest runs (`query-fdsets`, `query-status`: one round trip), for a
 * hot-add that passes a disk by descriptor.
 */
export async function probeFdState(qmp: QmpExecutor, options: Pick<ProbeOptions, 'timeoutMs' | 'signal'> = {}): Promise<{ fdsets: FdsetInfo[]; running: boolean | undefined }> {
  const call = { timeoutMs: options.timeoutMs, signal: options.signal };
  const [fdsets, status] = await Promise.allSettled([qmp.execute('query-fdsets', undefined, call), qmp.execute('query-status', undefined, call)]);
  if (fdsets.status === 'rejected') throw refusal(fdsets.reason, 'query-fdsets');
  if (status.status === 'rejected') throw refusal(status.reason, 'query-status');
  const running = typeof status.value === 'object' && status.value !== null ? (status.value as Record<string, unknown>)['running'] : undefined;
  return { fdsets: parseFdsets(fdsets.value), running: typeof running === 'boolean' ? running : undefined };
}

async function probeBuses(qmp: QmpExecutor, options: ProbeOptions): Promise<LiveState> {
  const call = { timeoutMs: options.timeoutMs, signal: options.signal };
  const scope = options.scope ?? 'all';
  if (scope === 'backends') {
    let queryBlock: unknown;
    try {
      queryBlock = await qmp.execute('query-block', undefined, call);
    } catch (error) {
      throw refusal(error, 'query-block');
    }
    return parseLiveReplies({ queryPci: [], qomList: [], queryBlock, scsiProps: {}, skipped: ['pci', 'scsi', 'peripherals'] });
  }
  const withPci = scope === 'all' || scope === 'pci' || scope === 'overview';
  const queries: { what: string; command: string; args?: Record<string, unknown> }[] = [
    ...(withPci ? [{ what: 'query-pci', command: 'query-pci' }] : []),
    { what: 'qom-list /machine/peripheral', command: 'qom-list', args: { path: '/machine/peripheral' } },
    { what: 'query-block', command: 'query-block' },
  ];
  const first = await Promise.allSettled(queries.map((q) => qmp.execute(q.command, q.args, call)));
  const replies = first.map((r, i) => {
    if (r.status === 'fulfilled') return r.value;
    throw refusal(r.reason, queries[i]!.what);
  });
  const [queryPci, qomList, queryBlock] = withPci ? replies : [[], ...replies];
  if (scope === 'devices' || scope === 'pci') {
    return parseLiveReplies({ queryPci, qomList, queryBlock, scsiProps: {}, skipped: scope === 'devices' ? ['pci', 'scsi'] : ['scsi'] });
  }

  const list = parseReply('qomList', qomList, 'qom-list /machine/peripheral');
  const driverOf = new Map<string, string>();
  for (const p of list) {
    const t = childType(p.type);
    if (t !== undefined) driverOf.set(p.name, t);
  }
  const known = scope === 'scsi' || scope === 'overview' ? options.knownScsi : undefined;
  const ids = list
    .filter((p) => SCSI_DEVICE_TYPES.includes(childType(p.type) ?? '') && known?.has(p.name) !== true)
    .map((p) => p.name);
  const { scsiProps, vanished } = await askScsiAddresses(qmp, ids, driverOf, call);
  return parseLiveReplies({
    queryPci,
    qomList,
    queryBlock,
    scsiProps,
    vanished,
    ...(scope === 'scsi' ? { skipped: ['pci'] as const } : {}),
    ...(known ? { knownScsi: known } : {}),
  });
}

/**
 * The SCSI address of each device in `ids` (qom-get of its properties, all in one round trip, a
 * second one only for a device found on a bus whose lun/channel were not asked).
 */
async function askScsiAddresses(
  qmp: QmpExecutor,
  ids: readonly string[],
  driverOf: ReadonlyMap<string, string>,
  call: { timeoutMs?: number; signal?: AbortSignal },
): Promise<{ scsiProps: Record<string, Record<string, unknown>>; vanished: string[] }> {
  const scsiProps: Record<string, Record<string, unknown>> = {};
  const vanished = new Set<string>();

  const ask = async (wanted: { id: string; property: string }[]): Promise<void> => {
    const settled = await Promise.allSettled(
      wanted.map(({ id, property }) => qmp.execute('qom-get', { path: `/machine/peripheral/${id}`, property }, call)),
    );
    settled.forEach((r, i) => {
      const { id, property } = wanted[i]!;
      if (r.status === 'fulfilled') {
        (scsiProps[id] ??= {})[property] = r.value;
      } else if (r.reason instanceof QmpCommandError && r.reason.errorClass === 'DeviceNotFound') {
        vanished.add(id);
      } else {
        throw refusal(r.reason, `qom-get /machine/peripheral/${id} ${property}`);
      }
    });
  };
  if (ids.length === 0) return { scsiProps, vanished: [] };

  // lun and channel are asked together with the address when the bus the device is most likely on
  // (Ganeti's controller `scsi`: scsi.0) may have others than 0; a device found on another bus gets
  // what its bus needs in one more step (rare: Ganeti puts every SCSI disk on scsi.0).
  const LUN_CHANNEL = ['lun', 'channel'] as const;
  const predicted = LUN_CHANNEL.filter((property) => !onlyZero(GANETI_SCSI_BUS_PATH, property, driverOf));
  await ask(ids.flatMap((id) => ['parent_bus', 'scsi-id', ...predicted].map((property) => ({ id, property }))));
  const more = ids.flatMap((id) => {
    if (vanished.has(id)) return [];
    const bus = scsiProps[id]?.['parent_bus'];
    return LUN_CHANNEL.filter(
      (property) => !predicted.includes(property) && (typeof bus !== 'string' || !onlyZero(bus, property, driverOf)),
    ).map((property) => ({ id, property }));
  });
  if (more.length > 0) await ask(more);
  return { scsiProps, vanished: [...vanished] };
}

/** QEMU refusing a query is unexpected (all exist in 7.2): say which; other errors pass unchanged. */
function refusal(reason: unknown, what: string): unknown {
  if (reason instanceof QmpCommandError) {
    return new LiveProbeError(`QEMU refused ${what} while probing: ${reason.desc} (${reason.errorClass})`, {
      cause: reason,
    });
  }
  return reason;
}
