import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocate } from '../../src/bus/allocate.js';
import { buildBusModel } from '../../src/bus/model.js';
import type { Allocation, AllocationResult, BusModel } from '../../src/bus/types.js';
import type { RuntimeFile } from '../../src/runtime/types.js';
import { ganetiAvailable, ganetiNextSlot, GanetiRaisedError } from '../helpers/ganeti.js';
import { BASE_KVM_CMD, FIXTURE, fixture, idOf, nodefaults, pci, runtime, runtimeText, scsiAt, uuid, type RuntimeSpec } from './bus-helpers.js';

const VBLK = 'virtio-blk-pci';
const VNET = 'virtio-net-pci';

function ok(r: AllocationResult): Allocation {
  if (!r.ok) throw new Error(`expected an allocation, got: ${r.error}`);
  return r.allocation;
}
function refused(r: AllocationResult): string {
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r.allocation)}`);
  return r.error;
}
const next = (rf: RuntimeFile, kind: 'disk' | 'nic', type?: string, model: BusModel = buildBusModel(rf)) =>
  allocate(model, rf, type === undefined ? { kind } : { kind, type });

describe('allocate: PCI slots', () => {
  it('gives a new disk and a new NIC of the fixture slot 0xc, as Ganeti 3.0 does', () => {
    const rf = fixture();
    expect(ok(next(rf, 'disk'))).toEqual({ bus: 'pci.0', addr: '0xc', slot: 12, skipped: [] });
    expect(ok(next(rf, 'nic'))).toEqual({ bus: 'pci.0', addr: '0xc', slot: 12, skipped: [] });
  });

  it('never hands out a slot QEMU takes by itself: with kvm_pci_reservations=2, VGA on 0x2 and the balloon on 0x3 are skipped, with the reason', () => {
    const rf = runtime({ hvparams: { kvm_pci_reservations: 2 } });
    const a = ok(next(rf, 'disk'));
    expect(a).toMatchObject({ bus: 'pci.0', addr: '0x4', slot: 4 });
    expect(a.bus === 'pci.0' && a.skipped).toEqual([
      { slot: 2, reason: 'QEMU puts VGA here by itself: VGA card (QEMU default; -nodefaults or -vga none removes it)' },
      { slot: 3, reason: 'QEMU puts virtio-balloon here by itself: from kvm_cmd: -device virtio-balloon' },
    ]);
  });

  it('skips a kvm_cmd device with an explicit addr (Ganeti does not count it)', () => {
    const rf = runtime({ kvmCmd: [...BASE_KVM_CMD, '-device', 'virtio-rng-pci,id=rng0,addr=0xc'] });
    const a = ok(next(rf, 'nic'));
    expect(a).toMatchObject({ addr: '0xd', skipped: [{ slot: 12, reason: 'kvm_cmd puts virtio-rng-pci (id rng0) here: from kvm_cmd: -device virtio-rng-pci,id=rng0,addr=0xc' }] });
  });

  it('honours a live overlay: a slot the running QEMU uses is skipped with that reason', () => {
    const rf = fixture();
    const model = buildBusModel(rf);
    model.pci.slots[12] = { slot: 12, state: 'used', reserved: false, device: { id: 'x1', driver: 'virtio-rng-pci', kind: 'other', source: 'live' } };
    const a = ok(allocate(model, rf, { kind: 'disk' }));
    expect(a).toMatchObject({ addr: '0xd', skipped: [{ slot: 12, reason: 'the running QEMU has virtio-rng-pci (id x1) here' }] });
  });

  it('refuses when pci.0 is full', () => {
    const rf = runtime({
      hvparams: { kvm_pci_reservations: 28 },
      disks: [0x1c, 0x1d, 0x1e, 0x1f].map((s, i) => ({ hvinfo: pci(s, VBLK, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
    });
    expect(refused(next(rf, 'nic'))).toBe('pci.0 is full: no free slot in 0x1c–0x1f (kvm_pci_reservations=28 leaves slots 0x0–0x1b to QEMU)');
  });

  it('refuses when kvm_pci_reservations leaves every slot to QEMU, and counts slots Ganeti would not', () => {
    expect(refused(next(runtime({ hvparams: { kvm_pci_reservations: 32 } }), 'nic'))).toBe(
      'pci.0 has no slot for hot-added devices: kvm_pci_reservations=32 leaves all 32 slots to QEMU',
    );
    const rf = runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', 'virtio-rng-pci,addr=0x1f'],
      hvparams: { kvm_pci_reservations: 30 },
      disks: [{ hvinfo: pci(0x1e, VBLK, idOf('disk', 1)) }],
    });
    expect(refused(next(rf, 'disk'))).toBe(
      "pci.0 is full: no free slot in 0x1e–0x1f (kvm_pci_reservations=30 leaves slots 0x0–0x1d to QEMU); 1 of them is taken by devices Ganeti does not count (QEMU's own, kvm_cmd's, or seen live)",
    );
  });

  it('refuses at Ganeti\'s 16 disks and 8 NICs', () => {
    const rf = runtime({
      hvparams: { kvm_pci_reservations: 4 },
      disks: Array.from({ length: 16 }, (_, i) => ({ hvinfo: pci(4 + i, VBLK, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
      nics: Array.from({ length: 8 }, (_, i) => ({ hvinfo: pci(20 + i, VNET, idOf('nic', i + 1)), uuid: uuid(0x40 + i) })),
    });
    expect(refused(next(rf, 'disk'))).toBe("the instance already has 16 disks, Ganeti's maximum is 16");
    expect(refused(next(rf, 'nic'))).toBe("the instance already has 8 NICs, Ganeti's maximum is 8");
  });
});

describe('allocate: refusals for what cannot be hot-added', () => {
  it('refuses disk_type scsi (legacy -drive if=scsi) and does NOT fall back to virtio-blk-pci', () => {
    const rf = runtime({ hvparams: { disk_type: 'scsi' } });
    const error = refused(next(rf, 'disk'));
    expect(error).toBe(
      'disk_type scsi is the legacy -drive if=scsi, which cannot be hot-added: hot-add needs disk_type scsi-hd (plugboard does not fall back to virtio-blk-pci)',
    );
    // asked explicitly for the legacy type on a paravirtual instance: the same refusal
    expect(refused(next(runtime(), 'disk', 'scsi'))).toBe(error);
  });

  it('refuses ide (and the other -drive if= types)', () => {
    for (const t of ['ide', 'sd', 'mtd', 'pflash']) {
      expect(refused(next(runtime(), 'disk', t))).toBe(`disk_type ${t} (-drive if=${t}) cannot be hot-added: hot-add needs paravirtual or a scsi-* type`);
    }
  });

  it('refuses any disk on an instance running with a legacy disk_type (Ganeti would rebuild it as -drive if=ide)', () => {
    const rf = runtime({ hvparams: { disk_type: 'ide' } });
    expect(refused(next(rf, 'disk', 'paravirtual'))).toBe(
      'the instance runs with disk_type ide: Ganeti 3.0 rebuilds every disk as -drive if=ide at a migration or restart, so a hot-added paravirtual disk would not come back as it was added',
    );
  });

  it('refuses ne2k_isa NICs', () => {
    expect(refused(next(runtime({ hvparams: { nic_type: 'ne2k_isa' } }), 'nic'))).toContain('nic_type ne2k_isa is an ISA card and cannot be hot-added');
    expect(ok(next(runtime({ hvparams: { nic_type: 'ne2k_isa' } }), 'nic', 'e1000'))).toMatchObject({ addr: '0xc' });
  });

  it('refuses a SCSI disk when kvm_cmd has no controller, with the way out', () => {
    expect(refused(next(runtime(), 'disk', 'scsi-hd'))).toBe(
      'no SCSI controller in kvm_cmd: hot-adding one is not supported; the instance needs disk_type=scsi-hd at its next start',
    );
  });

  it('refuses on machine q35, naming the PCIe root bus', () => {
    const rf = runtime({ kvmCmd: ['/usr/bin/kvm', '-machine', 'q35'] });
    expect(refused(next(rf, 'nic'))).toBe('machine q35 (Q35) has a PCIe root bus (pcie.0): hot-plugging on pci.0 slots the way Ganeti does is not possible there');
    expect(refused(next(runtime({ kvmCmd: ['/usr/bin/kvm', '-M', 'isapc'] }), 'disk'))).toContain('machine isapc is not the i440FX "pc" machine');
  });

  it('refuses unknown types, listing the valid ones', () => {
    expect(refused(next(runtime(), 'disk', 'nvme'))).toMatch(/^unknown disk_type nvme \(one of: paravirtual, ide, /);
    expect(refused(next(runtime(), 'nic', 'vmxnet3'))).toMatch(/^unknown nic_type vmxnet3 \(one of: paravirtual, /);
  });
});

describe('allocate: SCSI targets', () => {
  const scsiRf = (ctrl: string, targets: number[]) =>
    runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', `${ctrl},id=scsi`],
      hvparams: { disk_type: 'scsi-hd' },
      disks: targets.map((t, i) => ({ hvinfo: scsiAt(t, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
    });

  it('gives the lowest free target, channel 0, lun 0', () => {
    expect(ok(next(scsiRf('lsi', [0, 1, 3]), 'disk'))).toEqual({ bus: 'scsi.0', 'scsi-id': 2, channel: 0, lun: 0, skipped: [] });
    expect(ok(next(scsiRf('lsi', []), 'disk'))).toMatchObject({ 'scsi-id': 0 });
  });

  it('refuses on a full lsi (0–7) and says Ganeti would pick 8, which QEMU refuses', () => {
    expect(refused(next(scsiRf('lsi', [0, 1, 2, 3, 4, 5, 6, 7]), 'disk'))).toBe(
      'scsi.0 is full: controller lsi accepts scsi-id 0–7 only and all are used; Ganeti 3.0 would choose scsi-id 8, which QEMU refuses ("bad scsi device id: 8")',
    );
  });

  it('goes beyond 7 on megasas, and stays within Ganeti\'s 0–15', () => {
    const eight = Array.from({ length: 8 }, (_, i) => i);
    expect(ok(next(scsiRf('megasas', eight), 'disk'))).toMatchObject({ 'scsi-id': 8 });
    const sixteen = Array.from({ length: 16 }, (_, i) => i);
    const rf = runtime({
      kvmCmd: [...BASE_KVM_CMD, '-device', 'virtio-scsi-pci,id=scsi'],
      hvparams: { disk_type: 'scsi-hd' },
      disks: sixteen.slice(0, 15).map((t, i) => ({ hvinfo: scsiAt(t, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
    });
    expect(ok(next(rf, 'disk'))).toMatchObject({ 'scsi-id': 15 });
  });

  it('skips a target the live layer saw in use', () => {
    const rf = scsiRf('lsi', [0]);
    const model = buildBusModel(rf);
    model.scsi!.targets[1] = { target: 1, state: 'used', device: { id: 'sd9', driver: 'scsi-hd', kind: 'disk', source: 'live' } };
    expect(ok(allocate(model, rf, { kind: 'disk' }))).toEqual({
      bus: 'scsi.0',
      'scsi-id': 2,
      channel: 0,
      lun: 0,
      skipped: [{ target: 1, reason: 'the running QEMU has scsi-hd (id sd9) here' }],
    });
  });

  it('hot-adds a paravirtual disk to a scsi-hd instance on pci.0 when asked (no silent type change either way)', () => {
    expect(ok(next(scsiRf('lsi', [0]), 'disk', 'paravirtual'))).toMatchObject({ bus: 'pci.0', addr: '0xc' });
  });
});

// ---------------------------------------------------------------------------------------------
// Properties (fast-check): the allocator against an independent model of Ganeti 3.0's choice.

/** Ganeti's `_GetBusSlots` + `GetFreeSlot`, written out again from its source, for comparison. */
function ganetiChoice(reservations: number, used: number[], width: number): number | null {
  const bits = Array.from({ length: width }, (_, i) => i < reservations);
  for (const u of used) bits[u] = true;
  const i = bits.indexOf(false);
  return i < 0 ? null : i;
}

const KVM_DEVICE_POOL = [
  'virtio-balloon',
  'virtio-rng-pci',
  'virtio-serial,id=qga0',
  'usb-tablet',
  'virtserialport,chardev=c0,name=x',
  'i6300esb',
  'intel-hda',
  'virtio-rng-pci,addr=0x1e',
  'virtio-rng-pci,addr=0x10',
];

const arbPciState = fc.record({
  reservations: fc.integer({ min: 0, max: 32 }),
  nodefaults: fc.boolean(),
  kvmDevices: fc.uniqueArray(fc.integer({ min: 0, max: KVM_DEVICE_POOL.length - 1 }), { maxLength: 6 }).map((ix) => ix.map((i) => KVM_DEVICE_POOL[i]!)),
  diskSlots: fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { maxLength: 10 }),
  nicSlots: fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { maxLength: 6 }),
  live: fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { maxLength: 4 }),
});

type PciState = typeof arbPciState extends fc.Arbitrary<infer T> ? T : never;

function pciRuntime(s: PciState): RuntimeFile {
  const spec: RuntimeSpec = {
    kvmCmd: s.nodefaults ? nodefaults(...s.kvmDevices) : ['/usr/bin/kvm', '-usb', ...s.kvmDevices.flatMap((d) => ['-device', d])],
    hvparams: { kvm_pci_reservations: s.reservations },
    disks: s.diskSlots.map((slot, i) => ({ hvinfo: pci(slot, VBLK, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
    nics: s.nicSlots.map((slot, i) => ({ hvinfo: pci(slot, VNET, idOf('nic', i + 1)), uuid: uuid(0x40 + i) })),
  };
  return runtime(spec);
}

function withLive(model: BusModel, live: number[]): BusModel {
  for (const slot of live) {
    const s = model.pci.slots[slot]!;
    if (s.state === 'free') model.pci.slots[slot] = { ...s, state: 'used', device: { id: `live${slot}`, driver: 'e1000', kind: 'nic', source: 'live' } };
  }
  return model;
}

describe('allocate: properties', () => {
  it('a PCI allocation is always a free slot at or above the reservations, never QEMU\'s or live, and the lowest such; refused iff there is none', () => {
    fc.assert(
      fc.property(arbPciState, (s) => {
        const rf = pciRuntime(s);
        const model = withLive(buildBusModel(rf), s.live);
        const r = allocate(model, rf, { kind: 'nic' });
        const res = model.pci.reservations;
        const candidates = model.pci.slots.filter((x) => x.slot >= res && x.state === 'free').map((x) => x.slot);
        if (candidates.length === 0) {
          expect(r.ok).toBe(false);
          return;
        }
        const a = ok(r);
        expect(a.bus).toBe('pci.0');
        if (a.bus !== 'pci.0') return;
        expect(a.slot).toBe(candidates[0]);
        expect(a.addr).toBe(`0x${a.slot.toString(16)}`);
        const slot = model.pci.slots[a.slot]!;
        expect(slot.state).toBe('free');
        expect(slot.device).toBeUndefined();
        expect(a.slot).toBeGreaterThanOrEqual(res);
        expect(s.diskSlots).not.toContain(a.slot);
        expect(s.nicSlots).not.toContain(a.slot);
        // every slot between Ganeti's view and ours that was skipped says why
        for (const k of a.skipped) {
          expect(model.pci.slots[k.slot]!.state).not.toBe('free');
          expect(k.reason.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('equals Ganeti 3.0\'s choice whenever nothing QEMU places lies at or above the reservations', () => {
    fc.assert(
      fc.property(arbPciState, (s) => {
        const rf = pciRuntime(s);
        const model = buildBusModel(rf);
        const res = model.pci.reservations;
        const qemuAbove = model.pci.slots.some((x) => x.slot >= res && x.device !== undefined && x.device.source !== 'runtime');
        fc.pre(!qemuAbove);
        const g = ganetiChoice(s.reservations, [...s.diskSlots, ...s.nicSlots], 32);
        const r = allocate(model, rf, { kind: 'disk' });
        if (g === null) expect(r.ok).toBe(false);
        else expect(ok(r)).toEqual({ bus: 'pci.0', addr: `0x${g.toString(16)}`, slot: g, skipped: [] });
      }),
      { numRuns: 300 },
    );
  });

  const arbScsi = fc.record({
    controller: fc.constantFrom('lsi', 'megasas', 'virtio-scsi-pci', 'dc390'),
    targets: fc.uniqueArray(fc.integer({ min: 0, max: 20 }), { maxLength: 15 }),
  });

  it('a SCSI allocation is the lowest free target within the controller\'s range and Ganeti\'s 0–15; refused iff none', () => {
    const max: Record<string, number> = { lsi: 7, megasas: 64, 'virtio-scsi-pci': 255, dc390: 7 };
    fc.assert(
      fc.property(arbScsi, ({ controller, targets }) => {
        const rf = runtime({
          kvmCmd: [...BASE_KVM_CMD, '-device', `${controller},id=scsi`],
          hvparams: { disk_type: 'scsi-hd' },
          disks: targets.map((t, i) => ({ hvinfo: scsiAt(t, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
        });
        const r = next(rf, 'disk');
        const limit = Math.min(max[controller]!, 15);
        const free = Array.from({ length: limit + 1 }, (_, t) => t).filter((t) => !targets.includes(t));
        if (free.length === 0) {
          expect(r.ok).toBe(false);
          return;
        }
        const a = ok(r);
        expect(a).toEqual({ bus: 'scsi.0', 'scsi-id': free[0], channel: 0, lun: 0, skipped: [] });
        // Ganeti's own choice agrees whenever it lies within the controller's range
        const g = ganetiChoice(0, targets.filter((t) => t < 16), 16);
        if (g !== null && g <= limit) expect(free[0]).toBe(g);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Against Ganeti 3.0's own code (test/compat/ganeti_runtime.py next-slot), when it is installed.

describe.skipIf(!ganetiAvailable())('allocate: the same slot as Ganeti 3.0\'s HotAddDevice', () => {
  // Made when the suite runs (a skipped suite's body still runs at collection, its hooks do not).
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pb-bus-alloc-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const file = (spec: RuntimeSpec): string => {
    const p = path.join(dir, `i${n++}.runtime`);
    writeFileSync(p, runtimeText(spec));
    return p;
  };
  const placeOf = (a: Allocation) => (a.bus === 'pci.0' ? { bus: 'pci.0', addr: a.addr } : { bus: 'scsi.0', 'scsi-id': a['scsi-id'] });

  it('the fixture: disk and NIC at 0xc', () => {
    for (const kind of ['disk', 'nic'] as const) {
      const g = ganetiNextSlot(FIXTURE, kind);
      expect(placeOf(ok(next(fixture(), kind)))).toEqual({ bus: g.bus, addr: (g as { addr: string }).addr });
    }
  });

  it('PCI with gaps and reservations 8', () => {
    const spec: RuntimeSpec = {
      kvmCmd: nodefaults('virtio-balloon'),
      hvparams: { kvm_pci_reservations: 8 },
      disks: [8, 9, 11].map((s, i) => ({ hvinfo: pci(s, VBLK, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
      nics: [{ hvinfo: pci(12, VNET, idOf('nic', 1)) }],
    };
    const g = ganetiNextSlot(file(spec), 'nic') as { addr: string };
    expect(placeOf(ok(next(runtime(spec), 'nic')))).toEqual({ bus: 'pci.0', addr: g.addr });
    expect(g.addr).toBe('0xa');
  });

  it('SCSI: lowest free target on lsi; on a full lsi Ganeti picks 8 where plugboard refuses', () => {
    const spec = (targets: number[]): RuntimeSpec => ({
      kvmCmd: [...BASE_KVM_CMD, '-device', 'lsi,id=scsi'],
      hvparams: { disk_type: 'scsi-hd' },
      disks: targets.map((t, i) => ({ hvinfo: scsiAt(t, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
    });
    const some = spec([0, 2]);
    const g = ganetiNextSlot(file(some), 'disk') as { 'scsi-id': number };
    expect(placeOf(ok(next(runtime(some), 'disk')))).toEqual({ bus: 'scsi.0', 'scsi-id': g['scsi-id'] });
    const full = spec([0, 1, 2, 3, 4, 5, 6, 7]);
    expect((ganetiNextSlot(file(full), 'disk') as { 'scsi-id': number })['scsi-id']).toBe(8);
    expect(refused(next(runtime(full), 'disk'))).toContain('Ganeti 3.0 would choose scsi-id 8');
  });

  it('a full bus: Ganeti raises "All slots occupied", plugboard refuses', () => {
    const spec: RuntimeSpec = {
      hvparams: { kvm_pci_reservations: 30 },
      disks: [30, 31].map((s, i) => ({ hvinfo: pci(s, VBLK, idOf('disk', i + 1)), uuid: uuid(i + 1) })),
    };
    expect(() => ganetiNextSlot(file(spec), 'disk')).toThrow(GanetiRaisedError);
    expect(refused(next(runtime(spec), 'disk'))).toMatch(/^pci\.0 is full/);
  });
});
