/**
 * The bus model's prediction of what QEMU places on pci.0 by itself, checked against what a real
 * QEMU 7.2 started from the same runtime file (as Ganeti starts it) reports in `query-pci`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { predictFor } from '../../src/bus/model.js';
import { createSandboxInstance, type SandboxInstanceSpec } from '../../src/demo/sandbox.js';
import { loadRuntimeFile } from '../../src/runtime/load.js';
import { startSandbox, useSandboxCleanup } from '../helpers/sandbox.js';

useSandboxCleanup();

const cases: { what: string; spec: Omit<SandboxInstanceSpec, 'name'> }[] = [
  { what: 'defaults: VGA, balloon, virtio disks and NICs', spec: { disks: 2, nics: 2 } },
  { what: 'lsi controller before the balloon', spec: { diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, nics: 1 } },
  { what: 'megasas with -usb and a sound card', spec: { diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 1, extraKvmCmd: ['-usb', '-device', 'intel-hda', '-device', 'hda-duplex'] } },
  { what: 'virtio-scsi with -nodefaults and few reservations', spec: { diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 3, nics: 1, reservations: 4, extraKvmCmd: ['-nodefaults'] } },
  { what: 'addr-less devices after an explicit one', spec: { disks: 1, extraKvmCmd: ['-device', 'virtio-rng-pci,addr=0x5', '-device', 'i6300esb', '-vga', 'cirrus'] } },
];

describe('predicted QEMU placement matches a real QEMU 7.2', () => {
  for (const [i, c] of cases.entries()) {
    it(`${c.what}: every slot QEMU fills is predicted, with the same device`, async () => {
      const sb = await startSandbox({ name: `pred${i}`, ...c.spec });
      const rf = await sb.load();
      const prediction = predictFor(rf);
      const live = await sb.probe();
      const liveSlots = new Map<number, string>();
      for (const f of live.pci) if (f.function === 0) liveSlots.set(f.slot, f.qdevId || f.classDesc || String(f.deviceId));
      const predicted = new Map(prediction.devices.map((d) => [d.slot, d]));
      expect([...predicted.keys()].sort((a, b) => a - b)).toEqual([...liveSlots.keys()].sort((a, b) => a - b));
      // Devices with ids sit where predicted.
      for (const f of live.pci) {
        if (f.function !== 0 || f.qdevId === '') continue;
        expect(predicted.get(f.slot)?.id, `slot 0x${f.slot.toString(16)}`).toBe(f.qdevId);
      }
      expect(prediction.clashes).toEqual([]);
    });
  }

  it('a kvm_cmd device at an addr an earlier addr-less device took: predicted as a clash, and QEMU refuses to start', async () => {
    const spec = { name: 'clash', disks: 0, extraKvmCmd: ['-device', 'virtio-rng-pci,addr=0x3'] };
    await expect(startSandbox(spec)).rejects.toThrow(/slot 3 function 0 not available for virtio-rng-pci/);
    const root = mkdtempSync('/tmp/plugboard-clash-');
    try {
      const inst = await createSandboxInstance(root, spec);
      const prediction = predictFor(await loadRuntimeFile(inst.runtimeFile));
      expect(prediction.clashes.map((c) => [c.device.driver, c.device.slot, c.holder.qomType])).toEqual([['virtio-rng-pci', 3, 'virtio-balloon-pci']]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
