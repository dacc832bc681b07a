/**
 * The core side of the view (src/tui): what-if at the next start, the checks of what is typed in the
 * wizard, device detail, drift marks, and the InstanceService (lazy list, file cache, short QMP
 * probes against a real local socket: live, busy, never held).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildBusModel } from '../../src/bus/model.js';
import { loadRuntimeFile } from '../../src/runtime/load.js';
import { qmpSocketPath, pidFilePath, runtimeFilePath } from '../../src/runtime/root.js';
import { deviceDetail } from '../../src/tui/detail.js';
import { InstanceService } from '../../src/tui/service.js';
import { checkDiskPath, checkLink, checkMac, commonPrefix, completePath } from '../../src/tui/validate.js';
import { buildInstanceView, driftSummary, marksOf } from '../../src/tui/view.js';
import { kvmCmdFor, whatIf } from '../../src/tui/whatif.js';
import { FakeQmpServer, type FakeCommand, type FakeQmpConnection } from '../helpers/fake-qmp.js';
import { makeRoot, type TestRoot } from './tui-helpers.js';
import { waitFor } from '../helpers/wait.js';

let root: TestRoot;

beforeAll(async () => {
  root = await makeRoot([
    { name: 'web1', disks: 2, nics: 1 },
    { name: 'db1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 3, nics: 1 },
    { name: 'old1', legacy: true, disks: 2, nics: 0 },
    { name: 'many', disks: 10, nics: 8 },
  ]);
});
afterAll(() => root.remove());

const load = (name: string) => loadRuntimeFile(runtimeFilePath(root.root, name), { instance: name });

describe('what-if (the runtime file Ganeti writes at the next start)', () => {
  it('paravirtual → scsi-hd: adds the controller before the balloon, puts the disks on targets 0…, the NIC first free slot', async () => {
    const rf = await load('web1');
    const r = whatIf(rf, { diskType: 'scsi-hd', scsiControllerType: 'megasas', reservations: 12 });
    expect(r.error).toBeNull();
    expect(r.command).toBe('gnt-instance modify -H disk_type=scsi-hd,scsi_controller_type=megasas web1');
    const cmd = r.rf!.kvmCmd.map(String);
    const ctl = cmd.indexOf('megasas,id=scsi');
    expect(cmd[ctl - 1]).toBe('-device');
    expect(cmd.indexOf('virtio-balloon')).toBeGreaterThan(ctl);
    expect(r.rf!.disks.map((d) => d.hvinfo)).toEqual([
      expect.objectContaining({ driver: 'scsi-hd', bus: 'scsi.0', 'scsi-id': 0 }),
      expect.objectContaining({ driver: 'scsi-hd', bus: 'scsi.0', 'scsi-id': 1 }),
    ]);
    expect(r.rf!.nics[0]!.hvinfo).toMatchObject({ bus: 'pci.0', addr: '0xc' });
    expect(r.model!.scsi).toMatchObject({ controller: 'megasas', maxTarget: 64 });
    expect(r.options.some((o) => o.option === '-device' && o.value.startsWith('scsi-hd,id=disk-'))).toBe(true);
  });

  it('scsi-hd → paravirtual drops the controller; kvm_pci_reservations moves every PCI device', async () => {
    const rf = await load('db1');
    expect(kvmCmdFor(rf.kvmCmd, { diskType: 'paravirtual', scsiControllerType: 'lsi', reservations: 12 }).map(String)).not.toContain('lsi,id=scsi');
    const r = whatIf(rf, { diskType: 'paravirtual', scsiControllerType: 'lsi', reservations: 5 });
    expect(r.model!.scsi).toBeNull();
    expect(r.rf!.disks.map((d) => (d.hvinfo as { addr: string }).addr)).toEqual(['0x5', '0x6', '0x7']);
    expect(r.rf!.nics[0]!.hvinfo).toMatchObject({ addr: '0x8' });
    expect(r.command).toBe('gnt-instance modify -H disk_type=paravirtual,kvm_pci_reservations=5 db1');
  });

  it('says when Ganeti would refuse to start: more devices than slots', async () => {
    const rf = await load('many');
    expect(whatIf(rf, { diskType: 'paravirtual', scsiControllerType: 'lsi', reservations: 14 }).error).toBeNull();
    const r = whatIf(rf, { diskType: 'paravirtual', scsiControllerType: 'lsi', reservations: 15 });
    expect(r.error).toContain('All slots occupied on pci.0');
    expect(r.rf).toBeNull();
  });

  it('replaces legacy device ids at the next start, and changes nothing when nothing changes', async () => {
    const rf = await load('old1');
    const r = whatIf(rf, { diskType: 'paravirtual', scsiControllerType: 'lsi', reservations: 12 });
    expect(r.command).toBeNull();
    expect(r.rf!.disks.map((d) => (d.hvinfo as { id: string }).id)).toEqual(rf.disks.map((d) => `disk-${d.uuid.split('-').slice(0, 3).join('-')}`));
    expect(r.notes.join(' ')).toContain('legacy device ids');
  });
});

describe('what the wizard checks as it is typed', () => {
  it('disk paths: missing, directory, already a disk of the instance, character device, file', async () => {
    const rf = await load('web1');
    expect(await checkDiskPath('/nonexistent/x', 'paravirtual')).toEqual({ ok: false, message: 'does not exist' });
    expect((await checkDiskPath(root.root, 'paravirtual')).message).toContain('is a directory');
    expect((await checkDiskPath(rf.disks[0]!.link, 'paravirtual', rf)).message).toContain('already disk/0 of web1');
    expect((await checkDiskPath('/dev/null', 'scsi-hd')).ok).toBe(false);
    expect(await checkDiskPath('/dev/null', 'scsi-generic')).toEqual({ ok: true, message: 'character device (SCSI generic)' });
    const img = path.join(root.root, 'disks', 'db1-disk0.img');
    expect(await checkDiskPath(img, 'paravirtual', rf)).toEqual({ ok: true, message: 'regular file, 8 MiB' });
    expect((await checkDiskPath(img, 'scsi-block')).message).toContain('needs a block device');
  });

  it('MAC addresses and bridges', () => {
    expect(checkMac('').ok).toBe(true);
    expect(checkMac('aa:00:00:12:34:56').ok).toBe(true);
    expect(checkMac('aa:00:00:12:34').ok).toBe(false);
    expect(checkMac('01:00:5e:00:00:01').message).toContain('multicast');
    expect(checkLink('br0').ok).toBe(true);
    expect(checkLink('a-very-long-bridge-name').message).toContain('at most 15');
    expect(checkLink('br 0').ok).toBe(false);
  });

  it('path completion lists a directory’s entries that start with what was typed', async () => {
    const items = await completePath(path.join(root.root, 'disks', 'db1-d'));
    expect(items.map((p) => path.basename(p))).toEqual(['db1-disk0.img', 'db1-disk1.img', 'db1-disk2.img']);
    expect(commonPrefix(items)).toBe(path.join(root.root, 'disks', 'db1-disk'));
    expect(await completePath(`${root.root}/`)).toContain(`${root.root}/conf/`);
    expect(await completePath('relative')).toEqual([]);
  });
});

describe('views of an instance', () => {
  it('device detail of a disk: hvinfo, host path, the -device and -drive options', async () => {
    const rf = await load('db1');
    const view = buildInstanceView({ rf, live: null, liveStatus: { kind: 'stopped' }, pending: [] });
    const d = deviceDetail(view, { bus: 'scsi.0', target: 1 });
    expect(d.title).toBe('disk/1 (disk1)');
    expect(d.hvinfo).toMatchObject({ driver: 'scsi-hd', 'scsi-id': 1 });
    expect(d.host[0]).toContain('db1-disk1.img');
    expect(d.startOptions[0]).toMatch(/^-device scsi-hd,id=disk-[0-9a-f-]+,bus=scsi\.0,channel=0,scsi-id=1,lun=0,drive=disk-/);
    expect(d.startOptions[1]).toMatch(/^-drive file=.*db1-disk1\.img,format=raw,if=none/);
    expect(d.unpluggable).toBe(true);
    const empty = deviceDetail(view, { bus: 'scsi.0', target: 6 });
    expect(empty.device).toBeNull();
    expect(empty.unpluggable).toBe(false);
  });

  it('drift marks: the strongest mark of a device wins; the list summary says pending before drift', () => {
    const drift = {
      ok: false,
      items: [
        { code: 'moved' as const, id: 'd1', file: null, live: null, message: '' },
        { code: 'unplug-pending' as const, id: 'd1', file: null, live: null, message: '' },
        { code: 'unknown-to-file' as const, id: 'd2', file: null, live: null, message: '' },
      ],
    };
    expect(Object.fromEntries(marksOf(drift))).toEqual({ d1: 'pending', d2: 'live-only' });
    expect(driftSummary(drift)).toBe('pending');
    expect(driftSummary({ ok: true, items: [] })).toBe('none');
    expect(driftSummary(null)).toBe('unknown');
  });
});

describe('InstanceService', () => {
  let fake: FakeQmpServer | undefined;
  let holder: ChildProcess | undefined;
  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
    // The stand-in shell and its sleep are one process group of our own: end both.
    if (holder?.pid !== undefined) {
      try {
        process.kill(-holder.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    holder = undefined;
  });

  /**
   * Makes `name` look running: a live process whose command line has `-name NAME` in the pid file
   * (what instanceStatus checks), and a QMP socket at ctrl/NAME.qmp served by a fake server.
   */
  async function running(name: string, server: FakeQmpServer): Promise<void> {
    holder = spawn('/bin/sh', ['-c', 'sleep 600; true', 'sh', '-name', name], { stdio: 'ignore', detached: true });
    await waitFor(() => holder!.pid, { what: 'the stand-in process' });
    mkdirSync(path.dirname(pidFilePath(root.root, name)), { recursive: true });
    writeFileSync(pidFilePath(root.root, name), `${holder.pid}\n`);
    // A bound Unix socket keeps working when its file is renamed: put it where the instance's is.
    rmSync(qmpSocketPath(root.root, name), { force: true });
    renameSync(server.path, qmpSocketPath(root.root, name));
  }

  async function notRunning(name: string): Promise<void> {
    rmSync(qmpSocketPath(root.root, name), { force: true });
    rmSync(pidFilePath(root.root, name), { force: true });
  }

  it('lists the names first, then fills in every instance', async () => {
    const service = new InstanceService({ root: root.root });
    const seen: string[] = [];
    service.subscribe(() => {
      const l = service.getList();
      seen.push(l.instances.map((r) => `${r.name}:${r.phase}`).join(','));
    });
    await service.refreshList();
    await waitFor(() => service.getList().phase === 'ready', { what: 'the list to be ready' });
    const list = service.getList();
    expect(list.instances.map((r) => r.name)).toEqual(['db1', 'many', 'old1', 'web1']);
    expect(list.instances.every((r) => r.phase === 'loaded' && r.status === 'stopped')).toBe(true);
    expect(list.instances.find((r) => r.name === 'db1')).toMatchObject({ controller: 'lsi', disks: 3, nics: 1, diskType: 'scsi-hd' });
    expect(list.instances.find((r) => r.name === 'old1')!.legacy).toBe(true);
  });

  it('whenListed resolves once the names are known, before the files are read (the first frame shows them)', async () => {
    const service = new InstanceService({ root: root.root });
    const refreshed = service.refreshList();
    await service.whenListed();
    const list = service.getList();
    expect(list.instances.map((r) => r.name)).toEqual(['db1', 'many', 'old1', 'web1']);
    expect(list.phase).toBe('loading');
    expect(list.instances.some((r) => r.phase === 'listed')).toBe(true);
    await refreshed;
  });

  it('whenListed resolves when the root cannot be listed, with the error in the list', async () => {
    const service = new InstanceService({ root: path.join(root.root, 'no-such-dir') });
    void service.refreshList();
    await service.whenListed();
    expect(service.getList().phase).toBe('error');
  });

  it('reads a runtime file again only when it changed', async () => {
    const service = new InstanceService({ root: root.root });
    const a = await service.loadFile('web1');
    expect(await service.loadFile('web1')).toBe(a);
    const file = runtimeFilePath(root.root, 'web1');
    const later = new Date(Date.now() + 5_000);
    utimesSync(file, later, later);
    const b = await service.loadFile('web1');
    expect(b).not.toBe(a);
    expect(b.disks.map((d) => d.uuid)).toEqual(a.disks.map((d) => d.uuid));
  });

  it('probes a running instance over one short connection, closed right after, and shows the drift', async () => {
    const rf = await load('web1');
    const disk0 = (rf.disks[0]!.hvinfo as { id: string }).id;
    fake = await FakeQmpServer.start({
      handler: (cmd: FakeCommand, conn: FakeQmpConnection) => {
        if (cmd.execute === 'query-pci') {
          conn.reply(cmd, [{ bus: 0, devices: [{ bus: 0, slot: 12, function: 0, qdev_id: disk0, class_info: { class: 256, desc: 'SCSI controller' }, id: { device: 4097, vendor: 6900 } }] }]);
        } else if (cmd.execute === 'qom-list') {
          conn.reply(cmd, [{ name: disk0, type: 'child<virtio-blk-pci>' }]);
        } else {
          conn.reply(cmd, []);
        }
      },
    });
    await running('web1', fake);
    try {
      const service = new InstanceService({ root: root.root });
      const view = await service.loadView('web1');
      expect(view.liveStatus.kind).toBe('live');
      expect(view.marks.get((rf.disks[1]!.hvinfo as { id: string }).id)).toBe('missing');
      const conn = fake.connections[0]!;
      await conn.closed;
      expect(conn.commands.map((c) => c.execute)).toEqual(['qmp_capabilities', 'query-pci', 'qom-list', 'query-block']);
      await service.refreshList();
      expect(service.getList().instances.find((r) => r.name === 'web1')).toMatchObject({ status: 'running', drift: 'drift' });
      expect(fake.connections).toHaveLength(2);
      await fake.connections[1]!.closed;
    } finally {
      await notRunning('web1');
    }
  });

  it('the list refresh asks no SCSI address the runtime file gives; an opened instance is read in full', async () => {
    const rf = await load('db1');
    const addr = new Map(rf.disks.map((d) => [(d.hvinfo as { id: string }).id, d.hvinfo as unknown as Record<string, unknown>]));
    fake = await FakeQmpServer.start({
      handler: (cmd: FakeCommand, conn: FakeQmpConnection) => {
        if (cmd.execute === 'qom-list') {
          conn.reply(cmd, [...addr.keys()].map((id) => ({ name: id, type: 'child<scsi-hd>' })));
        } else if (cmd.execute === 'qom-get') {
          const h = addr.get(path.basename(String(cmd.arguments?.['path'])))!;
          const prop = String(cmd.arguments?.['property']);
          conn.reply(cmd, prop === 'parent_bus' ? '/machine/peripheral/scsi/scsi.0' : prop === 'scsi-id' ? h['scsi-id'] : 0);
        } else {
          conn.reply(cmd, []);
        }
      },
    });
    await running('db1', fake);
    try {
      const service = new InstanceService({ root: root.root });
      await service.refreshList();
      const listed = fake.connections.find((c) => c.commands.some((x) => x.execute === 'qom-list'))!;
      expect(listed.commands.map((c) => c.execute)).toEqual(['qmp_capabilities', 'query-pci', 'qom-list', 'query-block']);
      const before = fake.connections.length;
      const view = await service.loadView('db1');
      expect(view.liveStatus.kind).toBe('live');
      const opened = fake.connections.slice(before);
      expect(opened.flatMap((c) => c.commands).filter((c) => c.execute === 'qom-get').length).toBeGreaterThanOrEqual(rf.disks.length);
    } finally {
      await notRunning('db1');
    }
  });

  it('a QMP socket someone else holds shows as busy within the greeting timeout, not as a hang', async () => {
    fake = await FakeQmpServer.start({ greeting: false });
    await running('db1', fake);
    try {
      const service = new InstanceService({ root: root.root, greetingTimeoutMs: 200 });
      const started = Date.now();
      const view = await service.loadView('db1');
      await service.refreshList();
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(view.liveStatus).toMatchObject({ kind: 'busy' });
      expect(view.liveStatus.kind === 'busy' && view.liveStatus.message).toContain('socket busy');
      expect(service.getList().instances.find((r) => r.name === 'db1')!.status).toBe('busy');
    } finally {
      await notRunning('db1');
    }
  });

  it('refuses actions in read-only mode with the reason, before anything is sent', async () => {
    const service = new InstanceService({ root: root.root, readOnly: 'QEMU is not installed' });
    const r = await service.run({ type: 'hot-add-disk', instance: 'web1', path: '/x' });
    expect(r).toEqual({ ok: false, message: 'QEMU is not installed', outcome: null, refused: true });
    await expect(service.preview({ type: 'hot-add-disk', instance: 'web1', path: '/x' })).rejects.toThrow('QEMU is not installed');
  });

  it('proposes a spare disk that no instance uses', async () => {
    const used = path.join(root.root, 'disks', 'web1-disk0.img');
    const spare = path.join(root.root, 'disks', 'spare.img');
    const service = new InstanceService({ root: root.root, spareDisks: [used, spare] });
    await service.loadView('web1');
    expect(service.suggestDiskPath()).toBe(spare);
  });

  it('the bus model it shows is the core’s', async () => {
    const service = new InstanceService({ root: root.root });
    const view = await service.loadView('db1');
    expect(view.model).toEqual(buildBusModel(view.rf));
  });
});
