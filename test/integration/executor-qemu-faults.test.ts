/**
 * QMP faults with a real QEMU 7.2 (paused TCG sandboxes, test/helpers/sandbox.ts):
 * - QEMU SIGKILLed between drive_add / blockdev-add and device_add, and during the wait of a PCI
 *   unplug nobody acknowledges: through runAction (onProgress kills at the right step) and through
 *   the CLI as a child process (a QMP proxy holds the command while QEMU is killed);
 * - a reply QEMU sends but the client never gets (the proxy swallows it: device_add and device_del
 *   carried out, their answers lost), and QEMU's connection closed in the middle of a reply.
 * What must hold: the tool reports in one line (the CLI: exit 1, `plugboard: …`), the runtime file
 * is byte-identical (QEMU died before the change was verified, or the change was not confirmed),
 * the lock is released, and the next `plugboard check` / `show --live` / `list` tell the truth
 * ("QEMU is gone", "stopped", or the drift naming the device).
 */
import { renameSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { ActionFailedError } from '../../src/executor/outcome.js';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { PlugboardError } from '../../src/errors.js';
import { readPending } from '../../src/live/pending.js';
import { diskIds, startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';
import { ensureCliBuilt, FigureCounter, killCliChildren, QmpProxy, startCli, stderrLinesOk, type ProxyVerdict } from '../hostile/lib.js';

useSandboxCleanup();
const figures = new FigureCounter('QMP faults (real QEMU)');
const mismatches: string[] = [];
afterAll(() => {
  figures.report();
  console.log(`hardening figures: real-QEMU faults after which the file and QEMU differ: ${mismatches.length}\n${mismatches.join('\n')}`);
});

const proxies: QmpProxy[] = [];
afterEach(async () => {
  killCliChildren();
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
beforeAll(() => ensureCliBuilt(), 240_000);

async function cli(sb: TestSandbox, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {} };
  const code = await main(['--root', sb.root, ...args], io);
  return { code, stdout, stderr };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the action to fail');
}

/** Puts a proxy at ctrl/NAME.qmp in front of QEMU's socket (moved to ctrl/NAME.real.qmp). */
async function proxyFor(sb: TestSandbox, decide: (cmd: { execute: string }) => ProxyVerdict): Promise<QmpProxy> {
  const real = path.join(sb.root, 'ctrl', `${sb.name}.real.qmp`);
  renameSync(sb.qmpSocket, real);
  const p = await QmpProxy.start(sb.qmpSocket, real, decide);
  proxies.push(p);
  return p;
}

/** Takes the proxy away and puts QEMU's own socket back at ctrl/NAME.qmp (as the node has it). */
async function unproxy(sb: TestSandbox, p: QmpProxy): Promise<void> {
  await p.stop();
  proxies.splice(proxies.indexOf(p), 1);
  renameSync(path.join(sb.root, 'ctrl', `${sb.name}.real.qmp`), sb.qmpSocket);
}

/** After QEMU died: check, show --live and list say so; the file and the lock are as before. */
async function tellsQemuIsGone(sb: TestSandbox, before: string): Promise<void> {
  await waitFor(() => sb.qemu.exitStatus() !== undefined, { what: 'QEMU to be dead' });
  expect(sb.runtimeText()).toBe(before);
  if (sb.runtimeText() !== before) figures.dataLost++;
  expect(readdirSync(path.join(sb.root, 'plugboard-lock'))).toEqual([]);
  const check = await cli(sb, 'check', sb.name);
  expect(check.code).toBe(1);
  expect(check.stderr).toMatch(/^plugboard: nothing listens on .*: QEMU is gone \(stale socket\)\n$/);
  const live = await cli(sb, 'show', sb.name, '--live');
  expect(live.code).toBe(1);
  expect(live.stderr).toMatch(/QEMU is gone/);
  const list = await cli(sb, 'list', '--json');
  expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ instance: sb.name, status: 'stopped' })]);
}

describe('QEMU killed in the middle of a hot-add (runAction)', () => {
  it('between drive_add and device_add (scsi-hd on lsi, Ganeti 3.0 style): one-line failure, file byte-identical, check says QEMU is gone', async () => {
    const sb = await startSandbox({ name: 'kill1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    figures.faults++;
    const err = await failure(
      runAction(
        { type: 'hot-add-disk', instance: 'kill1', path: await sb.image('new') },
        { root: sb.root, onProgress: (e) => e.phase === 'step' && e.index === 1 && process.kill(sb.qemu.pid, 'SIGKILL') },
      ),
    );
    expect(err).toBeInstanceOf(ActionFailedError);
    expect(err.message.split('\n')).toHaveLength(1);
    expect(err.message).toMatch(/^add scsi-hd disk-\S+ at scsi\.0 target 1 failed: .*runtime file untouched/);
    await tellsQemuIsGone(sb, before);
  });

  it('between blockdev-add and device_add (virtio-blk-pci, -blockdev style): the same', async () => {
    const sb = await startSandbox({ name: 'kill2', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] }, { deviceConfig: { blockdev: true } });
    const before = sb.runtimeText();
    figures.faults++;
    const sent: string[] = [];
    const err = await failure(
      runAction(
        { type: 'hot-add-disk', instance: 'kill2', path: await sb.image('new') },
        {
          root: sb.root,
          onProgress: (e) => {
            if (e.phase === 'planned') sent.push(...e.plan.steps.map((s) => ('execute' in s.command ? s.command.execute : s.command.host)));
            if (e.phase === 'step' && e.index === 1) process.kill(sb.qemu.pid, 'SIGKILL');
          },
        },
      ),
    );
    expect(sent).toEqual(['blockdev-add', 'device_add']);
    expect(err).toBeInstanceOf(ActionFailedError);
    expect(err.message.split('\n')).toHaveLength(1);
    await tellsQemuIsGone(sb, before);
  });
});

describe('QEMU killed while an unplug waits for the guest (runAction)', () => {
  it('virtio-blk-pci, paused, no guest: one-line failure, the entry kept (QEMU had the device when it died), check says QEMU is gone', async () => {
    const sb = await startSandbox({ name: 'kill3', diskType: 'paravirtual', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const id = diskIds(await sb.load())[1]!;
    figures.faults++;
    const err = await failure(
      runAction(
        { type: 'unplug-disk', instance: 'kill3', device: id, timeoutMs: 20_000 },
        { root: sb.root, onProgress: (e) => e.phase === 'waiting' && process.kill(sb.qemu.pid, 'SIGKILL') },
      ),
    );
    expect(err).toBeInstanceOf(PlugboardError);
    expect(err.message.split('\n')).toHaveLength(1);
    expect(diskIds(await sb.load())).toContain(id);
    await tellsQemuIsGone(sb, before);
  });
});

describe('QEMU killed under the CLI (a child process; the proxy holds the command while QEMU dies)', () => {
  it('plugboard hotplug: QEMU dies before device_add reaches it → exit 1, one `plugboard:` line, file byte-identical; check says QEMU is gone', async () => {
    const sb = await startSandbox({ name: 'kill4', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const proxy = await proxyFor(sb, (c) => (c.execute === 'device_add' ? 'hold' : 'forward'));
    const child = startCli(sb.root, ['hotplug', 'disk', 'kill4', '--path', await sb.image('new')]);
    await proxy.waitForCommand('device_add');
    figures.faults++;
    process.kill(sb.qemu.pid, 'SIGKILL');
    await waitFor(() => sb.qemu.exitStatus() !== undefined, { what: 'QEMU to die' });
    proxy.release();
    const { code } = await child.exited;
    expect(code).toBe(1);
    expect(stderrLinesOk(child.stderr())).toBe(true);
    expect(child.stderr().trim().split('\n')).toHaveLength(1);
    expect(child.stderr()).toMatch(/device_add/);
    await unproxy(sb, proxy);
    await tellsQemuIsGone(sb, before);
  });

  it('plugboard unplug: QEMU dies during the unplug wait → exit 1, one line, entry kept; check says QEMU is gone', async () => {
    const sb = await startSandbox({ name: 'kill5', diskType: 'paravirtual', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const id = diskIds(await sb.load())[0]!;
    const child = startCli(sb.root, ['unplug', 'disk', 'kill5', id, '--timeout', '30']);
    await child.waitForOutput(new RegExp(`waiting for ${id} to go`), 'the CLI to wait for the unplug');
    figures.faults++;
    process.kill(sb.qemu.pid, 'SIGKILL');
    const { code } = await child.exited;
    expect(code).toBe(1);
    expect(stderrLinesOk(child.stderr())).toBe(true);
    expect(child.stderr().trim().split('\n')).toHaveLength(1);
    await tellsQemuIsGone(sb, before);
  });
});

describe('replies lost with QEMU alive (the proxy swallows or cuts them)', () => {
  /** The file vs QEMU after the fault, and what the tool said: listed in the closing figures. */
  async function note(sb: TestSandbox, label: string, told: string): Promise<string[]> {
    const items = (await sb.drift()).items.map((i) => `${i.code} ${i.id}`);
    if (items.length) mismatches.push(`  ${label}: ${items.join(', ')} — told: ${told.replaceAll(sb.root, 'ROOT')}`);
    return items;
  }

  it('device_add carried out, its reply lost (timeout): one line, file untouched; show --live names the device QEMU has', async () => {
    const sb = await startSandbox({ name: 'lost1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    await proxyFor(sb, (c) => (c.execute === 'device_add' ? 'drop-reply' : 'forward'));
    figures.faults++;
    const err = await failure(runAction({ type: 'hot-add-disk', instance: 'lost1', path: await sb.image('new') }, { root: sb.root, commandTimeoutMs: 1_000 }));
    expect(err).toBeInstanceOf(ActionFailedError);
    expect(err.message.split('\n')).toHaveLength(1);
    expect(sb.runtimeText()).toBe(before);
    const id = (err as ActionFailedError).outcome.plan.device.id;
    const drift = await note(sb, 'device_add reply lost', err.message);
    // Whatever the executor did about it, show --live tells the truth about this one device.
    expect(drift.every((d) => d.endsWith(id))).toBe(true);
    expect(drift.length === 0 || drift[0] === `unknown-to-file ${id}`).toBe(true);
    const live = await cli(sb, 'show', 'lost1', '--live');
    expect(live.stdout).toMatch(drift.length ? new RegExp(`unknown-to-file: .*${id}`) : /drift: none/);
  });

  it('device_del of a SCSI disk carried out, its reply lost: failed in one line with the file untouched, or done with the file matching QEMU', async () => {
    const sb = await startSandbox({ name: 'lost2', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const id = diskIds(await sb.load())[1]!;
    await proxyFor(sb, (c) => (c.execute === 'device_del' ? 'drop-reply' : 'forward'));
    figures.faults++;
    const r = await runAction({ type: 'unplug-disk', instance: 'lost2', device: id, timeoutMs: 5_000 }, { root: sb.root, commandTimeoutMs: 1_000 }).then(
      (outcome) => ({ outcome, error: undefined }),
      (error: unknown) => ({ outcome: undefined, error: error as Error }),
    );
    if (r.error) {
      expect(r.error).toBeInstanceOf(PlugboardError);
      expect(r.error.message.split('\n')).toHaveLength(1);
      expect(sb.runtimeText()).toBe(before);
      const drift = await note(sb, 'device_del reply lost', r.error.message);
      expect(drift.every((d) => d === `missing-from-qemu ${id}`)).toBe(true);
    } else {
      // The wait found QEMU had removed it: the unplug is done, and the file says so.
      expect(r.outcome!.status).toBe('done');
      expect(diskIds(await sb.load())).not.toContain(id);
      expect((await sb.drift()).items).toEqual([]);
    }
    if (diskIds(await sb.load()).length !== (r.outcome ? 1 : 2)) figures.dataLost++;
  });

  it('QEMU closes the connection in the middle of its reply to device_add: one line, file untouched, the lock released', async () => {
    const sb = await startSandbox({ name: 'lost3', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    await proxyFor(sb, (c) => (c.execute === 'device_add' ? 'close-mid-reply' : 'forward'));
    figures.faults++;
    const err = await failure(runAction({ type: 'hot-add-disk', instance: 'lost3', path: await sb.image('new') }, { root: sb.root }));
    expect(err).toBeInstanceOf(ActionFailedError);
    expect(err.message.split('\n')).toHaveLength(1);
    expect(err.message).toMatch(/while plugboard waited for reply to device_add/);
    expect(sb.runtimeText()).toBe(before);
    expect(readdirSync(path.join(sb.root, 'plugboard-lock'))).toEqual([]);
    await note(sb, 'device_add reply cut', err.message);
    expect(await readPending(sb.root, 'lost3')).toEqual([]);
  });
});
