/**
 * Pure planners for NIC hot-add and unplug, the counterpart of plan-disk.ts. Input: the runtime
 * file, the bus model (live state overlaid when QEMU answered), what QEMU reports, and facts about
 * the host (the bridge, the tap name, `/dev/net/tun`, `/dev/vhost-net`, the `nic/` records) gathered
 * beforehand (`gatherNicHostFacts`). Output: a Plan, or a RefusedError/InputError that says why —
 * before anything is sent or run.
 *
 * Hot-add (Ganeti 3.0's HotAddDevice for a NIC, with QEMU creating the tap: see host-net.ts):
 *   1. QMP  netdev_add {type: tap, id, ifname: TAP, script: no, downscript: no, vnet_hdr[, vhost, vhostforce][, queues]}
 *   2. host tap-configure TAP (kvm-ifup's bridged setup: MAC fe:…, up, MTU, master BRIDGE)
 *   3. QMP  device_add {netdev, mac, driver, id, bus: pci.0, addr[, mq, vectors]}
 *   4. host write nic/NAME/SEQ = TAP
 *   verify: QEMU lists the NIC at the planned slot; then the runtime file gets the NIC appended.
 *   Rollback: nic record removed; device_del (and wait); netdev_del, which closes QEMU's tap, and a
 *   check that the tap is gone. The runtime file is untouched.
 * A QEMU that runs as another user or chrooted cannot create the tap: plugboard creates it as root
 * and passes its descriptor (step 1 becomes: create the tap, configure it, `getfd ID-0…`,
 * `netdev_add {type: tap, id, fds}`; docs/fd-passing.md), with `romfile: ""` when chrooted.
 *
 * Unplug: device_del, wait until QEMU no longer lists it (the guest must acknowledge: PCI), then
 * netdev_del (the tap goes with it), check the tap is gone, remove nic/NAME/SEQ (later records move
 * down), rewrite the runtime file. Unacknowledged: pending — entry, netdev, tap and record kept.
 */
import { InputError, RefusedError } from '../errors.js';
import { allocate } from '../bus/allocate.js';
import { NIC_TYPES, isHotpluggableNicType, nicDriver } from '../runtime/hvparams.js';
import { checkQemuId, deviceId, isUuid } from '../runtime/ids.js';
import { withNic, withoutNic } from '../runtime/edit.js';
import type { Json, JsonObject, RuntimeFile, RuntimeNic } from '../runtime/types.js';
import type { DiskPlanContext } from './plan-disk.js';
import { allocationText } from './plan-disk.js';
import { refuseIfQemuNamesItOtherwise } from './unplug-guard.js';
import { hostCommands, ifnameProblem, type LinkInfo } from './host-net.js';
import { macForNewNic } from './mac.js';
import { fdPassingReason, nicFdSteps, qemuUserCheckStep, tapCreateStep } from '../qmp/fdpass/plan.js';
import type { Action, Allocation, Plan, PlanStep } from './types.js';

type HotAddNic = Extract<Action, { type: 'hot-add-nic' }>;
type UnplugNic = Extract<Action, { type: 'unplug-nic' }>;

/** Host facts a NIC plan needs (gathered before planning, so the planner stays pure). */
export interface NicHostFacts {
  /** `/dev/net/tun` is a character device (QEMU opens it to create the tap). */
  tun: boolean;
  /** `/dev/vhost-net` is a character device. */
  vhostNet: boolean;
  /** Interfaces by name, as `/sys/class/net` shows them: the new NIC's bridge, the planned tap name. */
  links: Readonly<Record<string, LinkInfo>>;
  /** The instance's `nic/NAME/SEQ` records (SEQ → tap); undefined when the node's root is not known. */
  records?: ReadonlyMap<number, string>;
}

export interface NicPlanContext extends DiskPlanContext {
  nicHost?: NicHostFacts;
}

/** Prefix of the taps plugboard has QEMU create (≤ 15 chars with the UUID part). */
export const TAP_PREFIX = 'tap.pb.';

/**
 * The tap of a hot-added NIC: `tap.pb.` + the UUID's first group (`tap.pb.9e7c85f6` for the NIC
 * `nic-9e7c85f6-b6e5-4243`). It starts with `tap`, as Ganeti's kernel-named taps (`tapN`) do —
 * kvm-ifup's VLAN-aware bridge setup counts every port that does not start with `tap` as an uplink
 * and would add other NICs' VLANs to it — and cannot clash with them (no digit after `tap`).
 */
export function tapNameFor(uuid: string): string {
  return `${TAP_PREFIX}${uuid.slice(0, 8).toLowerCase()}`;
}

/** The new NIC's nicparams mode and link: `--link` (bridged), else the instance's first NIC's. */
export interface NicLink {
  mode: string;
  link: string;
  source: string;
}

/** Where the new NIC goes on the network; throws InputError/RefusedError for what plugboard cannot do. */
export function resolveNicLink(rf: RuntimeFile, action: HotAddNic): NicLink {
  let result: NicLink;
  if (action.link !== undefined) {
    const problem = ifnameProblem(action.link);
    if (problem) throw new InputError(`--link ${JSON.stringify(action.link)}: ${problem}`);
    result = { mode: 'bridged', link: action.link, source: '--link' };
  } else {
    const first = rf.nics[0];
    if (!first) {
      throw new InputError(`${rf.instance} has no NIC to take the bridge from: pass --link BRIDGE`);
    }
    result = { mode: first.mode ?? 'bridged', link: first.link ?? '', source: `as NIC 0 (${first.uuid})` };
    if (result.mode === 'bridged' && result.link === '') {
      throw new InputError(`NIC 0 of ${rf.instance} has no nicparams link to take the bridge from: pass --link BRIDGE`);
    }
  }
  if (result.mode === 'routed') {
    throw new RefusedError(
      `nicparams mode routed (${result.source}) is not supported yet: kvm-ifup's routed setup (ip rule/route for the NIC's IP, proxy_arp) is not done by plugboard; pass --link BRIDGE for a bridged NIC`,
    );
  }
  if (result.mode === 'openvswitch') {
    throw new RefusedError(
      `nicparams mode openvswitch (${result.source}) is not supported yet: plugboard does not run ovs-vsctl; pass --link BRIDGE for a Linux bridge`,
    );
  }
  if (result.mode !== 'bridged') throw new RefusedError(`nicparams mode ${result.mode} (${result.source}) is not supported (bridged only)`);
  return result;
}

/** The NIC features Ganeti derives from the instance's hvparams (`_GetNetworkDeviceFeatures`). */
export interface NicFeatures {
  vnetHdr: boolean;
  vhost: boolean;
  /** Tap queues (> 1 only with vhost and virtio_net_queues > 1: then `mq=on,vectors=2N+2`). */
  queues: number;
}

export function nicFeatures(rf: RuntimeFile): NicFeatures {
  const h = rf.hvparams;
  if (h.nic_type !== 'paravirtual') return { vnetHdr: false, vhost: false, queues: 1 };
  const raw = rf.hvparamsRaw;
  const vnetHdr = raw['vnet_hdr'] === undefined || raw['vnet_hdr'] === null ? true : raw['vnet_hdr'] === true;
  const q = raw['virtio_net_queues'];
  const queues = h.vhost_net && typeof q === 'number' && Number.isInteger(q) && q > 1 ? q : 1;
  return { vnetHdr, vhost: h.vhost_net, queues };
}

function nicId(n: RuntimeNic): string {
  return 'id' in n.hvinfo && typeof n.hvinfo.id === 'string' ? n.hvinfo.id : deviceId('nic', n.uuid);
}

export function planNicHotAdd(action: HotAddNic, ctx: NicPlanContext): Plan {
  const { rf } = ctx;
  const nicType = action.nicType ?? rf.hvparams.nic_type;
  if (!(NIC_TYPES as readonly string[]).includes(nicType)) {
    throw new InputError(`--nic-type ${nicType}: not a nic_type (one of ${NIC_TYPES.join(', ')})`);
  }
  if (!isHotpluggableNicType(nicType)) {
    throw new RefusedError(
      `nic_type ${nicType} is an ISA card: it sits on QEMU's ISA bus, which has no hotplug, so it cannot be hot-added ` +
        `(hot-pluggable NIC types: ${NIC_TYPES.filter(isHotpluggableNicType).join(', ')})`,
    );
  }
  // A QEMU that runs as another user or chrooted cannot create a tap: plugboard creates it as root
  // and passes its descriptor (getfd + netdev_add fds=), as Ganeti does.
  const fdReason = fdPassingReason(rf.hvparams, 'nic');

  const uuid = action.uuid ?? ctx.newUuid();
  if (!isUuid(uuid)) throw new InputError(`--uuid ${uuid}: not a UUID (like 9e7c85f6-b6e5-4243-b27d-680b78c6d203)`);
  if (rf.disks.some((d) => d.uuid === uuid) || rf.nics.some((n) => n.uuid === uuid)) {
    throw new InputError(`--uuid ${uuid}: already used by a device of ${rf.instance}`);
  }
  const id = deviceId('nic', uuid);
  const idProblem = checkQemuId(id);
  if (idProblem) throw new InputError(`device id ${id}: ${idProblem}`);
  if (ctx.live?.peripherals.some((p) => p.id === id)) {
    throw new RefusedError(`QEMU already has a device with id ${id} (uuid ${uuid}): pick another --uuid`);
  }
  const taken = [...rf.disks, ...rf.nics].find((d) => 'id' in d.hvinfo && d.hvinfo.id === id);
  if (taken) throw new InputError(`device id ${id} is already in the runtime file (uuid ${taken.uuid})`);

  const notes: string[] = [];
  const { mac, note: macNote } = macForNewNic(rf, uuid, action.mac);
  if (macNote) notes.push(macNote);
  const net = resolveNicLink(rf, action);
  if (net.source !== '--link') notes.push(`bridge ${net.link}: ${net.source}`);

  const driver = nicDriver(nicType);
  const features = nicFeatures(rf);
  if (features.queues > 1 && driver !== 'virtio-net-pci') {
    throw new RefusedError(
      `--nic-type ${nicType}: ${rf.instance} has vhost_net and virtio_net_queues=${features.queues}, so Ganeti starts every NIC with mq=on,vectors=${2 * features.queues + 2}, ` +
        `which only virtio-net-pci has: the instance would not start again (or be migrated) with a ${driver}`,
    );
  }
  if (nicType !== rf.hvparams.nic_type) {
    notes.push(`nic type ${nicType} differs from the instance's nic_type ${rf.hvparams.nic_type}: the hvinfo driver keeps it ${driver} at restarts and migrations`);
  }

  // Host facts: everything checked before anything is sent.
  const tap = tapNameFor(uuid);
  const host = ctx.nicHost;
  if (!host) throw new RefusedError('internal: NIC hot-add planned without host facts');
  if (!host.tun) throw new RefusedError(`/dev/net/tun is missing on this node: ${fdReason ? 'plugboard' : 'QEMU'} cannot create a tap (modprobe tun)`);
  if (features.vhost && !host.vhostNet) {
    throw new RefusedError(
      `${rf.instance} has vhost_net=true but /dev/vhost-net is missing on this node (modprobe vhost_net): ` +
        (fdReason
          ? 'plugboard cannot open it to pass QEMU its vhost descriptors'
          : 'QEMU 7.2 aborts — the whole instance dies — when netdev_add asks for vhost and cannot open it (measured), so plugboard does not try'),
    );
  }
  const bridge = host.links[net.link] ?? { name: net.link, kind: 'missing' as const };
  if (bridge.kind === 'missing') {
    throw new RefusedError(`bridge ${net.link} (${net.source === '--link' ? '--link' : `nicparams link ${net.source}`}) does not exist on this node: create it or pass --link BRIDGE`);
  }
  if (bridge.kind === 'openvswitch') {
    throw new RefusedError(`${net.link} is an Open vSwitch bridge: openvswitch mode is not supported yet (plugboard does not run ovs-vsctl)`);
  }
  if (bridge.kind !== 'bridge') {
    throw new RefusedError(`${net.link} is not a Linux bridge (no /sys/class/net/${net.link}/bridge; it is a ${bridge.kind} interface): a bridged NIC needs one`);
  }
  const clash = host.links[tap];
  if (clash && clash.kind !== 'missing') {
    throw new RefusedError(
      `an interface named ${tap} (the tap for uuid ${uuid}) already exists${clash.master ? ` on ${clash.master}` : ''}: ` +
        `a leftover? check ip -d link show ${tap}, or pick another --uuid`,
    );
  }

  const result = allocate(ctx.model, rf, { kind: 'nic', type: nicType });
  if (!result.ok) throw new RefusedError(`cannot hot-add a ${driver} NIC to ${rf.instance}: ${result.error}`);
  if (result.allocation.bus !== 'pci.0') throw new RefusedError(`internal: a NIC allocated on ${result.allocation.bus}`);
  const allocation: Allocation = { bus: 'pci.0', addr: result.allocation.addr };
  const skipped = result.allocation.skipped.map((s) => `slot 0x${s.slot.toString(16)} passed over: ${s.reason}`);

  const hvinfo: JsonObject = { driver, id, bus: 'pci.0', addr: allocation.addr };
  const seq = rf.nics.length;
  const oldRecord = host.records?.get(seq);
  if (oldRecord !== undefined) notes.push(`nic/${rf.instance}/${seq} holds ${oldRecord} (a stale record: no NIC ${seq} in the runtime file): it is overwritten`);

  const netdevArgs: Record<string, unknown> = { type: 'tap', id, ifname: tap, script: 'no', downscript: 'no', vnet_hdr: features.vnetHdr };
  if (features.vhost) {
    netdevArgs.vhost = true;
    // Without vhostforce, QEMU 7.2 aborts when it cannot open /dev/vhost-net; with it, it refuses.
    netdevArgs.vhostforce = true;
  }
  if (features.queues > 1) netdevArgs.queues = features.queues;
  const deviceArgs: Record<string, unknown> = { netdev: id, mac, ...hvinfo };
  if (features.queues > 1) {
    deviceArgs.mq = 'on';
    deviceArgs.vectors = 2 * features.queues + 2;
  }
  // A chrooted QEMU cannot load the NIC's option ROM (measured): Ganeti's HotAddNic passes romfile "".
  if (fdReason && rf.hvparams.use_chroot) deviceArgs.romfile = '';

  const configure: PlanStep = {
    purpose: `bring tap ${tap} up on bridge ${net.link}`,
    command: hostCommands.tapConfigure(tap, net.link),
  };
  let netdevSteps: PlanStep[];
  if (fdReason) {
    const fdNic = { id, tap, vnetHdr: features.vnetHdr, queues: features.queues, vhost: features.vhost };
    const create = tapCreateStep(fdNic);
    const userCheck = qemuUserCheckStep(rf.instance, rf.hvparams);
    netdevSteps = [
      ...(userCheck ? [userCheck] : []),
      // The tap lives as long as a descriptor of it: gone once QEMU's (netdev_del, closefd) and the helper's are closed.
      { ...create, undo: [...(create.undo ?? []), hostCommands.tapGone(tap)] },
      configure,
      ...nicFdSteps(fdNic),
    ];
    notes.push(
      `descriptor passing: ${fdReason}, so plugboard creates tap ${tap} as root and hands QEMU its descriptor` +
        `${features.queues > 1 ? 's' : ''} (getfd ${id}-0${features.queues > 1 ? '…' : ''}, netdev_add fds=)`,
    );
  } else {
    netdevSteps = [
      {
        purpose: `create the netdev ${id} and its tap ${tap}`,
        command: { execute: 'netdev_add', arguments: netdevArgs },
        undo: [{ execute: 'netdev_del', arguments: { id } }, hostCommands.tapGone(tap)],
      },
      configure,
    ];
  }

  const steps: PlanStep[] = [
    ...netdevSteps,
    {
      purpose: `add ${driver} ${id} (MAC ${mac}) at ${allocationText(allocation)}`,
      command: { execute: 'device_add', arguments: deviceArgs },
      undo: [{ execute: 'device_del', arguments: { id } }],
    },
    {
      purpose: `record tap ${tap} in nic/${rf.instance}/${seq}`,
      command: hostCommands.nicRecordWrite(rf.instance, seq, tap),
      undo: [hostCommands.nicRecordRemove(rf.instance, seq)],
    },
  ];

  // As Ganeti's NIC.ToDict writes it (slot order: mac, nicparams, hvinfo, uuid; no ip when none).
  const entry: JsonObject = {
    mac,
    nicparams: { link: net.link, mode: net.mode, vlan: '' } as Record<string, Json>,
    hvinfo,
    uuid,
  };
  const runtimeAfter = withNic(rf, entry);
  return {
    action,
    instance: rf.instance,
    device: { id, uuid, kind: 'nic', driver },
    allocation,
    skipped,
    steps,
    verify: { kind: 'present', id, allocation },
    runtimeAfter,
    runtimeChange: `add nics[${seq}] ${id} (${driver} at ${allocationText(allocation)}, MAC ${mac}, bridge ${net.link})`,
    notes,
    ...(fdReason ? { fdPassing: { reason: fdReason } } : {}),
  };
}

export function findNic(rf: RuntimeFile, ref: string): RuntimeNic {
  const found = rf.nics.find((n) => n.uuid === ref || nicId(n) === ref);
  if (!found) {
    const known = rf.nics.map((n) => `${nicId(n)} (${n.uuid})`).join(', ') || 'none';
    throw new InputError(`${rf.instance} has no NIC ${ref} (its NICs: ${known})`);
  }
  return found;
}

export function planNicUnplug(action: UnplugNic, ctx: NicPlanContext): Plan {
  const { rf } = ctx;
  const nic = findNic(rf, action.device);
  const id = nicId(nic);
  if (!('bus' in nic.hvinfo) || !('addr' in nic.hvinfo)) {
    throw new RefusedError(
      `${id} has no PCI slot in its hvinfo (a ${rf.hvparams.nic_type} NIC from the command line): it cannot be unplugged`,
    );
  }
  const hv = nic.hvinfo;
  const allocation: Allocation = { bus: 'pci.0', addr: hv.addr };
  const notes: string[] = [];
  const steps: PlanStep[] = [];
  const after: PlanStep[] = [];
  const present = ctx.present ?? (ctx.live ? ctx.live.peripherals.some((p) => p.id === id) : true);
  if (present) {
    steps.push({ purpose: `ask QEMU to remove ${id}`, command: { execute: 'device_del', arguments: { id } } });
    notes.push('a PCI unplug needs the guest to acknowledge it; without that it stays pending and the runtime entry, netdev, tap and nic/ record are kept');
  } else {
    refuseIfQemuNamesItOtherwise(ctx.live, allocation, id, rf.instance);
    notes.push(`QEMU no longer has ${id}: nothing to unplug; its netdev, tap, nic/ record and runtime file entry are removed`);
  }
  // Ganeti names the netdev after the device (`-netdev …,id=<hvinfo id>`, netdev_add id=<device id>).
  after.push({
    purpose: `remove the netdev ${id} once the device is gone (QEMU closes the tap)`,
    command: { execute: 'netdev_del', arguments: { id } },
    check: { kind: 'gone-ok' },
  });
  const seq = nic.index;
  const tap = ctx.nicHost?.records?.get(seq);
  if (tap !== undefined) {
    after.push({ purpose: `check tap ${tap} is gone`, command: hostCommands.tapGone(tap) });
  } else if (ctx.nicHost?.records) {
    notes.push(`no nic/${rf.instance}/${seq} record: the tap of ${id} is not known, so its removal is not checked`);
  }
  after.push({
    purpose: `remove nic/${rf.instance}/${seq}`,
    command: hostCommands.nicRecordRemove(rf.instance, seq, rf.nics.length - 1),
  });
  return {
    action,
    instance: rf.instance,
    device: { id, uuid: nic.uuid, kind: 'nic', driver: hv.driver },
    allocation,
    skipped: [],
    steps,
    unplugWait: present ? { id, timeoutMs: action.timeoutMs, needsGuest: true } : undefined,
    after,
    verify: { kind: 'absent', id },
    runtimeAfter: withoutNic(rf, nic.uuid),
    runtimeChange: `remove nics[${seq}] ${id} (${hv.driver} at ${allocationText(allocation)}${tap ? `, tap ${tap}` : ''})`,
    notes,
  };
}
