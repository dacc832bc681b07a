/**
 * Driver names as the runtime file writes them vs as QEMU reports them (QOM types):
 * `-device lsi` is `lsi53c895a`, `virtio-net` is `virtio-net-pci`, `e1000-82540em` is `e1000`.
 * The tables are src/bus/controllers.ts's; this adds the live layer's use of them.
 */
import { canonicalDriver, driverInfo } from '../bus/controllers.js';
import type { DeviceRole } from '../bus/types.js';

/** The QOM type QEMU reports for a `-device`/`device_add` driver name. */
export function qomTypeOf(driver: string): string {
  return canonicalDriver(driver);
}

/** Whether two driver names mean the same QEMU device type. */
export function sameDriver(a: string, b: string): boolean {
  return canonicalDriver(a) === canonicalDriver(b);
}

/** Ganeti-style device ids: `disk-…`, `nic-…` and the upgraded legacy `hotdisk-…`, `hotnic-…`. */
export const GANETI_ID = /^(?:hot)?(disk|nic)-/;

/** The role of a live device, from its id (Ganeti's prefixes, `scsi`) or else its driver. */
export function roleOf(id: string, driver: string | undefined): DeviceRole {
  const m = GANETI_ID.exec(id);
  if (m) return m[1] === 'disk' ? 'disk' : 'nic';
  if (id === 'scsi') return 'controller';
  if (driver === undefined) return 'other';
  return driverInfo(driver).role;
}

/** `0xd` for 13: how Ganeti writes a PCI address. */
export function hexSlot(slot: number): string {
  return `0x${slot.toString(16)}`;
}
