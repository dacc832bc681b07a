import { describe, expect, it } from 'vitest';
import { buildBusModel } from '../../src/bus/model.js';
import type { BusModel, Problem } from '../../src/bus/types.js';
import { BASE_KVM_CMD, fixture, idOf, nodefaults, pci, runtime, scsiAt, unchecked, uuid } from './bus-helpers.js';

const codes = (m: BusModel): string[] => m.problems.map((p) => p.code);
const only = (m: BusModel, code: string): Problem[] => m.problems.filter((p) => p.code === code);

const VBLK = 'virtio-blk-pci';
const VNET = 'virtio-net-pci';

describe('buildBusModel on the Ganeti fixture (NIC 0x8, disks 0x9 and 0xa, no kvm_pci_reservations → 12)', () => {
  const m = buildBusModel(fixture());

  it('has the 32 slots of pci.0 with the first 12 left to QEMU', () => {
    expect(m.pci.bus).toBe('pci.0');
    expect(m.pci.reservations).toBe(12);
    expect(m.pci.slots).toHaveLength(32);
    expect(m.pci.slots.map((s) => s.slot)).toEqual([...Array(32).keys()]);
    expect(m.pci.slots.filter((s) => s.reserved).map((s) => s.slot)).toEqual([...Array(12).keys()]);
  });

  it('shows what QEMU places (host bridge, ISA bridge, VGA, balloon) as qemu and the Ganeti devices as used', () => {
    const s = m.pci.slots;
    expect(s[0]).toMatchObject({ state: 'qemu', device: { driver: 'i440FX-pcihost', source: 'predicted' } });
    expect(s[1]).toMatchObject({ state: 'qemu', device: { description: expect.stringContaining('ISA bridge') } });
    expect(s[2]).toMatchObject({ state: 'qemu', device: { driver: 'VGA', source: 'predicted' } });
    expect(s[3]).toMatchObject({ state: 'qemu', device: { driver: 'virtio-balloon-pci', source: 'predicted' } });
    expect(s[8]).toMatchObject({
      state: 'used',
      reserved: true,
      device: { id: 'nic-003fc157-66a8-4e6d', driver: VNET, kind: 'nic', uuid: '003fc157-66a8-4e6d-8b7e-ec4f69751396', source: 'runtime' },
    });
    expect(s[9]).toMatchObject({ state: 'used', device: { id: 'disk-7c079136-2573-4112', kind: 'disk', driver: VBLK } });
    expect(s[10]).toMatchObject({ state: 'used', device: { id: 'disk-9f5c5bd4-6f60-480b', kind: 'disk' } });
    for (const n of [4, 5, 6, 7, 11]) expect(s[n]).toEqual({ slot: n, state: 'qemu', reserved: true });
    for (let n = 12; n < 32; n++) expect(s[n]).toEqual({ slot: n, state: 'free', reserved: false });
  });

  it('reports the three devices inside the reserved range and nothing else; no SCSI bus', () => {
    expect(codes(m)).toEqual(['in-reserved-range', 'in-reserved-range', 'in-reserved-range']);
    expect(m.problems.map((p) => p.message)).toEqual([
      'disk/0 (disk-7c079136-2573-4112) is on slot 0x9, inside the 12 slots left to QEMU (kvm_pci_reservations=12, 0x0–0xb)',
      'disk/1 (disk-9f5c5bd4-6f60-480b) is on slot 0xa, inside the 12 slots left to QEMU (kvm_pci_reservations=12, 0x0–0xb)',
      'nic/0 (nic-003fc157-66a8-4e6d) is on slot 0x8, inside the 12 slots left to QEMU (kvm_pci_reservations=12, 0x0–0xb)',
    ]);
    expect(m.scsi).toBeNull();
  });
});

describe('buildBusModel: scsi.0', () => {
  const scsiRf = (ctrl: string, targets: number[]) =>
    runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', `${ctrl},id=scsi`],
      hvparams: { disk_type: 'scsi-hd', scsi_controller_type: 'lsi' },
      disks: targets.map((t, i) => ({ hvinfo: scsiAt(t, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
    });

  it('builds scsi.0 from the kvm_cmd controller with its real target range', () => {
    for (const [ctrl, max] of [
      ['lsi', 7],
      ['megasas', 64],
      ['virtio-scsi-pci', 255],
      ['dc390', 7],
    ] as const) {
      const m = buildBusModel(scsiRf(ctrl, [2]));
      expect(m.scsi).toMatchObject({ bus: 'scsi.0', controller: ctrl, maxTarget: max });
      expect(m.scsi!.targets).toHaveLength(max + 1);
      expect(m.scsi!.targets[2]).toMatchObject({ state: 'used', device: { id: idOf('disk', 1), driver: 'scsi-hd', kind: 'disk', source: 'runtime' } });
      expect(m.scsi!.targets.filter((t) => t.state === 'used')).toHaveLength(1);
      expect(codes(m)).toEqual([]);
    }
  });

  it('uses the controller kvm_cmd runs, not the one hvparams names now (they differ after a modify)', () => {
    const rf = runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', 'megasas,id=scsi'],
      hvparams: { disk_type: 'scsi-hd', scsi_controller_type: 'lsi' },
    });
    expect(buildBusModel(rf).scsi).toMatchObject({ controller: 'megasas', maxTarget: 64 });
  });

  it('puts the controller on its predicted PCI slot as a QEMU-placed controller', () => {
    const m = buildBusModel(scsiRf('lsi', []));
    // BASE_KVM_CMD: VGA 0x2, balloon 0x3, then lsi 0x4
    expect(m.pci.slots[4]).toMatchObject({ state: 'qemu', device: { driver: 'lsi', id: 'scsi', kind: 'controller', source: 'predicted' } });
  });

  it('target-conflict: two disks on one target', () => {
    const m = buildBusModel(scsiRf('lsi', [3, 3]));
    expect(only(m, 'target-conflict').map((p) => p.message)).toEqual([
      `disk/0 (${idOf('disk', 1)}) and disk/1 (${idOf('disk', 2)}) both on scsi.0 target 3`,
    ]);
  });

  it('target-out-of-range: scsi-id 8 on lsi (QEMU: bad scsi device id: 8)', () => {
    const m = buildBusModel(scsiRf('lsi', [8]));
    expect(only(m, 'target-out-of-range')[0]!.message).toBe(
      `disk/0 (${idOf('disk', 1)}) is on scsi-id 8, lun 0, channel 0: controller lsi accepts scsi-id 0–7 only, QEMU refuses it`,
    );
    expect(m.scsi!.targets.every((t) => t.state === 'free')).toBe(true);
  });

  it('target-out-of-range: a lun lsi does not accept', () => {
    const rf = runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', 'lsi,id=scsi'],
      hvparams: { disk_type: 'scsi-hd' },
      disks: [{ hvinfo: scsiAt(1, idOf('disk', 1), 'scsi-hd', 1) }],
    });
    expect(only(buildBusModel(rf), 'target-out-of-range')[0]!.message).toContain('accepts lun 0–0 only');
  });

  it('ganeti-scsi-range: a scsi-id above 15 is fine for virtio-scsi but breaks Ganeti 3.0\'s next hot-plug', () => {
    const m = buildBusModel(scsiRf('virtio-scsi-pci', [20]));
    expect(m.scsi!.targets[20]!.state).toBe('used');
    expect(only(m, 'ganeti-scsi-range')[0]!.message).toBe(
      `disk/0 (${idOf('disk', 1)}) is on scsi-id 20: Ganeti 3.0 tracks scsi-id 0–15 only, so its next hot-plug on this instance fails (IndexError in _GetBusSlots)`,
    );
  });

  it('scsi-no-controller: SCSI disks and no -device …,id=scsi in kvm_cmd', () => {
    const rf = runtime({ hvparams: { disk_type: 'scsi-hd' }, disks: [{ hvinfo: scsiAt(0, idOf('disk', 1)) }] });
    const m = buildBusModel(rf);
    expect(m.scsi).toBeNull();
    expect(only(m, 'scsi-no-controller')[0]!.message).toBe(
      `disk/0 (${idOf('disk', 1)}) is on scsi.0, but kvm_cmd has no SCSI controller (-device TYPE,id=scsi): QEMU would refuse to start`,
    );
  });

  it('unknown-controller: a controller plugboard has no figures for gets the smallest known range', () => {
    const rf = runtime({ kvmCmd: [...BASE_KVM_CMD, '-device', 'fancy-hba,id=scsi'], hvparams: { disk_type: 'scsi-hd' } });
    const m = buildBusModel(rf);
    expect(m.scsi).toMatchObject({ controller: 'fancy-hba', maxTarget: 7 });
    expect(codes(m)).toContain('unknown-controller');
  });
});

describe('buildBusModel: problems are reported, not hidden', () => {
  it('slot-conflict: a disk and a NIC on one slot, named as the operator knows them', () => {
    const rf = runtime({
      disks: [{ hvinfo: pci(0xd, VBLK, idOf('disk', 1)) }, { hvinfo: pci(0xe, VBLK, 'disk-9f5c5bd4-6f60-480b') }],
      nics: [{ hvinfo: pci(0xe, VNET, idOf('nic', 1)) }],
    });
    const m = buildBusModel(rf);
    expect(only(m, 'slot-conflict').map((p) => p.message)).toEqual([
      `disk/1 (disk-9f5c5bd4-6f60-480b) and nic/0 (${idOf('nic', 1)}) both on slot 0xe`,
    ]);
    expect(m.pci.slots[0xe]).toMatchObject({ state: 'used', device: { id: 'disk-9f5c5bd4-6f60-480b' } });
  });

  it('slot-conflict: a Ganeti device where kvm_cmd puts a device with an explicit addr', () => {
    const rf = runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', 'virtio-rng-pci,addr=0xd'],
      disks: [{ hvinfo: pci(0xd, VBLK, idOf('disk', 1)) }],
    });
    expect(only(buildBusModel(rf), 'slot-conflict')[0]!.message).toMatch(/^disk\/0 \(disk-00000001-0000-4000\) and virtio-rng-pci \[from kvm_cmd: -device virtio-rng-pci,addr=0xd\] both on slot 0xd/);
  });

  it('qemu-slot-clash: a disk on the slot where QEMU itself puts the balloon (QEMU would not start)', () => {
    const rf = runtime({ hvparams: { kvm_pci_reservations: 2 }, disks: [{ hvinfo: pci(3, VBLK, idOf('disk', 1)) }] });
    const m = buildBusModel(rf);
    expect(only(m, 'qemu-slot-clash')[0]!.message).toBe(
      `disk/0 (${idOf('disk', 1)}) is on slot 0x3, where QEMU itself puts virtio-balloon [from kvm_cmd: -device virtio-balloon]: QEMU would refuse to start this instance (a migration target too)`,
    );
    expect(m.pci.slots[3]).toMatchObject({ state: 'used', device: { id: idOf('disk', 1) } });
  });

  it('bad-device-id: an id QEMU refuses', () => {
    const rf = runtime({ disks: [{ hvinfo: pci(0xd, VBLK, '9disk') }] });
    expect(only(buildBusModel(rf), 'bad-device-id')[0]!.message).toBe('disk/0 (9disk): device id "9disk" must start with a letter');
  });

  it('duplicate-id: two devices with one id, also against kvm_cmd devices', () => {
    const rf = runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', 'lsi,id=scsi'],
      hvparams: { disk_type: 'scsi-hd' },
      disks: [{ hvinfo: scsiAt(0, 'scsi') }, { hvinfo: scsiAt(1, idOf('disk', 2)) }],
      nics: [{ hvinfo: pci(0xd, VNET, idOf('disk', 2)) }],
    });
    expect(only(buildBusModel(rf), 'duplicate-id').map((p) => p.message)).toEqual([
      'device id scsi is used by disk/0 and kvm_cmd -device lsi: QEMU refuses a duplicate device id',
      `device id ${idOf('disk', 2)} is used by disk/1 and nic/0: QEMU refuses a duplicate device id`,
    ]);
  });

  it('unknown-bus: a device on a bus plugboard and Ganeti do not model', () => {
    const rf = unchecked(runtime({ disks: [{ hvinfo: pci(0xd, VBLK, idOf('disk', 1)) }] }), (r) => {
      r.disks[0]!.hvinfo = { driver: VBLK, id: idOf('disk', 1), bus: 'pci.1', addr: '0x3' };
      return r;
    });
    expect(only(buildBusModel(rf), 'unknown-bus')[0]!.message).toContain('is on bus "pci.1"');
  });

  it('bad-addr: an addr outside pci.0 (in hvinfo, or on a kvm_cmd device)', () => {
    const rf = unchecked(runtime({ kvmCmd: [...BASE_KVM_CMD, '-device', 'virtio-rng-pci,addr=0x20'], disks: [{ hvinfo: pci(0xd, VBLK, idOf('disk', 1)) }] }), (r) => {
      r.disks[0]!.hvinfo = { driver: VBLK, id: idOf('disk', 1), bus: 'pci.0', addr: '0x25' };
      return r;
    });
    expect(only(buildBusModel(rf), 'bad-addr').map((p) => p.message)).toEqual([
      `disk/0 (${idOf('disk', 1)}): addr "0x25" is not a slot of pci.0 (0x0–0x1f)`,
      'virtio-rng-pci [from kvm_cmd: -device virtio-rng-pci,addr=0x20]: addr=0x20 is not a slot of pci.0: QEMU refuses it',
    ]);
  });

  it('wrong-bus: a non-PCI device on pci.0 (ne2k_isa), a PCI device on scsi.0', () => {
    const rf = runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', 'lsi,id=scsi'],
      hvparams: { disk_type: 'scsi-hd', nic_type: 'ne2k_isa' },
      disks: [{ hvinfo: { driver: VBLK, id: idOf('disk', 1), bus: 'scsi.0', channel: 0, 'scsi-id': 0, lun: 0 } }],
      nics: [{ hvinfo: pci(0xd, 'ne2k_isa', idOf('nic', 1)) }],
    });
    expect(only(buildBusModel(rf), 'wrong-bus').map((p) => p.message)).toEqual([
      `disk/0 (${idOf('disk', 1)}): virtio-blk-pci is not a SCSI device but hvinfo puts it on scsi.0: QEMU refuses it`,
      `nic/0 (${idOf('nic', 1)}): ne2k_isa is not a PCI device but hvinfo puts it on pci.0 slot 0xd: QEMU refuses it`,
    ]);
  });

  it('pcie-root-bus: machine q35', () => {
    const rf = runtime({ kvmCmd: ['/usr/bin/kvm', '-machine', 'pc-q35-7.2,accel=kvm'] });
    expect(only(buildBusModel(rf), 'pcie-root-bus')[0]!.message).toContain('machine pc-q35-7.2 (Q35) has a PCIe root bus (pcie.0)');
  });

  it('unsupported-machine: a machine that is neither pc nor q35', () => {
    expect(codes(buildBusModel(runtime({ kvmCmd: ['/usr/bin/kvm', '-M', 'microvm'] })))).toEqual(['unsupported-machine']);
  });

  it('too-many-disks / too-many-nics: beyond Ganeti\'s 16 disks and 8 NICs', () => {
    const rf = runtime({
      hvparams: { kvm_pci_reservations: 4 },
      disks: Array.from({ length: 17 }, (_, i) => ({ hvinfo: pci(5 + i, VBLK, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
      nics: Array.from({ length: 9 }, (_, i) => ({ hvinfo: pci(22 + i, VNET, idOf('nic', i + 1)), uuid: uuid(0x50 + i) })),
    });
    const m = buildBusModel(rf);
    expect(only(m, 'too-many-disks')[0]!.message).toBe('17 disks: Ganeti allows at most 16 per instance');
    expect(only(m, 'too-many-nics')[0]!.message).toBe('9 NICs: Ganeti allows at most 8 per instance');
  });

  it('no-hvinfo: a paravirtual disk without hvinfo (Ganeti 3.0 cannot start it)', () => {
    const rf = runtime({ disks: [{ hvinfo: {} }] });
    expect(codes(buildBusModel(rf))).toEqual(['no-hvinfo']);
  });

  it('a NIC without hvinfo is placed by QEMU after the kvm_cmd devices (Ganeti passes -device MODEL without addr)', () => {
    const rf = runtime({ hvparams: { nic_type: 'e1000' }, nics: [{ hvinfo: {} }] });
    const m = buildBusModel(rf);
    expect(codes(m)).toEqual([]);
    expect(m.pci.slots[4]).toMatchObject({ state: 'qemu', device: { driver: 'e1000', kind: 'nic', uuid: uuid(0x200), source: 'predicted' } });
  });

  it('legacy-disk-type: disk_type scsi (-drive if=scsi, refused by QEMU 2.12+ on pc); ide disks keep a paper slot', () => {
    const scsi = runtime({ hvparams: { disk_type: 'scsi' }, disks: [{ hvinfo: pci(0xc, 'scsi', idOf('disk', 1)) }] });
    expect(codes(buildBusModel(scsi))).toEqual(['legacy-disk-type']);
    const ide = buildBusModel(runtime({ hvparams: { disk_type: 'ide' }, disks: [{ hvinfo: pci(0xc, 'ide', idOf('disk', 1)) }] }));
    expect(codes(ide)).toEqual([]);
    expect(ide.pci.slots[0xc]).toMatchObject({ state: 'used', device: { driver: 'ide', description: expect.stringContaining('no device on this slot') } });
  });

  it('disk-type-mismatch: a virtio disk while disk_type is ide (Ganeti rebuilds it as IDE), an ide hvinfo while disk_type is paravirtual', () => {
    const a = runtime({ hvparams: { disk_type: 'ide' }, disks: [{ hvinfo: pci(0xc, VBLK, idOf('disk', 1)) }] });
    expect(only(buildBusModel(a), 'disk-type-mismatch')[0]!.message).toContain('Ganeti 3.0 starts every disk as -drive if=ide');
    const b = runtime({ disks: [{ hvinfo: pci(0xc, 'ide', idOf('disk', 1)) }] });
    expect(only(buildBusModel(b), 'disk-type-mismatch')[0]!.message).toContain('would pass -device ide');
  });

  it('unknown-device / unpredictable-option / old-qemu-option: what the kvm_cmd prediction cannot vouch for', () => {
    const rf = runtime({ kvmCmd: [...BASE_KVM_CMD, '-device', 'frob-pci-thing', '-readconfig', '/etc/x.cfg', '-soundhw', 'hda'] });
    expect(codes(buildBusModel(rf)).sort()).toEqual(['old-qemu-option', 'unknown-device', 'unpredictable-option']);
  });

  it('pci-full: more kvm_cmd devices than slots', () => {
    const rf = runtime({ kvmCmd: nodefaults(...Array.from({ length: 31 }, () => 'virtio-rng-pci')), hvparams: { kvm_pci_reservations: 0 } });
    expect(codes(buildBusModel(rf))).toEqual(['pci-full']);
  });

  it('bad-reservations: a kvm_pci_reservations outside 0–32 is clamped and reported', () => {
    const rf = unchecked(runtime(), (r) => {
      r.hvparams.kvm_pci_reservations = 40;
      return r;
    });
    const m = buildBusModel(rf);
    expect(m.pci.reservations).toBe(32);
    expect(codes(m)).toEqual(['bad-reservations']);
  });

  it('kvm_pci_reservations=0 leaves no slot to QEMU on paper, but QEMU\'s own devices stay qemu', () => {
    const m = buildBusModel(runtime({ hvparams: { kvm_pci_reservations: 0 } }));
    expect(m.pci.slots.filter((s) => s.reserved)).toEqual([]);
    expect(m.pci.slots.slice(0, 5).map((s) => s.state)).toEqual(['qemu', 'qemu', 'qemu', 'qemu', 'free']);
  });
});
