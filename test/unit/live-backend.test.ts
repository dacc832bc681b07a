import { describe, expect, it } from 'vitest';
import { backendOf, detectBackendStyle } from '../../src/live/backend.js';
import { probeLive } from '../../src/live/probe.js';
import { loadQmpFixture, pciHv, ReplayQmp, runtimeFile, scsiHv, uuidOf } from './live-fixtures.js';

const mixed = () => probeLive(new ReplayQmp(loadQmpFixture('lsi-mixed')));

const driveScsi = { uuid: uuidOf('11111111-2222-3333'), hvinfo: scsiHv('scsi-hd', 'disk-11111111-2222-3333', 2) };
const blockdevPci = { uuid: uuidOf('22222222-3333-4444'), hvinfo: pciHv('virtio-blk-pci', 'disk-22222222-3333-4444', '0xd') };
const blockdevScsi = { uuid: uuidOf('44444444-5555-6666'), hvinfo: scsiHv('scsi-hd', 'disk-44444444-5555-6666', 0) };
const drivePci = { uuid: uuidOf('55555555-6666-7777'), hvinfo: pciHv('virtio-blk-pci', 'disk-55555555-6666-7777', '0xf') };

describe('detectBackendStyle', () => {
  it("'drive' when the instance's disks are named drives (-drive / drive_add, Ganeti 3.0)", async () => {
    expect(detectBackendStyle(await mixed(), runtimeFile({ disks: [driveScsi, drivePci] }))).toBe('drive');
    const ganeti30 = await probeLive(new ReplayQmp(loadQmpFixture('no-controller')));
    const rf = runtimeFile({
      disks: [{ uuid: uuidOf('88888888-9999-aaaa'), hvinfo: pciHv('virtio-blk-pci', 'disk-88888888-9999-aaaa', '0xc') }],
    });
    expect(detectBackendStyle(ganeti30, rf)).toBe('drive');
  });

  it("'blockdev' when they are block nodes (-blockdev / blockdev-add), for virtio-blk and scsi-hd", async () => {
    expect(detectBackendStyle(await mixed(), runtimeFile({ disks: [blockdevPci, blockdevScsi] }))).toBe('blockdev');
    expect(detectBackendStyle(await mixed(), runtimeFile({ disks: [blockdevScsi] }))).toBe('blockdev');
  });

  it("'unknown' with no disks, or none QEMU has", async () => {
    expect(detectBackendStyle(await mixed(), runtimeFile({}))).toBe('unknown');
    const absent = { uuid: uuidOf('abababab-abab-abab'), hvinfo: pciHv('virtio-blk-pci', 'disk-abababab-abab-abab', '0x1c') };
    expect(detectBackendStyle(await mixed(), runtimeFile({ disks: [absent] }))).toBe('unknown');
  });

  it('mixed: the first disk of the file QEMU has decides', async () => {
    expect(detectBackendStyle(await mixed(), runtimeFile({ disks: [blockdevPci, driveScsi] }))).toBe('blockdev');
    expect(detectBackendStyle(await mixed(), runtimeFile({ disks: [driveScsi, blockdevPci] }))).toBe('drive');
  });
});

describe('backendOf', () => {
  it('a block node to blockdev-del after the device is gone (virtio-blk via virtio-backend qdev, scsi-hd via bare id)', async () => {
    const live = await mixed();
    expect(backendOf(live, 'disk-22222222-3333-4444')).toEqual({
      kind: 'blockdev',
      nodeName: 'disk-22222222-3333-4444',
      file: '/tmp/capture/b.raw',
    });
    expect(backendOf(live, 'disk-44444444-5555-6666')).toMatchObject({ kind: 'blockdev', nodeName: 'disk-44444444-5555-6666' });
  });

  it('a named drive (removed with its device): never its generated #block node name', async () => {
    const live = await mixed();
    expect(backendOf(live, 'disk-55555555-6666-7777')).toEqual({
      kind: 'drive',
      drive: 'disk-55555555-6666-7777',
      file: '/tmp/capture/d.raw',
    });
    expect(backendOf(live, 'disk-11111111-2222-3333')?.kind).toBe('drive');
  });

  it('none for a NIC or a device QEMU does not have', async () => {
    const live = await mixed();
    expect(backendOf(live, 'nic-33333333-4444-5555')).toBeUndefined();
    expect(backendOf(live, 'disk-00000000-0000-0000')).toBeUndefined();
  });
});
