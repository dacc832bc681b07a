/**
 * Faults in file-descriptor passing, on real QEMU 7.2 (`-runas nobody`, running): the helper dies
 * mid-action, QEMU refuses the descriptor, `add-fd` succeeds but the backend on it fails, the QMP
 * peer hangs up between `getfd` and `netdev_add`. Each is rolled back with the steps' undo (as the
 * executor will) and leaves QEMU with no descriptor of the disk or tap, no fdset, no named
 * descriptor — counted in /proc/PID/fd and with `query-fdsets` — and the QMP socket free.
 * Also pinned: QEMU 7.2 keeps a descriptor given back with `remove-fd` while the VM is paused.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FdHelper } from '../../src/qmp/fdpass/helper.js';
import { FdHelperError } from '../../src/qmp/fdpass/errors.js';
import { checkDiskPath } from '../../src/qmp/fdpass/inspect.js';
import { chooseFdset, nicFdSteps, tapCreateStep, type FdPlanStep } from '../../src/qmp/fdpass/plan.js';
import { runFdStep } from '../../src/qmp/fdpass/run.js';
import { QmpClient } from '../../src/qmp/client.js';
import { QmpCommandError } from '../../src/qmp/errors.js';
import { useTestQemuCleanup, type TestQemu } from '../helpers/qemu.js';
import { linkExists, requireNetAdmin, useNetCleanup } from '../helpers/net.js';
import { waitFor } from '../helpers/wait.js';
import { startFdProxy } from '../helpers/fd-proxy.js';
import { FigureCounter } from '../hostile/lib.js';
import { connect, diskHotAddSteps, fdsets, fdsOn, loopDevice, newFds, privateDir, privateImage, qemuFds, runSteps, startConfinedQemu, undoSteps, useFdpassCleanup } from '../helpers/fdpass.js';

useTestQemuCleanup();
useFdpassCleanup();
useNetCleanup();

// One fault per test; no runtime file is involved at this level (data lost counts runtime files).
const figures = new FigureCounter('fd passing: faults (real QEMU)');
beforeEach(() => {
  figures.faults++;
});
afterAll(() => figures.report());

function diskPlan(id: string, file: string, fdset: number, backend: 'drive' | 'blockdev' = 'blockdev'): FdPlanStep[] {
  return diskHotAddSteps(id, file, fdset, backend, { driver: 'scsi-hd', bus: 'scsi.0', channel: 0, 'scsi-id': 3, lun: 0 });
}

/** Nothing of `target` in QEMU, no fdset, no new descriptor; and the QMP socket serves a new client. */
async function expectNothingLeft(q: TestQemu, before: Map<number, string>, target: string): Promise<void> {
  await waitFor(() => fdsOn(q.qemu.pid, target) === 0, { what: `QEMU to hold no descriptor of ${target}` });
  const fresh = await QmpClient.connect(q.qmpSocket, { greetingTimeoutMs: 2_000 });
  try {
    expect(await fdsets(fresh)).toEqual([]);
  } finally {
    await fresh.close();
  }
  // `before` was taken while the test's own connection was open; that one is closed by now.
  await waitFor(() => newFds(q.qemu.pid, before).length === 0, { what: `no new descriptor in QEMU (${newFds(q.qemu.pid, before).join(', ')})` });
}

describe('file-descriptor passing faults (QEMU -runas nobody)', () => {
  it('the helper dies after opening the disk: add-fd fails, the undo leaves nothing', async () => {
    const q = await startConfinedQemu('runas', { argv: ['-device', 'virtio-scsi-pci,id=scsi'] });
    const image = privateImage(16);
    const qmp = await connect(q);
    const before = qemuFds(q.qemu.pid);
    const helper = FdHelper.start(qmp);
    const steps = diskPlan('disk-f0000001-0001-4000', image, chooseFdset(await fdsets(qmp)));
    await runFdStep(qmp, helper, steps[0]!);
    process.kill(helper.pid!, 'SIGKILL');
    const err = await runSteps(qmp, helper, steps.slice(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FdHelperError);
    expect((err as FdHelperError).code).toBe('DIED');
    expect((err as Error).message).toMatch(/^the descriptor helper \(\/usr\/bin\/python3, pid \d+\) was killed \(SIGKILL\) while asked to send disk-f0000001-0001-4000$/);
    // The open itself is undone too (nothing to close: the helper took it with it).
    expect(await undoSteps(qmp, helper, steps.slice(0, 1))).toEqual(['fd-drop ok']);
    // The connection is still Node's and works.
    expect(await qmp.execute('query-fdsets')).toEqual([]);
    await qmp.close();
    await expectNothingLeft(q, before, image);
  });

  it('the helper dies between two descriptors of a multiqueue tap: the first is closed in QEMU (closefd), the tap is gone', async () => {
    requireNetAdmin();
    const q = await startConfinedQemu('runas');
    const qmp = await connect(q);
    const before = qemuFds(q.qemu.pid);
    const helper = FdHelper.start(qmp);
    const nic = { id: 'nic-f0000002-0001-4000', tap: `tap.pb.${randomBytes(4).toString('hex')}`, vnetHdr: true, queues: 2, vhost: false };
    const steps = [tapCreateStep(nic), ...nicFdSteps(nic)];
    const first = steps.slice(0, 2);
    await runSteps(qmp, helper, first);
    expect(fdsOn(q.qemu.pid, '/dev/net/tun')).toBe(1);
    expect(linkExists(nic.tap)).toBe(true);
    await helper.kill();
    const err = await runSteps(qmp, helper, steps.slice(2)).catch((e: unknown) => e);
    expect((err as FdHelperError).code).toBe('DIED');
    expect(await undoSteps(qmp, helper, first)).toEqual(['closefd ok', 'fd-drop ok']);
    await waitFor(() => !linkExists(nic.tap), { what: `tap ${nic.tap} to go` });
    await qmp.close();
    await expectNothingLeft(q, before, '/dev/net/tun');
  });

  it('QEMU refuses the descriptor (getfd with a bad name, add-fd with a bad set): QEMU closes it, nothing leaks', async () => {
    requireNetAdmin();
    const q = await startConfinedQemu('runas');
    const image = privateImage(8);
    const qmp = await connect(q);
    const before = qemuFds(q.qemu.pid);
    const helper = FdHelper.start(qmp);
    const c = checkDiskPath(image, 'scsi-hd');
    await helper.openDisk('d', { path: c.path, kind: c.kind, direct: false, dev: c.dev, ino: c.ino });
    await expect(runFdStep(qmp, helper, { command: { execute: 'add-fd', arguments: { 'fdset-id': -1 } }, passFd: { handle: 'd', what: 'x' } })).rejects.toThrow(
      QmpCommandError,
    );
    const tap = `tap.pb.${randomBytes(4).toString('hex')}`;
    await helper.createTap('n', { name: tap, vnetHdr: false, queues: 1, vhost: false });
    await expect(runFdStep(qmp, helper, { command: { execute: 'getfd', arguments: { fdname: '0-starts-with-a-digit' } }, passFd: { handle: 'n.tap.0', what: 'x' } })).rejects.toThrow(
      /fdname/,
    );
    // The helper gave its copies away with the commands: QEMU closed them on refusing.
    await waitFor(() => !linkExists(tap), { what: `tap ${tap} to go` });
    expect(await qmp.execute('query-fdsets')).toEqual([]);
    await helper.close();
    await qmp.close();
    await expectNothingLeft(q, before, image);
  });

  for (const backend of ['blockdev', 'drive'] as const) {
    it(`add-fd succeeds but ${backend === 'blockdev' ? 'blockdev-add' : 'drive_add'} on it fails (file driver on a block device): remove-fd undoes it`, async () => {
      const q = await startConfinedQemu('runas', { argv: ['-device', 'virtio-scsi-pci,id=scsi'] });
      const { device } = loopDevice(16);
      const qmp = await connect(q);
      const before = qemuFds(q.qemu.pid);
      const helper = FdHelper.start(qmp);
      const fdset = chooseFdset(await fdsets(qmp));
      const steps = diskPlan('disk-f0000003-0001-4000', device, fdset, backend);
      // What Ganeti 3.0 sends (`drive_add … file=/dev/fdset/N`), and the same mistake with blockdev-add:
      // QEMU 7.2 takes /dev/fdset/N for a regular file and refuses a block device.
      const backendStep = steps[2]!;
      if (backend === 'blockdev') ((backendStep.command as unknown as { arguments: { file: { driver: string } } }).arguments.file.driver = 'file');
      else (backendStep.command as unknown as { arguments: Record<string, unknown> }).arguments['command-line'] = `drive_add dummy file=/dev/fdset/${fdset},if=none,id=disk-f0000003-0001-4000,format=raw,auto-read-only=off,aio=threads`;
      const err = (await runSteps(qmp, helper, steps).catch((e: unknown) => e)) as Error & { undone: string[] };
      expect(err.message).toContain(`'file' driver requires '/dev/fdset/${fdset}' to be a regular file`);
      expect(err.undone).toEqual(['remove-fd ok', 'fd-drop ok']);
      expect(await qmp.execute('query-fdsets')).toEqual([]);
      await helper.close();
      await qmp.close();
      await expectNothingLeft(q, before, device);
    });
  }

  it('the QMP peer hangs up between getfd and netdev_add: QEMU keeps the named descriptor, the undo over a new connection closes it', async () => {
    requireNetAdmin();
    const q = await startConfinedQemu('runas');
    const before = qemuFds(q.qemu.pid);
    const proxy = await startFdProxy(path.join(privateDir(), 'proxy.sock'), q.qmpSocket, '"getfd"');
    try {
      const qmp = await QmpClient.connect(proxy.path, { greetingTimeoutMs: 5_000, commandTimeoutMs: 5_000 });
      const helper = FdHelper.start(qmp);
      const nic = { id: 'nic-f0000004-0001-4000', tap: `tap.pb.${randomBytes(4).toString('hex')}`, vnetHdr: true, queues: 1, vhost: false };
      const steps = [tapCreateStep(nic), ...nicFdSteps(nic)];
      let leakedBeforeUndo = -1;
      let fresh: QmpClient | undefined;
      const err = (await runSteps(qmp, helper, steps, {
        undoOn: async () => {
          await proxy.hungUp;
          // Between the hang-up and the undo: QEMU still holds the tap (the named descriptor).
          leakedBeforeUndo = fdsOn(q.qemu.pid, '/dev/net/tun');
          fresh = await connect(q);
          return { qmp: fresh, helper };
        },
      }).catch((e: unknown) => e)) as Error & { undone: string[] };
      expect(err.message).toMatch(/closed|broke/);
      expect(leakedBeforeUndo).toBe(1);
      // The helper was killed when its connection closed: it holds nothing, so fd-drop is a no-op.
      await waitFor(() => helper.exited, { what: 'the helper to be killed with its connection' });
      // netdev_add never left: the write met the closed connection (EPIPE).
      expect(err.undone).toEqual(['closefd ok', 'fd-drop ok']);
      await waitFor(() => !linkExists(nic.tap), { what: `tap ${nic.tap} to go` });
      await fresh?.close();
      await expectNothingLeft(q, before, '/dev/net/tun');
    } finally {
      await proxy.stop();
    }
  });

  it('QEMU 7.2 keeps a descriptor given back with remove-fd while the VM is paused, until it runs and a client disconnects', async () => {
    const q = await startConfinedQemu('runas', { paused: true });
    const image = privateImage(8);
    const qmp = await connect(q);
    const helper = FdHelper.start(qmp);
    const c = checkDiskPath(image, 'scsi-hd');
    await helper.openDisk('d', { path: c.path, kind: c.kind, direct: false, dev: c.dev, ino: c.ino });
    await runFdStep(qmp, helper, { command: { execute: 'add-fd', arguments: { 'fdset-id': 0 } }, passFd: { handle: 'd', what: 'x' } });
    await qmp.execute('remove-fd', { 'fdset-id': 0 });
    expect(fdsOn(q.qemu.pid, image)).toBe(1);
    expect(await fdsets(qmp)).toEqual([{ id: 0, fds: [{ fd: expect.any(Number) as number }] }]);
    await qmp.execute('cont');
    expect(fdsOn(q.qemu.pid, image)).toBe(1);
    await helper.close();
    await qmp.close();
    await waitFor(() => fdsOn(q.qemu.pid, image) === 0, { what: 'QEMU to close the removed descriptor at the disconnect' });
  });
});
