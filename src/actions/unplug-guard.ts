import { RefusedError } from '../errors.js';
import type { LiveState } from '../live/probe.js';
import type { Allocation } from './types.js';

/**
 * An unplug of a device QEMU does not have by the runtime file's id normally means it is already
 * gone (a pending unplug the guest acknowledged later, a `system_reset`): the plan then only removes
 * the file's entry. But when QEMU has ANOTHER device at the place the file gives it (the same PCI
 * slot, or the same SCSI target), the file and QEMU name the same device differently — a runtime
 * file downgraded by `plugboard downgrade` while QEMU kept the ids it was started with (the old form
 * has no ids; readers derive `hotdisk-…-pci-N`), or one edited by hand — and removing the entry would
 * drop a device QEMU still has from what a migration target is started with. Refused, with the reason.
 */
export function refuseIfQemuNamesItOtherwise(live: LiveState | undefined, allocation: Allocation, id: string, instance: string): void {
  if (!live) return;
  let other: string | undefined;
  let where: string;
  if (allocation.bus === 'pci.0') {
    if (live.skipped?.includes('pci')) return;
    const slot = parseInt(allocation.addr.slice(2), 16);
    where = `pci.0 slot ${allocation.addr}`;
    const f = live.pci.find((x) => x.slot === slot && x.function === 0 && x.qdevId !== id);
    if (f) other = f.qdevId ? f.qdevId : `a device without id (${f.driver ?? f.classDesc ?? `class 0x${f.classCode.toString(16)}`})`;
  } else {
    if (live.skipped?.includes('scsi')) return;
    where = `scsi.0 target ${allocation['scsi-id']}`;
    other = live.scsi.find((x) => x.scsiId === allocation['scsi-id'] && x.lun === allocation.lun && x.id !== id)?.id;
  }
  if (other === undefined) return;
  throw new RefusedError(
    `QEMU has no ${id}, but has ${other} at ${where}, where ${instance}'s runtime file places ${id}: the two name this device differently ` +
      `(a runtime file downgraded with plugboard downgrade while QEMU kept its ids, or edited by hand), so removing the file's entry ` +
      `would drop a device QEMU still has; nothing done. Once the instance is restarted or migrated, QEMU has the file's ids`,
  );
}
