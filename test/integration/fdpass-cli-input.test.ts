/**
 * The bad input of issue 12 through the CLI (`plugboard hotplug …`, in-process main()) against
 * confined QEMUs started from runtime files (`-runas`, `-chroot`): a path that is a directory or a
 * character device, one that vanishes between the check and the open, a symlink re-pointed after
 * the check, a file swapped for a link to a secret, a tap name already in use (before planning,
 * and taken between the plan and the run), a QEMU user that no longer exists. Each: one line on
 * stderr, exit 1 or 2, the runtime file byte-identical, nothing in QEMU (descriptors, fdsets), no
 * helper left, no tap.
 *
 * The races are made where the CLI prints the plan (`plan: …` on stdout): the run re-plans under
 * the lock and prints it right before its first step, so what the hook changes is changed between
 * the check (planning) and the open (the first descriptor step).
 */
import { randomUUID } from 'node:crypto';
import { renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { tapNameFor } from '../../src/actions/plan-nic.js';
import { FigureCounter } from '../hostile/lib.js';
import { FdLedger, privateDir, privateImage, qemuFds, removeUser, tempUser, useFdpassCleanup, type Confinement } from '../helpers/fdpass.js';
import { createBridge, createPersistentTap, linkExists, requireNetAdmin, useNetCleanup } from '../helpers/net.js';
import { startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';

useSandboxCleanup();
useFdpassCleanup();
useNetCleanup();

const ledger = new FdLedger('fd passing: bad input through the CLI');
const figures = new FigureCounter('fd passing: bad input through the CLI');
afterAll(() => {
  ledger.report();
  figures.report();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI in-process; `onPlan` runs once, when the plan of the run is printed (before its first step). */
async function cli(sb: TestSandbox, args: string[], onPlan?: () => void): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let fired = false;
  const io: CliIo = {
    stdout: (t) => {
      stdout += t;
      if (!fired && onPlan && t.startsWith('plan: ')) {
        fired = true;
        onPlan();
      }
    },
    stderr: (t) => void (stderr += t),
    env: {},
  };
  const code = await main(['--root', sb.root, ...args], io);
  return { code, stdout, stderr };
}

function confined(name: string, confine: Confinement, opts: { nics?: number; runasUser?: string } = {}): Promise<TestSandbox> {
  return startSandbox(
    { name, diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, nics: opts.nics ?? 0, extraKvmCmd: ['-nodefaults'] },
    { running: true, confine, ...(opts.runasUser !== undefined ? { runasUser: opts.runasUser } : {}) },
  );
}

/** One line on stderr matching `pattern`, the exit code, and nothing changed anywhere. */
async function refusedCleanly(sb: TestSandbox, name: string, run: Run, pattern: RegExp, codes: number[], before: Map<number, string>, text: string): Promise<void> {
  figures.inputs++;
  const lines = run.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^plugboard: /);
  expect(lines[0]).toMatch(pattern);
  expect(codes).toContain(run.code);
  expect(sb.runtimeText()).toBe(text);
  if (sb.runtimeText() !== text) figures.dataLost++;
  const count = await ledger.settle(name, sb.qemu.pid, before, sb.qmpSocket);
  expect(count.leaked).toEqual([]);
  expect(count.fdsets).toEqual([]);
  expect(count.helpers).toBe(0);
  expect((await sb.drift()).items).toEqual([]);
}

describe('bad paths (QEMU -runas nobody)', () => {
  it('a directory and a character device: refused before anything is sent (exit 2)', async () => {
    const sb = await confined('fdin-kind', 'runas');
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const dir = privateDir();
    await refusedCleanly(sb, 'runas: --path a directory', await cli(sb, ['hotplug', 'disk', sb.name, '--path', dir]), new RegExp(`--path ${dir}: a directory; a disk is a block device or a regular file$`), [2], before, text);
    await refusedCleanly(sb, 'runas: --path a character device', await cli(sb, ['hotplug', 'disk', sb.name, '--path', '/dev/null']), /--path \/dev\/null: a character device; a disk is a block device or a regular file$/, [2], before, text);
  });

  it('a path that vanishes between the check and the open: exit 1, nothing passed', async () => {
    const sb = await confined('fdin-gone', 'runas');
    const image = privateImage(4);
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const run = await cli(sb, ['hotplug', 'disk', sb.name, '--path', image], () => unlinkSync(image));
    await refusedCleanly(sb, 'runas: path vanished before the open', run, new RegExp(`--path ${image}: vanished between the check and the open; nothing was passed to QEMU; nothing had changed; runtime file untouched$`), [1], before, text);
  });
});

describe.each<Confinement>(['runas', 'chroot'])('links (QEMU %s)', (confine) => {
  it('a symlink re-pointed after the check, and a file swapped for a link to a secret: not opened (exit 1)', async () => {
    const sb = await confined(`fdin-l${confine[0]}`, confine);
    const dir = privateDir();
    const [a, b] = [privateImage(4, dir), privateImage(4, dir)];
    const secret = path.join(dir, 'secret');
    writeFileSync(secret, 'not for a guest\n', { mode: 0o600 });
    const link = path.join(dir, 'disk-link');
    symlinkSync(a, link);
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const repointed = await cli(sb, ['hotplug', 'disk', sb.name, '--path', link], () => {
      unlinkSync(link);
      symlinkSync(b, link);
    });
    await refusedCleanly(sb, `${confine}: symlink re-pointed before the open`, repointed, new RegExp(`--path ${link}: now points to ${b}, not to ${a} as when it was checked; not opened, nothing was passed to QEMU`), [1], before, text);
    // The operator typed a file; between the check and the open it became a link out to something else.
    const swapped = await cli(sb, ['hotplug', 'disk', sb.name, '--path', a], () => {
      renameSync(a, `${a}.old`);
      symlinkSync(secret, a);
    });
    await refusedCleanly(sb, `${confine}: file swapped for a link to a secret`, swapped, new RegExp(`--path ${a}: now points to ${secret}, not to ${a} as when it was checked; not opened`), [1], before, text);
  });
});

describe('NICs and users', () => {
  it('a tap name already in use: refused when planning (exit 1), and when it is taken between the plan and the run (exit 1); no tap of ours left', async () => {
    requireNetAdmin();
    const br = createBridge();
    const sb = await confined('fdin-tap', 'chroot', { nics: 1 });
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const uuid = randomUUID();
    const tap = tapNameFor(uuid);
    createPersistentTap(tap);
    const planned = await cli(sb, ['hotplug', 'nic', sb.name, '--link', br, '--uuid', uuid]);
    await refusedCleanly(sb, 'chroot: tap name in use when planning', planned, new RegExp(`an interface named ${tap.replaceAll('.', '\\.')} \\(the tap for uuid ${uuid}\\) already exists`), [1], before, text);

    const late = randomUUID();
    const lateTap = tapNameFor(late);
    const raced = await cli(sb, ['hotplug', 'nic', sb.name, '--link', br, '--uuid', late], () => createPersistentTap(lateTap));
    await refusedCleanly(sb, 'chroot: tap name taken between plan and run', raced, new RegExp(`tap ${lateTap.replaceAll('.', '\\.')}: the name is already in use on this node .*; nothing was passed to QEMU`), [1], before, text);
    // Someone else's taps are theirs: left as they were, not on our bridge.
    expect(linkExists(tap) && linkExists(lateTap)).toBe(true);
  });

  it('the QEMU user no longer exists (removed while the instance runs): refused before any descriptor is opened (exit 1)', async () => {
    const user = tempUser();
    const sb = await confined('fdin-user', 'runas', { runasUser: user });
    removeUser(user);
    const before = qemuFds(sb.qemu.pid);
    const text = sb.runtimeText();
    const image = privateImage(4);
    const run = await cli(sb, ['hotplug', 'disk', sb.name, '--path', image]);
    await refusedCleanly(
      sb,
      'runas: QEMU user removed',
      run,
      new RegExp(`fdin-user: security_domain ${user}, the user its QEMU runs as \\(-runas\\), does not exist on this node \\(removed while the instance runs\\?\\); nothing was passed to QEMU; nothing had changed; runtime file untouched$`),
      [1],
      before,
      text,
    );
  });
});
