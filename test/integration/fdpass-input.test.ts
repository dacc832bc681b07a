/**
 * Bad input at the descriptor-passing level: one clear line each (naming the path, tap or user),
 * exit code 2 for what the operator named, and nothing passed to QEMU (its descriptors unchanged,
 * no fdset). Real files, devices, taps and users; a real QEMU on the other end of the helper.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { FdHelper } from '../../src/qmp/fdpass/helper.js';
import { FdHelperError, FdInputError } from '../../src/qmp/fdpass/errors.js';
import { checkDiskPath, checkQemuUser, diskOpenProblem, tapCreateProblem } from '../../src/qmp/fdpass/inspect.js';
import { tapCreateStep } from '../../src/qmp/fdpass/plan.js';
import { runFdStep } from '../../src/qmp/fdpass/run.js';
import type { QmpClient } from '../../src/qmp/client.js';
import { createBridge, createPersistentTap, linkExists, requireNetAdmin, useNetCleanup } from '../helpers/net.js';
import { useTestQemuCleanup, type TestQemu } from '../helpers/qemu.js';
import { FigureCounter } from '../hostile/lib.js';
import { connect, fdsets, newFds, privateDir, privateImage, qemuFds, removeUser, startConfinedQemu, tempUser, useFdpassCleanup } from '../helpers/fdpass.js';

useTestQemuCleanup();
useFdpassCleanup();
useNetCleanup();

const figures = new FigureCounter('fd passing: bad input');
afterAll(() => figures.report());

function oneLine(err: unknown, pattern: RegExp, exitCode: number = ExitCode.badInput): string {
  figures.inputs++;
  expect(err).toBeInstanceOf(Error);
  const message = (err as Error).message;
  expect(message).not.toContain('\n');
  expect(message).toMatch(pattern);
  expect((err as FdInputError).exitCode).toBe(exitCode);
  return message;
}

const caught = async (p: Promise<unknown> | (() => unknown)): Promise<unknown> => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
};

/** A QEMU, a connection and a helper; after `work`, QEMU has no new descriptor and no fdset. */
async function withHelper(work: (h: FdHelper, qmp: QmpClient, q: TestQemu) => Promise<void>, q?: TestQemu): Promise<void> {
  const qemu = q ?? (await startConfinedQemu('runas'));
  const qmp = await connect(qemu);
  const before = qemuFds(qemu.qemu.pid);
  const helper = FdHelper.start(qmp);
  try {
    await work(helper, qmp, qemu);
    expect(await fdsets(qmp)).toEqual([]);
    expect(newFds(qemu.qemu.pid, before)).toEqual([]);
  } finally {
    await helper.close();
    await qmp.close();
  }
}

describe('bad input to file-descriptor passing: one line each, nothing passed', () => {
  it('a path that vanishes between the check and the open', async () => {
    await withHelper(async (helper, qmp) => {
      const image = privateImage(4);
      const checked = checkDiskPath(image, 'scsi-hd');
      unlinkSync(image);
      const detail = { handle: 'd', typed: image, path: checked.path, kind: checked.kind, direct: false, dev: checked.dev, ino: checked.ino };
      oneLine(await caught(runFdStep(qmp, helper, { command: { host: 'fd-open-disk', detail } })), /^--path \/.*\.raw: vanished between the check and the open; nothing was passed to QEMU$/);
      // The same race inside the helper (after the last check): its ENOENT, in the same words.
      const inside = await caught(helper.openDisk('d', { path: checked.path, kind: 'file', direct: false, dev: checked.dev, ino: checked.ino }));
      oneLine(diskOpenProblem(inside, detail), /vanished between the check and the open; nothing was passed to QEMU$/);
    });
  });

  it('a directory, a character device, a FIFO; a regular file for scsi-generic', () => {
    const dir = privateDir();
    return Promise.all([
      caught(() => checkDiskPath(dir, 'scsi-hd')).then((e) => oneLine(e, /^--path \/.*: a directory; a disk is a block device or a regular file$/)),
      caught(() => checkDiskPath('/dev/null', 'paravirtual')).then((e) => oneLine(e, /^--path \/dev\/null: a character device; a disk is a block device or a regular file$/)),
      caught(() => {
        const fifo = path.join(dir, 'fifo');
        const r = spawnSync('mkfifo', [fifo]);
        expect(r.status).toBe(0);
        return checkDiskPath(fifo, 'scsi-hd');
      }).then((e) => oneLine(e, /fifo: a FIFO; a disk is a block device or a regular file$/)),
      caught(() => checkDiskPath(privateImage(1), 'scsi-generic')).then((e) => oneLine(e, /scsi-generic needs a SCSI generic character device \(\/dev\/sgN\), not a regular file$/)),
    ]);
  });

  it('a symlink that points elsewhere than when it was checked, a file swapped for a link, for another file, for a directory', async () => {
    await withHelper(async (helper, qmp) => {
      const dir = privateDir();
      const a = privateImage(2, dir);
      const b = privateImage(2, dir);
      const link = path.join(dir, 'disk0');
      symlinkSync(a, link);
      const checked = checkDiskPath(link, 'scsi-hd');
      expect(checked.path).toBe(a);
      const detail = { handle: 'd', typed: link, path: checked.path, kind: checked.kind, direct: false, dev: checked.dev, ino: checked.ino };
      const open = () => runFdStep(qmp, helper, { command: { host: 'fd-open-disk', detail } });

      unlinkSync(link);
      symlinkSync(b, link);
      oneLine(await caught(open()), new RegExp(`^--path ${link}: now points to ${b}, not to ${a} as when it was checked; not opened, nothing was passed to QEMU$`));

      // The link is back, but the file it points to was replaced by a link to b: not followed.
      unlinkSync(link);
      symlinkSync(a, link);
      const kept = `${a}.kept`;
      renameSync(a, kept);
      symlinkSync(b, a);
      const swapped = { ...detail };
      oneLine(diskOpenProblem(await caught(helper.openDisk('d', swapped)), swapped), /: is now a symbolic link, not what was checked; nothing was passed to QEMU$/);

      // Replaced by another regular file (same path, another inode).
      unlinkSync(a);
      writeFileSync(a, 'other');
      oneLine(await caught(open()), /: is not the file that was checked \(another file is there now, device:inode \d+:\d+\); nothing was passed to QEMU$/);

      // Replaced by a directory.
      unlinkSync(a);
      mkdirSync(a);
      oneLine(await caught(open()), /: is now a directory, not what was checked; nothing was passed to QEMU$/);
      rmSync(a, { recursive: true });

      // A link to nothing, at the check.
      const dangling = path.join(dir, 'dangling');
      symlinkSync(path.join(dir, 'nothing-here'), dangling);
      oneLine(await caught(() => checkDiskPath(dangling, 'scsi-hd')), /^--path .*dangling: a symbolic link to something that does not exist$/);
    });
  });

  it('a tap name already in use: by a bridge, by a persistent tap (never attached to)', async () => {
    requireNetAdmin();
    await withHelper(async (helper, qmp) => {
      const bridge = createBridge();
      const e1 = await caught(runFdStep(qmp, helper, tapCreateStep({ id: 'nic-x', tap: bridge, vnetHdr: true, queues: 1, vhost: false })));
      oneLine(e1, new RegExp(`^tap ${bridge}: the name is already in use on this node \\(ip -d link show ${bridge}\\); nothing was passed to QEMU$`));
      const tap = `tap.pb.${randomBytes(4).toString('hex')}`;
      createPersistentTap(tap);
      const flagsBefore = readFileSync(`/sys/class/net/${tap}/tun_flags`, 'utf8');
      oneLine(await caught(runFdStep(qmp, helper, tapCreateStep({ id: 'nic-y', tap, vnetHdr: true, queues: 1, vhost: false }))), /the name is already in use on this node/);
      expect(readFileSync(`/sys/class/net/${tap}/tun_flags`, 'utf8')).toBe(flagsBefore);
      expect(linkExists(tap)).toBe(true);
      // vhost on a node without /dev/vhost-net (this one): one line, and the tap made first is gone again.
      const fresh = `tap.pb.${randomBytes(4).toString('hex')}`;
      const e3 = await caught(runFdStep(qmp, helper, tapCreateStep({ id: 'nic-z', tap: fresh, vnetHdr: true, queues: 1, vhost: true })));
      oneLine(e3, new RegExp(`^tap ${fresh.replace(/\./g, '\\.')}: /dev/net/tun or /dev/vhost-net is missing on this node \\(modprobe tun / vhost_net\\): open /dev/vhost-net: No such file or directory$`), ExitCode.failed);
      expect(linkExists(fresh)).toBe(false);
    });
  });

  it('a QEMU user that no longer exists (security_model user and pool); the one that does is named', async () => {
    const user = tempUser();
    const q = await startConfinedQemu('runas');
    // A QEMU of nobody first, then one of the temp user, which is then removed.
    await withHelper(async (helper) => {
      expect(await checkQemuUser('web1', { security_model: 'user', security_domain: 'nobody' }, q.qemu.pid, helper)).toBe('nobody');
      expect(await checkQemuUser('web1', { security_model: 'pool' }, q.qemu.pid, helper)).toBe('nobody');
      oneLine(await caught(checkQemuUser('web1', { security_model: 'user', security_domain: user }, q.qemu.pid, helper)), new RegExp(`^web1: QEMU \\(pid \\d+\\) runs as uid 65534, not as security_domain ${user} \\(uid \\d+\\); nothing was passed to QEMU$`));
    }, q);
    const mine = await startConfinedQemu('runas', {}, user);
    removeUser(user);
    await withHelper(async (helper) => {
      oneLine(
        await caught(checkQemuUser('db1', { security_model: 'user', security_domain: user }, mine.qemu.pid, helper)),
        new RegExp(`^db1: security_domain ${user}, the user its QEMU runs as \\(-runas\\), does not exist on this node \\(removed while the instance runs\\?\\); nothing was passed to QEMU$`),
      );
      oneLine(await caught(checkQemuUser('db1', { security_model: 'pool' }, mine.qemu.pid, helper)), /^db1: QEMU \(pid \d+\) runs as uid \d+, which has no user any more \(removed while the instance runs\?\); nothing was passed to QEMU$/);
    }, mine);
  });

  it('no Python 3 where it is looked for: one line, and the connection is untouched', async () => {
    const q = await startConfinedQemu('runas');
    const qmp = await connect(q);
    const helper = FdHelper.start(qmp, { python: '/nonexistent/python3' });
    const err = await caught(helper.ping());
    expect(err).toBeInstanceOf(FdHelperError);
    oneLine(err, /^file-descriptor passing needs \/nonexistent\/python3 \(Ganeti's own Python 3\), which could not be started: ENOENT$/, ExitCode.failed);
    expect(await qmp.execute('query-fdsets')).toEqual([]);
    await helper.close();
    await qmp.close();
  });
});

// Keep tapCreateProblem's EINVAL words honest: an invalid name is caught before TUNSETIFF.
describe('tap names', () => {
  it('a name over 15 bytes is refused by the helper in one line', async () => {
    await withHelper(async (helper) => {
      const err = tapCreateProblem(await caught(helper.createTap('n', { name: 'x'.repeat(16), vnetHdr: false, queues: 1, vhost: false })), 'x'.repeat(16));
      oneLine(err, /^tap x{16}: .*a tap name has 1 to 15 bytes/, ExitCode.failed);
    });
  });
});
