/**
 * `plugboard check` against REAL QEMU 7.2: sandbox instances written the way Ganeti 3.0 writes their
 * runtime files, started with launchInstance (paused, TCG), then checked: a check QEMU is started
 * from the runtime file beside the instance and the layouts are compared.
 *
 * Proves: a fresh instance and one after a plugboard hot-add (runtime file rewritten) check ok; a
 * hot-add behind plugboard's back, or a runtime file whose slot is wrong, is found (drift + layout
 * difference, exit 1); the check leaves no process and no file behind and touches none of the
 * instance's files (pid file, monitor/serial/QMP sockets, disk images).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { createSandboxInstance, type SandboxInstanceSpec } from '../../src/demo/sandbox.js';
import { launchInstance } from '../../src/qemu/instance.js';
import type { QemuHandle } from '../../src/qemu/launch.js';
import { MigrationCheckError } from '../../src/usecases/check/error.js';
import { checkMigration } from '../../src/usecases/check/run.js';
import { QmpClient, withQmp } from '../../src/qmp/client.js';
import { QmpBusyError, QmpConnectError } from '../../src/qmp/errors.js';
import { monitorSocketPath, pidFilePath, qmpSocketPath, runtimeFilePath } from '../../src/runtime/root.js';
import { requireQemu } from '../helpers/qemu.js';
import { waitFor } from '../helpers/wait.js';

requireQemu();

let root: string;
let tmp: string;
const instances: QemuHandle[] = [];

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'pb-check-root-'));
  tmp = mkdtempSync(path.join(os.tmpdir(), 'pb-check-tmp-'));
});
afterEach(async () => {
  await Promise.all(instances.splice(0).map((q) => q.stop()));
  rmSync(root, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

async function start(spec: SandboxInstanceSpec): Promise<QemuHandle> {
  await createSandboxInstance(root, spec);
  const q = await launchInstance(root, spec.name, { startTimeoutMs: 20_000 });
  instances.push(q);
  return q;
}

function rawImage(name: string): string {
  const p = path.join(root, name);
  writeFileSync(p, '');
  truncateSync(p, 1 << 20);
  return p;
}

function captureIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
    env: {},
    out: () => out,
    err: () => err,
  };
}

async function cli(...args: string[]) {
  const io = captureIo();
  const code = await main(['--root', root, ...args], io);
  return { code, out: io.out(), err: io.err() };
}

/** Every file under `dir` with what identifies its content and identity (a re-created socket has a new inode). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const st = statSync(p);
      if (e.isDirectory()) {
        walk(p);
        continue;
      }
      const content = e.isFile() ? readFileSync(p).toString('base64').slice(0, 64) : '';
      out[path.relative(dir, p)] = `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}:${content}`;
    }
  };
  walk(dir);
  return out;
}

/** Pids of processes whose command line mentions `needle`. */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(needle)) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Reads the HMP banner from a monitor socket: proves the instance still owns it. */
async function monitorBanner(socket: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection({ path: socket });
    let text = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no HMP banner on ${socket} within 3 s (got ${JSON.stringify(text)})`));
    }, 3_000);
    c.on('data', (b) => {
      text += b.toString();
      if (text.includes('(qemu)')) {
        clearTimeout(timer);
        c.destroy();
        resolve(text);
      }
    });
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const SPECS: [string, SandboxInstanceSpec][] = [
  ['paravirtual disks and NICs', { name: 'pv1', diskType: 'paravirtual', disks: 2, nics: 2 }],
  ['scsi-hd on lsi', { name: 'lsi1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 3, nics: 1 }],
  ['scsi-hd on virtio-scsi-pci', { name: 'vscsi1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 2, nics: 1 }],
  ['scsi-hd on megasas', { name: 'mega1', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 2, nics: 1 }],
];

describe('check of an instance whose runtime file matches', () => {
  it.each(SPECS)('%s: no drift, same layout, exit 0', async (_label, spec) => {
    await start(spec);
    const r = await checkMigration(root, spec.name, { tmpDir: tmp });
    expect(r.differences).toEqual([]);
    expect(r.drift.items).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.compared.scsiDevices).toBe(spec.diskType === 'scsi-hd' ? spec.disks : 0);
    expect(r.compared.devicesWithId).toBe((spec.disks ?? 0) + (spec.nics ?? 0) + (spec.diskType === 'scsi-hd' ? 1 : 0));
    // The check QEMU got null-co disks and user netdevs, no pid file, no monitor, its own name.
    const cmd = r.commandLine.join(' ');
    expect(cmd).toContain('driver=null-co');
    expect(cmd).not.toContain(root);
    expect(cmd).toContain(`-name ${spec.name}-plugboard-check`);
    expect(cmd).toContain('-incoming defer');

    const { code, out } = await cli('check', spec.name);
    expect(code).toBe(0);
    expect(out).toContain('drift: none');
    expect(out).toContain('same devices at the same places');
    expect(out).toContain('ok: a migration target started from the runtime file would match');
  });
});

describe('check after a hot-add', () => {
  it('paravirtual: a plugboard hot-add (runtime file rewritten) still checks ok', async () => {
    await start({ name: 'pv2', diskType: 'paravirtual', disks: 1, nics: 1 });
    const outcome = await runAction({ type: 'hot-add-disk', instance: 'pv2', path: rawImage('new.img') }, { root });
    expect(outcome.status).toBe('done');
    const r = await checkMigration(root, 'pv2', { tmpDir: tmp });
    expect(r.differences).toEqual([]);
    expect(r.drift.ok).toBe(true);
    expect(r.ok).toBe(true);
    expect(r.compared.devicesWithId).toBe(3);
  });

  it('scsi-hd on lsi: a plugboard hot-add still checks ok', async () => {
    await start({ name: 'lsi2', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, nics: 1 });
    const outcome = await runAction({ type: 'hot-add-disk', instance: 'lsi2', path: rawImage('new.img') }, { root });
    expect(outcome.status).toBe('done');
    const r = await checkMigration(root, 'lsi2', { tmpDir: tmp });
    expect(r.differences).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.compared.scsiDevices).toBe(2);
  });

  it('paravirtual: a hot-add behind plugboard\'s back (raw QMP, file untouched) is drift and a layout difference, exit 1', async () => {
    const q = await start({ name: 'pv3', diskType: 'paravirtual', disks: 1, nics: 1 });
    const img = rawImage('sneaky.img');
    const id = 'disk-0badc0de-0000-4000';
    await withQmp(q.qmpSocket, {}, async (qmp) => {
      await qmp.hmp(`drive_add dummy file=${img},if=none,id=${id},format=raw`);
      await qmp.execute('device_add', { driver: 'virtio-blk-pci', id, drive: id, bus: 'pci.0', addr: '0x1a' });
    });
    const r = await checkMigration(root, 'pv3', { tmpDir: tmp });
    expect(r.ok).toBe(false);
    expect(r.drift.items.map((i) => [i.code, i.id])).toContainEqual(['unknown-to-file', id]);
    expect(r.differences).toHaveLength(1);
    const d = r.differences[0]!;
    expect(d).toMatchObject({ code: 'missing-from-target', what: id, target: null });
    expect(d.live).toMatchObject({ driver: 'virtio-blk-pci', address: 'slot 0x1a' });
    expect(d.message).toBe(
      `${id} (virtio-blk-pci) is at slot 0x1a in QEMU but the runtime file would not start it: a migration would fail (added without updating the runtime file?)`,
    );

    const { code, out } = await cli('check', 'pv3');
    expect(code).toBe(1);
    expect(out).toContain(`! missing-from-target: ${id} (virtio-blk-pci) is at slot 0x1a`);
    expect(out).toContain('NOT OK');
    const json = await cli('check', 'pv3', '--json');
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.out) as { ok: boolean; migration: { ok: boolean; differences: { what: string }[] }; drift: { ok: boolean } };
    expect(doc.ok).toBe(false);
    expect(doc.drift.ok).toBe(false);
    expect(doc.migration.ok).toBe(false);
    expect(doc.migration.differences.map((x) => x.what)).toEqual([id]);
  });

  it('scsi-hd on megasas: a scsi-hd added behind plugboard\'s back is a layout difference at its target', async () => {
    const q = await start({ name: 'mega2', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 1, nics: 0 });
    const img = rawImage('sneaky.img');
    const id = 'disk-5ca1ab1e-0000-4000';
    await withQmp(q.qmpSocket, {}, async (qmp) => {
      await qmp.hmp(`drive_add dummy file=${img},if=none,id=${id},format=raw`);
      await qmp.execute('device_add', { driver: 'scsi-hd', id, drive: id, bus: 'scsi.0', channel: 0, 'scsi-id': 5, lun: 0 });
    });
    const r = await checkMigration(root, 'mega2', { tmpDir: tmp });
    expect(r.ok).toBe(false);
    expect(r.differences.map((d) => [d.code, d.what, d.live?.address])).toEqual([['missing-from-target', id, 'scsi.0 target 5']]);
    expect((await cli('check', 'mega2')).code).toBe(1);
  });

  it('a device without id added below the reservations: not drift (QEMU\'s own range), but the layout check finds it', async () => {
    const q = await start({ name: 'pv5', diskType: 'paravirtual', disks: 1, nics: 0 });
    await withQmp(q.qmpSocket, {}, (qmp) => qmp.execute('device_add', { driver: 'virtio-rng-pci' }));
    const r = await checkMigration(root, 'pv5', { tmpDir: tmp });
    expect(r.drift.ok).toBe(true);
    expect(r.ok).toBe(false);
    expect(r.differences).toHaveLength(1);
    const d = r.differences[0]!;
    expect(d).toMatchObject({ code: 'missing-from-target', live: { driver: 'virtio-rng-pci', address: 'slot 0x4' }, target: null });
    expect(d.message).toBe('slot 0x4: QEMU has virtio-rng-pci 1af4:1005 there (a device without id), the runtime file would put nothing there: a migration would fail');
    expect((await cli('check', 'pv5')).code).toBe(1);
  });

  it('a runtime file that puts a disk at another slot than QEMU has it: moved, in the operator\'s words', async () => {
    await start({ name: 'pv4', diskType: 'paravirtual', disks: 1, nics: 0 });
    // Edit the file behind QEMU's back: the disk QEMU has at 0xc is written down at 0xe.
    const file = runtimeFilePath(root, 'pv4');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as [unknown, unknown, unknown, [{ hvinfo: { id: string; addr: string } }, string, null][]];
    const disk = doc[3][0]![0];
    expect(disk.hvinfo.addr).toBe('0xc');
    disk.hvinfo.addr = '0xe';
    writeFileSync(file, JSON.stringify(doc));

    const r = await checkMigration(root, 'pv4', { tmpDir: tmp });
    expect(r.drift.items.map((i) => i.code)).toEqual(['moved']);
    expect(r.differences).toHaveLength(1);
    expect(r.differences[0]).toMatchObject({
      code: 'moved',
      what: disk.hvinfo.id,
      live: { driver: 'virtio-blk-pci', address: 'slot 0xc' },
      target: { driver: 'virtio-blk-pci', address: 'slot 0xe' },
      message: `${disk.hvinfo.id} is at slot 0xc in QEMU but the runtime file would start it at slot 0xe: a migration would fail`,
    });
  });
});

describe('the check touches nothing of the instance and leaves nothing behind', () => {
  it('pid file, monitor/serial/QMP sockets and disk images are unchanged; no check QEMU, no temp dir remains', async () => {
    const serial = path.join(root, 'ctrl', 'safe1.serial');
    const q = await start({
      name: 'safe1',
      diskType: 'scsi-hd',
      scsiControllerType: 'lsi',
      disks: 2,
      nics: 1,
      // Ganeti's serial console and guest agent sockets, and a VNC socket, all under the root.
      extraKvmCmd: [
        '-chardev', `socket,path=${path.join(root, 'ctrl', 'safe1.qga')},server=on,wait=off,id=qga0`,
        '-device', 'virtio-serial,id=qga0',
        '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
        '-vnc', `unix:${path.join(root, 'ctrl', 'safe1.vnc')}`,
        '-serial', `unix:${serial},server=on,wait=off`,
      ],
    });
    const pidFile = pidFilePath(root, 'safe1');
    await waitFor(() => {
      try {
        return readFileSync(pidFile, 'utf8').trim() === String(q.pid);
      } catch {
        return false;
      }
    }, { what: 'the instance to write its pid file' });
    const before = snapshot(root);
    expect(Object.keys(before)).toEqual(
      expect.arrayContaining(['pid/safe1', 'ctrl/safe1.monitor', 'ctrl/safe1.qmp', 'ctrl/safe1.qga', 'ctrl/safe1.vnc', 'ctrl/safe1.serial']),
    );

    const r = await checkMigration(root, 'safe1', { tmpDir: tmp });
    expect(r.differences).toEqual([]);
    expect(r.ok).toBe(true);

    expect(snapshot(root)).toEqual(before);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(q.pid));
    expect(await monitorBanner(monitorSocketPath(root, 'safe1'))).toContain('QEMU 7.2');
    // The instance's QMP socket is free again and served by the instance.
    await withQmp(qmpSocketPath(root, 'safe1'), {}, async (qmp) => {
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch' });
    });
    expect(readdirSync(tmp)).toEqual([]);
    expect(processesWith('safe1-plugboard-check')).toEqual([]);
  });

  it('an instance that is not running: error, exit 1, no QEMU started', async () => {
    await createSandboxInstance(root, { name: 'down1', disks: 1 });
    await expect(checkMigration(root, 'down1', { tmpDir: tmp })).rejects.toBeInstanceOf(QmpConnectError);
    expect(readdirSync(tmp)).toEqual([]);
    const { code, err } = await cli('check', 'down1');
    expect(code).toBe(1);
    expect(err).toContain('the instance is not running');
    expect(processesWith('down1-plugboard-check')).toEqual([]);
  });

  it('a busy QMP socket is reported as busy; with a shorter --timeout the check gives up in time and cleans up', async () => {
    const q = await start({ name: 'busy1', disks: 1 });
    const holder = await QmpClient.connect(q.qmpSocket);
    try {
      // The timeout first: a check that gives up waiting for the greeting leaves its connection in
      // QEMU's listen queue until QEMU accepts it, and a full queue makes the next connect fail at
      // once (EAGAIN, which is busy too) instead of waiting for the greeting.
      const t0 = Date.now();
      const err = await checkMigration(root, 'busy1', { tmpDir: tmp, greetingTimeoutMs: 10_000, timeoutMs: 300 }).catch((e: unknown) => e);
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(err).toBeInstanceOf(MigrationCheckError);
      expect((err as Error).message).toBe("the migration check of busy1 did not finish within 300 ms (while probing busy1's QEMU)");
      await expect(checkMigration(root, 'busy1', { tmpDir: tmp, greetingTimeoutMs: 200 })).rejects.toBeInstanceOf(QmpBusyError);
    } finally {
      await holder.close();
    }
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a runtime file a QEMU cannot start from: the check says a target would not start either, with QEMU\'s words, and cleans up', async () => {
    await start({ name: 'broken1', disks: 1 });
    const file = runtimeFilePath(root, 'broken1');
    const doc = JSON.parse(readFileSync(file, 'utf8')) as [string[], ...unknown[]];
    doc[0].push('-device', 'no-such-device,id=x');
    writeFileSync(file, JSON.stringify(doc));
    const err = await checkMigration(root, 'broken1', { tmpDir: tmp }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationCheckError);
    expect((err as Error).message).toMatch(/^a QEMU started from .*broken1\.runtime did not come up: .*'no-such-device' is not a valid device model name.* — a migration target would not start either$/);
    expect((err as MigrationCheckError).log).toContain("'no-such-device' is not a valid device model name");
    expect(readdirSync(tmp)).toEqual([]);
    expect(processesWith('broken1-plugboard-check')).toEqual([]);
    const r = await cli('check', 'broken1');
    expect(r.code).toBe(1);
    expect(r.err).toContain('plugboard: qemu: ');

    // And a binary that is not on this node: refused before anything starts.
    doc[0][0] = path.join(root, 'no-such-qemu');
    writeFileSync(file, JSON.stringify(doc));
    await expect(checkMigration(root, 'broken1', { tmpDir: tmp })).rejects.toThrow(/QEMU binary .*no-such-qemu cannot be run on this node/);
  });

  it('bad input: exit 2 for a bad name or timeout', async () => {
    expect((await cli('check', '../etc')).code).toBe(2);
    const r = await cli('check', 'web1', '--timeout', 'soon');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--timeout soon');
    expect((await cli('check')).code).toBe(2);
    const missing = await cli('check', 'nosuch');
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('nosuch');
  });
});
