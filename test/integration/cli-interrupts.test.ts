/**
 * Ctrl-C (SIGINT) to the CLI, a real child process, at the points an operator can hit, against a real
 * QEMU 7.2 sandbox. Where a point is only a few milliseconds wide, a QMP proxy holds the command
 * until the CLI has seen the signal (a preloaded listener prints `[test] SIGINT seen`; listeners
 * run in one emit, so the CLI's own handler has run by then). What must hold: the CLI ends, says
 * what state it left (`pending`, undone, nothing changed, done), and that state is the truth:
 * the runtime file, QEMU and the pending records agree with what it said.
 */
import { spawn } from 'node:child_process';
import { renameSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readPending } from '../../src/live/pending.js';
import { acquireInstanceLock } from '../../src/runtime/lock.js';
import { diskIds, startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';
import { ensureCliBuilt, FigureCounter, killCliChildren, QmpProxy, startCli, stderrLinesOk, type ProxyVerdict } from '../hostile/lib.js';

useSandboxCleanup();
const figures = new FigureCounter('interrupts (CLI processes)');
afterAll(() => figures.report());
const proxies: QmpProxy[] = [];
afterEach(async () => {
  killCliChildren();
  await Promise.all(proxies.splice(0).map((p) => p.stop()));
});
beforeAll(() => ensureCliBuilt(), 240_000);

async function proxyFor(sb: TestSandbox, decide: (cmd: { execute: string; arguments?: Record<string, unknown> }) => ProxyVerdict): Promise<QmpProxy> {
  const real = path.join(sb.root, 'ctrl', `${sb.name}.real.qmp`);
  renameSync(sb.qmpSocket, real);
  const p = await QmpProxy.start(sb.qmpSocket, real, decide);
  proxies.push(p);
  return p;
}

describe('Ctrl-C during a plugboard unplug', () => {
  it('while waiting for the guest to acknowledge a PCI unplug: `pending` at once (exit 1), entry kept, record written, show --live says unplug-pending', async () => {
    const sb = await startSandbox({ name: 'int1', diskType: 'paravirtual', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const id = diskIds(await sb.load())[1]!;
    const before = sb.runtimeText();
    const child = startCli(sb.root, ['unplug', 'disk', 'int1', id, '--timeout', '60']);
    await child.waitForOutput(new RegExp(`waiting for ${id} to go \\(up to 60 s\\)`), 'the unplug wait');
    figures.faults++;
    const started = performance.now();
    child.child.kill('SIGINT');
    const { code } = await child.exited;
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(code).toBe(1);
    expect(child.stdout()).toMatch(new RegExp(`^pending: unplug of ${id} is pending: interrupted while waiting\\. The runtime file entry is kept`, 'm'));
    expect(child.stderr()).toBe('');
    // What it said is what there is.
    expect(sb.runtimeText()).toBe(before);
    expect((await readPending(sb.root, 'int1')).map((p) => p.id)).toEqual([id]);
    expect((await sb.drift()).items).toEqual([expect.objectContaining({ code: 'unplug-pending', id })]);
    expect(await sb.peripheralIds()).toContain(id);
    expect(readdirSync(path.join(sb.root, 'plugboard-lock'))).toEqual([]);
  });
});

describe('Ctrl-C during a plugboard hotplug', () => {
  it('between drive_add and device_add: the drive is removed again, exit 1, one line saying interrupted / undone / runtime file untouched', async () => {
    const sb = await startSandbox({ name: 'int2', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const blocksBefore = await sb.blocks();
    const proxy = await proxyFor(sb, (c) =>
      c.execute === 'human-monitor-command' && String(c.arguments?.['command-line']).startsWith('drive_add') ? 'hold' : 'forward',
    );
    const child = startCli(sb.root, ['hotplug', 'disk', 'int2', '--path', await sb.image('new')], { sigintMarker: true });
    await proxy.waitForCommand('human-monitor-command', 'drive_add');
    figures.faults++;
    child.child.kill('SIGINT');
    await child.waitForOutput(/\[test\] SIGINT seen/, 'the CLI to see SIGINT');
    proxy.release();
    const { code } = await child.exited;
    expect(code).toBe(1);
    expect(stderrLinesOk(child.stderr())).toBe(true);
    const line = child.stderr().split('\n').find((l) => l.startsWith('plugboard: '))!;
    expect(line).toMatch(/^plugboard: interrupted before: add scsi-hd (disk-\S+) at scsi\.0 target 1; undone: HMP drive_del \1; runtime file untouched$/);
    expect(sb.runtimeText()).toBe(before);
    expect(await sb.blocks()).toEqual(blocksBefore);
    expect((await sb.drift()).items).toEqual([]);
    expect(proxy.commands.map((c) => c.execute)).not.toContain('device_add');
  });

  it('while device_add is in flight (the last step): the step is not abandoned; the CLI says done or undone, and that is the truth', async () => {
    const sb = await startSandbox({ name: 'int3', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const proxy = await proxyFor(sb, (c) => (c.execute === 'device_add' ? 'hold' : 'forward'));
    const child = startCli(sb.root, ['hotplug', 'disk', 'int3', '--path', await sb.image('new'), '--json'], { sigintMarker: true });
    const add = await proxy.waitForCommand('device_add');
    figures.faults++;
    child.child.kill('SIGINT');
    await child.waitForOutput(/\[test\] SIGINT seen/, 'the CLI to see SIGINT');
    proxy.release();
    const { code } = await child.exited;
    const out = JSON.parse(child.stdout()) as { status: string; runtimeWritten: boolean; message: string };
    const id = String(add.arguments?.['id']);
    const inFile = diskIds(await sb.load()).includes(id);
    const inQemu = (await sb.peripheralIds()).includes(id);
    if (out.status === 'done') {
      expect(code).toBe(0);
      expect([inFile, inQemu, out.runtimeWritten]).toEqual([true, true, true]);
    } else {
      expect(code).toBe(1);
      expect(out.status).toBe('rolled-back');
      expect([inFile, inQemu]).toEqual([false, false]);
      expect(sb.runtimeText()).toBe(before);
    }
    expect((await sb.drift()).items).toEqual([]);
  });

  it('while waiting for the instance lock another plugboard holds: nothing is changed, exit 1, one line; the holder is not disturbed', async () => {
    const sb = await startSandbox({ name: 'int4', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const held = await acquireInstanceLock(sb.root, 'int4', { timeoutMs: 1_000 });
    try {
      const child = startCli(sb.root, ['hotplug', 'disk', 'int4', '--path', await sb.image('new')], { sigintMarker: true });
      // The CLI polls the lock every 25 ms: wait until its holder record waits in the lock directory.
      await waitFor(() => readdirSync(path.join(sb.root, 'plugboard-lock')).some((f) => f.startsWith('.lock-')), { what: 'the CLI to wait for the lock' });
      figures.faults++;
      const started = performance.now();
      child.child.kill('SIGINT');
      await child.waitForOutput(/\[test\] SIGINT seen/, 'the CLI to see SIGINT');
      // Let it have the lock: it must notice the interrupt before it sends anything.
      await held.release();
      const { code } = await child.exited;
      expect(code).toBe(1);
      expect(stderrLinesOk(child.stderr())).toBe(true);
      expect(child.stderr().trim().split('\n').filter((l) => !l.startsWith('[test]'))).toHaveLength(1);
      expect(performance.now() - started).toBeLessThan(11_000);
    } finally {
      await held.release();
    }
    expect(sb.runtimeText()).toBe(before);
    expect((await sb.drift()).items).toEqual([]);
    expect(readdirSync(path.join(sb.root, 'plugboard-lock'))).toEqual([]);
  });
});

// The lock wait honours Ctrl-C, and a second Ctrl-C does not kill the CLI in the middle of the undo
// the first one started (it would leave the drive in QEMU).
describe('Ctrl-C, strictly', () => {
  it('while another plugboard holds the lock (and keeps it): exit 1 within 2 s, "interrupted while waiting for the lock …; nothing was changed"', async () => {
    const sb = await startSandbox({ name: 'ints1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const held = await acquireInstanceLock(sb.root, 'ints1', { timeoutMs: 1_000 });
    try {
      const child = startCli(sb.root, ['hotplug', 'disk', 'ints1', '--path', await sb.image('new')], { sigintMarker: true });
      await waitFor(() => readdirSync(path.join(sb.root, 'plugboard-lock')).some((f) => f.startsWith('.lock-')), { what: 'the CLI to wait for the lock' });
      const started = performance.now();
      child.child.kill('SIGINT');
      const { code } = await child.exited;
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(code).toBe(1);
      expect(child.stderr()).toMatch(/^plugboard: interrupted while waiting for the lock of instance ints1; nothing was changed$/m);
    } finally {
      await held.release();
    }
    expect(sb.runtimeText()).toBe(before);
  });

  it('a second Ctrl-C during the undo the first one started: the CLI finishes the undo and says so; QEMU is left clean', async () => {
    const sb = await startSandbox({ name: 'ints2', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const blocksBefore = await sb.blocks();
    const line = (c: { arguments?: Record<string, unknown> }) => String(c.arguments?.['command-line'] ?? '');
    let holdUndo = true;
    const proxy = await proxyFor(sb, (c) =>
      c.execute === 'human-monitor-command' && (line(c).startsWith('drive_add') || (holdUndo && line(c).startsWith('drive_del'))) ? 'hold' : 'forward',
    );
    const child = startCli(sb.root, ['hotplug', 'disk', 'ints2', '--path', await sb.image('new')], { sigintMarker: true });
    await proxy.waitForCommand('human-monitor-command', 'drive_add');
    child.child.kill('SIGINT');
    await child.waitForOutput(/\[test\] SIGINT seen/, 'the first SIGINT');
    proxy.release();
    await waitFor(() => proxy.commands.some((c) => line(c).startsWith('drive_del')), { what: 'the undo (drive_del)' });
    child.child.kill('SIGINT');
    await child.waitForOutput(/still undoing/, 'the CLI to say it is still undoing');
    holdUndo = false;
    proxy.release();
    const { code, signal } = await child.exited;
    expect([code, signal]).toEqual([1, null]);
    expect(child.stderr()).toMatch(/^plugboard: interrupted before: add scsi-hd .*; undone: HMP drive_del .*; runtime file untouched$/m);
    expect(await sb.blocks()).toEqual(blocksBefore);
  });
});

describe('the reader of the output goes away (plugboard … | head)', () => {
  it('a hotplug whose stdout is closed before it writes still finishes: exit 0, no stack trace, the disk in QEMU and in the runtime file', async () => {
    const sb = await startSandbox({ name: 'intp1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = diskIds(await sb.load());
    const child = spawn(process.execPath, [ensureCliBuilt(), '--root', sb.root, 'hotplug', 'disk', 'intp1', '--path', await sb.image('new')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    // The read end closed at once: every write of the CLI to stdout meets EPIPE.
    child.stdout!.destroy();
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (err += t));
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    figures.faults++;
    expect(err).toBe('');
    expect(code).toBe(0);
    const after = diskIds(await sb.load());
    expect(after).toHaveLength(before.length + 1);
    const added = after.find((id) => !before.includes(id))!;
    expect(await sb.peripheralIds()).toContain(added);
    expect(readdirSync(path.join(sb.root, 'plugboard-lock'))).toEqual([]);
  });
});
