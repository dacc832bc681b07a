import { describe, expect, it } from 'vitest';
import { predictPci } from '../../src/bus/kvmcmd.js';
import { machineFamily, machineOf } from '../../src/bus/kvmcmd-options.js';
import type { Prediction } from '../../src/bus/prediction.js';
import { parseQemuArgv, parseOptsValue, parsePciAddr, withoutOptions } from '../../src/qemu/argv.js';
import { fixture, nodefaults } from './bus-helpers.js';

/** slot → QEMU type of what QEMU places there. */
function layout(p: Prediction): Record<number, string> {
  return Object.fromEntries(p.devices.map((d) => [d.slot, d.qomType]));
}

describe('predictPci: what QEMU 7.2 puts on pci.0 by itself (machine pc)', () => {
  it('places -device without addr at the lowest free slot in command-line order (measured: balloon 0x2, lsi 0x3)', () => {
    const p = predictPci({ kvmCmd: nodefaults('virtio-balloon', 'lsi,id=scsi') });
    expect(layout(p)).toEqual({ 0: 'i440FX-pcihost', 1: 'PIIX3', 2: 'virtio-balloon-pci', 3: 'lsi53c895a' });
    expect(p.scsiController).toEqual({ driver: 'lsi', qomType: 'lsi53c895a', argIndex: 6, slot: 3 });
  });

  it('puts the default VGA card on slot 2 when there is no -nodefaults, pushing kvm_cmd devices up', () => {
    const p = predictPci({ kvmCmd: ['/usr/bin/kvm', '-device', 'virtio-balloon', '-device', 'lsi,id=scsi'] });
    expect(layout(p)).toEqual({ 0: 'i440FX-pcihost', 1: 'PIIX3', 2: 'VGA', 3: 'virtio-balloon-pci', 4: 'lsi53c895a' });
  });

  it('keeps the VGA card with -nographic and -display none (they only change the display), drops it with -vga none', () => {
    for (const opt of [['-nographic'], ['-display', 'none']]) {
      expect(layout(predictPci({ kvmCmd: ['/usr/bin/kvm', ...opt, '-device', 'virtio-balloon'] }))[2]).toBe('VGA');
    }
    expect(layout(predictPci({ kvmCmd: ['/usr/bin/kvm', '-vga', 'none', '-device', 'virtio-balloon'] }))[2]).toBe('virtio-balloon-pci');
  });

  it('creates the card -vga asks for on slot 2, even with -nodefaults', () => {
    expect(layout(predictPci({ kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-vga', 'qxl'] }))[2]).toBe('qxl-vga');
    expect(layout(predictPci({ kvmCmd: ['/usr/bin/kvm', '-vga', 'cirrus'] }))[2]).toBe('cirrus-vga');
  });

  it('drops the default VGA when a VGA -device is given; that card goes where its -device lands', () => {
    const p = predictPci({ kvmCmd: ['/usr/bin/kvm', '-device', 'virtio-balloon', '-device', 'VGA'] });
    expect(layout(p)).toMatchObject({ 2: 'virtio-balloon-pci', 3: 'VGA' });
  });

  it('takes no slot for -usb and -usbdevice (UHCI is function 01.2) and says so on slot 1', () => {
    const p = predictPci({ kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-usb', '-usbdevice', 'tablet', '-device', 'usb-tablet'] });
    expect(Object.keys(layout(p))).toEqual(['0', '1']);
    expect(p.devices[1]!.description).toContain('01.2 USB');
    const noUsb = predictPci({ kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-no-acpi'] });
    expect(noUsb.devices[1]!.description).toBe('ISA bridge (PIIX3; +01.1 IDE)');
  });

  it('reads the fixture kvm_cmd (-balloon virtio, -usb, -usbdevice tablet, no -vga): VGA 0x2, balloon 0x3', () => {
    const rf = fixture();
    const p = predictPci({ kvmCmd: rf.kvmCmd });
    expect(p.machine).toEqual({ type: 'pc-1.1', family: 'i440fx', explicit: true });
    expect(layout(p)).toEqual({ 0: 'i440FX-pcihost', 1: 'PIIX3', 2: 'VGA', 3: 'virtio-balloon-pci' });
    expect(p.devices[3]!.description).toContain('-balloon virtio');
  });

  it('gives a device with addr= that slot, and later devices without addr go around it', () => {
    const p = predictPci({ kvmCmd: nodefaults('virtio-rng-pci,addr=0x2', 'virtio-balloon') });
    expect(layout(p)).toMatchObject({ 2: 'virtio-rng-pci', 3: 'virtio-balloon-pci' });
    expect(p.devices.find((d) => d.slot === 2)!.placement).toBe('explicit');
  });

  it('records a device whose addr= an earlier device already took as a clash (QEMU would not start)', () => {
    const p = predictPci({ kvmCmd: nodefaults('virtio-balloon', 'virtio-rng-pci,addr=0x2') });
    expect(p.clashes).toHaveLength(1);
    expect(p.clashes[0]!.device.qomType).toBe('virtio-rng-pci');
    expect(p.clashes[0]!.holder.qomType).toBe('virtio-balloon-pci');
  });

  it('rejects an addr QEMU rejects (0x20)', () => {
    const p = predictPci({ kvmCmd: nodefaults('virtio-rng-pci,addr=0x20') });
    expect(p.badAddr).toEqual([expect.objectContaining({ driver: 'virtio-rng-pci', addr: '0x20' })]);
  });

  it('creates start-time devices (Ganeti NICs, disks) after kvm_cmd devices: a NIC without hvinfo gets the next free slot', () => {
    const p = predictPci({
      kvmCmd: nodefaults('virtio-balloon'),
      startDevices: [
        { driver: 'virtio-net-pci', id: 'nic-a', slot: 3, owner: { kind: 'nic', index: 0 } },
        { driver: 'e1000', owner: { kind: 'nic', index: 1 } },
      ],
    });
    expect(layout(p)).toMatchObject({ 2: 'virtio-balloon-pci', 3: 'virtio-net-pci', 4: 'e1000' });
    expect(p.devices.find((d) => d.slot === 4)!.owner).toEqual({ kind: 'nic', index: 1 });
  });

  it('adds QEMU default e1000 only when nothing configures the network and Ganeti adds nothing at start', () => {
    expect(layout(predictPci({ kvmCmd: ['/usr/bin/kvm'], networkAtStart: false }))[3]).toBe('e1000');
    expect(layout(predictPci({ kvmCmd: ['/usr/bin/kvm'] }))[3]).toBeUndefined();
    expect(layout(predictPci({ kvmCmd: ['/usr/bin/kvm', '-net', 'none'], networkAtStart: false }))[3]).toBeUndefined();
    expect(layout(predictPci({ kvmCmd: ['/usr/bin/kvm', '-nodefaults'], networkAtStart: false }))[2]).toBeUndefined();
  });

  it('creates NICs at board init, before every -device: -nic ones first, then -net nic (ne2k_isa takes no slot; measured)', () => {
    const p = predictPci({
      kvmCmd: ['/usr/bin/kvm', '-nodefaults', '-device', 'virtio-balloon', '-net', 'nic,model=virtio', '-net', 'nic,model=ne2k_isa', '-nic', 'user'],
    });
    expect(layout(p)).toEqual({ 0: 'i440FX-pcihost', 1: 'PIIX3', 2: 'e1000', 3: 'virtio-net-pci', 4: 'virtio-balloon-pci' });
  });

  it('creates -audio model= cards (QEMU 7.1+) before every -device (measured: AC97 0x2, balloon 0x3)', () => {
    const p = predictPci({ kvmCmd: nodefaults('virtio-balloon').concat(['-audio', 'none,model=ac97']) });
    expect(layout(p)).toMatchObject({ 2: 'AC97', 3: 'virtio-balloon-pci' });
  });

  it('creates -soundhw cards after board init and before -device (and notes QEMU 7.1 removed -soundhw)', () => {
    const p = predictPci({ kvmCmd: ['/usr/bin/kvm', '-device', 'virtio-balloon', '-soundhw', 'ac97,sb16'] });
    expect(layout(p)).toMatchObject({ 2: 'VGA', 3: 'AC97', 4: 'virtio-balloon-pci' });
    expect(p.notes[0]).toContain('QEMU 7.1 removed -soundhw (7.2 refuses it)');
  });

  it('adds a virtio-blk-pci for -drive if=virtio after all -device options, and JSON -device after those', () => {
    const p = predictPci({
      kvmCmd: [
        '/usr/bin/kvm',
        '-nodefaults',
        '-device',
        '{"driver": "virtio-rng-pci", "id": "rng0"}',
        '-drive',
        'file=/srv/cd.iso,media=cdrom,format=raw,if=virtio',
        '-device',
        'virtio-balloon',
      ],
    });
    expect(layout(p)).toMatchObject({ 2: 'virtio-balloon-pci', 3: 'virtio-blk-pci', 4: 'virtio-rng-pci' });
    expect(p.kvmCmdIds).toEqual([{ id: 'rng0', driver: 'virtio-rng-pci', argIndex: 2 }]);
  });

  it('adds the implicit lsi53c895a of old QEMUs for -drive if=scsi (one per 7 drives) at board init', () => {
    const p = predictPci({
      kvmCmd: nodefaults('virtio-balloon'),
      startDrives: Array.from({ length: 8 }, (_, i) => ({ if: 'scsi', owner: { kind: 'disk' as const, index: i } })),
    });
    expect(layout(p)).toMatchObject({ 2: 'lsi53c895a', 3: 'lsi53c895a', 4: 'virtio-balloon-pci' });
    expect(p.devices[2]!.description).toContain('QEMU < 2.12');
  });

  it('does not put devices on pci.0 that name another bus, or that are not PCI devices', () => {
    const p = predictPci({
      kvmCmd: nodefaults('pci-bridge,id=br1,chassis_nr=1', 'virtio-net-pci,bus=br1,addr=0x1', 'virtserialport,name=x', 'scsi-hd,drive=d', 'isa-serial'),
    });
    expect(layout(p)).toEqual({ 0: 'i440FX-pcihost', 1: 'PIIX3', 2: 'pci-bridge' });
  });

  it('assumes an unknown driver is PCI (never hands out a slot QEMU might take) and reports it', () => {
    const p = predictPci({ kvmCmd: nodefaults('frobnicator', 'virtio-balloon') });
    expect(layout(p)).toMatchObject({ 2: 'frobnicator', 3: 'virtio-balloon-pci' });
    expect(p.unknownDrivers).toEqual([{ driver: 'frobnicator', argIndex: 4 }]);
  });

  it('reports what it cannot predict: -readconfig, -set device.…', () => {
    const p = predictPci({ kvmCmd: ['/usr/bin/kvm', '-readconfig', '/etc/qemu/x.cfg', '-set', 'device.n1.addr=0x5'] });
    expect(p.unpredictable.map((u) => u.option)).toEqual(['-readconfig', '-set']);
  });

  it('reports devices for which no slot is left', () => {
    const p = predictPci({ kvmCmd: nodefaults(...Array.from({ length: 31 }, () => 'virtio-rng-pci')) });
    expect(p.devices).toHaveLength(32);
    expect(p.noSlot).toHaveLength(1);
  });

  it('predicts nothing for machines other than i440FX pc', () => {
    const p = predictPci({ kvmCmd: ['/usr/bin/kvm', '-M', 'q35', '-device', 'virtio-balloon'] });
    expect(p.machine.family).toBe('q35');
    expect(p.devices).toEqual([]);
  });
});

describe('machineOf', () => {
  it('reads -machine/-M with type= or the implied first element; the last one wins; default pc', () => {
    const m = (...args: string[]) => machineOf(parseQemuArgv(['/usr/bin/kvm', ...args]).options);
    expect(m()).toEqual({ type: 'pc', family: 'i440fx', explicit: false });
    expect(m('-machine', 'pc-1.1')).toEqual({ type: 'pc-1.1', family: 'i440fx', explicit: true });
    expect(m('-machine', 'type=pc-q35-7.2,accel=kvm')).toMatchObject({ type: 'pc-q35-7.2', family: 'q35' });
    expect(m('-M', 'q35', '-machine', 'pc-i440fx-7.2')).toMatchObject({ family: 'i440fx' });
    expect(m('-machine', 'accel=kvm')).toMatchObject({ type: 'pc', explicit: false });
    expect(machineFamily('isapc')).toBe('other');
    expect(machineFamily('microvm')).toBe('other');
  });
});

describe('QEMU argv reading', () => {
  it('knows which options take an argument (flags like -usb, -daemonize, -S do not)', () => {
    const { options } = parseQemuArgv(['/usr/bin/kvm', '-usb', '-m', 1024, '-daemonize', '--device', 'lsi', '-S', '/img']);
    expect(options.map((o) => [o.name, o.value])).toEqual([
      ['usb', undefined],
      ['m', '1024'],
      ['daemonize', undefined],
      ['device', 'lsi'],
      ['S', undefined],
      ['', '/img'],
    ]);
  });

  it('parses QemuOpts values: implied key, escaped commas, bare flags', () => {
    expect(parseOptsValue('virtio-blk-pci,id=d,serial=a,,b,x-flag', 'driver')).toEqual([
      { key: 'driver', value: 'virtio-blk-pci' },
      { key: 'id', value: 'd' },
      { key: 'serial', value: 'a,b' },
      { key: 'x-flag', value: 'on' },
    ]);
  });

  it('reads PCI addresses as QEMU does (hex with or without 0x, slot.fn) and refuses slots above 0x1f', () => {
    expect(parsePciAddr('0xd')).toEqual({ slot: 13, fn: 0 });
    expect(parsePciAddr('10')).toEqual({ slot: 16, fn: 0 });
    expect(parsePciAddr('0x5.0x1')).toEqual({ slot: 5, fn: 1 });
    expect(parsePciAddr('0x20')).toBeNull();
    expect(parsePciAddr('zz')).toBeNull();
  });

  it('drops options with their arguments', () => {
    expect(withoutOptions(['/usr/bin/kvm', '-daemonize', '-pidfile', '/p', '-m', 64, '-usb'], ['daemonize', 'pidfile'])).toEqual([
      '/usr/bin/kvm',
      '-m',
      '64',
      '-usb',
    ]);
  });
});
