/**
 * NIC hot-add and unplug through the executor and the CLI against a real QEMU 7.2, with real Linux
 * bridges made by the test (test/helpers/net.ts: names `pbtXXXXXXXX`, removed after each test and
 * at exit) and the taps QEMU creates (`tap.pb.<uuid part>`, non-persistent: they die with QEMU).
 *
 * - hot-add of virtio-net-pci, e1000 and rtl8139 on a paused VM: slot, MAC, tap up on the bridge with
 *   its MTU, nic/ record, runtime entry as Ganeti 3.0's HotAddDevice writes it, no drift; the tap
 *   goes when QEMU goes;
 * - everything refused before a command is sent (bridge missing, tap name taken, vhost without
 *   /dev/vhost-net, ne2k_isa, duplicate MAC);
 * - each rollback: netdev_add refused, the bridge gone before the tap joins it, device_add refused,
 *   the runtime file changed after verification (booted guest: clean; paused: the device is pending
 *   but its tap is gone);
 * - unplug: pending on a paused VM (entry, tap, record kept) then finished; acknowledged by the
 *   booted test guest for three NIC types, records moved down;
 * - the CLI: hotplug nic / unplug nic, --dry-run --json (also with --runtime-file).
 * Timings are printed, not asserted.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { readNicRecords } from '../../src/actions/host-net.js';
import { tapNameFor } from '../../src/actions/plan-nic.js';
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { Outcome, PlanJson } from '../../src/actions/types.js';
import { InputError, RefusedError } from '../../src/errors.js';
import { readPending } from '../../src/live/pending.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { ganetiAvailable, ganetiHotAdd } from '../helpers/ganeti.js';
import {
  bridgePorts,
  createBridge,
  createPersistentTap,
  hmpSync,
  linkExists,
  removeLink,
  requireNetAdmin,
  tapFacts,
  useNetCleanup,
} from '../helpers/net.js';
import { startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';
import { sentCommands, failure, refusal, cli } from '../helpers/actions.js';

requireNetAdmin();
useSandboxCleanup();
useNetCleanup();

const mustRun = process.env['CI'] === 'true';

/** Commands that change QEMU's devices or backends. */
const CHANGING = new Set(['device_add', 'device_del', 'netdev_add', 'netdev_del', 'blockdev-add', 'blockdev-del', 'human-monitor-command']);






const monitor = (sb: TestSandbox) => path.join(sb.root, 'ctrl', `${sb.name}.monitor`);
const infoNetwork = (sb: TestSandbox) => sb.qmp((q) => q.hmp('info network', { expect: 'text' }));
const nicIds = async (sb: TestSandbox) => (await sb.load()).nics.map((n) => ('id' in n.hvinfo ? n.hvinfo.id : ''));
const records = async (sb: TestSandbox) => Object.fromEntries(await readNicRecords(sb.root, sb.name));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('hot-add on a paused VM (no guest), onto a real bridge', () => {
  it.each([
    ['paravirtual', 'virtio-net-pci'],
    ['e1000', 'e1000'],
    ['rtl8139', 'rtl8139'],
  ])('%s → %s at the next free slot; QEMU has it with the MAC on tap.pb.*; the tap is up on the bridge with its MTU; record, runtime entry, no drift; gone with QEMU', async (nicType, driver) => {
    const br = createBridge({ mtu: 1400 });
    const name = `hn-${nicType.slice(0, 4)}`;
    const sb = await startSandbox({ name, nicType, nics: 1, extraKvmCmd: ['-nodefaults'] });
    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    const outcome = await runAction({ type: 'hot-add-nic', instance: name, link: br, uuid }, { root: sb.root });
    console.log(`hot-add ${driver}: ${outcome.timings.totalMs} ms (lock, connect, probe, plan, netdev_add, tap on bridge, device_add, verify, record, runtime file)`);
    expect(outcome.status).toBe('done');
    const id = outcome.plan.device.id;
    // NIC 0 of the sandbox is at 0xc; the reservations are 12.
    expect(outcome.plan.allocation).toEqual({ bus: 'pci.0', addr: '0xd' });
    const live = await sb.probe();
    expect(live.pci.find((f) => f.qdevId === id)?.slot).toBe(0xd);
    expect(live.peripherals).toContainEqual({ id, driver });

    const rf = await sb.load();
    const entry = rf.nics[1]!;
    expect(entry.raw).toEqual({ mac: entry.mac, nicparams: { link: br, mode: 'bridged', vlan: '' }, hvinfo: { driver, id, bus: 'pci.0', addr: '0xd' }, uuid });
    expect(entry.mac).toMatch(/^aa:00:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);

    const net = await infoNetwork(sb);
    expect(net).toContain(`${id}: index=0,type=nic,model=${driver},macaddr=${entry.mac}`);
    expect(net).toContain(`\\ ${id}: index=0,type=tap,ifname=${tap},script=no,downscript=no`);
    const facts = tapFacts(tap);
    expect(facts).toMatchObject({ up: true, master: br, mtu: 1400, persistent: false, vnetHdr: nicType === 'paravirtual' });
    expect(facts.address.startsWith('fe:')).toBe(true);
    expect(bridgePorts(br)).toEqual([tap]);
    expect(await records(sb)).toEqual({ 1: tap });
    expect(readFileSync(path.join(sb.root, 'nic', name, '1'), 'utf8')).toBe(tap);
    expect((await sb.drift()).items).toEqual([]);

    // Non-persistent: the tap ends with QEMU (as Ganeti's do), nothing is left on the bridge.
    await sb.stop();
    expect(linkExists(tap)).toBe(false);
    expect(bridgePorts(br)).toEqual([]);
  });

  it('the bridge defaults to NIC 0\'s; a second NIC gets the next slot, its own tap, record 2 and a different MAC', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-dflt', nics: 1, extraKvmCmd: ['-nodefaults'] });
    // Point NIC 0 at the test bridge (the sandbox writes br0).
    writeFileSync(sb.runtimeFile, sb.runtimeText().replace('"link": "br0"', `"link": "${br}"`));
    const a = await runAction({ type: 'hot-add-nic', instance: 'hn-dflt' }, { root: sb.root });
    const b = await runAction({ type: 'hot-add-nic', instance: 'hn-dflt', nicType: 'e1000' }, { root: sb.root });
    expect(a.plan.notes.join('\n')).toMatch(new RegExp(`bridge ${br}: as NIC 0`));
    expect([a.plan.allocation, b.plan.allocation]).toEqual([
      { bus: 'pci.0', addr: '0xd' },
      { bus: 'pci.0', addr: '0xe' },
    ]);
    const rf = await sb.load();
    expect(rf.nics.map((n) => n.link)).toEqual([br, br, br]);
    expect(new Set(rf.nics.map((n) => n.mac)).size).toBe(3);
    const taps = [tapNameFor(a.plan.device.uuid), tapNameFor(b.plan.device.uuid)];
    expect(bridgePorts(br)).toEqual([...taps].sort());
    expect(await records(sb)).toEqual({ 1: taps[0], 2: taps[1] });
    expect((await sb.drift()).items).toEqual([]);
  });

  it.skipIf(!ganetiAvailable() && !mustRun)("the same slot, device_add and runtime entry as Ganeti 3.0's own HotAddDevice for the same file", async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-gnt', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const copy = path.join(sb.root, 'before.runtime');
    copyFileSync(sb.runtimeFile, copy);
    const uuid = randomUUID();
    const mac = 'aa:00:00:12:34:56';
    const t = new Transcript();
    const ours = await runAction({ type: 'hot-add-nic', instance: 'hn-gnt', link: br, uuid, mac }, { root: sb.root, transcript: t });
    const ganeti = ganetiHotAdd(copy, 'nic', { uuid, mac });

    expect(ours.plan.runtimeAfter.nics[1]!.hvinfo).toEqual(ganeti.hvinfo);
    const gDeviceAdd = ganeti.commands.flatMap((c) => ('qmp' in c && c.qmp.execute === 'device_add' ? [c.qmp.arguments] : []));
    const ourDeviceAdd = sentCommands(t).filter((c) => c.execute === 'device_add').map((c) => c.arguments);
    expect(ourDeviceAdd).toEqual(gDeviceAdd);
    // The netdev differs by design: Ganeti passes a tap fd (getfd + fds=), plugboard names the tap.
    const gNetdev = ganeti.commands.flatMap((c) => ('qmp' in c && c.qmp.execute === 'netdev_add' ? [c.qmp.arguments] : []))[0]!;
    expect(gNetdev).toMatchObject({ type: 'tap', id: ours.plan.device.id });
    // The entry as written (key order of Ganeti's NIC.ToDict), same values; the harness's NIC has no vlan in nicparams.
    const gEntry = (JSON.parse(ganeti.runtime_text) as typeof ganeti.runtime)[1][1]!;
    const ourEntry = (await sb.load()).nics[1]!.raw;
    expect(Object.keys(ourEntry)).toEqual(Object.keys(gEntry));
    expect({ ...ourEntry, nicparams: undefined }).toEqual({ ...gEntry, nicparams: undefined });
    expect(ourEntry.nicparams).toMatchObject({ mode: 'bridged' });
  });
});

describe('refused before anything is sent', () => {
  it('bridge missing, tap name taken, ne2k_isa, duplicate MAC, vhost without /dev/vhost-net: only queries reach QEMU; nothing changes', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-ref', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const t = new Transcript();
    const opts = { root: sb.root, transcript: t };

    const noBridge = await refusal(runAction({ type: 'hot-add-nic', instance: 'hn-ref', link: 'pbt-missing' }, opts));
    expect(noBridge.message).toBe('bridge pbt-missing (--link) does not exist on this node: create it or pass --link BRIDGE');

    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    createPersistentTap(tap);
    const taken = await refusal(runAction({ type: 'hot-add-nic', instance: 'hn-ref', link: br, uuid }, opts));
    expect(taken.message).toMatch(new RegExp(`an interface named ${tap.replaceAll('.', '\\.')} \\(the tap for uuid ${uuid}\\) already exists`));
    // Someone else's tap is left exactly as it was.
    expect(tapFacts(tap)).toMatchObject({ persistent: true, master: undefined });

    const isa = await refusal(runAction({ type: 'hot-add-nic', instance: 'hn-ref', link: br, nicType: 'ne2k_isa' }, opts));
    expect(isa).toBeInstanceOf(RefusedError);
    expect(isa.message).toMatch(/ne2k_isa is an ISA card/);

    const mac0 = (await sb.load()).nics[0]!.mac;
    const dup = await refusal(runAction({ type: 'hot-add-nic', instance: 'hn-ref', link: br, mac: mac0.toUpperCase() }, opts));
    expect(dup).toBeInstanceOf(InputError);
    expect(dup.message).toMatch(/already has this MAC address/);

    if (!existsSync('/dev/vhost-net')) {
      // QEMU 7.2 aborts on netdev_add vhost=on without /dev/vhost-net: the instance would die.
      writeFileSync(sb.runtimeFile, before.replace('"vhost_net": false', '"vhost_net": true'));
      const vhost = await refusal(runAction({ type: 'hot-add-nic', instance: 'hn-ref', link: br }, opts));
      expect(vhost.message).toMatch(/vhost_net=true but \/dev\/vhost-net is missing/);
      writeFileSync(sb.runtimeFile, before);
    }

    expect(sentCommands(t).filter((c) => CHANGING.has(c.execute))).toEqual([]);
    expect(sb.runtimeText()).toBe(before);
    expect(bridgePorts(br)).toEqual([]);
    expect(await records(sb)).toEqual({});
    expect(await sb.qmp((q) => q.execute('query-status'))).toMatchObject({ status: 'prelaunch' });
  });
});

describe('rollback', () => {
  it('netdev_add refused (a netdev with that id is in QEMU): nothing to undo, no tap, no record, runtime file byte-identical', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-rb1', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const uuid = randomUUID();
    const id = `nic-${uuid.split('-').slice(0, 3).join('-')}`;
    await sb.qmp((q) => q.execute('netdev_add', { type: 'user', id }));
    const before = sb.runtimeText();
    const t = new Transcript();
    const err = await failure(runAction({ type: 'hot-add-nic', instance: 'hn-rb1', link: br, uuid }, { root: sb.root, transcript: t }));
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.message).toMatch(new RegExp(`create the netdev ${id} and its tap .* failed: QEMU refused netdev_add: Duplicate ID '${id}' \\(GenericError\\); nothing had changed; runtime file untouched`));
    expect(sentCommands(t).filter((c) => CHANGING.has(c.execute)).map((c) => c.execute)).toEqual(['netdev_add']);
    expect(linkExists(tapNameFor(uuid))).toBe(false);
    expect(sb.runtimeText()).toBe(before);
    expect(await records(sb)).toEqual({});
    // The netdev that was there is left alone.
    expect(await infoNetwork(sb)).toContain(`${id}: index=0,type=user`);
  });

  it('the bridge disappears between planning and the tap joining it: netdev_del, QEMU\'s tap is gone, runtime file byte-identical', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-rb2', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const t = new Transcript();
    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    const err = await failure(
      runAction(
        { type: 'hot-add-nic', instance: 'hn-rb2', link: br, uuid },
        { root: sb.root, transcript: t, onProgress: (e) => e.phase === 'planned' && removeLink(br) },
      ),
    );
    const id = err.outcome.plan.device.id;
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.message).toMatch(new RegExp(`bring tap .* up on bridge ${br} failed: bridge ${br} no longer exists`));
    expect(err.outcome.undone).toEqual([`netdev_del {"id":"${id}"}`, `host: tap ${tap} gone`]);
    expect(sentCommands(t).filter((c) => CHANGING.has(c.execute)).map((c) => c.execute)).toEqual(['netdev_add', 'netdev_del']);
    expect(linkExists(tap)).toBe(false);
    expect(await infoNetwork(sb)).not.toContain(id);
    expect(sb.runtimeText()).toBe(before);
    expect(await records(sb)).toEqual({});
  });

  it('device_add refused twice (each slot planned is taken behind plugboard\'s back): undone, planned again once, then netdev_del, tap gone, nothing on the bridge, runtime file byte-identical', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-rb3', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const t = new Transcript();
    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    // Over the HMP monitor (the QMP socket is the action's), before the first step of each plan: a
    // device at the slot just planned. The executor undoes, probes everything, plans 0xe, and gives up
    // when that one is taken too.
    const squatters: string[] = [];
    const squat = (e: ProgressEvent) => {
      if (e.phase !== 'planned' || e.plan.allocation?.bus !== 'pci.0') return;
      const name = `squat${squatters.length}`;
      squatters.push(`${name}@${e.plan.allocation.addr}`);
      hmpSync(monitor(sb), `device_add e1000,id=${name},bus=pci.0,addr=${e.plan.allocation.addr}`);
    };
    const err = await failure(runAction({ type: 'hot-add-nic', instance: 'hn-rb3', link: br, uuid }, { root: sb.root, transcript: t, onProgress: squat }));
    const id = err.outcome.plan.device.id;
    expect(squatters).toEqual(['squat0@0xd', 'squat1@0xe']);
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.message).toMatch(/QEMU refused device_add: PCI: slot 14 function 0 not available for virtio-net-pci, in use by e1000,id=squat1 \(GenericError\) — QEMU refused the place it was given although plugboard had read its whole layout just before/);
    expect(err.outcome.plan.notes.join('\n')).toMatch(/QEMU refused pci\.0 slot 0xd \(PCI: slot 13 function 0 not available .*id=squat0\); undone: netdev_del .*; plugboard read QEMU's whole layout and planned again/);
    expect(err.outcome.undone).toEqual([`netdev_del {"id":"${id}"}`, `host: tap ${tap} gone`]);
    expect(sentCommands(t).filter((c) => CHANGING.has(c.execute)).map((c) => c.execute)).toEqual([
      'netdev_add',
      'device_add',
      'netdev_del',
      'netdev_add',
      'device_add',
      'netdev_del',
    ]);
    expect(linkExists(tap)).toBe(false);
    expect(bridgePorts(br)).toEqual([]);
    expect(sb.runtimeText()).toBe(before);
    expect(await records(sb)).toEqual({});
    expect(await sb.peripheralIds()).toEqual(expect.arrayContaining(['squat0', 'squat1']));
    expect(await sb.peripheralIds()).not.toContain(id);
  });

  it('runtime file changed after verification, booted guest: record removed, device_del acknowledged, netdev_del, tap gone', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-rb4', nics: 1, extraKvmCmd: ['-nodefaults'] }, { guest: true });
    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    const err = await failure(
      runAction(
        { type: 'hot-add-nic', instance: 'hn-rb4', link: br, uuid },
        { root: sb.root, undoUnplugTimeoutMs: 10_000, onProgress: (e) => e.phase === 'verified' && appendFileSync(sb.runtimeFile, '\n') },
      ),
    );
    const id = err.outcome.plan.device.id;
    expect(err.message).toMatch(/runtime file could not be written/);
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.outcome.leftovers).toEqual([]);
    expect(err.outcome.undone).toEqual([`host: remove nic/hn-rb4/1`, `device_del {"id":"${id}"}`, `netdev_del {"id":"${id}"}`, `host: tap ${tap} gone`]);
    expect(await sb.peripheralIds()).not.toContain(id);
    expect(linkExists(tap)).toBe(false);
    expect(await records(sb)).toEqual({});
  });

  it('runtime file changed after verification, paused VM: the device stays pending (reported), but its netdev and tap are gone', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-rb5', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    const err = await failure(
      runAction(
        { type: 'hot-add-nic', instance: 'hn-rb5', link: br, uuid },
        { root: sb.root, undoUnplugTimeoutMs: 300, onProgress: (e) => e.phase === 'verified' && appendFileSync(sb.runtimeFile, '\n') },
      ),
    );
    const id = err.outcome.plan.device.id;
    expect(err.outcome.status).toBe('failed');
    expect(err.outcome.leftovers.join('\n')).toMatch(new RegExp(`${id} is still in QEMU: its unplug is pending`));
    expect(err.outcome.undone).toEqual([`host: remove nic/hn-rb5/1`, `netdev_del {"id":"${id}"}`, `host: tap ${tap} gone`]);
    expect(await sb.peripheralIds()).toContain(id);
    expect(linkExists(tap)).toBe(false);
    expect(bridgePorts(br)).toEqual([]);
    expect((await readPending(sb.root, 'hn-rb5')).map((p) => p.id)).toEqual([id]);
  });
});

describe('unplug', () => {
  it('paused VM: pending (exit 1), entry, netdev, tap and record kept; after system_reset a second unplug removes them all', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-pend', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const added = await runAction({ type: 'hot-add-nic', instance: 'hn-pend', link: br }, { root: sb.root });
    const id = added.plan.device.id;
    const tap = tapNameFor(added.plan.device.uuid);
    const before = sb.runtimeText();

    const first = await cli(sb, 'unplug', 'nic', 'hn-pend', id, '--timeout', '0.3');
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(
      new RegExp(
        `pending: unplug of ${id} is pending: the guest did not acknowledge the PCI unplug within 0\\.3 s\\. The runtime file entry is kept .*, and so are its netdev, its tap and its nic/ record; .*run plugboard unplug nic hn-pend ${id} again to finish`,
      ),
    );
    expect(sb.runtimeText()).toBe(before);
    expect(await sb.peripheralIds()).toContain(id);
    expect(tapFacts(tap)).toMatchObject({ up: true, master: br });
    expect(await infoNetwork(sb)).toContain(`ifname=${tap}`);
    expect(await records(sb)).toEqual({ 1: tap });
    expect(await readPending(sb.root, 'hn-pend')).toEqual([{ id, kind: 'nic', since: expect.any(String) }]);

    await sb.qmp((q) => q.execute('system_reset'));
    const t = new Transcript();
    const done = await runAction({ type: 'unplug-nic', instance: 'hn-pend', device: added.plan.device.uuid, timeoutMs: 300 }, { root: sb.root, transcript: t });
    expect(done.status).toBe('done');
    expect(done.leftovers).toEqual([]);
    // Whether QEMU still has the NIC is its answer to device_del: DeviceNotFound (system_reset
    // finished the unplug), so nothing was unplugged now; the netdev, tap and record go.
    const sent = sentCommands(t);
    expect(sent.filter((c) => CHANGING.has(c.execute)).map((c) => c.execute)).toEqual(['device_del', 'netdev_del']);
    const delId = (sent.find((c) => c.execute === 'device_del') as { id?: unknown }).id;
    const delReply = t.entries().find((e) => e.direction === 'in' && (JSON.parse(e.json) as { id?: unknown }).id === delId);
    expect(JSON.parse(delReply!.json)).toMatchObject({ error: { class: 'DeviceNotFound' } });
    expect(linkExists(tap)).toBe(false);
    expect(await records(sb)).toEqual({});
    expect(await nicIds(sb)).not.toContain(id);
    expect(await readPending(sb.root, 'hn-pend')).toEqual([]);
    expect((await sb.drift()).items).toEqual([]);
  });

  it('booted guest acknowledges: virtio-net-pci, e1000 and rtl8139 go, each with its netdev and tap; later records move down', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-guest', nics: 1, extraKvmCmd: ['-nodefaults'] }, { guest: true });
    const added: Outcome[] = [];
    for (const nicType of ['paravirtual', 'e1000', 'rtl8139']) {
      added.push(await runAction({ type: 'hot-add-nic', instance: 'hn-guest', link: br, nicType }, { root: sb.root }));
    }
    const taps = added.map((o) => tapNameFor(o.plan.device.uuid));
    expect(await records(sb)).toEqual({ 1: taps[0], 2: taps[1], 3: taps[2] });
    expect(bridgePorts(br)).toEqual([...taps].sort());
    const addMs = added.map((o) => o.timings.totalMs);

    const unplugMs: Record<string, number> = {};
    // virtio first: NIC 1 goes, records 2 and 3 become 1 and 2.
    const u1 = await runAction({ type: 'unplug-nic', instance: 'hn-guest', device: added[0]!.plan.device.id, timeoutMs: 10_000 }, { root: sb.root });
    unplugMs['virtio-net-pci'] = u1.timings.totalMs;
    expect(u1.status).toBe('done');
    expect(u1.leftovers).toEqual([]);
    expect(linkExists(taps[0]!)).toBe(false);
    expect(await records(sb)).toEqual({ 1: taps[1], 2: taps[2] });
    expect((await sb.load()).nics.map((n) => n.uuid)).toEqual([(await sb.load()).nics[0]!.uuid, added[1]!.plan.device.uuid, added[2]!.plan.device.uuid]);

    for (const [i, driver] of [[2, 'rtl8139'], [1, 'e1000']] as const) {
      const u = await runAction({ type: 'unplug-nic', instance: 'hn-guest', device: added[i]!.plan.device.uuid, timeoutMs: 10_000 }, { root: sb.root });
      unplugMs[driver] = u.timings.totalMs;
      expect(u.status).toBe('done');
      expect(u.leftovers).toEqual([]);
      expect(linkExists(taps[i]!)).toBe(false);
    }
    expect(await records(sb)).toEqual({});
    expect(bridgePorts(br)).toEqual([]);
    expect(await nicIds(sb)).toHaveLength(1);
    expect(await infoNetwork(sb)).not.toContain('type=tap');
    expect((await sb.drift()).items).toEqual([]);
    console.log(`NIC hot-add on a booted guest: ${addMs.join(', ')} ms (median ${median(addMs)}); unplug acknowledged: ${JSON.stringify(unplugMs)} ms`);
  });
});

describe('CLI', () => {
  it('hotplug nic / unplug nic with --dry-run --json: the plan in order, host steps included; nothing changes', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-cli', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const uuid = randomUUID();
    const dry = await cli(sb, 'hotplug', 'nic', 'hn-cli', '--link', br, '--uuid', uuid, '--mac', 'aa:00:00:0a:0b:0c', '--nic-type', 'e1000', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as PlanJson;
    const id = plan.device.id;
    const tap = tapNameFor(uuid);
    expect(plan).toMatchObject({
      action: 'hot-add-nic',
      device: { uuid, kind: 'nic', driver: 'e1000' },
      allocation: { bus: 'pci.0', addr: '0xd' },
      qmp: [
        // vnet_hdr from the INSTANCE's nic_type (paravirtual), as Ganeti's _GetNetworkDeviceFeatures does at start.
        { execute: 'netdev_add', arguments: { type: 'tap', id, ifname: tap, script: 'no', downscript: 'no', vnet_hdr: true } },
        { execute: 'device_add', arguments: { netdev: id, mac: 'aa:00:00:0a:0b:0c', driver: 'e1000', id, bus: 'pci.0', addr: '0xd' } },
      ],
      host: [
        { host: 'tap-configure', detail: { tap, bridge: br } },
        { host: 'nic-record-write', detail: { record: 'nic/hn-cli/1', tap } },
      ],
      rollback: [{ execute: 'device_del' }, { execute: 'netdev_del' }],
      runtime: `add nics[1] ${id} (e1000 at pci.0 slot 0xd, MAC aa:00:00:0a:0b:0c, bridge ${br})`,
    });
    expect(plan.sequence!.map((s) => ('qmp' in s ? s.qmp.execute : 'host' in s ? s.host.host : 'wait'))).toEqual([
      'netdev_add',
      'tap-configure',
      'device_add',
      'nic-record-write',
    ]);
    expect(sb.runtimeText()).toBe(before);
    expect(linkExists(tap)).toBe(false);

    const nic0 = (await nicIds(sb))[0]!;
    const dryUnplug = await cli(sb, 'unplug', 'nic', 'hn-cli', nic0, '--dry-run', '--json');
    expect(dryUnplug.code).toBe(0);
    expect(JSON.parse(dryUnplug.stdout)).toMatchObject({
      action: 'unplug-nic',
      allocation: { bus: 'pci.0', addr: '0xc' },
      qmp: [{ execute: 'device_del', arguments: { id: nic0 } }],
      then: { wait: { id: nic0, needsGuest: true }, qmp: [{ execute: 'netdev_del', arguments: { id: nic0 } }] },
    });
    expect(await sb.peripheralIds()).toContain(nic0);

    // --runtime-file: the plan from a copy of the file, QEMU not asked.
    const copy = path.join(sb.root, 'copy.runtime');
    copyFileSync(sb.runtimeFile, copy);
    const fromFile = await cli(sb, 'hotplug', 'nic', 'hn-cli', '--link', br, '--dry-run', '--json', '--runtime-file', copy);
    expect(fromFile.code).toBe(0);
    expect((JSON.parse(fromFile.stdout) as PlanJson).notes).toContain('planned from the runtime file only (QEMU not asked)');
  });

  it('hotplug nic for real prints the plan and "done"; a missing bridge is one line on stderr, exit 1; bad --mac exit 2', async () => {
    const br = createBridge();
    const sb = await startSandbox({ name: 'hn-cli2', nics: 1, extraKvmCmd: ['-nodefaults'] });
    const added = await cli(sb, 'hotplug', 'nic', 'hn-cli2', '--link', br);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^plan: hot-add nic nic-[0-9a-f-]+ \(virtio-net-pci\) on hn-cli2$/m);
    expect(added.stdout).toMatch(/^done: hot-added nic-[0-9a-f-]+ at pci\.0 slot 0xd$/m);
    const id = /done: hot-added (nic-[0-9a-f-]+)/.exec(added.stdout)![1]!;

    const missing = await cli(sb, 'hotplug', 'nic', 'hn-cli2', '--link', 'pbt-missing');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('plugboard: bridge pbt-missing (--link) does not exist on this node: create it or pass --link BRIDGE\n');
    const badMac = await cli(sb, 'hotplug', 'nic', 'hn-cli2', '--link', br, '--mac', '01:02:03:04:05:06');
    expect(badMac.code).toBe(2);
    expect(badMac.stderr).toMatch(/^plugboard: --mac 01:02:03:04:05:06: a multicast address/);

    const json = await cli(sb, 'unplug', 'nic', 'hn-cli2', id, '--timeout', '0.2', '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'pending', runtimeWritten: false });
  });
});
