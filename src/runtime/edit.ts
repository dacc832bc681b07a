/**
 * Pure edits of a runtime file: each returns a new RuntimeFile (views re-derived, document
 * re-validated and frozen) and leaves its argument untouched. Unchanged parts of the document are
 * shared, not copied, so their exact formatting survives.
 *
 * As Ganeti's HotAddDevice/HotDelDevice do, a new device is appended to its list and a removed one
 * taken out of it (the other devices keep their order).
 */

import { InputError } from '../errors.js';
import { cloneJson } from './json.js';
import { runtimeFileFromDocument } from './load.js';
import type { Json, JsonObject, RuntimeFile } from './types.js';

type RawDoc = RuntimeFile['raw'];

export interface DiskEntry {
  /** The Disk object as Ganeti serializes it, with `uuid` and `hvinfo`. */
  disk: JsonObject;
  /** The disk symlink path (`/var/run/ganeti/instance-disks/NAME:IDX`). */
  link: string;
  /** Userspace URI, or null. */
  uri: string | null;
}

function rebuild(rf: RuntimeFile, raw: RawDoc): RuntimeFile {
  return runtimeFileFromDocument(raw as unknown as Json, {
    source: rf.source,
    instance: rf.instance,
    format: rf.format,
    upgrades: rf.upgrades,
  });
}

function hvinfoId(o: JsonObject): string | undefined {
  const h = o.hvinfo;
  if (h === null || typeof h !== 'object' || Array.isArray(h)) return undefined;
  return typeof h.id === 'string' ? h.id : undefined;
}

/** Every device id in the document (disks and NICs share QEMU's id namespace). */
function deviceIds(rf: RuntimeFile): Set<string> {
  const ids = new Set<string>();
  for (const d of rf.disks) {
    const id = hvinfoId(d.raw);
    if (id) ids.add(id);
  }
  for (const n of rf.nics) {
    const id = hvinfoId(n.raw);
    if (id) ids.add(id);
  }
  return ids;
}

function checkNew(rf: RuntimeFile, kind: 'disk' | 'NIC', dev: JsonObject): void {
  const uuid = dev.uuid;
  const list = kind === 'disk' ? rf.disks : rf.nics;
  if (typeof uuid === 'string' && list.some((d) => d.uuid === uuid)) {
    throw new InputError(`${rf.source}: a ${kind} with uuid ${uuid} is already in the runtime file`);
  }
  const id = hvinfoId(dev);
  if (id && deviceIds(rf).has(id)) {
    throw new InputError(`${rf.source}: a device with id ${id} is already in the runtime file`);
  }
}

function findIndex(rf: RuntimeFile, kind: 'disk' | 'NIC', uuidOrId: string): number {
  const list = kind === 'disk' ? rf.disks : rf.nics;
  const idx = list.findIndex((d) => d.uuid === uuidOrId || hvinfoId(d.raw) === uuidOrId);
  if (idx < 0) throw new InputError(`${rf.source}: no ${kind} with uuid or id ${uuidOrId} in the runtime file`);
  return idx;
}

/** Append a disk entry `[disk, link, uri]`. The disk object is copied. */
export function withDisk(rf: RuntimeFile, entry: DiskEntry): RuntimeFile {
  checkNew(rf, 'disk', entry.disk);
  const disks = [...rf.raw[3], [cloneJson(entry.disk), entry.link, entry.uri] as [JsonObject, string, string | null]];
  return rebuild(rf, [rf.raw[0], rf.raw[1], rf.raw[2], disks]);
}

/** Remove the disk whose uuid or hvinfo id is `uuidOrId`. */
export function withoutDisk(rf: RuntimeFile, uuidOrId: string): RuntimeFile {
  const idx = findIndex(rf, 'disk', uuidOrId);
  const disks = rf.raw[3].filter((_, i) => i !== idx);
  return rebuild(rf, [rf.raw[0], rf.raw[1], rf.raw[2], disks]);
}

/** Append a NIC object. It is copied. */
export function withNic(rf: RuntimeFile, nic: JsonObject): RuntimeFile {
  checkNew(rf, 'NIC', nic);
  const nics = [...rf.raw[1], cloneJson(nic)];
  return rebuild(rf, [rf.raw[0], nics, rf.raw[2], rf.raw[3]]);
}

/** Remove the NIC whose uuid or hvinfo id is `uuidOrId`. */
export function withoutNic(rf: RuntimeFile, uuidOrId: string): RuntimeFile {
  const idx = findIndex(rf, 'NIC', uuidOrId);
  const nics = rf.raw[1].filter((_, i) => i !== idx);
  return rebuild(rf, [rf.raw[0], nics, rf.raw[2], rf.raw[3]]);
}
