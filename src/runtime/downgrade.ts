/**
 * The seed's downgrade path (kvm-scsi-design.txt, "How to support downgrades?"): a runtime file
 * rewritten back to the form Ganeti wrote before the hvinfo design (2.15 and older), for a cluster
 * going back to such a Ganeti. Pure: the text of a runtime file in, the downgraded text or the
 * reasons it cannot be downgraded out. Reading, locking, the backup and the write are the use
 * case's (src/usecases/downgrade.ts).
 *
 * What Ganeti 2.15 expects (read from ganeti/ganeti v2.15.2, lib/hypervisor/hv_kvm/__init__.py and
 * lib/objects.py):
 * - `_AnalyzeSerializedRuntime` builds every NIC and disk with `objects.NIC.FromDict` /
 *   `objects.Disk.FromDict`, and `ValidatedSlots.__init__` raises TypeError for a key that is not
 *   one of the class's `__slots__`. 2.15 has no `hvinfo` slot: a file with hvinfo does not load at
 *   all (every migration, hotplug and hard reboot of the instance fails). Its slots are
 *   OLD_NIC_KEYS / OLD_DISK_KEYS below (the same as Ganeti 3.0's minus `hvinfo`).
 * - A device's place is its `pci` slot, an integer. The driver is not stored: at start (a migration
 *   target, a hard reboot) it comes from the runtime's `nic_type` / `disk_type`; every NIC with a
 *   slot becomes `-device <nic driver>,id=hotnic-<uuid[0:8]>-pci-<slot>,bus=pci.0,addr=<hex slot>`,
 *   a paravirtual disk `-device virtio-blk-pci,id=hotdisk-…-pci-<slot>,bus=pci.0,addr=…`; other
 *   disk types are `-drive if=<type>` and QEMU places them (their slot is only reserved).
 * - Its hot-unplug finds a device by that derived id (`_GenerateDeviceKVMId`).
 * - Ganeti 3.0 reads this form too (`_UpgradeSerializedRuntime`): it turns `pci` back into
 *   `hvinfo = {driver from disk_type/nic_type, id: hot<kind>-<uuid[0:8]>-pci-<slot>, addr, bus}`.
 *
 * So a device can be downgraded when the slot and the instance's type say everything hvinfo says:
 * it sits on `pci.0`, its driver is the one its type implies, and hvinfo holds nothing else.
 * Refused, with the reason: SCSI disks (2.15 has no SCSI device model: its `disk_type scsi` is
 * `-drive if=scsi`), devices on another bus, a driver that differs from the instance's type (a
 * disk or NIC hot-added with another type), hvinfo keys beyond driver/id/bus/addr, and keys that
 * Ganeti 2.15's objects do not have.
 *
 * What is lost: the id. QEMU keeps the ids it has (`disk-9e7c85f6-b6e5-4243`), while Ganeti 2.15
 * (and Ganeti 3.0 or plugboard reading the downgraded file) derive `hotdisk-9e7c85f6-pci-13`; a
 * hot-unplug by that id does not find the device until QEMU is started again from the file (a
 * restart or a migration). Devices whose id already is the derived one (files that came from the
 * old form) lose nothing.
 *
 * Everything else stays: kvm_cmd, hvparams and every other key of every device, value for value
 * (numbers as they were written, key order); a file Ganeti wrote (one line, `serializer.DumpJson`)
 * differs afterwards only where an `"hvinfo": {…}` became `"pci": N`.
 */

import { RuntimeFileError } from '../errors.js';
import { diskDriver, nicDriver, PCI_SLOTS } from './hvparams.js';
import { legacyDeviceId } from './ids.js';
import { describeValue, formatPath, type PathSegment } from './issues.js';
import { copyJsonHints, dumpJson, JsonSyntaxError, parseJson, setOwn } from './json.js';
import { MAX_RUNTIME_JSON_VALUES, parseRuntimeText } from './load.js';
import type { DeviceKind, Json, JsonObject, KnownHvparams } from './types.js';
import { PCI_BUS, SCSI_BUS } from './types.js';

/** The Ganeti version the downgraded file is for: the last one before the hvinfo design (2.16). */
export const DOWNGRADE_TARGET = 'Ganeti 2.15';

/** `objects.NIC.__slots__` of Ganeti 2.15.2 (`[name, mac, ip, network, nicparams, netinfo, pci] + _UUID`). */
export const OLD_NIC_KEYS: readonly string[] = ['name', 'mac', 'ip', 'network', 'nicparams', 'netinfo', 'pci', 'uuid'];

/** `objects.Disk.__slots__` of Ganeti 2.15.2 (with `_UUID` and `_TIMESTAMPS`). */
export const OLD_DISK_KEYS: readonly string[] = [
  'forthcoming',
  'name',
  'dev_type',
  'logical_id',
  'children',
  'nodes',
  'iv_name',
  'size',
  'mode',
  'params',
  'spindles',
  'pci',
  'serial_no',
  'dynamic_params',
  'uuid',
  'ctime',
  'mtime',
];

/** `disk_type` values Ganeti 2.15 knows (`HT_KVM_VALID_DISK_TYPES`); the scsi-* types came with 2.16. */
export const OLD_DISK_TYPES: readonly string[] = ['paravirtual', 'ide', 'scsi', 'sd', 'mtd', 'pflash'];

/** The hvinfo keys of a PCI device, which the slot and the instance's type can say again. */
const PCI_HVINFO_KEYS: readonly string[] = ['driver', 'id', 'bus', 'addr'];

/** Reasons listed per file (a hostile file may hold hundreds of devices). */
const MAX_LISTED_REASONS = 20;

/** One device the downgrade rewrites. */
export interface DowngradedDevice {
  kind: DeviceKind;
  /** `nics[0]`, `disks[1][0]`. */
  path: string;
  uuid: string | null;
  /** hvinfo.driver, or null for a device not on an explicit bus (`hvinfo: {}`). */
  driver: string | null;
  /** The id QEMU has: hvinfo.id, or null for `hvinfo: {}`. */
  id: string | null;
  /** The `pci` slot written, or null (`hvinfo: {}`: QEMU places the device itself, as before). */
  slot: number | null;
  /** The id Ganeti 2.15 derives from the slot (`hotdisk-9e7c85f6-pci-13`), null without a slot. */
  oldId: string | null;
  /** True when QEMU's id is the one Ganeti 2.15 derives, or there is no id to lose. */
  idKept: boolean;
}

/** Why a file (or one device of it) cannot be downgraded: `disks[0][0]: disk-… is a SCSI disk …`. */
export interface DowngradeRefusal {
  path: string;
  message: string;
}

export type DowngradePlan =
  | {
      status: 'downgrade';
      /** The downgraded file's text (one line of JSON and a newline, as Ganeti writes it). */
      text: string;
      devices: DowngradedDevice[];
      /** Things the operator should know that do not stop the downgrade. */
      notes: string[];
    }
  | { status: 'already-old'; message: string }
  | { status: 'refused'; reasons: DowngradeRefusal[] };

function isObject(v: Json | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

interface Context {
  hvparams: KnownHvparams;
  reasons: DowngradeRefusal[];
  notes: string[];
  devices: DowngradedDevice[];
}

/** Keys of `obj` (and, for disks, of its children, recursively) that Ganeti 2.15's objects lack. */
function checkOldKeys(obj: JsonObject, allowed: readonly string[], cls: 'NIC' | 'Disk', path: PathSegment[], ctx: Context, skip?: string): void {
  for (const k of Object.keys(obj)) {
    if (k === skip || allowed.includes(k)) continue;
    ctx.reasons.push({
      path: formatPath([...path, k]),
      message:
        `Ganeti 2.15's objects.${cls} has no slot ${JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k)}: ` +
        `it would refuse to load the file (TypeError: Object ${cls} doesn't support the parameter '${k.length > 40 ? `${k.slice(0, 40)}…` : k}')`,
    });
  }
  if (cls === 'Disk' && Array.isArray(obj.children)) {
    obj.children.forEach((child, i) => {
      if (isObject(child)) checkOldKeys(child, OLD_DISK_KEYS, 'Disk', [...path, 'children', i], ctx);
    });
  }
}

/**
 * The downgraded copy of one device object (NIC, or the Disk object of a disk entry), or the same
 * object when it has no hvinfo (already in the old form). Records the device, or the reasons.
 */
function downgradeDevice(dev: JsonObject, kind: DeviceKind, path: PathSegment[], ctx: Context): JsonObject {
  checkOldKeys(dev, kind === 'nic' ? OLD_NIC_KEYS : OLD_DISK_KEYS, kind === 'nic' ? 'NIC' : 'Disk', path, ctx, 'hvinfo');
  if (!Object.hasOwn(dev, 'hvinfo')) return dev;
  const at = formatPath(path);
  const h = dev.hvinfo as JsonObject;
  const uuid = typeof dev.uuid === 'string' ? dev.uuid : null;
  const reasonsBefore = ctx.reasons.length;
  const refuse = (message: string): void => void ctx.reasons.push({ path: at, message });

  let slot: number | null = null;
  let driver: string | null = null;
  let id: string | null = null;
  if (Object.keys(h).length > 0) {
    driver = h.driver as string;
    id = h.id as string;
    const bus = h.bus as string;
    const what = `${id} (${driver})`;
    if (bus === SCSI_BUS || Object.hasOwn(h, 'scsi-id')) {
      refuse(
        `${what} is a SCSI disk at ${bus} target ${describeValue(h['scsi-id'])}: the pre-hvinfo form holds only a PCI slot, ` +
          `and Ganeti before 2.16 has no SCSI device model (its disk_type scsi is QEMU's -drive if=scsi)`,
      );
    } else if (bus !== PCI_BUS) {
      refuse(`${what} is on bus ${describeValue(bus)}: the pre-hvinfo form holds only a slot on ${PCI_BUS}`);
    } else {
      const extra = Object.keys(h).filter((k) => !PCI_HVINFO_KEYS.includes(k));
      if (extra.length > 0) {
        refuse(
          `${what} has hvinfo ${extra.map((k) => `${k}=${describeValue(h[k])}`).join(', ')}: the pre-hvinfo form cannot hold ` +
            `${extra.length === 1 ? 'it' : 'them'} (Ganeti before 2.16 builds -device from the slot and the instance's type alone)`,
        );
      }
      const typeName = kind === 'disk' ? 'disk_type' : 'nic_type';
      const type = kind === 'disk' ? ctx.hvparams.disk_type : ctx.hvparams.nic_type;
      const expected = kind === 'disk' ? diskDriver(type) : nicDriver(type);
      if (driver !== expected) {
        refuse(
          `${what}: the instance's ${typeName} is ${type}, which makes a ${kind === 'disk' ? 'disk' : 'NIC'} ${expected}; ` +
            `the pre-hvinfo form has no driver, so Ganeti before 2.16 (and Ganeti 3.0 reading the file back) would start this one as ${expected}`,
        );
      }
      slot = parseInt((h.addr as string).slice(2), 16);
      if (!(slot >= 0 && slot < PCI_SLOTS)) refuse(`${what}: addr ${describeValue(h.addr)} is not a slot of ${PCI_BUS}`);
    }
  }
  if (ctx.reasons.length > reasonsBefore) return dev;

  if (Object.hasOwn(dev, 'pci') && dev.pci !== slot) {
    ctx.notes.push(
      `${at}: also held a stale "pci": ${describeValue(dev.pci)} (hvinfo wins, as in Ganeti 3.0); ` +
        (slot === null ? 'removed' : `replaced by ${slot}`),
    );
  }
  // hvinfo's place in the object becomes pci's (in Ganeti's slot order pci comes just before hvinfo).
  const out: JsonObject = {};
  for (const k of Object.keys(dev)) {
    if (k === 'pci') continue;
    if (k === 'hvinfo') {
      if (slot !== null) out.pci = slot;
      continue;
    }
    setOwn(out, k, dev[k] as Json);
  }
  copyJsonHints(dev, out);
  const oldId = slot !== null && uuid !== null ? legacyDeviceId(kind, uuid, slot) : null;
  ctx.devices.push({
    kind,
    path: at,
    uuid,
    driver,
    id,
    slot,
    oldId,
    idKept: id === null || id === oldId,
  });
  return out;
}

/**
 * Plan the downgrade of the runtime file `text` (read from `source`, for messages). The file is
 * first read as plugboard reads any runtime file (parseRuntimeText: a file it cannot read throws
 * RuntimeFileError, exit 2); the rewrite then works on the document as written, legacy parts
 * included (a NIC without uuid stays so: Ganeti 2.15 gives it one as it loads).
 */
export function planDowngrade(text: string, source: string, instance?: string): DowngradePlan {
  const rf = parseRuntimeText(text, source, instance);
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let doc: Json;
  try {
    doc = parseJson(body, { maxValues: MAX_RUNTIME_JSON_VALUES });
  } catch (err) {
    // parseRuntimeText read the same text; kept for the type checker and for safety.
    if (err instanceof JsonSyntaxError) throw new RuntimeFileError(source, [{ path: '', message: err.message }], { cause: err });
    throw err;
  }
  const arr = doc as Json[];
  const nics = arr[1] as JsonObject[];
  const disks = (arr.length >= 4 ? arr[3] : []) as [JsonObject, string, string | null][];
  const hadHvinfo = nics.some((n) => Object.hasOwn(n, 'hvinfo')) || disks.some((e) => Object.hasOwn(e[0], 'hvinfo'));

  const ctx: Context = { hvparams: rf.hvparams, reasons: [], notes: [], devices: [] };
  const newNics = nics.map((n, i) => downgradeDevice(n, 'nic', ['nics', i], ctx));
  const newDisks = disks.map((entry, i) => {
    const d = downgradeDevice(entry[0], 'disk', ['disks', i, 0], ctx);
    if (d === entry[0]) return entry;
    const e: [JsonObject, string, string | null] = [d, entry[1], entry[2]];
    copyJsonHints(entry, e);
    return e;
  });

  if (disks.length > 0 && !OLD_DISK_TYPES.includes(rf.hvparams.disk_type) && !ctx.reasons.some((r) => r.path.startsWith('disks'))) {
    ctx.reasons.push({
      path: 'hvparams.disk_type',
      message:
        `${rf.hvparams.disk_type} came with Ganeti 2.16: ${DOWNGRADE_TARGET} would start these disks as -drive if=${rf.hvparams.disk_type}, ` +
        `which QEMU refuses (${DOWNGRADE_TARGET} knows ${OLD_DISK_TYPES.join(', ')})`,
    });
  }
  if (ctx.reasons.length > 0) {
    const reasons = ctx.reasons.slice(0, MAX_LISTED_REASONS);
    if (ctx.reasons.length > MAX_LISTED_REASONS) {
      reasons.push({ path: '', message: `and ${ctx.reasons.length - MAX_LISTED_REASONS} more reasons not listed` });
    }
    return { status: 'refused', reasons };
  }
  if (!hadHvinfo) {
    const what = nics.length + disks.length === 0 ? 'it has no NICs or disks' : 'no NIC or disk has hvinfo';
    return {
      status: 'already-old',
      message: `already in the pre-hvinfo form (${what}): nothing to downgrade; ${DOWNGRADE_TARGET} reads it as it is`,
    };
  }

  if (disks.length === 0 && !OLD_DISK_TYPES.includes(rf.hvparams.disk_type)) {
    ctx.notes.push(
      `disk_type ${rf.hvparams.disk_type} came with Ganeti 2.16: a disk that ${DOWNGRADE_TARGET} hot-adds to this instance ` +
        `would be started as -drive if=${rf.hvparams.disk_type} on a migration target; set a disk_type ${DOWNGRADE_TARGET} knows ` +
        `(${OLD_DISK_TYPES.join(', ')}) in the cluster's configuration`,
    );
  }
  for (const d of ctx.devices) {
    if (d.slot === null) {
      ctx.notes.push(`${d.path}: hvinfo was {} (not on an explicit bus): removed, and no slot written; QEMU places the device itself`);
    }
  }

  const out: Json[] = [arr[0] as Json, newNics, arr[2] as Json];
  if (arr.length >= 4) out.push(newDisks);
  copyJsonHints(arr, out);
  return { status: 'downgrade', text: `${dumpJson(out)}\n`, devices: ctx.devices, notes: ctx.notes };
}

/** What a downgraded instance loses, or null when it loses nothing. */
export function lossOf(devices: readonly DowngradedDevice[]): string | null {
  const lost = devices.filter((d) => !d.idKept);
  if (lost.length === 0) return null;
  const now = lost.map((d) => d.id).join(', ');
  const then = lost.map((d) => d.oldId).join(', ');
  const these = lost.length === 1 ? 'this device' : 'these devices';
  return (
    `QEMU keeps the ids it has (${now}), while ${DOWNGRADE_TARGET} derives ${then} from the slots: its hot-unplug ` +
    `(and NIC hot-modify) of ${these} will not find ${lost.length === 1 ? 'it' : 'them'} until the instance is restarted or migrated ` +
    '(QEMU is then started from the downgraded file, with those ids). Ganeti 3.0 and plugboard read the file with those ids too: ' +
    `until then plugboard refuses to unplug ${these}, and its show --live and check report ${lost.length === 1 ? 'it' : 'them'} as drift ` +
    '(the slots are right: a migration works)'
  );
}
