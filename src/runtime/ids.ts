/**
 * Device ids and block node names: how Ganeti derives them from UUIDs, and what QEMU accepts.
 */

import { randomUUID } from 'node:crypto';
import type { DeviceKind } from './types.js';

/** The design's limit for device ids (QEMU itself sets none). */
export const MAX_DEVICE_ID_LENGTH = 32;
/** QEMU: `Node name too long` above this (BLOCK_NODE_NAME_SIZE 32 with the NUL). */
export const MAX_NODE_NAME_LENGTH = 31;

/** Python's `s.rsplit(sep, maxsplit)[0]`. */
function rsplitFirst(s: string, sep: string, maxsplit: number): string {
  let out = s;
  for (let k = 0; k < maxsplit; k++) {
    const idx = out.lastIndexOf(sep);
    if (idx < 0) break;
    out = out.slice(0, idx);
  }
  return out;
}

/**
 * Ganeti `_GenerateDeviceKVMId`: `<disk|nic>-<uuid up to its third '-'>`
 * (`9e7c85f6-b6e5-4243-b27d-680b78c6d203` → `disk-9e7c85f6-b6e5-4243`).
 */
export function deviceId(kind: DeviceKind, uuid: string): string {
  return `${kind}-${rsplitFirst(uuid, '-', 2)}`;
}

/**
 * The id of a device upgraded from a legacy `pci` slot (Ganeti `_UpgradeSerializedRuntime`):
 * `hot<disk|nic>-<first uuid group>-pci-<slot>`, e.g. `hotdisk-9e7c85f6-pci-4`.
 */
export function legacyDeviceId(kind: DeviceKind, uuid: string, slot: number): string {
  return `hot${kind}-${uuid.split('-')[0] ?? ''}-pci-${slot}`;
}

const ID_CHARS = /^[A-Za-z0-9._-]*$/;

function checkIdentifier(what: string, id: string, max: number): string | null {
  if (id.length === 0) return `${what} is empty`;
  if (!/^[A-Za-z]/.test(id)) return `${what} ${JSON.stringify(id)} must start with a letter`;
  if (!ID_CHARS.test(id)) {
    const bad = [...id].find((c) => !/[A-Za-z0-9._-]/.test(c)) ?? '';
    return `${what} ${JSON.stringify(id)} may only hold letters, digits, '-', '.' and '_' (found ${JSON.stringify(bad)})`;
  }
  if (id.length > max) return `${what} ${JSON.stringify(id)} is ${id.length} characters long (at most ${max})`;
  return null;
}

/**
 * Why QEMU (or this design's 32-character rule) would refuse `id` as a device id, or null when it
 * is fine. QEMU: first character a letter, then letters, digits, `-`, `.`, `_`.
 */
export function checkQemuId(id: string): string | null {
  return checkIdentifier('device id', id, MAX_DEVICE_ID_LENGTH);
}

/** Why QEMU would refuse `name` as a block node name (same characters, at most 31), or null. */
export function checkNodeName(name: string): string | null {
  return checkIdentifier('block node name', name, MAX_NODE_NAME_LENGTH);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** A fresh random UUID (Ganeti `utils.NewUUID` reads the kernel's random v4 UUID; same form). */
export function newUuid(): string {
  return randomUUID();
}
