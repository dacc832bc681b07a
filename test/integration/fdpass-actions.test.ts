/**
 * File-descriptor passing through the real paths — `runAction` and the CLI — against QEMU 7.2
 * started from a runtime file as Ganeti starts a confined instance (test/helpers/sandbox.ts
 * `confine`): `-runas nobody` (security_model=user, security_domain=nobody), and separately
 * `-chroot` into an empty directory (use_chroot=true). The CPU runs (SeaBIOS, no guest: SCSI
 * unplugs need none; QEMU 7.2 closes a removed descriptor only while running).
 *
 * - scsi-hd on virtio-scsi and on lsi, drive and blockdev, on a loop device root:disk 0660 and on a
 *   0600 image in a 0700 directory (QEMU cannot open either itself): hot-added (the plan passes the
 *   descriptor), seen by QEMU on /dev/fdset/N with the disk's size, no drift, the runtime file
 *   records the path; unplugged; afterwards nothing of it in QEMU.
 * - the CLI: `hotplug disk`, `--dry-run --json` (the descriptor steps and why), `unplug disk`.
 * - the faults of issue 12, each rolled back with the runtime file byte-identical: the helper
 *   killed mid-action, the descriptor refused (a QMP relay that drops SCM_RIGHTS: QEMU answers "No
 *   file descriptor supplied"), add-fd accepted but the backend refused (the image locked by
 *   another QEMU), the QMP peer hanging up between getfd and netdev_add.
 * After every unplug and rollback the descriptor counts (FdLedger) are taken and printed.
 */
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { tapNameFor } from '../../src/actions/plan-nic.js';
import type { PlanJson } from '../../src/actions/types.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { fdsetOf } from '../../src/qmp/fdpass/plan.js';
import { deviceDetail } from '../../src/tui/detail.js';
import { buildInstanceView } from '../../src/tui/view.js';
import { FigureCounter, QmpProxy } from '../hostile/lib.js';
import { cli, failure, sentCommands } from '../helpers/actions.js';
import { startFdProxy } from '../helpers/fd-proxy.js';
import { descriptorHelperPids, FdLedger, fdsOn, loopDevice, privateImage, qemuFds, SCSI_CASES, useFdpassCleanup, type Confinement } from '../helpers/fdpass.js';
import { bridgePorts, createBridge, linkExists, requireNetAdmin, useNetCleanup } from '../helpers/net.js';
import { startTestQemu, useTestQemuCleanup } from '../helpers/qemu.js';
import { startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';

useSandboxCleanup();
useTestQemuCleanup();
useFdpassCleanup();
useNetCleanup();

const ledger = new FdLedger('fd passing through runAction and the CLI');
const figures = new FigureCounter('fd passing: faults through runAction (real QEMU)');
afterAll(() => {
  ledger.report();
  figures.report();
});

/** A disk QEMU cannot open itself: a loop device root:disk 0660, or a 0600 image in a 0700 directory. */
function diskFor(kind: 'loop' | 'image', mib: number): string {
  return kind === 'loop' ? loopDevice(mib).device : privateImage(mib);
}

function confined(name: string, confine: Confinement, controller: string, disks = 1): Promise<TestSandbox> {
  return startSandbox({ name, diskType: 'scsi-hd', scsiControllerType: controller, disks, extraKvmCmd: ['-nodefaults'] }, { running: true, confine });
}

interface Block {
  device: string;
  qdev?: string;
  inserted?: { file: string; image: { 'virtual-size': number } };
}

async function blockOf(sb: TestSandbox, id: string): Promise<Block | undefined> {
  const blocks = await sb.qmp((q) => q.execute<Block[]>('query-block'));
  return blocks.find((b) => b.qdev === id || b.device === id);
}

const REASON = { runas: 'QEMU runs as another user (security_model=user, nobody)', chroot: 'QEMU runs chrooted (use_chroot=true)' } as const;

describe.each<Confinement>(['runas', 'chroot'])('QEMU %s: scsi-hd hot-add and unplug through runAction', (confine) => {
  it.each(SCSI_CASES)('on $controller, $backend, a $disk: passed by descriptor, seen by QEMU, unplugged, nothing left', async ({ controller, backend, disk }) => {
    const sb = await confined(`fd-${confine.slice(0, 2)}`, confine, controller);
    const mib = disk === 'loop' ? 32 : 24;
    const file = diskFor(disk, mib);
    const pid = sb.qemu.pid;
    const before = qemuFds(pid);
    // QEMU cannot open the path itself: why descriptors are passed.
    await expect(sb.qmp((q) => q.hmp(`drive_add dummy file=${file},if=none,id=direct0,format=raw`))).rejects.toThrow(
      confine === 'runas' ? /Permission denied/ : /No such file or directory/,
    );

    const transcript = new Transcript();
    const added = await runAction({ type: 'hot-add-disk', instance: sb.name, path: file, backend }, { root: sb.root, transcript });
    expect(added.status).toBe('done');
    const id = added.plan.device.id;
    expect(added.plan.fdPassing).toEqual({ reason: REASON[confine] });
    const sent = sentCommands(transcript).map((c) => c.execute);
    expect(sent.filter((c) => ['add-fd', 'remove-fd', 'device_add', 'blockdev-add', 'human-monitor-command'].includes(c))).toEqual([
      'add-fd',
      backend === 'drive' ? 'human-monitor-command' : 'blockdev-add',
      'remove-fd',
      'device_add',
    ]);
    // QEMU has the disk on the fdset the plan named, with the disk's size, at the planned target.
    const block = await blockOf(sb, id);
    const fdset = fdsetOf(block?.inserted?.file);
    expect(fdset).toBe(0);
    expect(block?.inserted?.image['virtual-size']).toBe(mib * 1024 * 1024);
    expect(await sb.qmp((q) => q.execute('qom-get', { path: `/machine/peripheral/${id}`, property: 'scsi-id' }))).toBe(1);
    expect(fdsOn(pid, file)).toBe(1);
    expect(await sb.qmp((q) => q.execute('query-fdsets'))).toEqual([{ 'fdset-id': 0, fds: [] }]);
    // The runtime file records the path, never the descriptor; file and QEMU agree.
    const rf = await sb.load();
    expect(rf.disks.at(-1)?.link).toBe(file);
    expect(sb.runtimeText()).not.toContain('fdset');
    expect((await sb.drift()).items).toEqual([]);
    // The view's detail says where the image came from, and what the runtime file has.
    const view = buildInstanceView({ rf, live: await sb.probe(), liveStatus: { kind: 'live', at: Date.now() }, pending: [] });
    expect(deviceDetail(view, { bus: 'scsi.0', target: 1 }).backend).toMatch(new RegExp(`, image passed by descriptor \\(/dev/fdset/0; the runtime file has ${file}\\)$`));

    const removed = await runAction({ type: 'unplug-disk', instance: sb.name, device: id, timeoutMs: 5_000 }, { root: sb.root });
    expect(removed.status).toBe('done');
    expect(removed.plan.after?.map((s) => s.command)).toContainEqual({ execute: 'remove-fd', arguments: { 'fdset-id': 0 } });
    expect((await sb.load()).disks.map((d) => d.uuid)).toEqual(rf.disks.slice(0, -1).map((d) => d.uuid));
    const count = await ledger.settle(`${confine}: scsi-hd on ${controller}, ${backend}, ${disk}: after hot-add and unplug`, pid, before, sb.qmpSocket);
    expect(count.leaked).toEqual([]);
    expect(count.fdsets).toEqual([]);
    expect(count.helpers).toBe(0);
    expect(fdsOn(pid, file)).toBe(0);
    expect((await sb.drift()).items).toEqual([]);
  });
});

describe('a paused -runas QEMU (QEMU 7.2 closes a given-back descriptor only while the guest runs)', () => {
  it('hot-add and unplug work; the plan says so; once the guest runs and the client has gone, nothing is left', async () => {
    const sb = await startSandbox({ name: 'fd-paus', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] }, { confine: 'runas' });
    const file = diskFor('image', 8);
    const before = qemuFds(sb.qemu.pid);
    const added = await runAction({ type: 'hot-add-disk', instance: sb.name, path: file }, { root: sb.root });
    expect(added.status).toBe('done');
    expect(added.plan.notes.join('\n')).toContain("QEMU is paused: QEMU 7.2 closes plugboard's copy of the descriptor (given back with remove-fd) only once the instance runs");
    // The drive's descriptor and the given-back one, which the paused QEMU keeps.
    expect(fdsOn(sb.qemu.pid, file)).toBe(2);
    const removed = await runAction({ type: 'unplug-disk', instance: sb.name, device: added.plan.device.id, timeoutMs: 5_000 }, { root: sb.root });
    expect(removed.status).toBe('done');
    expect(fdsOn(sb.qemu.pid, file)).toBe(1);
    // The guest runs; QEMU closes it when a client disconnects (this one's).
    await sb.qmp((q) => q.execute('cont'));
    await waitFor(() => fdsOn(sb.qemu.pid, file) === 0, { what: `QEMU to close ${file} once running` });
    const count = await ledger.settle('runas, paused: hot-add and unplug, then the guest runs', sb.qemu.pid, before, sb.qmpSocket);
    expect([count.leaked, count.fdsets, count.helpers]).toEqual([[], [], 0]);
  });
});

describe('the CLI on a -runas QEMU', () => {
  it('hotplug disk --dry-run --json shows the descriptor steps and why; hotplug disk, then unplug disk; nothing left', async () => {
    const sb = await confined('fd-cli', 'runas', 'virtio-scsi-pci');
    const file = diskFor('loop', 16);
    const before = qemuFds(sb.qemu.pid);
    const dry = await cli(sb, 'hotplug', 'disk', sb.name, '--path', file, '--dry-run', '--json');
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as PlanJson;
    expect(plan.fdPassing).toEqual({ reason: REASON.runas });
    expect(plan.host.map((h) => h.host)).toEqual(['fd-check-user', 'fd-open-disk']);
    expect(plan.qmp.map((c) => c.execute)).toEqual(['add-fd', 'human-monitor-command', 'remove-fd', 'device_add']);
    expect(plan.sequence?.find((e) => 'qmp' in e && e.qmp.execute === 'add-fd')).toMatchObject({ passFd: { what: `descriptor of ${file}` } });
    const text = await cli(sb, 'hotplug', 'disk', sb.name, '--path', file, '--dry-run');
    expect(text.stdout).toContain("host: check QEMU's user: fd-cli's QEMU (pid/fd-cli) runs as nobody, which exists (security_model=user)");
    expect(text.stdout).toContain(`+ descriptor of ${file} (SCM_RIGHTS)`);
    expect(text.stdout).toMatch(/note: descriptor passing: QEMU runs as another user \(security_model=user, nobody\)/);
    // Nothing was sent by the previews.
    expect(await sb.qmp((q) => q.execute('query-fdsets'))).toEqual([]);

    const add = await cli(sb, 'hotplug', 'disk', sb.name, '--path', file);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const id = /hot-added (disk-[0-9a-f-]+) at scsi\.0 target 1/.exec(add.stdout)?.[1];
    expect(id).toBeDefined();
    expect(fdsOn(sb.qemu.pid, file)).toBe(1);
    const del = await cli(sb, 'unplug', 'disk', sb.name, id!);
    expect(del.stderr).toBe('');
    expect(del.stdout).toContain(`done: unplugged ${id}`);
    const count = await ledger.settle('runas: CLI hotplug + unplug of scsi-hd on a loop device', sb.qemu.pid, before, sb.qmpSocket);
    expect(count.leaked).toEqual([]);
    expect(count.fdsets).toEqual([]);
  });
});

describe('an unconfined QEMU whose own disks are fdset-backed (hot-added by descriptor, as newer Ganeti does)', () => {
  it('the new disk is passed by descriptor too, into the next free fdset; a path-backed instance keeps the path; both unplug clean', async () => {
    const sb = await startSandbox({ name: 'fd-sib', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] }, { running: true });
    const before = qemuFds(sb.qemu.pid);
    // QEMU runs as root here: a plain hot-add gives QEMU the path.
    const plain = await runAction({ type: 'hot-add-disk', instance: sb.name, path: await sb.image('plain') }, { root: sb.root });
    expect(plain.plan.fdPassing).toBeUndefined();
    expect((await blockOf(sb, plain.plan.device.id))?.inserted?.file).toBe(path.join(sb.root, 'disks', 'plain.img'));
    await runAction({ type: 'unplug-disk', instance: sb.name, device: plain.plan.device.id, timeoutMs: 5_000 }, { root: sb.root });

    // A disk of the instance backed by /dev/fdset/0 (made by descriptor while the file said
    // use_chroot, then the file set back: what a newer Ganeti's hot-add leaves on a root QEMU).
    const unconfined = sb.runtimeText();
    writeFileSync(sb.runtimeFile, unconfined.replace('"use_chroot": false', '"use_chroot": true'));
    const first = await runAction({ type: 'hot-add-disk', instance: sb.name, path: diskFor('image', 8) }, { root: sb.root });
    writeFileSync(sb.runtimeFile, sb.runtimeText().replace('"use_chroot": true', '"use_chroot": false'));
    expect((await blockOf(sb, first.plan.device.id))?.inserted?.file).toBe('/dev/fdset/0');

    const file = diskFor('loop', 16);
    const second = await runAction({ type: 'hot-add-disk', instance: sb.name, path: file }, { root: sb.root });
    expect(second.plan.fdPassing).toEqual({ reason: "the instance's disks are fdset-backed (/dev/fdset/0), as Ganeti hot-adds them" });
    // fdset 0 is still listed (empty) while its drive lives: the next free one is 1.
    expect((await blockOf(sb, second.plan.device.id))?.inserted?.file).toBe('/dev/fdset/1');
    expect(second.plan.steps.map((s) => ('host' in s.command ? s.command.host : s.command.execute))[0]).toBe('fd-open-disk');
    expect((await sb.drift()).items).toEqual([]);
    for (const o of [second, first]) {
      expect((await runAction({ type: 'unplug-disk', instance: sb.name, device: o.plan.device.id, timeoutMs: 5_000 }, { root: sb.root })).status).toBe('done');
    }
    const count = await ledger.settle('root QEMU, fdset-backed siblings: two descriptor hot-adds and unplugs', sb.qemu.pid, before, sb.qmpSocket);
    expect([count.leaked, count.fdsets, count.helpers, fdsOn(sb.qemu.pid, file)]).toEqual([[], [], 0, 0]);
  });
});

/** After a rolled-back action: the runtime file as it was, nothing of the disk or tap in QEMU, no fdset, no helper. */
async function expectRolledBack(sb: TestSandbox, name: string, before: Map<number, string>, text: string, targets: string[]): Promise<void> {
  expect(sb.runtimeText()).toBe(text);
  if (sb.runtimeText() !== text) figures.dataLost++;
  const count = await ledger.settle(name, sb.qemu.pid, before, sb.qmpSocket);
  expect(count.leaked).toEqual([]);
  expect(count.fdsets).toEqual([]);
  expect(count.helpers).toBe(0);
  for (const t of targets) expect(fdsOn(sb.qemu.pid, t)).toBe(0);
  expect((await sb.drift()).items).toEqual([]);
}

/** Moves QEMU's socket aside for a proxy at ctrl/NAME.qmp; returns where QEMU's is now. */
function moveSocket(sb: TestSandbox): string {
  const real = path.join(sb.root, 'ctrl', `${sb.name}.real.qmp`);
  renameSync(sb.qmpSocket, real);
  return real;
}

describe('faults roll back with nothing leaked and the runtime file byte-identical (QEMU -runas nobody)', () => {
  it('the descriptor helper is killed as it is asked to pass the disk: undone (remove-fd, the helper gone), nothing in QEMU', async () => {
    figures.faults++;
    const sb = await confined('fd-kill', 'runas', 'virtio-scsi-pci');
    const file = diskFor('image', 8);
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    let killed = 0;
    const err = await failure(
      runAction(
        { type: 'hot-add-disk', instance: sb.name, path: file },
        {
          root: sb.root,
          onProgress: (e) => {
            if (e.phase === 'step' && /^pass the descriptor/.test(e.purpose)) {
              for (const pid of descriptorHelperPids()) {
                process.kill(pid, 'SIGKILL');
                killed++;
              }
            }
          },
        },
      ),
    );
    expect(killed).toBe(1);
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.message).toMatch(/^pass the descriptor of .* failed: the descriptor helper \(\/usr\/bin\/python3, pid \d+\) was killed \(SIGKILL\) while asked to send disk-[0-9a-f-]+; undone: /);
    expect(err.message.split('\n')).toHaveLength(1);
    expect(err.outcome.undone.join('; ')).toMatch(/remove-fd \{"fdset-id":0\}/);
    await expectRolledBack(sb, 'runas: helper killed at add-fd: after the rollback', before, text, [file]);
  });

  it('the descriptor is refused (a QMP relay drops SCM_RIGHTS: "No file descriptor supplied"): undone, the helper\'s copy closed, nothing in QEMU', async () => {
    figures.faults++;
    const sb = await confined('fd-drop', 'runas', 'virtio-scsi-pci');
    const file = diskFor('loop', 8);
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const real = moveSocket(sb);
    const relay = await QmpProxy.start(sb.qmpSocket, real);
    try {
      const err = await failure(runAction({ type: 'hot-add-disk', instance: sb.name, path: file }, { root: sb.root }));
      expect(err.message).toMatch(
        /^pass the descriptor of \/dev\/loop\d+ to QEMU as fdset 0 failed: QEMU refused add-fd: No file descriptor supplied via SCM_RIGHTS \(GenericError\); undone: host: close plugboard's descriptors disk-[0-9a-f-]+; runtime file untouched$/,
      );
      expect(err.outcome.status).toBe('rolled-back');
    } finally {
      await relay.stop();
      renameSync(real, sb.qmpSocket);
    }
    await expectRolledBack(sb, 'runas: descriptor refused (dropped by a relay): after the rollback', before, text, [file]);
  });

  it.each(['drive', 'blockdev'] as const)('add-fd accepted but %s refused (QEMU already has a backend of that name): remove-fd undoes it, the other backend is left alone', async (backend) => {
    figures.faults++;
    const sb = await confined(`fd-dup${backend[0]}`, 'runas', 'lsi');
    const file = diskFor('image', 8);
    // A backend left in QEMU under the id the new disk gets (a hot-add that died after creating it),
    // on QEMU's null driver (a confined QEMU opens no path): QEMU refuses a second one of that name.
    const uuid = randomUUID();
    const id = `disk-${uuid.split('-').slice(0, 3).join('-')}`;
    await sb.qmp((q) =>
      backend === 'drive' ? q.hmp(`drive_add dummy driver=null-co,if=none,id=${id}`) : q.execute('blockdev-add', { driver: 'null-co', 'node-name': id }),
    );
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const transcript = new Transcript();
    const err = await failure(runAction({ type: 'hot-add-disk', instance: sb.name, path: file, backend, uuid }, { root: sb.root, transcript }));
    expect(err.message).toMatch(
      backend === 'drive'
        ? new RegExp(`^create the drive ${id} on fdset 0 failed: .*Duplicate ID '${id}' for drive`)
        : new RegExp(`^create the block node ${id} on fdset 0 failed: .*Duplicate nodes with node-name='${id}'`),
    );
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.outcome.undone).toEqual(['remove-fd {"fdset-id":0}', `host: close plugboard's descriptors ${id}`]);
    expect(sentCommands(transcript).map((c) => c.execute)).toContain('add-fd');
    // The backend that was there is still there: the undo removes only what the action made.
    const names = await sb.nodeNames();
    expect(backend === 'blockdev' ? names.includes(id) : (await sb.blocks()).some((b) => b.device === id)).toBe(true);
    await expectRolledBack(sb, `runas: add-fd ok, ${backend} refused: after the rollback`, before, text, [file]);
  });

  it('the drive is made on the passed descriptor but device_add is refused (another QEMU uses the image): drive, fdset and descriptor all undone', async () => {
    figures.faults++;
    const sb = await confined('fd-lock', 'chroot', 'virtio-scsi-pci');
    const file = diskFor('image', 8);
    // Another QEMU's disk has the image read-write, not shared: QEMU's image locking refuses a second writer.
    const holder = await startTestQemu({ argv: ['-drive', `file=${file},format=raw,if=none,id=held`, '-device', 'virtio-blk-pci,drive=held'] });
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const err = await failure(runAction({ type: 'hot-add-disk', instance: sb.name, path: file }, { root: sb.root }));
    expect(err.message).toMatch(/^add scsi-hd disk-[0-9a-f-]+ at scsi\.0 target 1 failed: QEMU refused device_add: Failed to get "write" lock \(GenericError\); undone: HMP drive_del disk-[0-9a-f-]+; remove-fd \{"fdset-id":0\} \(already gone\); host: close plugboard's descriptors disk-[0-9a-f-]+; runtime file untouched$/);
    expect(err.outcome.status).toBe('rolled-back');
    await holder.stop();
    await expectRolledBack(sb, 'chroot: device_add refused after the drive took the descriptor: after the rollback', before, text, [file]);
  });

  it('the QMP peer hangs up between getfd and netdev_add: the undo over a new connection closes the named descriptor; the tap goes', async () => {
    requireNetAdmin();
    figures.faults++;
    const br = createBridge();
    const sb = await startSandbox({ name: 'fd-hup', nics: 1, extraKvmCmd: ['-nodefaults'] }, { running: true, confine: 'runas' });
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const real = moveSocket(sb);
    const proxy = await startFdProxy(sb.qmpSocket, real, '"getfd"');
    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    try {
      const err = await failure(runAction({ type: 'hot-add-nic', instance: sb.name, link: br, uuid }, { root: sb.root, greetingTimeoutMs: 5_000 }));
      await proxy.hungUp;
      expect(err.message).toMatch(/^create the netdev nic-[0-9a-f-]+ on tap tap\.pb\.[0-9a-f]{8} failed: /);
      expect(err.outcome.status).toBe('rolled-back');
      // Over the new connection: the netdev was never made, the named descriptor QEMU kept is closed.
      expect(err.outcome.undone.join('; ')).toMatch(/closefd \{"fdname":"nic-[0-9a-f-]+-0"\}/);
    } finally {
      await proxy.stop();
      renameSync(real, sb.qmpSocket);
    }
    await waitFor(() => !linkExists(tap), { what: `tap ${tap} to go` });
    expect(bridgePorts(br)).toEqual([]);
    await expectRolledBack(sb, 'runas: peer hung up between getfd and netdev_add: after the rollback', before, text, ['/dev/net/tun']);
  });

  it('the helper is killed as it is asked to pass a NIC\'s tap (QEMU -chroot): the tap, made and bridged, goes with it; undone', async () => {
    requireNetAdmin();
    figures.faults++;
    const br = createBridge();
    const sb = await startSandbox({ name: 'fd-nkil', nics: 1, extraKvmCmd: ['-nodefaults'] }, { running: true, confine: 'chroot' });
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    let bridged: string[] = [];
    const err = await failure(
      runAction(
        { type: 'hot-add-nic', instance: sb.name, link: br, uuid },
        {
          root: sb.root,
          onProgress: (e) => {
            if (e.phase !== 'step' || !/^pass tap/.test(e.purpose)) return;
            bridged = bridgePorts(br);
            for (const pid of descriptorHelperPids()) process.kill(pid, 'SIGKILL');
          },
        },
      ),
    );
    // The tap existed, on the bridge, when the helper died.
    expect(bridged).toEqual([tap]);
    expect(err.message).toMatch(/^pass tap tap\.pb\.[0-9a-f]{8} to QEMU as nic-[0-9a-f-]+-0 failed: the descriptor helper .* was killed \(SIGKILL\)/);
    expect(err.outcome.status).toBe('rolled-back');
    expect(err.outcome.undone.join('; ')).toMatch(/closefd .*; host: close plugboard's descriptors nic-[0-9a-f-]+; host: tap tap\.pb\.[0-9a-f]{8} gone/);
    expect(linkExists(tap)).toBe(false);
    expect(bridgePorts(br)).toEqual([]);
    await expectRolledBack(sb, 'chroot: helper killed at getfd: after the rollback', before, text, ['/dev/net/tun']);
  });
});
