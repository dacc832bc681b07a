import { describe, expect, it } from 'vitest';
import { allocate } from '../../src/bus/allocate.js';
import { buildBusModel } from '../../src/bus/model.js';
import { overlayLive } from '../../src/live/overlay.js';
import { probeLive, type LiveState } from '../../src/live/probe.js';
import { loadQmpFixture, lsiMixedRuntime, pciHv, ReplayQmp, runtimeFile, scsiHv, uuidOf, type FixtureName } from './live-fixtures.js';

const probe = (name: FixtureName): Promise<LiveState> => probeLive(new ReplayQmp(loadQmpFixture(name)));

const lsiDisks = [
  { uuid: uuidOf('11111111-2222-3333'), hvinfo: scsiHv('scsi-hd', 'disk-11111111-2222-3333', 2) },
  { uuid: uuidOf('22222222-3333-4444'), hvinfo: pciHv('virtio-blk-pci', 'disk-22222222-3333-4444', '0xd') },
  { uuid: uuidOf('44444444-5555-6666'), hvinfo: scsiHv('scsi-hd', 'disk-44444444-5555-6666', 0) },
  { uuid: uuidOf('55555555-6666-7777'), hvinfo: pciHv('virtio-blk-pci', 'disk-55555555-6666-7777', '0xf') },
];

describe('overlayLive', () => {
  it('changes nothing when QEMU has exactly what the model says (runtime and predicted devices kept)', async () => {
    const rf = lsiMixedRuntime();
    const model = buildBusModel(rf);
    const overlaid = overlayLive(model, await probe('lsi-mixed'));
    expect(overlaid).toEqual(model);
    expect(overlaid.pci.slots[0xd]?.device).toMatchObject({ id: 'disk-22222222-3333-4444', source: 'runtime' });
    expect(overlaid.pci.slots[2]?.device).toMatchObject({ id: 'scsi', source: 'predicted' });
  });

  it('does not modify the model it is given', async () => {
    const model = buildBusModel(lsiMixedRuntime());
    const copy = structuredClone(model);
    overlayLive(model, await probe('lsi-changed'));
    expect(model).toEqual(copy);
  });

  it('marks live-only devices (a hot-added disk, a device without id) and keeps file entries QEMU lacks', async () => {
    const overlaid = overlayLive(buildBusModel(lsiMixedRuntime()), await probe('lsi-changed'));
    expect(overlaid.pci.slots[0x10]).toMatchObject({
      state: 'used',
      device: { id: 'disk-deadbeef-0000-1111', driver: 'virtio-blk-pci', kind: 'disk', source: 'live' },
    });
    // Without id, outside the reservations: QEMU's, not allocatable.
    expect(overlaid.pci.slots[0x14]).toMatchObject({ state: 'qemu', device: { id: '', source: 'live', kind: 'other' } });
    expect(overlaid.pci.slots[0x14]?.device?.description).toContain('PCI class 0xff 1af4:1005');
    expect(overlaid.scsi?.targets[4]).toMatchObject({ state: 'used', device: { id: 'foreign1', driver: 'scsi-hd', source: 'live' } });
    // The file still lists disk-4444 at target 0 (QEMU unplugged it): still taken, as the file says.
    expect(overlaid.scsi?.targets[0]).toMatchObject({ state: 'used', device: { id: 'disk-44444444-5555-6666', source: 'runtime' } });
  });

  it('allocation for a hot-add then skips the slot and the target QEMU uses', async () => {
    // The file has 0xc–0xf and targets 0–3, so the next free are 0x10 and 4: exactly where others hot-added.
    const rf = lsiMixedRuntime({
      disks: [
        ...lsiDisks,
        { uuid: uuidOf('12121212-1212-1212'), hvinfo: scsiHv('scsi-hd', 'disk-12121212-1212-1212', 1) },
        { uuid: uuidOf('13131313-1313-1313'), hvinfo: scsiHv('scsi-hd', 'disk-13131313-1313-1313', 3) },
      ],
      nics: [
        { uuid: uuidOf('33333333-4444-5555'), hvinfo: pciHv('virtio-net-pci', 'nic-33333333-4444-5555', '0xe') },
        { uuid: uuidOf('c0c0c0c0-c0c0-c0c0'), hvinfo: pciHv('virtio-net-pci', 'nic-c0c0c0c0-c0c0-c0c0', '0xc') },
      ],
    });
    const model = buildBusModel(rf);
    expect(allocate(model, rf, { kind: 'disk', type: 'paravirtual' })).toMatchObject({ ok: true, allocation: { slot: 0x10 } });
    expect(allocate(model, rf, { kind: 'disk', type: 'scsi-hd' })).toMatchObject({ ok: true, allocation: { 'scsi-id': 4 } });

    const overlaid = overlayLive(model, await probe('lsi-changed'));
    expect(allocate(overlaid, rf, { kind: 'disk', type: 'paravirtual' })).toMatchObject({ ok: true, allocation: { slot: 0x11 } });
    expect(allocate(overlaid, rf, { kind: 'nic' })).toMatchObject({ ok: true, allocation: { slot: 0x11 } });
    expect(allocate(overlaid, rf, { kind: 'disk', type: 'scsi-hd' })).toMatchObject({ ok: true, allocation: { 'scsi-id': 5 } });
  });

  it('a device QEMU has at another slot than the file: both slots stay taken, the live one carries the uuid', async () => {
    const rf = lsiMixedRuntime({
      disks: [lsiDisks[0]!, { ...lsiDisks[1]!, hvinfo: pciHv('virtio-blk-pci', 'disk-22222222-3333-4444', '0x1a') }, lsiDisks[2]!, lsiDisks[3]!],
    });
    const overlaid = overlayLive(buildBusModel(rf), await probe('lsi-mixed'));
    expect(overlaid.pci.slots[0x1a]).toMatchObject({ state: 'used', device: { id: 'disk-22222222-3333-4444', source: 'runtime' } });
    expect(overlaid.pci.slots[0xd]).toMatchObject({
      state: 'used',
      device: { id: 'disk-22222222-3333-4444', source: 'live', kind: 'disk', uuid: uuidOf('22222222-3333-4444') },
    });
  });

  it('another device where the file has one: QEMU wins the slot, and the model says so', async () => {
    const rf = lsiMixedRuntime({
      disks: [lsiDisks[0]!, lsiDisks[1]!, lsiDisks[2]!, { ...lsiDisks[3]!, hvinfo: pciHv('virtio-blk-pci', 'disk-55555555-6666-7777', '0x10') }],
    });
    const overlaid = overlayLive(buildBusModel(rf), await probe('lsi-changed'));
    expect(overlaid.pci.slots[0x10]?.device).toMatchObject({ id: 'disk-deadbeef-0000-1111', source: 'live' });
    expect(overlaid.problems).toContainEqual({
      code: 'live-slot-differs',
      message: 'pci.0 slot 0x10: the runtime file has disk-55555555-6666-7777 there, QEMU has disk-deadbeef-0000-1111',
    });
  });

  it("QEMU placed its own devices elsewhere than predicted: QEMU's placement is shown, and the wrong prediction reported", async () => {
    // Without -nodefaults in kvm_cmd plugboard predicts a VGA card on slot 2; this QEMU has none.
    const rf = runtimeFile({
      kvmCmd: ['/usr/bin/kvm', '-device', 'lsi,id=scsi', '-device', 'virtio-balloon'],
      disks: lsiDisks,
      nics: [{ uuid: uuidOf('33333333-4444-5555'), hvinfo: pciHv('virtio-net-pci', 'nic-33333333-4444-5555', '0xe') }],
    });
    const model = buildBusModel(rf);
    expect(model.pci.slots[2]?.device).toMatchObject({ driver: 'VGA', source: 'predicted' });
    const overlaid = overlayLive(model, await probe('lsi-mixed'));
    expect(overlaid.pci.slots[2]).toMatchObject({ state: 'qemu', device: { id: 'scsi', driver: 'lsi53c895a', kind: 'controller', source: 'live' } });
    expect(overlaid.problems).toContainEqual({
      code: 'live-prediction-differs',
      message: 'pci.0 slot 0x2: plugboard predicted VGA there from kvm_cmd, QEMU has scsi',
    });
    expect(overlaid.problems).toContainEqual({
      code: 'live-prediction-differs',
      message: 'pci.0 slot 0x3: plugboard predicted lsi (id scsi) there from kvm_cmd, QEMU has a device without id (PCI class 0xff 1af4:1002)',
    });
    // Slot 4, where the balloon was predicted, stays QEMU's (inside the reservations either way).
    expect(overlaid.pci.slots[4]).toMatchObject({ state: 'qemu', device: { driver: 'virtio-balloon', source: 'predicted' } });
  });

  it('no controller in QEMU: no scsi.0 to allocate on, and a problem says why', async () => {
    const rf = runtimeFile({ kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-device', 'lsi,id=scsi'], hvparams: { disk_type: 'scsi-hd' } });
    const model = buildBusModel(rf);
    expect(model.scsi).not.toBeNull();
    const overlaid = overlayLive(model, await probe('no-controller'));
    expect(overlaid.scsi).toBeNull();
    expect(overlaid.problems).toContainEqual({
      code: 'live-no-controller',
      message: 'the runtime file expects the SCSI controller lsi (scsi.0), QEMU has none: no SCSI disk can be hot-added',
    });
    expect(allocate(overlaid, rf, { kind: 'disk', type: 'scsi-hd' }).ok).toBe(false);
  });

  it("a controller only QEMU has: scsi.0 from QEMU's controller, with its target range", async () => {
    const rf = runtimeFile({
      disks: [{ uuid: uuidOf('77777777-8888-9999'), hvinfo: pciHv('virtio-blk-pci', 'disk-77777777-8888-9999', '0xc') }],
    });
    expect(buildBusModel(rf).scsi).toBeNull();
    const overlaid = overlayLive(buildBusModel(rf), await probe('virtio-scsi'));
    expect(overlaid.scsi).toMatchObject({ bus: 'scsi.0', controller: 'virtio-scsi-pci', maxTarget: 255 });
    expect(overlaid.scsi?.targets).toHaveLength(256);
    expect(overlaid.scsi?.targets[5]).toMatchObject({ state: 'used', device: { id: 'disk-66666666-7777-8888', source: 'live' } });
    expect(overlaid.pci.slots[2]).toMatchObject({ device: { id: 'scsi', kind: 'controller', source: 'live' } });
  });

  it("another controller type than the file's: QEMU's target range, and a problem", async () => {
    const rf = runtimeFile({
      kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-device', 'lsi,id=scsi'],
      disks: [{ uuid: uuidOf('66666666-7777-8888'), hvinfo: scsiHv('scsi-hd', 'disk-66666666-7777-8888', 5) }],
    });
    const overlaid = overlayLive(buildBusModel(rf), await probe('virtio-scsi'));
    expect(overlaid.scsi).toMatchObject({ controller: 'virtio-scsi-pci', maxTarget: 255 });
    expect(overlaid.scsi?.targets[5]?.device).toMatchObject({ id: 'disk-66666666-7777-8888', source: 'runtime' });
    expect(overlaid.problems.map((p) => p.code)).toContain('live-controller-differs');
  });
});
