import { describe, expect, it } from 'vitest';
import { parseLiveReplies, probeLive, type QmpExecutor } from '../../src/live/probe.js';
import { LiveProbeError } from '../../src/live/reply-checks.js';
import { QmpTimeoutError } from '../../src/qmp/errors.js';
import { loadQmpFixture, recorded, ReplayQmp } from './live-fixtures.js';

describe('probeLive on recorded QEMU 7.2 replies', () => {
  it('reads the lsi-mixed instance: PCI slots, SCSI targets, controller, block backends', async () => {
    const live = await probeLive(new ReplayQmp(loadQmpFixture('lsi-mixed')));

    const slots = live.pci.map((f) => [f.slot, f.function, f.qdevId, f.driver]);
    expect(slots).toEqual([
      [0, 0, '', undefined],
      [1, 0, '', undefined],
      [1, 1, '', undefined],
      [1, 3, '', undefined],
      [2, 0, 'scsi', 'lsi53c895a'],
      [3, 0, '', undefined],
      [13, 0, 'disk-22222222-3333-4444', 'virtio-blk-pci'],
      [14, 0, 'nic-33333333-4444-5555', 'virtio-net-pci'],
      [15, 0, 'disk-55555555-6666-7777', 'virtio-blk-pci'],
    ]);
    expect(live.pci.find((f) => f.slot === 14)?.classDesc).toBe('Ethernet controller');
    // The balloon has class 255 and no desc in QEMU 7.2.
    expect(live.pci.find((f) => f.slot === 3)).toMatchObject({ classCode: 255, classDesc: undefined });

    expect(live.controller).toEqual({ id: 'scsi', driver: 'lsi53c895a', type: 'lsi', bus: 'scsi.0', maxTarget: 7, slot: 2 });
    expect(live.scsi.map((d) => [d.id, d.bus, d.controllerId, d.scsiId, d.channel, d.lun]).sort()).toEqual([
      ['disk-11111111-2222-3333', 'scsi.0', 'scsi', 2, 0, 0],
      ['disk-44444444-5555-6666', 'scsi.0', 'scsi', 0, 0, 0],
    ]);
    // qom-list's own `type` property is not a device.
    expect(live.peripherals.map((p) => p.id)).not.toContain('type');
    expect(live.peripherals).toContainEqual({ id: 'disk-11111111-2222-3333', driver: 'scsi-hd' });

    const byDevice = Object.fromEntries(live.blocks.map((b) => [b.deviceId, [b.style, b.device, b.nodeName]]));
    expect(byDevice).toEqual({
      'disk-11111111-2222-3333': ['drive', 'disk-11111111-2222-3333', expect.stringMatching(/^#block/)],
      'disk-55555555-6666-7777': ['drive', 'disk-55555555-6666-7777', expect.stringMatching(/^#block/)],
      'disk-22222222-3333-4444': ['blockdev', '', 'disk-22222222-3333-4444'],
      'disk-44444444-5555-6666': ['blockdev', '', 'disk-44444444-5555-6666'],
    });
    expect(live.notes).toEqual([]);
  });

  it('sends few commands: the three queries, then parent_bus and scsi-id of each SCSI device (lsi has lun and channel 0 only)', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('lsi-mixed'));
    await probeLive(qmp);
    expect(qmp.roundTrips).toBe(2);
    expect(qmp.sent.slice(0, 3).map((c) => c.execute)).toEqual(['query-pci', 'qom-list', 'query-block']);
    // 2 SCSI disks × (parent_bus, scsi-id); nothing is asked of PCI devices.
    expect(qmp.sent.slice(3).map((c) => c.arguments?.['property']).sort()).toEqual(['parent_bus', 'parent_bus', 'scsi-id', 'scsi-id']);
    expect(new Set(qmp.sent.slice(3).map((c) => c.arguments?.['path']))).toEqual(
      new Set(['/machine/peripheral/disk-11111111-2222-3333', '/machine/peripheral/disk-44444444-5555-6666']),
    );
  });

  it('takes one round trip when there are no SCSI devices', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('no-controller'));
    const live = await probeLive(qmp);
    expect(qmp.roundTrips).toBe(1);
    expect(live.controller).toBeNull();
    expect(live.scsi).toEqual([]);
  });

  it('finds the bus of a virtio-scsi-pci controller under its virtio-backend', async () => {
    const live = await probeLive(new ReplayQmp(loadQmpFixture('virtio-scsi')));
    expect(live.controller).toMatchObject({ driver: 'virtio-scsi-pci', type: 'virtio-scsi-pci', maxTarget: 255 });
    expect(live.scsi).toEqual([
      { id: 'disk-66666666-7777-8888', driver: 'scsi-hd', bus: 'scsi.0', controllerId: 'scsi', channel: 0, scsiId: 5, lun: 0 },
    ]);
  });

  it('sees a hot-added disk, an anonymous device, a finished SCSI unplug and a pending PCI unplug', async () => {
    const live = await probeLive(new ReplayQmp(loadQmpFixture('lsi-changed')));
    expect(live.pci.find((f) => f.slot === 16)?.qdevId).toBe('disk-deadbeef-0000-1111');
    expect(live.pci.find((f) => f.slot === 20)).toMatchObject({ qdevId: '', driver: undefined });
    expect(live.scsi.find((d) => d.id === 'foreign1')?.scsiId).toBe(4);
    // SCSI unplug completed: gone everywhere, also its (now unattached) block node.
    expect(live.peripherals.some((p) => p.id === 'disk-44444444-5555-6666')).toBe(false);
    expect(live.blocks.some((b) => b.deviceId === 'disk-44444444-5555-6666')).toBe(false);
    // PCI unplug without a guest: still there.
    expect(live.pci.find((f) => f.slot === 15)?.qdevId).toBe('disk-55555555-6666-7777');
  });

  it('asks for the lun of devices on virtio-scsi-pci (luns 0–16383), in the same step as their address', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('virtio-scsi'));
    await probeLive(qmp);
    expect(qmp.roundTrips).toBe(2);
    expect(qmp.sent.slice(3).map((c) => c.arguments?.['property'])).toEqual(['parent_bus', 'scsi-id', 'lun']);
  });

  it('asks for lun and channel of devices on a controller plugboard does not know', async () => {
    const fx = loadQmpFixture('lsi-mixed');
    // The same devices, but the controller a type plugboard does not know (so channels are not known to be 0).
    const qomList = (recorded(fx, 'qom-list', { path: '/machine/peripheral' }) as { name: string; type: string }[]).map((p) =>
      p.name === 'scsi' ? { ...p, type: 'child<acme-hba>' } : p,
    );
    const qmp = new ReplayQmp(fx, (execute) => (execute === 'qom-list' ? { return: qomList } : undefined));
    const live = await probeLive(qmp);
    expect(qmp.roundTrips).toBe(2);
    expect(qmp.sent.filter((c) => c.arguments?.['property'] === 'channel')).toHaveLength(2);
    expect(qmp.sent.filter((c) => c.arguments?.['property'] === 'lun')).toHaveLength(2);
    expect(live.scsi.every((d) => d.channel === 0)).toBe(true);
    expect(live.controller).toMatchObject({ driver: 'acme-hba', maxTarget: undefined });
  });

  it('asks in one more step for the lun of a device found on another controller than scsi (one that has luns)', async () => {
    const fx = loadQmpFixture('lsi-mixed');
    // disk-11111111 sits on a megasas `hba2` instead of the lsi `scsi`: lsi has lun 0 only, megasas not.
    const qomList = [
      ...(recorded(fx, 'qom-list', { path: '/machine/peripheral' }) as { name: string; type: string }[]),
      { name: 'hba2', type: 'child<megasas>' },
    ];
    const qmp = new ReplayQmp(fx, (execute, args) => {
      if (execute === 'qom-list') return { return: qomList };
      if (execute === 'qom-get' && args?.['path'] === '/machine/peripheral/disk-11111111-2222-3333') {
        if (args['property'] === 'parent_bus') return { return: '/machine/peripheral/hba2/hba2.0' };
        if (args['property'] === 'lun') return { return: 3 };
      }
      return undefined;
    });
    const live = await probeLive(qmp);
    expect(qmp.roundTrips).toBe(3);
    expect(qmp.sent.filter((c) => c.arguments?.['property'] === 'lun').map((c) => c.arguments?.['path'])).toEqual([
      '/machine/peripheral/disk-11111111-2222-3333',
    ]);
    expect(live.scsi.find((d) => d.id === 'disk-11111111-2222-3333')).toMatchObject({ bus: 'hba2.0', controllerId: 'hba2', lun: 3 });
  });

  it('with scope devices reads only which devices there are and their backends: two commands, one round trip', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('lsi-mixed'));
    const live = await probeLive(qmp, { scope: 'devices' });
    expect(qmp.roundTrips).toBe(1);
    expect(qmp.sent.map((c) => c.execute)).toEqual(['qom-list', 'query-block']);
    expect(live.skipped).toEqual(['pci', 'scsi']);
    expect(live.pci).toEqual([]);
    expect(live.scsi).toEqual([]);
    expect(live.peripherals).toContainEqual({ id: 'disk-11111111-2222-3333', driver: 'scsi-hd' });
    expect(live.blocks.map((b) => b.deviceId).sort()).toEqual([
      'disk-11111111-2222-3333',
      'disk-22222222-3333-4444',
      'disk-44444444-5555-6666',
      'disk-55555555-6666-7777',
    ]);
    expect(live.controller).toMatchObject({ driver: 'lsi53c895a', slot: undefined });
    // A full probe says nothing was skipped.
    expect((await probeLive(new ReplayQmp(loadQmpFixture('lsi-mixed')))).skipped).toBeUndefined();
  });

  it('with scope backends reads only query-block: one command; devices, PCI and SCSI are marked as not read', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('lsi-mixed'));
    const live = await probeLive(qmp, { scope: 'backends' });
    expect(qmp.sent.map((c) => c.execute)).toEqual(['query-block']);
    expect(live.skipped).toEqual(['pci', 'scsi', 'peripherals']);
    expect(live.peripherals).toEqual([]);
    expect(live.controller).toBeNull();
    expect(live.blocks.find((b) => b.deviceId === 'disk-11111111-2222-3333')).toMatchObject({ style: 'drive', device: 'disk-11111111-2222-3333' });
    expect(live.blocks.find((b) => b.deviceId === 'disk-22222222-3333-4444')).toMatchObject({ style: 'blockdev', nodeName: 'disk-22222222-3333-4444' });
  });

  it('with scope pci reads query-pci, qom-list and query-block in one round trip, no SCSI address', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('lsi-mixed'));
    const live = await probeLive(qmp, { scope: 'pci' });
    expect(qmp.roundTrips).toBe(1);
    expect(qmp.sent.map((c) => c.execute)).toEqual(['query-pci', 'qom-list', 'query-block']);
    expect(live.skipped).toEqual(['scsi']);
    expect(live.scsi).toEqual([]);
    expect(live.pci.find((f) => f.slot === 13)).toMatchObject({ qdevId: 'disk-22222222-3333-4444', driver: 'virtio-blk-pci' });
    expect(live.controller).toMatchObject({ driver: 'lsi53c895a', slot: 2 });
  });

  it('with scope scsi takes the addresses the runtime file gives and asks only the others; no query-pci', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('lsi-mixed'));
    // The file describes disk-1111… (at another place than QEMU has it: the file's word is taken) and
    // not disk-4444…, which is asked.
    const knownScsi = new Map([['disk-11111111-2222-3333', { bus: 'scsi.0', channel: 0, scsiId: 6, lun: 0 }]]);
    const live = await probeLive(qmp, { scope: 'scsi', knownScsi });
    expect(qmp.roundTrips).toBe(2);
    expect(qmp.sent.slice(0, 2).map((c) => c.execute)).toEqual(['qom-list', 'query-block']);
    expect(new Set(qmp.sent.slice(2).map((c) => c.arguments?.['path']))).toEqual(new Set(['/machine/peripheral/disk-44444444-5555-6666']));
    expect(live.skipped).toEqual(['pci']);
    expect(live.scsiFromFile).toEqual(['disk-11111111-2222-3333']);
    expect(live.scsi.map((d) => [d.id, d.bus, d.controllerId, d.scsiId, d.lun]).sort()).toEqual([
      ['disk-11111111-2222-3333', 'scsi.0', 'scsi', 6, 0],
      ['disk-44444444-5555-6666', 'scsi.0', 'scsi', 0, 0],
    ]);
    expect(live.controller).toMatchObject({ driver: 'lsi53c895a', maxTarget: 7 });
  });

  it('with scope scsi and every SCSI device known: one round trip, not a single qom-get', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('lsi-mixed'));
    const knownScsi = new Map([
      ['disk-11111111-2222-3333', { bus: 'scsi.0', channel: 0, scsiId: 2, lun: 0 }],
      ['disk-44444444-5555-6666', { bus: 'scsi.0', channel: 0, scsiId: 0, lun: 0 }],
    ]);
    const live = await probeLive(qmp, { scope: 'scsi', knownScsi });
    expect(qmp.roundTrips).toBe(1);
    expect(qmp.sent.map((c) => c.execute)).toEqual(['qom-list', 'query-block']);
    expect(live.scsi.map((d) => d.id).sort()).toEqual(['disk-11111111-2222-3333', 'disk-44444444-5555-6666']);
  });

  it('with scope overview reads everything but the SCSI addresses the runtime file gives (the list refresh)', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('lsi-mixed'));
    const knownScsi = new Map([['disk-11111111-2222-3333', { bus: 'scsi.0', channel: 0, scsiId: 2, lun: 0 }]]);
    const live = await probeLive(qmp, { scope: 'overview', knownScsi });
    expect(qmp.sent.slice(0, 3).map((c) => c.execute)).toEqual(['query-pci', 'qom-list', 'query-block']);
    // Only the device the file does not describe is asked for its address.
    expect(new Set(qmp.sent.slice(3).map((c) => c.arguments?.['path']))).toEqual(new Set(['/machine/peripheral/disk-44444444-5555-6666']));
    expect(live.skipped ?? []).toEqual([]);
    expect(live.scsiFromFile).toEqual(['disk-11111111-2222-3333']);
    expect(live.pci.find((f) => f.slot === 13)).toMatchObject({ qdevId: 'disk-22222222-3333-4444' });
    expect(live.scsi.map((d) => d.id).sort()).toEqual(['disk-11111111-2222-3333', 'disk-44444444-5555-6666']);
    // The full probe of the same QEMU asks both.
    const full = new ReplayQmp(loadQmpFixture('lsi-mixed'));
    await probeLive(full);
    expect(new Set(full.sent.filter((c) => c.execute === 'qom-get').map((c) => c.arguments?.['path']))).toEqual(
      new Set(['/machine/peripheral/disk-11111111-2222-3333', '/machine/peripheral/disk-44444444-5555-6666']),
    );
  });

  it('leaves out a SCSI device that vanishes between qom-list and qom-get, with a note', async () => {
    const fx = loadQmpFixture('lsi-mixed');
    const qmp = new ReplayQmp(fx, (execute, args) =>
      execute === 'qom-get' && args?.['path'] === '/machine/peripheral/disk-44444444-5555-6666'
        ? { error: { class: 'DeviceNotFound', desc: "Device '/machine/peripheral/disk-44444444-5555-6666' not found" } }
        : undefined,
    );
    const live = await probeLive(qmp);
    expect(live.scsi.map((d) => d.id)).toEqual(['disk-11111111-2222-3333']);
    expect(live.peripherals.some((p) => p.id === 'disk-44444444-5555-6666')).toBe(false);
    expect(live.blocks.some((b) => b.deviceId === 'disk-44444444-5555-6666')).toBe(false);
    expect(live.notes).toEqual(['disk-44444444-5555-6666 disappeared while probing (an unplug completing?)']);
  });

  it('turns a QEMU refusal of a query into a LiveProbeError naming the query', async () => {
    const qmp = new ReplayQmp(loadQmpFixture('lsi-mixed'), (execute) =>
      execute === 'query-block' ? { error: { class: 'CommandNotFound', desc: "The command query-block has not been found" } } : undefined,
    );
    await expect(probeLive(qmp)).rejects.toThrow(
      new LiveProbeError('QEMU refused query-block while probing: The command query-block has not been found (CommandNotFound)'),
    );
  });

  it('passes connection errors (a timeout) through unchanged', async () => {
    const timeout = new QmpTimeoutError('reply to query-pci', 50, '/x/qmp');
    const qmp: QmpExecutor = {
      execute: <T>(command: string) => (command === 'query-pci' ? Promise.reject(timeout) : Promise.resolve([] as T)),
    };
    await expect(probeLive(qmp)).rejects.toBe(timeout);
  });
});

describe('parseLiveReplies rejects weird replies with one clear line', () => {
  const fx = loadQmpFixture('lsi-mixed');
  const good = () => ({
    queryPci: structuredClone(recorded(fx, 'query-pci')),
    qomList: structuredClone(recorded(fx, 'qom-list', { path: '/machine/peripheral' })),
    queryBlock: structuredClone(recorded(fx, 'query-block')),
    scsiProps: {
      'disk-11111111-2222-3333': { parent_bus: '/machine/peripheral/scsi/scsi.0', 'scsi-id': 2 },
      'disk-44444444-5555-6666': { parent_bus: '/machine/peripheral/scsi/scsi.0', 'scsi-id': 0, lun: 0, channel: 0 },
    } as Record<string, Record<string, unknown>>,
  });

  it('parses the recorded replies', () => {
    expect(() => parseLiveReplies(good())).not.toThrow();
  });

  it('a slot that is a string', () => {
    const r = good();
    (r.queryPci as { devices: Record<string, unknown>[] }[])[0]!.devices[4]!['slot'] = '2';
    expect(() => parseLiveReplies(r)).toThrow(
      "QEMU's reply to query-pci is not what plugboard expects: [0].devices[4].slot: expected a number, got \"2\"",
    );
  });

  it('a slot past 31', () => {
    const r = good();
    (r.queryPci as { devices: Record<string, unknown>[] }[])[0]!.devices[4]!['slot'] = 32;
    expect(() => parseLiveReplies(r)).toThrow(/query-pci .*\[0\]\.devices\[4\]\.slot: expected a number <= 31, got 32/);
  });

  it('query-block that is not a list', () => {
    const r = good();
    r.queryBlock = { oops: true };
    expect(() => parseLiveReplies(r)).toThrow(LiveProbeError);
    expect(() => parseLiveReplies(r)).toThrow(/query-block is not what plugboard expects: expected an array/);
  });

  it('a negative scsi-id', () => {
    const r = good();
    r.scsiProps['disk-11111111-2222-3333']!['scsi-id'] = -1;
    expect(() => parseLiveReplies(r)).toThrow(
      /qom-get \/machine\/peripheral\/disk-11111111-2222-3333 .*scsi-id: expected a number >= 0, got -1/,
    );
  });

  it('a qom-list entry without a type', () => {
    const r = good();
    (r.qomList as Record<string, unknown>[]).push({ name: 'x' });
    expect(() => parseLiveReplies(r)).toThrow(/qom-list \/machine\/peripheral .*\[\d+\]\.type: missing, expected a string/);
  });
});
