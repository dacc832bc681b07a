/**
 * File-descriptor passing on real QEMU 7.2 started as Ganeti starts a confined instance
 * (`-runas nobody`; `-chroot` into an empty directory): QEMU cannot open the disks itself, the
 * helper opens them as root and writes `add-fd` with the descriptor; the drive/node is backed by
 * `/dev/fdset/N`. Each hot-add and unplug runs the sequence phase 2's planner will emit (built with
 * src/qmp/fdpass/plan.ts), and afterwards QEMU holds no descriptor of the disk and no fdset.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FdHelper } from '../../src/qmp/fdpass/helper.js';
import { checkDiskPath } from '../../src/qmp/fdpass/inspect.js';
import { chooseFdset, diskFdSteps, fdsetOf } from '../../src/qmp/fdpass/plan.js';
import { QmpClient } from '../../src/qmp/client.js';
import { withFdHelper } from '../../src/qmp/fdpass/run.js';
import { QmpCommandError } from '../../src/qmp/errors.js';
import { useTestQemuCleanup } from '../helpers/qemu.js';
import { waitFor } from '../helpers/wait.js';
import {
  connect,
  diskHotAddSteps,
  fdsets,
  fdsOn,
  loopDevice,
  newFds,
  privateImage,
  qemuFds,
  runSteps,
  startConfinedQemu,
  useFdpassCleanup,
  type Confinement,
  SCSI_CASES,
} from '../helpers/fdpass.js';

useTestQemuCleanup();
useFdpassCleanup();

/** Hot-adds a scsi-hd at target 1 over passed descriptors. */
async function hotAddScsi(qmp: QmpClient, helper: FdHelper, id: string, path: string, backend: 'drive' | 'blockdev'): Promise<{ fdset: number }> {
  const fdset = chooseFdset(await fdsets(qmp));
  await runSteps(qmp, helper, diskHotAddSteps(id, path, fdset, backend, { driver: 'scsi-hd', bus: 'scsi.0', channel: 0, 'scsi-id': 1, lun: 0 }));
  return { fdset };
}

async function unplugScsi(qmp: QmpClient, id: string, backend: 'drive' | 'blockdev'): Promise<void> {
  const mark = qmp.mark();
  await qmp.execute('device_del', { id });
  await qmp.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === id, { since: mark, timeoutMs: 5_000 });
  if (backend === 'blockdev') {
    await waitFor(
      async () => {
        try {
          await qmp.execute('blockdev-del', { 'node-name': id });
          return true;
        } catch (err) {
          if (err instanceof QmpCommandError && /in use/.test(err.desc)) return false;
          throw err;
        }
      },
      { what: `blockdev-del ${id}` },
    );
  }
}

describe.each<Confinement>(['runas', 'chroot'])('scsi-hd hot-add and unplug over passed descriptors, QEMU %s', (confine) => {
  it.each(SCSI_CASES)('$controller, $backend, $disk', async ({ controller, backend, disk }) => {
    const q = await startConfinedQemu(confine, { argv: ['-device', `${controller},id=scsi`] });
    const { path, target } = disk === 'loop' ? (({ device }) => ({ path: device, target: device }))(loopDevice(32)) : (() => {
      const image = privateImage(24);
      return { path: image, target: image };
    })();
    const qmp = await connect(q);
    const helper = FdHelper.start(qmp);
    try {
      // QEMU cannot open the path itself: the reason for all this.
      await expect(qmp.hmp(`drive_add dummy file=${path},if=none,id=direct0,format=raw`)).rejects.toThrow(
        confine === 'runas' ? /Permission denied/ : /No such file or directory/,
      );
      const before = qemuFds(q.qemu.pid);
      const id = 'disk-9e7c85f6-b6e5-4243';
      const { fdset } = await hotAddScsi(qmp, helper, id, path, backend);

      // The guest-visible device and its backend on the fdset.
      const blocks = (await qmp.execute('query-block')) as { device: string; qdev?: string; inserted?: { file: string; image: { 'virtual-size': number } } }[];
      const block = blocks.find((b) => b.qdev === id || b.device === id);
      expect(block?.inserted?.file).toBe(`/dev/fdset/${fdset}`);
      expect(fdsetOf(block?.inserted?.file)).toBe(fdset);
      expect(block?.inserted?.image['virtual-size']).toBe((disk === 'loop' ? 32 : 24) * 1024 * 1024);
      expect(await qmp.execute('qom-get', { path: `/machine/peripheral/${id}`, property: 'scsi-id' })).toBe(1);
      // The drive holds exactly one descriptor of the disk; the fdset has given its own back.
      expect(fdsOn(q.qemu.pid, target)).toBe(1);
      expect(await fdsets(qmp)).toEqual([{ id: fdset, fds: [] }]);

      await unplugScsi(qmp, id, backend);
      await waitFor(() => fdsOn(q.qemu.pid, target) === 0, { what: `QEMU to close ${target}` });
      expect(await fdsets(qmp)).toEqual([]);
      expect(newFds(q.qemu.pid, before)).toEqual([]);
    } finally {
      await helper.close();
      await qmp.close();
    }
  });
});

describe('the QMP socket is never left held by the helper', () => {
  it('closing the connection with the helper still running frees the socket for the next client at once', async () => {
    const q = await startConfinedQemu('runas');
    const qmp = await connect(q);
    const helper = FdHelper.start(qmp);
    expect(await helper.ping()).toBe(helper.pid);
    // The helper holds a duplicate of the socket: were it left alive, QEMU would not greet anyone else.
    await qmp.close();
    const next = await QmpClient.connect(q.qmpSocket, { greetingTimeoutMs: 1_000 });
    await waitFor(() => helper.exited, { what: 'the helper to be gone' });
    await next.close();
  });

  it('withFdHelper closes the helper (exited) before the caller closes the connection', async () => {
    const q = await startConfinedQemu('chroot');
    const qmp = await connect(q);
    let seen: FdHelper | undefined;
    await withFdHelper(qmp, {}, async (helper) => {
      seen = helper;
      await helper.ping();
    });
    expect(seen?.exited).toBe(true);
    expect(await qmp.execute('query-fdsets')).toEqual([]);
    await qmp.close();
  });
});

describe('cache=none / aio=native instances', () => {
  it('the disk opened with O_DIRECT backs a cache=none,aio=native drive and a cache.direct blockdev; nothing left after', async () => {
    const q = await startConfinedQemu('runas', { argv: ['-device', 'virtio-scsi-pci,id=scsi'] });
    const { device } = loopDevice(16);
    const qmp = await connect(q);
    const helper = FdHelper.start(qmp);
    try {
      const before = qemuFds(q.qemu.pid);
      const c = checkDiskPath(device, 'scsi-hd');
      const open = { typed: device, path: c.path, kind: c.kind, direct: true, dev: c.dev, ino: c.ino };
      for (const backend of ['drive', 'blockdev'] as const) {
        const id = `disk-d1ec7000-000${backend === 'drive' ? 1 : 2}-4000`;
        const steps = diskFdSteps({
          id,
          fdset: chooseFdset(await fdsets(qmp)),
          backend,
          open,
          driveOptions: `,if=none,id=${id},format=raw,auto-read-only=off,aio=native,cache=none`,
          blockdev: { driver: 'raw', 'node-name': id, cache: { direct: true, 'no-flush': false }, file: { aio: 'native' } },
        });
        await runSteps(qmp, helper, steps.slice(0, 1));
        // The helper opened it with O_DIRECT (QEMU 9 needs that; 7.2 would also set it itself).
        const mine = [...qemuFds(helper.pid!)].find(([, t]) => t === device)![0];
        expect(Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/${helper.pid}/fdinfo/${mine}`, 'utf8'))![1]!, 8) & 0o40000).toBe(0o40000);
        await runSteps(qmp, helper, steps.slice(1));
        // O_DIRECT is on QEMU's descriptor of the device (flags in /proc/PID/fdinfo, octal; O_DIRECT = 040000).
        const fd = [...qemuFds(q.qemu.pid)].find(([, t]) => t === device)![0];
        const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/${q.qemu.pid}/fdinfo/${fd}`, 'utf8'))![1]!, 8);
        expect(flags & 0o40000).toBe(0o40000);
        if (backend === 'drive') await qmp.hmp(`drive_del ${id}`);
        else await qmp.execute('blockdev-del', { 'node-name': id });
        await waitFor(() => fdsOn(q.qemu.pid, device) === 0, { what: `QEMU to close ${device}` });
      }
      expect(await fdsets(qmp)).toEqual([]);
      expect(newFds(q.qemu.pid, before)).toEqual([]);
    } finally {
      await helper.close();
      await qmp.close();
    }
  });
});
