/**
 * The pure NIC planners (src/actions/plan-nic.ts) and their JSON/text forms: the exact QMP and host
 * steps in order, the allocation, the runtime-file entry as Ganeti writes it, the rollback, and
 * every refusal that must happen before anything is sent to QEMU or run on the host.
 */
import { describe, expect, it } from 'vitest';
import { planNicHotAdd, planNicUnplug, resolveNicLink, tapNameFor, type NicHostFacts, type NicPlanContext } from '../../src/actions/plan-nic.js';
import { planJson, renderPlanText } from '../../src/actions/plan-json.js';
import type { LinkInfo } from '../../src/actions/host-net.js';
import type { Action } from '../../src/actions/types.js';
import { buildBusModel } from '../../src/bus/model.js';
import { baseHvparams } from '../../src/demo/sandbox.js';
import { InputError, RefusedError } from '../../src/errors.js';
import type { LiveState } from '../../src/live/probe.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import type { Json, JsonObject, RuntimeFile } from '../../src/runtime/types.js';

const QEMU = '/usr/bin/qemu-system-x86_64';
const NEW_UUID = '0c0ffee0-1234-4abc-8def-0123456789ab';
const NEW_ID = 'nic-0c0ffee0-1234-4abc';
const TAP = 'tap.pb.0c0ffee0';
const BR = 'br-test';

type HotAdd = Extract<Action, { type: 'hot-add-nic' }>;
type Unplug = Extract<Action, { type: 'unplug-nic' }>;

const uuidN = (n: number): string => {
  const h = n.toString(16).padStart(8, '0');
  return `${h}-0000-4000-8000-${h.padStart(12, '0')}`;
};
const idOf = (uuid: string): string => `nic-${uuid.split('-').slice(0, 3).join('-')}`;

interface NicSpec {
  uuid: string;
  mac: string;
  slot: number;
  mode?: string;
  link?: string;
  driver?: string;
}
const nicN = (n: number, slot: number, extra: Partial<NicSpec> = {}): NicSpec => ({
  uuid: uuidN(n),
  mac: `aa:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
  slot,
  ...extra,
});

/** A runtime file as Ganeti 3.0 writes it (`-nodefaults`: slot 2 is free of VGA). */
function runtime(opts: { nicType?: string; nics?: NicSpec[]; hv?: JsonObject } = {}): RuntimeFile {
  const kvmCmd: Json[] = [QEMU, '-name', 'web1', '-m', 64, '-nodefaults', '-machine', 'pc'];
  const hv: JsonObject = { ...baseHvparams(QEMU), nic_type: opts.nicType ?? 'paravirtual', ...opts.hv };
  const nics = (opts.nics ?? []).map((n) => ({
    mac: n.mac,
    nicparams: { link: n.link ?? BR, mode: n.mode ?? 'bridged', vlan: '' },
    hvinfo: { driver: n.driver ?? 'virtio-net-pci', id: idOf(n.uuid), bus: 'pci.0', addr: `0x${n.slot.toString(16)}` },
    uuid: n.uuid,
  }));
  return parseRuntimeText(JSON.stringify([kvmCmd, nics, hv, []]), 'conf/web1.runtime', 'web1');
}

const bridge = (name = BR, mtu = 1500): LinkInfo => ({ name, kind: 'bridge', mtu, up: true });

function facts(extra: Partial<NicHostFacts> = {}): NicHostFacts {
  return { tun: true, vhostNet: false, links: { [BR]: bridge() }, records: new Map(), ...extra };
}

function ctx(rf: RuntimeFile, extra: Partial<NicPlanContext> = {}): NicPlanContext {
  return { rf, model: buildBusModel(rf), newUuid: () => NEW_UUID, nicHost: facts(), ...extra };
}

const hotAdd = (extra: Partial<HotAdd> = {}): HotAdd => ({ type: 'hot-add-nic', instance: 'web1', link: BR, ...extra });
const unplug = (device: string, timeoutMs = 10_000): Unplug => ({ type: 'unplug-nic', instance: 'web1', device, timeoutMs });

function liveWith(ids: { id: string; driver: string }[]): LiveState {
  return { pci: [], peripherals: ids, scsi: [], blocks: [], controller: null, notes: [] };
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the planner to refuse, but it returned a plan');
}

describe('planNicHotAdd: the plan', () => {
  it('virtio-net-pci: netdev_add (tap by name, vnet_hdr), tap on the bridge, device_add, nic/ record — in that order, at the lowest free slot', () => {
    const rf = runtime({ nics: [nicN(1, 12)] });
    const plan = planNicHotAdd(hotAdd({ mac: 'AA:00:00:12:34:56' }), ctx(rf));
    const json = planJson(plan);
    expect(json).toMatchObject({
      action: 'hot-add-nic',
      instance: 'web1',
      device: { id: NEW_ID, uuid: NEW_UUID, kind: 'nic', driver: 'virtio-net-pci' },
      allocation: { bus: 'pci.0', addr: '0xd' },
      verify: { kind: 'present', id: NEW_ID, allocation: { bus: 'pci.0', addr: '0xd' } },
      runtime: `add nics[1] ${NEW_ID} (virtio-net-pci at pci.0 slot 0xd, MAC aa:00:00:12:34:56, bridge ${BR})`,
    });
    expect(json.sequence).toEqual([
      {
        purpose: `create the netdev ${NEW_ID} and its tap ${TAP}`,
        qmp: { execute: 'netdev_add', arguments: { type: 'tap', id: NEW_ID, ifname: TAP, script: 'no', downscript: 'no', vnet_hdr: true } },
      },
      { purpose: `bring tap ${TAP} up on bridge ${BR}`, host: { host: 'tap-configure', detail: { tap: TAP, bridge: BR, mode: 'bridged' } } },
      {
        purpose: `add virtio-net-pci ${NEW_ID} (MAC aa:00:00:12:34:56) at pci.0 slot 0xd`,
        qmp: {
          execute: 'device_add',
          arguments: { netdev: NEW_ID, mac: 'aa:00:00:12:34:56', driver: 'virtio-net-pci', id: NEW_ID, bus: 'pci.0', addr: '0xd' },
        },
      },
      {
        purpose: `record tap ${TAP} in nic/web1/1`,
        host: { host: 'nic-record-write', detail: { record: 'nic/web1/1', instance: 'web1', seq: 1, tap: TAP } },
      },
    ]);
    // The rollback, last step first: record removed, device_del, netdev_del (QEMU closes its tap), tap gone.
    expect(json.rollback).toEqual([
      { execute: 'device_del', arguments: { id: NEW_ID } },
      { execute: 'netdev_del', arguments: { id: NEW_ID } },
    ]);
    expect(json.hostRollback).toEqual([
      { host: 'nic-record-remove', detail: { record: 'nic/web1/1', instance: 'web1', seq: 1 } },
      { host: 'tap-gone', detail: { tap: TAP } },
    ]);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it('the runtime entry is what Ganeti writes: {mac, nicparams {link, mode, vlan}, hvinfo {driver, id, bus, addr}, uuid}, appended; the input untouched', () => {
    const rf = runtime({ nics: [nicN(1, 12)] });
    const plan = planNicHotAdd(hotAdd({ mac: 'aa:00:00:12:34:56' }), ctx(rf));
    expect(rf.nics).toHaveLength(1);
    const added = plan.runtimeAfter.nics[1]!;
    expect(Object.keys(added.raw)).toEqual(['mac', 'nicparams', 'hvinfo', 'uuid']);
    expect(added.raw).toEqual({
      mac: 'aa:00:00:12:34:56',
      nicparams: { link: BR, mode: 'bridged', vlan: '' },
      hvinfo: { driver: 'virtio-net-pci', id: NEW_ID, bus: 'pci.0', addr: '0xd' },
      uuid: NEW_UUID,
    });
    expect(plan.runtimeAfter.nics[0]!.raw).toEqual(rf.nics[0]!.raw);
  });

  it.each([
    ['paravirtual', 'virtio-net-pci'],
    ['e1000', 'e1000'],
    ['rtl8139', 'rtl8139'],
    ['ne2k_pci', 'ne2k_pci'],
    ['i82551', 'i82551'],
    ['i82557b', 'i82557b'],
    ['i82559er', 'i82559er'],
    ['pcnet', 'pcnet'],
  ])('nic_type %s → driver %s', (nicType, driver) => {
    const plan = planNicHotAdd(hotAdd(), ctx(runtime({ nicType })));
    expect(plan.device.driver).toBe(driver);
    expect(planJson(plan).qmp[1]!.arguments).toMatchObject({ driver });
    // Only a paravirtual instance gets vnet_hdr (Ganeti's _GetNetworkDeviceFeatures).
    expect(planJson(plan).qmp[0]!.arguments!['vnet_hdr']).toBe(nicType === 'paravirtual');
  });

  it('--nic-type other than the instance\'s: the hvinfo driver keeps it; a note says so', () => {
    const plan = planNicHotAdd(hotAdd({ nicType: 'e1000' }), ctx(runtime()));
    expect(plan.runtimeAfter.nics[0]!.hvinfo).toMatchObject({ driver: 'e1000' });
    expect(plan.notes.join('\n')).toMatch(/nic type e1000 differs from the instance's nic_type paravirtual/);
  });

  it('vhost_net: vhost and vhostforce on the netdev; with virtio_net_queues=4 also queues=4 and mq=on, vectors=10', () => {
    const rf = runtime({ hv: { vhost_net: true, virtio_net_queues: 4 } });
    const json = planJson(planNicHotAdd(hotAdd(), ctx(rf, { nicHost: facts({ vhostNet: true }) })));
    expect(json.qmp[0]!.arguments).toMatchObject({ vhost: true, vhostforce: true, queues: 4, vnet_hdr: true });
    expect(json.qmp[1]!.arguments).toMatchObject({ mq: 'on', vectors: 10 });
    const single = planJson(planNicHotAdd(hotAdd(), ctx(runtime({ hv: { vhost_net: true } }), { nicHost: facts({ vhostNet: true }) })));
    expect(single.qmp[0]!.arguments).not.toHaveProperty('queues');
    expect(single.qmp[1]!.arguments).not.toHaveProperty('mq');
    // vnet_hdr=false in hvparams is passed on.
    expect(planJson(planNicHotAdd(hotAdd(), ctx(runtime({ hv: { vnet_hdr: false } })))).qmp[0]!.arguments!['vnet_hdr']).toBe(false);
  });

  it('the MAC: generated from the UUID with the prefix of the instance\'s NICs, the same for the same UUID, never one the instance has', () => {
    const rf = runtime({ nics: [nicN(1, 12, { mac: '52:54:00:00:00:01' }), nicN(2, 13, { mac: '52:54:00:00:00:02' })] });
    const a = planNicHotAdd(hotAdd(), ctx(rf));
    const b = planNicHotAdd(hotAdd(), ctx(rf));
    const mac = a.runtimeAfter.nics[2]!.mac;
    expect(mac).toMatch(/^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
    expect(b.runtimeAfter.nics[2]!.mac).toBe(mac);
    expect(a.notes.join('\n')).toMatch(/MAC 52:54:00:.* generated \(the prefix of the instance's other NICs 52:54:00\)/);
    // No NICs (or mixed prefixes): Ganeti's default aa:00:00.
    expect(planNicHotAdd(hotAdd(), ctx(runtime())).runtimeAfter.nics[0]!.mac).toMatch(/^aa:00:00:/);
  });

  it('the bridge defaults to NIC 0\'s link (a note says so); --link wins', () => {
    const rf = runtime({ nics: [nicN(1, 12, { link: 'xen-br0' })] });
    const plan = planNicHotAdd(hotAdd({ link: undefined }), ctx(rf, { nicHost: facts({ links: { 'xen-br0': bridge('xen-br0') } }) }));
    expect(plan.runtimeAfter.nics[1]!.link).toBe('xen-br0');
    expect(plan.notes).toContain(`bridge xen-br0: as NIC 0 (${uuidN(1)})`);
    expect(resolveNicLink(rf, hotAdd({ link: 'other' }))).toEqual({ mode: 'bridged', link: 'other', source: '--link' });
  });

  it('a stale nic/ record at the new index is named in a note (it is overwritten)', () => {
    const plan = planNicHotAdd(hotAdd(), ctx(runtime({ nics: [nicN(1, 12)] }), { nicHost: facts({ records: new Map([[1, 'tap7']]) }) }));
    expect(plan.notes.join('\n')).toMatch(/nic\/web1\/1 holds tap7 \(a stale record/);
  });

  it('the text plan names every step, host steps included, and the rollback', () => {
    const text = renderPlanText(planNicHotAdd(hotAdd(), ctx(runtime())));
    expect(text).toContain(`plan: hot-add nic ${NEW_ID} (virtio-net-pci) on web1`);
    expect(text).toContain(`2. host: tap ${TAP}: MAC fe:…, up, MTU of ${BR}, master ${BR}`);
    expect(text).toContain(`4. host: write nic/web1/0 = ${TAP}`);
    expect(text).toContain(
      `on failure: host: remove nic/web1/0; device_del {"id":"${NEW_ID}"}; netdev_del {"id":"${NEW_ID}"}; host: tap ${TAP} gone; runtime file untouched`,
    );
  });

  it('tap names: tap.pb. + the first UUID group, ≤ 15 characters, not a kernel tapN name', () => {
    expect(tapNameFor('9E7C85F6-b6e5-4243-b27d-680b78c6d203')).toBe('tap.pb.9e7c85f6');
    expect(tapNameFor(NEW_UUID).length).toBeLessThanOrEqual(15);
    expect(tapNameFor(NEW_UUID)).not.toMatch(/^tap[0-9]+$/);
  });
});

describe('planNicHotAdd: refused before anything is sent', () => {
  const refused = (fn: () => unknown, cls: typeof InputError | typeof RefusedError, re: RegExp) => {
    const err = thrown(fn);
    expect(err).toBeInstanceOf(cls);
    expect(err.message).toMatch(re);
    expect(err.message).not.toContain('\n');
  };

  it('ne2k_isa, with the reason; an unknown nic type', () => {
    refused(() => planNicHotAdd(hotAdd({ nicType: 'ne2k_isa' }), ctx(runtime())), RefusedError, /nic_type ne2k_isa is an ISA card: .*ISA bus, which has no hotplug/);
    refused(() => planNicHotAdd(hotAdd(), ctx(runtime({ nicType: 'ne2k_isa' }))), RefusedError, /ISA card/);
    refused(() => planNicHotAdd(hotAdd({ nicType: 'virtio' }), ctx(runtime())), InputError, /--nic-type virtio: not a nic_type \(one of paravirtual, e1000/);
  });

  it('a malformed, multicast, all-zero or duplicate MAC', () => {
    const rf = runtime({ nics: [nicN(1, 12, { mac: 'aa:00:00:00:00:01' })] });
    refused(() => planNicHotAdd(hotAdd({ mac: 'aa:00:00:00:00' }), ctx(rf)), InputError, /--mac aa:00:00:00:00: not a MAC address/);
    refused(() => planNicHotAdd(hotAdd({ mac: 'aa-00-00-00-00-01' }), ctx(rf)), InputError, /not a MAC address/);
    refused(() => planNicHotAdd(hotAdd({ mac: '01:00:5e:00:00:01' }), ctx(rf)), InputError, /multicast/);
    refused(() => planNicHotAdd(hotAdd({ mac: '00:00:00:00:00:00' }), ctx(rf)), InputError, /all-zero/);
    refused(() => planNicHotAdd(hotAdd({ mac: 'AA:00:00:00:00:01' }), ctx(rf)), InputError, /NIC 0 of web1 \(uuid 00000001-.*\) already has this MAC/);
  });

  it('a bridge that does not exist, that is not a Linux bridge, or is Open vSwitch', () => {
    const rf = runtime();
    refused(() => planNicHotAdd(hotAdd({ link: 'nobr0' }), ctx(rf)), RefusedError, /bridge nobr0 \(--link\) does not exist on this node/);
    refused(
      () => planNicHotAdd(hotAdd({ link: 'eth0' }), ctx(rf, { nicHost: facts({ links: { eth0: { name: 'eth0', kind: 'other' } } }) })),
      RefusedError,
      /eth0 is not a Linux bridge/,
    );
    refused(
      () => planNicHotAdd(hotAdd({ link: 'ovsbr' }), ctx(rf, { nicHost: facts({ links: { ovsbr: { name: 'ovsbr', kind: 'openvswitch' } } }) })),
      RefusedError,
      /Open vSwitch bridge: openvswitch mode is not supported yet/,
    );
    refused(() => planNicHotAdd(hotAdd({ link: 'a/b' }), ctx(rf)), InputError, /--link "a\/b": not an interface name/);
    refused(() => planNicHotAdd(hotAdd({ link: 'a-very-long-bridge-name' }), ctx(rf)), InputError, /at most 15/);
  });

  it('routed and openvswitch NICs (from NIC 0): not supported yet, said so; no NIC and no --link', () => {
    refused(() => planNicHotAdd(hotAdd({ link: undefined }), ctx(runtime({ nics: [nicN(1, 12, { mode: 'routed', link: '' })] }))), RefusedError, /mode routed .* is not supported yet/);
    refused(
      () => planNicHotAdd(hotAdd({ link: undefined }), ctx(runtime({ nics: [nicN(1, 12, { mode: 'openvswitch', link: 'ovs0' })] }))),
      RefusedError,
      /mode openvswitch .* is not supported yet/,
    );
    refused(() => planNicHotAdd(hotAdd({ link: undefined }), ctx(runtime())), InputError, /web1 has no NIC to take the bridge from: pass --link BRIDGE/);
  });

  it('an interface with the planned tap name exists; /dev/net/tun missing', () => {
    refused(
      () => planNicHotAdd(hotAdd(), ctx(runtime(), { nicHost: facts({ links: { [BR]: bridge(), [TAP]: { name: TAP, kind: 'tap', master: 'br9' } } }) })),
      RefusedError,
      new RegExp(`an interface named ${TAP.replaceAll('.', '\\.')} .* already exists on br9`),
    );
    refused(() => planNicHotAdd(hotAdd(), ctx(runtime(), { nicHost: facts({ tun: false }) })), RefusedError, /\/dev\/net\/tun is missing/);
  });

  it('vhost_net without /dev/vhost-net: QEMU 7.2 would abort, so refused', () => {
    refused(() => planNicHotAdd(hotAdd(), ctx(runtime({ hv: { vhost_net: true } }))), RefusedError, /vhost_net=true but \/dev\/vhost-net is missing.*QEMU 7\.2 aborts/);
  });

  it('multiqueue with a NIC type that has no mq: the instance would not start again', () => {
    refused(
      () => planNicHotAdd(hotAdd({ nicType: 'e1000' }), ctx(runtime({ hv: { vhost_net: true, virtio_net_queues: 2 } }), { nicHost: facts({ vhostNet: true }) })),
      RefusedError,
      /mq=on,vectors=6, which only virtio-net-pci has/,
    );
  });

  it('UUID: malformed, taken in the file, taken in QEMU', () => {
    const rf = runtime({ nics: [nicN(1, 12)] });
    refused(() => planNicHotAdd(hotAdd({ uuid: 'nope' }), ctx(rf)), InputError, /--uuid nope: not a UUID/);
    refused(() => planNicHotAdd(hotAdd({ uuid: uuidN(1) }), ctx(rf)), InputError, /already used by a device of web1/);
    refused(() => planNicHotAdd(hotAdd(), ctx(rf, { live: liveWith([{ id: NEW_ID, driver: 'e1000' }]) })), RefusedError, /QEMU already has a device with id/);
  });

  it("Ganeti's 8 NICs; a full pci.0", () => {
    const eight = runtime({ nics: Array.from({ length: 8 }, (_, i) => nicN(i + 1, 12 + i)) });
    refused(() => planNicHotAdd(hotAdd(), ctx(eight)), RefusedError, /already has 8 NICs, Ganeti's maximum is 8/);
    const full = runtime({ hv: { kvm_pci_reservations: 32 } });
    refused(() => planNicHotAdd(hotAdd(), ctx(full)), RefusedError, /pci\.0 has no slot for hot-added devices/);
  });
});

describe('planNicUnplug', () => {
  const rf = runtime({ nics: [nicN(1, 12), nicN(2, 13, { driver: 'e1000' }), nicN(3, 14)] });
  const id2 = idOf(uuidN(2));

  it('device_del, wait for the guest, then netdev_del (already-gone is fine), tap gone, record removed and later ones moved down', () => {
    const plan = planNicUnplug(unplug(uuidN(2), 5_000), ctx(rf, { live: liveWith([{ id: id2, driver: 'e1000' }]), nicHost: facts({ records: new Map([[0, 'tap0'], [1, 'tap1'], [2, 'tap2']]) }) }));
    const json = planJson(plan);
    expect(json).toMatchObject({
      action: 'unplug-nic',
      device: { id: id2, uuid: uuidN(2), kind: 'nic', driver: 'e1000' },
      allocation: { bus: 'pci.0', addr: '0xd' },
      qmp: [{ execute: 'device_del', arguments: { id: id2 } }],
      then: {
        wait: { id: id2, timeoutMs: 5_000, needsGuest: true },
        qmp: [{ execute: 'netdev_del', arguments: { id: id2 } }],
        host: [
          { host: 'tap-gone', detail: { tap: 'tap1' } },
          { host: 'nic-record-remove', detail: { record: 'nic/web1/1', instance: 'web1', seq: 1, lastSeq: 2 } },
        ],
      },
      runtime: `remove nics[1] ${id2} (e1000 at pci.0 slot 0xd, tap tap1)`,
      verify: { kind: 'absent', id: id2 },
    });
    expect(plan.after![0]!.check).toEqual({ kind: 'gone-ok' });
    expect(json.sequence!.map((s) => ('qmp' in s ? s.qmp.execute : 'host' in s ? s.host.host : 'wait'))).toEqual([
      'device_del',
      'wait',
      'netdev_del',
      'tap-gone',
      'nic-record-remove',
    ]);
    expect(plan.runtimeAfter.nics.map((n) => n.uuid)).toEqual([uuidN(1), uuidN(3)]);
    expect(renderPlanText(plan)).toContain('host: remove nic/web1/1 (nic/web1/2..2 move down by one)');
  });

  it('a device QEMU no longer has (the guest acknowledged later): no device_del, no wait; netdev, record and entry still go', () => {
    const plan = planNicUnplug(unplug(id2), ctx(rf, { live: liveWith([]) }));
    expect(plan.steps).toEqual([]);
    expect(plan.unplugWait).toBeUndefined();
    expect(planJson(plan).then?.qmp).toEqual([{ execute: 'netdev_del', arguments: { id: id2 } }]);
    expect(plan.notes.join('\n')).toMatch(/QEMU no longer has/);
  });

  it('no nic/ record: the tap is not known, said so; the last NIC: nothing to renumber', () => {
    const plan = planNicUnplug(unplug(idOf(uuidN(3))), ctx(rf));
    expect(plan.after!.map((s) => ('host' in s.command ? s.command.host : s.command.execute))).toEqual(['netdev_del', 'nic-record-remove']);
    expect(plan.after![1]!.command).toEqual({ host: 'nic-record-remove', detail: { record: 'nic/web1/2', instance: 'web1', seq: 2 } });
    expect(plan.notes.join('\n')).toMatch(/no nic\/web1\/2 record: the tap of .* is not known/);
  });

  it('an unknown NIC lists the NICs; a NIC without a PCI slot cannot be unplugged', () => {
    const err = thrown(() => planNicUnplug(unplug('nic-nope'), ctx(rf)));
    expect(err).toBeInstanceOf(InputError);
    expect(err.message).toContain(`web1 has no NIC nic-nope (its NICs: ${idOf(uuidN(1))} (${uuidN(1)}), ${id2}`);
    const isa = parseRuntimeText(
      JSON.stringify([[QEMU, '-name', 'web1'], [{ mac: 'aa:00:00:00:00:09', nicparams: { mode: 'bridged', link: BR }, hvinfo: {}, uuid: uuidN(9) }], { ...baseHvparams(QEMU), nic_type: 'ne2k_isa' }, []]),
      'conf/web1.runtime',
      'web1',
    );
    expect(thrown(() => planNicUnplug(unplug(uuidN(9)), ctx(isa)))).toBeInstanceOf(RefusedError);
  });
});

describe('planNicHotAdd passing the tap by descriptor (QEMU -runas / -chroot)', () => {
  it.each([
    ['use_chroot=true', { use_chroot: true }, 'QEMU runs chrooted (use_chroot=true)'],
    ['security_model=user', { security_model: 'user', security_domain: 'kvm' }, 'QEMU runs as another user (security_model=user, kvm)'],
  ] as const)("%s: the tap is created as root, configured, passed with getfd (Ganeti's fdname ID-0), netdev_add fds=; Ganeti's order and names", (_, hv, reason) => {
    const rf = runtime({ nics: [nicN(1, 12)], hv: { ...hv } });
    const plan = planNicHotAdd(hotAdd({ mac: 'aa:00:00:12:34:56' }), ctx(rf));
    const json = planJson(plan);
    const device: Record<string, unknown> = { netdev: NEW_ID, mac: 'aa:00:00:12:34:56', driver: 'virtio-net-pci', id: NEW_ID, bus: 'pci.0', addr: '0xd' };
    // A chrooted QEMU cannot read the NIC's option ROM: romfile "" (as Ganeti's HotAddNic).
    if ('use_chroot' in hv) device['romfile'] = '';
    expect(json.sequence?.map((e) => ('qmp' in e ? e.qmp : 'host' in e ? e.host : e.wait))).toEqual([
      ...('security_model' in hv ? [{ host: 'fd-check-user', detail: { instance: 'web1', securityModel: 'user', securityDomain: 'kvm' } }] : []),
      { host: 'fd-create-tap', detail: { handle: NEW_ID, tap: TAP, vnetHdr: true, queues: 1, vhost: false } },
      { host: 'tap-configure', detail: { tap: TAP, bridge: BR, mode: 'bridged' } },
      { execute: 'getfd', arguments: { fdname: `${NEW_ID}-0` } },
      { execute: 'netdev_add', arguments: { type: 'tap', id: NEW_ID, fds: `${NEW_ID}-0` } },
      { execute: 'device_add', arguments: device },
      { host: 'nic-record-write', detail: { record: 'nic/web1/1', instance: 'web1', seq: 1, tap: TAP } },
    ]);
    expect(json.sequence?.find((e) => 'qmp' in e && e.qmp.execute === 'getfd')).toMatchObject({ passFd: { handle: `${NEW_ID}.tap.0`, what: `descriptor of tap ${TAP}` } });
    // Undo, last first: record, device, netdev, the named descriptor, the helper's copy, then the tap must be gone.
    expect(json.rollback).toEqual([
      { execute: 'device_del', arguments: { id: NEW_ID } },
      { execute: 'netdev_del', arguments: { id: NEW_ID } },
      { execute: 'closefd', arguments: { fdname: `${NEW_ID}-0` } },
    ]);
    expect(json.hostRollback).toEqual([
      { host: 'nic-record-remove', detail: { record: 'nic/web1/1', instance: 'web1', seq: 1 } },
      { host: 'fd-drop', detail: { handle: NEW_ID } },
      { host: 'tap-gone', detail: { tap: TAP } },
    ]);
    expect(json.fdPassing).toEqual({ reason });
    expect(plan.notes.join('\n')).toContain(`descriptor passing: ${reason}, so plugboard creates tap ${TAP} as root and hands QEMU its descriptor (getfd ${NEW_ID}-0, netdev_add fds=)`);
    expect(renderPlanText(plan)).toContain(`getfd {"fdname":"${NEW_ID}-0"} + descriptor of tap ${TAP} (SCM_RIGHTS)`);
    expect(plan.runtimeAfter.nics.at(-1)!.raw).toEqual({ mac: 'aa:00:00:12:34:56', nicparams: { link: BR, mode: 'bridged', vlan: '' }, hvinfo: { driver: 'virtio-net-pci', id: NEW_ID, bus: 'pci.0', addr: '0xd' }, uuid: NEW_UUID });
  });

  it('vhost with two queues: one getfd per queue and per vhost descriptor, then netdev_add fds= vhostfds=, device mq=on', () => {
    const rf = runtime({ hv: { security_model: 'pool', vhost_net: true, virtio_net_queues: 2 } });
    const json = planJson(planNicHotAdd(hotAdd(), ctx(rf, { nicHost: facts({ vhostNet: true }) })));
    expect(json.qmp.map((c) => [c.execute, c.arguments])).toEqual([
      ['getfd', { fdname: `${NEW_ID}-0` }],
      ['getfd', { fdname: `${NEW_ID}-1` }],
      ['getfd', { fdname: `${NEW_ID}-vhost-0` }],
      ['getfd', { fdname: `${NEW_ID}-vhost-1` }],
      ['netdev_add', { type: 'tap', id: NEW_ID, fds: `${NEW_ID}-0:${NEW_ID}-1`, vhost: true, vhostfds: `${NEW_ID}-vhost-0:${NEW_ID}-vhost-1` }],
      ['device_add', expect.objectContaining({ mq: 'on', vectors: 6 }) as unknown],
    ]);
    expect(json.host[1]).toEqual({ host: 'fd-create-tap', detail: { handle: NEW_ID, tap: TAP, vnetHdr: true, queues: 2, vhost: true } });
  });

  it('vhost_net without /dev/vhost-net is still refused (plugboard would open it)', () => {
    const err = thrown(() => planNicHotAdd(hotAdd(), ctx(runtime({ hv: { use_chroot: true, vhost_net: true } }))));
    expect(err).toBeInstanceOf(RefusedError);
    expect(err.message).toMatch(/\/dev\/vhost-net is missing.*plugboard cannot open it/);
  });
});
