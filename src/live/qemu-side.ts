/**
 * What a running QEMU has, in the form Ganeti's comparison takes (src/ganeti/compare.ts): every
 * device with an id and whether it is a disk or a NIC, and the named drives (`-drive` / `drive_add`)
 * with whether a device uses them (a drive without one is what a failed Ganeti hot-add leaves).
 */
import type { QemuSide } from '../ganeti/compare.js';
import { roleOf } from './drivers.js';
import type { LiveState } from './probe.js';

export function qemuSideOf(live: LiveState): QemuSide {
  return {
    devices: live.peripherals.map((p) => {
      const role = roleOf(p.id, p.driver);
      return { id: p.id, kind: role === 'disk' ? 'disk' : role === 'nic' ? 'nic' : 'other' };
    }),
    drives: live.blocks.filter((b) => b.style === 'drive' && b.device !== '').map((b) => ({ id: b.device, attached: b.deviceId !== undefined, file: b.file })),
  };
}
