import { describe, expect, it } from 'vitest';
import { diskDriver, HOTPLUGGABLE_DISK_TYPES, HOTPLUGGABLE_NIC_TYPES, isScsiDiskType, NIC_TYPES, nicDriver, readKnownHvparams } from '../../src/runtime/hvparams.js';
import { checkNodeName, checkQemuId, deviceId, isUuid, legacyDeviceId, newUuid } from '../../src/runtime/ids.js';

describe('readKnownHvparams', () => {
  it('fills what older files miss with the defaults (lsi, 12 reservations, paravirtual)', () => {
    const { hvparams, issues } = readKnownHvparams({ kvm_path: '/usr/bin/kvm' });
    expect(issues).toEqual([]);
    expect(hvparams).toEqual({
      disk_type: 'paravirtual',
      nic_type: 'paravirtual',
      scsi_controller_type: 'lsi',
      kvm_pci_reservations: 12,
      disk_cache: undefined,
      disk_aio: undefined,
      disk_discard: undefined,
      kvm_path: '/usr/bin/kvm',
      machine_version: undefined,
      kvm_extra: undefined,
      use_chroot: false,
      vhost_net: false,
      security_model: undefined,
      security_domain: undefined,
    });
  });

  it('reads the values that are there', () => {
    const { hvparams, issues } = readKnownHvparams({
      disk_type: 'scsi-block',
      nic_type: 'e1000',
      scsi_controller_type: 'megasas',
      kvm_pci_reservations: 0,
      use_chroot: true,
      vhost_net: true,
      security_model: 'pool',
      machine_version: 'pc-i440fx-7.2',
    });
    expect(issues).toEqual([]);
    expect(hvparams).toMatchObject({ disk_type: 'scsi-block', nic_type: 'e1000', scsi_controller_type: 'megasas', kvm_pci_reservations: 0, use_chroot: true, vhost_net: true, security_model: 'pool', machine_version: 'pc-i440fx-7.2' });
  });

  it('reports a value outside its set at hvparams.<key>, and the view keeps the default', () => {
    const { hvparams, issues } = readKnownHvparams({ disk_type: 'virtio', kvm_pci_reservations: 12.5, vhost_net: 'yes' });
    expect(issues).toEqual([
      { path: 'hvparams.disk_type', message: 'expected one of paravirtual, ide, scsi, sd, mtd, pflash, scsi-hd, scsi-block, scsi-generic, scsi-cd; got "virtio"' },
      { path: 'hvparams.kvm_pci_reservations', message: 'expected an integer from 0 to 32, got 12.5' },
      { path: 'hvparams.vhost_net', message: 'expected true or false, got "yes"' },
    ]);
    expect(hvparams.disk_type).toBe('paravirtual');
    expect(hvparams.kvm_pci_reservations).toBe(12);
    expect(hvparams.vhost_net).toBe(false);
  });

  it('accepts the edges of kvm_pci_reservations (0 and 32) and refuses -1', () => {
    expect(readKnownHvparams({ kvm_pci_reservations: 32 }).hvparams.kvm_pci_reservations).toBe(32);
    expect(readKnownHvparams({ kvm_pci_reservations: -1 }).issues[0]!.message).toBe('expected an integer from 0 to 32, got -1');
  });
});

describe('drivers and types', () => {
  it('maps paravirtual to virtio drivers, other types to themselves', () => {
    expect(diskDriver('paravirtual')).toBe('virtio-blk-pci');
    expect(diskDriver('scsi-hd')).toBe('scsi-hd');
    expect(nicDriver('paravirtual')).toBe('virtio-net-pci');
    expect(nicDriver('rtl8139')).toBe('rtl8139');
  });

  it('knows which disk types sit on scsi.0 and which types hot-plug', () => {
    expect(['scsi-hd', 'scsi-block', 'scsi-generic', 'scsi-cd'].every(isScsiDiskType)).toBe(true);
    expect(isScsiDiskType('scsi')).toBe(false); // legacy -drive if=scsi: no explicit bus
    expect(isScsiDiskType('paravirtual')).toBe(false);
    expect([...HOTPLUGGABLE_DISK_TYPES].sort()).toEqual(['paravirtual', 'scsi-block', 'scsi-cd', 'scsi-generic', 'scsi-hd']);
    expect(HOTPLUGGABLE_NIC_TYPES).not.toContain('ne2k_isa');
    expect(HOTPLUGGABLE_NIC_TYPES).toHaveLength(NIC_TYPES.length - 1);
  });
});

describe('device ids', () => {
  it("derives Ganeti's id: the uuid up to its third '-'", () => {
    expect(deviceId('disk', '9e7c85f6-b6e5-4243-b27d-680b78c6d203')).toBe('disk-9e7c85f6-b6e5-4243');
    expect(deviceId('nic', '003fc157-66a8-4e6d-8b7e-ec4f69751396')).toBe('nic-003fc157-66a8-4e6d');
    // Python rsplit("-", 2)[0] on odd strings
    expect(deviceId('disk', 'a-b')).toBe('disk-a');
    expect(deviceId('disk', 'abc')).toBe('disk-abc');
  });

  it('derives the legacy id of an upgraded pci slot', () => {
    expect(legacyDeviceId('disk', '9e7c85f6-b6e5-4243-b27d-680b78c6d203', 4)).toBe('hotdisk-9e7c85f6-pci-4');
    expect(legacyDeviceId('nic', '003fc157-66a8-4e6d-8b7e-ec4f69751396', 16)).toBe('hotnic-003fc157-pci-16');
  });

  it('says why QEMU would refuse an id', () => {
    expect(checkQemuId('disk-9e7c85f6-b6e5-4243')).toBeNull();
    expect(checkQemuId('a.b_c-9')).toBeNull();
    expect(checkQemuId('')).toBe('device id is empty');
    expect(checkQemuId('9disk')).toBe('device id "9disk" must start with a letter');
    expect(checkQemuId('disk 1')).toBe(`device id "disk 1" may only hold letters, digits, '-', '.' and '_' (found " ")`);
    expect(checkQemuId('d'.repeat(32))).toBeNull();
    expect(checkQemuId('d'.repeat(33))).toBe(`device id "${'d'.repeat(33)}" is 33 characters long (at most 32)`);
  });

  it('says why QEMU would refuse a block node name (at most 31 characters)', () => {
    expect(checkNodeName('disk-9e7c85f6-b6e5-4243')).toBeNull();
    expect(checkNodeName('n'.repeat(31))).toBeNull();
    expect(checkNodeName('n'.repeat(32))).toBe(`block node name "${'n'.repeat(32)}" is 32 characters long (at most 31)`);
    expect(checkNodeName('n/1')).toMatch(/may only hold/);
  });

  it('makes and recognises UUIDs', () => {
    const u = newUuid();
    expect(isUuid(u)).toBe(true);
    expect(newUuid()).not.toBe(u);
    expect(isUuid('9e7c85f6-b6e5-4243-b27d-680b78c6d203')).toBe(true);
    expect(isUuid('9e7c85f6-b6e5-4243-b27d')).toBe(false);
  });
});
