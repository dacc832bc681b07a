/**
 * The unplug planners when QEMU does not have the device by the runtime file's id but has another
 * device at its place (src/actions/unplug-guard.ts): what a running instance looks like after
 * `plugboard downgrade` (the file's devices are read back as hotdisk-…-pci-N, QEMU keeps disk-…).
 * Removing the file's entry then would drop a device QEMU has: refused. With real QEMU in
 * test/integration/downgrade-running.test.ts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planDiskUnplug } from '../../src/actions/plan-disk.js';
import { planNicUnplug } from '../../src/actions/plan-nic.js';
import { buildBusModel } from '../../src/bus/model.js';
import { RefusedError } from '../../src/errors.js';
import type { LivePciFunction, LiveState } from '../../src/live/probe.js';
import { planDowngrade } from '../../src/runtime/downgrade.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import type { RuntimeFile } from '../../src/runtime/types.js';

const ORIGINAL = readFileSync(path.resolve(import.meta.dirname, '..', 'fixtures', 'runtime', 'kvm_runtime.ganeti-dump.json'), 'utf8');
const plan = planDowngrade(ORIGINAL, 'x');
if (plan.status !== 'downgrade') throw new Error('fixture does not downgrade');
const downgraded = parseRuntimeText(plan.text, 'conf/web1.runtime', 'web1');

function pci(slot: number, qdevId: string, driver: string): LivePciFunction {
  return { slot, function: 0, qdevId, driver, classCode: 0x100, classDesc: undefined, vendorId: 0x1af4, deviceId: 0x1001 };
}

/** What QEMU reports for the fixture's instance: Ganeti 3.0's ids at the fixture's slots. */
const live: LiveState = {
  pci: [pci(8, 'nic-003fc157-66a8-4e6d', 'virtio-net-pci'), pci(9, 'disk-7c079136-2573-4112', 'virtio-blk-pci'), pci(10, 'disk-9f5c5bd4-6f60-480b', 'virtio-blk-pci')],
  peripherals: [
    { id: 'nic-003fc157-66a8-4e6d', driver: 'virtio-net-pci' },
    { id: 'disk-7c079136-2573-4112', driver: 'virtio-blk-pci' },
    { id: 'disk-9f5c5bd4-6f60-480b', driver: 'virtio-blk-pci' },
  ],
  scsi: [],
  blocks: [],
  controller: null,
  notes: [],
};

const ctx = (rf: RuntimeFile, l: LiveState | undefined, present?: boolean) => ({
  rf,
  model: buildBusModel(rf),
  newUuid: () => '00000000-0000-4000-8000-000000000000',
  ...(l ? { live: l } : {}),
  ...(present !== undefined ? { present } : {}),
});

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a refusal, got a plan');
}

describe('an unplug where QEMU names the device differently than the runtime file', () => {
  it('disk: refused (nothing removed from the file), the two ids and the slot named', () => {
    const err = thrown(() => planDiskUnplug({ type: 'unplug-disk', instance: 'web1', device: '7c079136-2573-4112-82d0-0d3d2aa90d8f', timeoutMs: 1000 }, ctx(downgraded, live)));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toBe(
      "QEMU has no hotdisk-7c079136-pci-9, but has disk-7c079136-2573-4112 at pci.0 slot 0x9, where web1's runtime file places hotdisk-7c079136-pci-9: " +
        'the two name this device differently (a runtime file downgraded with plugboard downgrade while QEMU kept its ids, or edited by hand), ' +
        "so removing the file's entry would drop a device QEMU still has; nothing done. Once the instance is restarted or migrated, QEMU has the file's ids",
    );
  });

  it('NIC: refused the same way (its netdev, tap and nic/ record would go too)', () => {
    const err = thrown(() => planNicUnplug({ type: 'unplug-nic', instance: 'web1', device: 'hotnic-003fc157-pci-8', timeoutMs: 1000 }, ctx(downgraded, live)));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toMatch(/^QEMU has no hotnic-003fc157-pci-8, but has nic-003fc157-66a8-4e6d at pci\.0 slot 0x8/);
  });

  it('a device really gone (its slot empty in QEMU) still just loses its entry, as before', () => {
    const gone: LiveState = { ...live, pci: live.pci.filter((f) => f.slot !== 9) };
    const p = planDiskUnplug({ type: 'unplug-disk', instance: 'web1', device: 'hotdisk-7c079136-pci-9', timeoutMs: 1000 }, ctx(downgraded, gone));
    expect(p.steps).toEqual([]);
    expect(p.notes.join('\n')).toMatch(/QEMU no longer has hotdisk-7c079136-pci-9: nothing to unplug/);
    expect(p.runtimeAfter.disks.map((d) => d.uuid)).toEqual(['9f5c5bd4-6f60-480b-acdc-9bb1a4b7df79']);
  });

  it('the file and QEMU agreeing (the original file) plan the usual device_del', () => {
    const original = parseRuntimeText(ORIGINAL, 'conf/web1.runtime', 'web1');
    const p = planDiskUnplug({ type: 'unplug-disk', instance: 'web1', device: 'disk-7c079136-2573-4112', timeoutMs: 1000 }, ctx(original, live));
    expect(p.steps.map((s) => ('execute' in s.command ? s.command.execute : ''))).toEqual(['device_del']);
  });

  it('without a look at QEMU\'s PCI functions (probe scope backends: the device is taken as there) nothing is refused', () => {
    const p = planDiskUnplug({ type: 'unplug-disk', instance: 'web1', device: 'hotdisk-7c079136-pci-9', timeoutMs: 1000 }, ctx(downgraded, { ...live, skipped: ['pci', 'peripherals'] }, true));
    expect(p.steps.map((s) => ('execute' in s.command ? s.command.execute : ''))).toEqual(['device_del']);
  });
});
