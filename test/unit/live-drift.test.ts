import { describe, expect, it } from 'vitest';
import { computeDrift, kvmCmdDevices, type DriftItem } from '../../src/live/drift.js';
import { probeLive, type LiveState } from '../../src/live/probe.js';
import type { PendingUnplug } from '../../src/live/pending.js';
import { loadQmpFixture, lsiMixedRuntime, pciHv, ReplayQmp, runtimeFile, scsiHv, uuidOf, type FixtureName } from './live-fixtures.js';

const probe = (name: FixtureName): Promise<LiveState> => probeLive(new ReplayQmp(loadQmpFixture(name)));
const codes = (items: DriftItem[]) => items.map((i) => `${i.code} ${i.id}`).sort();

const fileDisks = {
  scsi2: { uuid: uuidOf('11111111-2222-3333'), hvinfo: scsiHv('scsi-hd', 'disk-11111111-2222-3333', 2) },
  pciD: { uuid: uuidOf('22222222-3333-4444'), hvinfo: pciHv('virtio-blk-pci', 'disk-22222222-3333-4444', '0xd') },
  scsi0: { uuid: uuidOf('44444444-5555-6666'), hvinfo: scsiHv('scsi-hd', 'disk-44444444-5555-6666', 0) },
  pciF: { uuid: uuidOf('55555555-6666-7777'), hvinfo: pciHv('virtio-blk-pci', 'disk-55555555-6666-7777', '0xf') },
};

describe('computeDrift', () => {
  it('is ok when the runtime file matches QEMU (QEMU-placed controller and balloon below the reservations are not drift)', async () => {
    const drift = computeDrift(lsiMixedRuntime(), await probe('lsi-mixed'));
    expect(drift).toEqual({ ok: true, items: [] });
  });

  it('is ok for a Ganeti 3.0-style instance without controller (-drive disks, NIC)', async () => {
    const rf = runtimeFile({
      disks: [
        { uuid: uuidOf('88888888-9999-aaaa'), hvinfo: pciHv('virtio-blk-pci', 'disk-88888888-9999-aaaa', '0xc') },
        { uuid: uuidOf('99999999-aaaa-bbbb'), hvinfo: pciHv('virtio-blk-pci', 'disk-99999999-aaaa-bbbb', '0xd') },
      ],
      nics: [{ uuid: uuidOf('aaaaaaaa-bbbb-cccc'), hvinfo: pciHv('virtio-net-pci', 'nic-aaaaaaaa-bbbb-cccc', '0xe') }],
    });
    expect(computeDrift(rf, await probe('no-controller')).ok).toBe(true);
  });

  it('moved: a file entry at another slot, with the operator message', async () => {
    const rf = lsiMixedRuntime({
      disks: [fileDisks.scsi2, { ...fileDisks.pciD, hvinfo: pciHv('virtio-blk-pci', 'disk-22222222-3333-4444', '0xa') }, fileDisks.scsi0, fileDisks.pciF],
    });
    const drift = computeDrift(rf, await probe('lsi-mixed'));
    expect(drift.ok).toBe(false);
    expect(drift.items).toEqual([
      {
        code: 'moved',
        id: 'disk-22222222-3333-4444',
        file: { driver: 'virtio-blk-pci', address: { bus: 'pci.0', slot: 10 } },
        live: { driver: 'virtio-blk-pci', address: { bus: 'pci.0', slot: 13 } },
        message: 'disk-22222222-3333-4444: runtime file says pci.0 slot 0xa, QEMU has it at 0xd — a migration would fail',
      },
    ]);
  });

  it('moved: another SCSI target, and another bus', async () => {
    const rf = lsiMixedRuntime({
      disks: [
        { ...fileDisks.scsi2, hvinfo: scsiHv('scsi-hd', 'disk-11111111-2222-3333', 3) },
        fileDisks.pciD,
        { ...fileDisks.scsi0, hvinfo: pciHv('scsi-hd', 'disk-44444444-5555-6666', '0x11') },
        fileDisks.pciF,
      ],
    });
    const drift = computeDrift(rf, await probe('lsi-mixed'));
    expect(drift.items.map((i) => i.message)).toEqual([
      'disk-11111111-2222-3333: runtime file says scsi.0 target 3, QEMU has it at target 2 — a migration would fail',
      'disk-44444444-5555-6666: runtime file says pci.0 slot 0x11, QEMU has it at scsi.0 target 0 — a migration would fail',
    ]);
  });

  it('driver-differs: same id and place, another driver; QEMU aliases are the same driver', async () => {
    const live = await probe('lsi-mixed');
    const rf = lsiMixedRuntime({
      nics: [{ uuid: uuidOf('33333333-4444-5555'), hvinfo: pciHv('e1000', 'nic-33333333-4444-5555', '0xe') }],
    });
    const drift = computeDrift(rf, live);
    expect(drift.items).toEqual([
      expect.objectContaining({
        code: 'driver-differs',
        id: 'nic-33333333-4444-5555',
        message: 'nic-33333333-4444-5555: runtime file says driver e1000, QEMU has virtio-net-pci — a migration would fail',
      }),
    ]);
    const aliased = lsiMixedRuntime({
      nics: [{ uuid: uuidOf('33333333-4444-5555'), hvinfo: pciHv('virtio-net', 'nic-33333333-4444-5555', '0xe') }],
    });
    expect(computeDrift(aliased, live).ok).toBe(true);
  });

  it('after others changed QEMU: missing-from-qemu, unknown-to-file (Ganeti id, scsi.0, anonymous above the reservations)', async () => {
    const drift = computeDrift(lsiMixedRuntime(), await probe('lsi-changed'));
    expect(codes(drift.items)).toEqual([
      'missing-from-qemu disk-44444444-5555-6666',
      'unknown-to-file ',
      'unknown-to-file disk-deadbeef-0000-1111',
      'unknown-to-file foreign1',
    ]);
    const msg = Object.fromEntries(drift.items.map((i) => [i.id, i.message]));
    expect(msg['disk-44444444-5555-6666']).toBe(
      'disk-44444444-5555-6666: runtime file lists it at scsi.0 target 0, QEMU does not have it — a migration target would be started with a device the source lacks',
    );
    expect(msg['disk-deadbeef-0000-1111']).toBe(
      'disk-deadbeef-0000-1111: QEMU has it at pci.0 slot 0x10 (virtio-blk-pci), the runtime file does not list it — a migration would fail (hot-added by someone else?)',
    );
    expect(msg['foreign1']).toMatch(/^foreign1: QEMU has it at scsi.0 target 4 \(scsi-hd\)/);
    expect(msg['']).toBe(
      'pci.0 slot 0x14: QEMU has a device without id there (PCI class 0xff), at or above the 12 reserved slots, that the runtime file does not know — a migration would fail',
    );
    expect(drift.items.find((i) => i.id === '')?.live?.address).toEqual({ bus: 'pci.0', slot: 20 });
  });

  it("QEMU's own devices count once they sit at or above the reservations", async () => {
    const live = await probe('lsi-mixed');
    const rf = runtimeFile({
      kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-device', 'lsi,id=scsi', '-device', 'virtio-balloon'],
      hvparams: { kvm_pci_reservations: 3 },
      disks: Object.values(fileDisks),
      nics: [{ uuid: uuidOf('33333333-4444-5555'), hvinfo: pciHv('virtio-net-pci', 'nic-33333333-4444-5555', '0xe') }],
    });
    // The balloon (slot 3, no id) is now in Ganeti's range; the controller (slot 2, in kvm_cmd) is not.
    expect(codes(computeDrift(rf, live).items)).toEqual(['unknown-to-file ']);
  });

  it('a device with a non-Ganeti id below the reservations is not drift; the same with a Ganeti id is', () => {
    const live: LiveState = {
      pci: [
        { slot: 4, function: 0, qdevId: 'rng0', driver: 'virtio-rng-pci', classCode: 255, classDesc: undefined, vendorId: 0x1af4, deviceId: 0x1005 },
        { slot: 5, function: 0, qdevId: 'nic-12345678-1234-1234', driver: 'e1000', classCode: 0x200, classDesc: 'Ethernet controller', vendorId: 0x8086, deviceId: 0x100e },
      ],
      peripherals: [
        { id: 'rng0', driver: 'virtio-rng-pci' },
        { id: 'nic-12345678-1234-1234', driver: 'e1000' },
      ],
      scsi: [],
      blocks: [],
      controller: null,
      notes: [],
    };
    expect(computeDrift(runtimeFile({}), live).items.map((i) => i.message)).toEqual([
      'nic-12345678-1234-1234: QEMU has it at pci.0 slot 0x5 (e1000), the runtime file does not list it — a migration would fail (hot-added by someone else?)',
    ]);
  });

  it('unplug-pending for a recorded unplug QEMU still has; a completed one explains the missing device', async () => {
    const pending: PendingUnplug[] = [
      { id: 'disk-55555555-6666-7777', since: '2025-11-25T10:00:00.000Z', kind: 'disk' },
      { id: 'disk-44444444-5555-6666', since: '2025-11-25T09:00:00.000Z', kind: 'disk' },
    ];
    const drift = computeDrift(lsiMixedRuntime(), await probe('lsi-changed'), pending);
    const pend = drift.items.find((i) => i.code === 'unplug-pending');
    expect(pend).toEqual({
      code: 'unplug-pending',
      id: 'disk-55555555-6666-7777',
      file: { driver: 'virtio-blk-pci', address: { bus: 'pci.0', slot: 15 } },
      live: { driver: 'virtio-blk-pci', address: { bus: 'pci.0', slot: 15 } },
      since: '2025-11-25T10:00:00.000Z',
      message:
        'disk-55555555-6666-7777: unplug requested at 2025-11-25T10:00:00.000Z is still pending (the guest has not acknowledged it); QEMU still has it at pci.0 slot 0xf',
    });
    const gone = drift.items.find((i) => i.id === 'disk-44444444-5555-6666');
    expect(gone?.code).toBe('missing-from-qemu');
    expect(gone?.since).toBe('2025-11-25T09:00:00.000Z');
    expect(gone?.message).toMatch(/unplug requested at 2025-11-25T09:00:00.000Z has completed, but the runtime file still lists it/);
  });

  it('a pending device the file no longer lists is unplug-pending, not unknown-to-file', async () => {
    const rf = lsiMixedRuntime({ disks: [fileDisks.scsi2, fileDisks.pciD, fileDisks.scsi0] });
    const live = await probe('lsi-mixed');
    expect(codes(computeDrift(rf, live).items)).toEqual(['unknown-to-file disk-55555555-6666-7777']);
    const drift = computeDrift(rf, live, [{ id: 'disk-55555555-6666-7777', since: '2025-11-25T10:00:00.000Z', kind: 'disk' }]);
    expect(codes(drift.items)).toEqual(['unplug-pending disk-55555555-6666-7777']);
    expect(drift.items[0]?.file).toBeNull();
  });

  it('controller-missing, controller-differs, and a controller the file does not start', async () => {
    const noCtl = await probe('no-controller');
    const withLsi = runtimeFile({ kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-device', 'lsi,id=scsi'] });
    const missing = computeDrift(withLsi, { ...noCtl, peripherals: [], pci: [] });
    expect(missing.items).toEqual([
      expect.objectContaining({
        code: 'controller-missing',
        id: 'scsi',
        message: 'scsi: the runtime file starts the SCSI controller lsi, QEMU has none — a migration would fail, and SCSI disks cannot be hot-added',
      }),
    ]);

    const lsi = await probe('virtio-scsi');
    const megasasFile = runtimeFile({
      kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-device', 'megasas,id=scsi'],
      disks: [
        { uuid: uuidOf('66666666-7777-8888'), hvinfo: scsiHv('scsi-hd', 'disk-66666666-7777-8888', 5) },
        { uuid: uuidOf('77777777-8888-9999'), hvinfo: pciHv('virtio-blk-pci', 'disk-77777777-8888-9999', '0xc') },
      ],
    });
    expect(computeDrift(megasasFile, lsi).items.map((i) => [i.code, i.message])).toEqual([
      ['controller-differs', 'scsi: the runtime file starts the SCSI controller megasas, QEMU has virtio-scsi-pci — a migration would fail'],
    ]);

    const noCtlFile = runtimeFile({ kvmCmd: ['/usr/bin/kvm'], disks: megasasFile.disks.map((d) => ({ uuid: d.uuid, hvinfo: d.hvinfo as never })) });
    expect(codes(computeDrift(noCtlFile, lsi).items)).toEqual(['unknown-to-file scsi']);
  });
});

describe('kvmCmdDevices', () => {
  it('reads driver and id of -device options, with escaped commas, driver= and the JSON form', () => {
    expect(
      kvmCmdDevices([
        '/usr/bin/kvm',
        '-m',
        1024,
        '-device',
        'lsi,id=scsi',
        '-device',
        'driver=virtio-serial,id=qga0',
        '-device',
        'virtio-balloon',
        '-device',
        'x,serial=a,,id=z,id=y',
        '-device',
        '{"driver":"virtio-rng-pci","id":"rng0"}',
      ]),
    ).toEqual([
      { driver: 'lsi', id: 'scsi' },
      { driver: 'virtio-serial', id: 'qga0' },
      { driver: 'virtio-balloon', id: undefined },
      { driver: 'x', id: 'y' },
      { driver: 'virtio-rng-pci', id: 'rng0' },
    ]);
  });
});
