/**
 * The QEMU launcher with a REAL QEMU 7.2: readiness on the QMP greeting, clean stop, failures
 * during start reported with QEMU's stderr, and no QEMU outliving the Node process that started it.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { QemuLaunchError, launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { QmpClient, withQmp } from '../../src/qmp/client.js';
import { QmpAbortedError } from '../../src/qmp/errors.js';
import { requireQemu, startTestQemu, useTestQemuCleanup } from '../helpers/qemu.js';
import { waitFor, within } from '../helpers/wait.js';

useTestQemuCleanup();

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
let dirs: string[] = [];
let strays: QemuHandle[] = [];
let strayPids: number[] = [];

afterEach(async () => {
  await Promise.all(strays.map((h) => h.stop()));
  for (const pid of strayPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
  strays = [];
  strayPids = [];
});

function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'pb-launch-'));
  dirs.push(d);
  return d;
}

/** True when `pid` no longer runs (gone, or a zombie nobody reaped yet). */
function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe('launchQemu', () => {
  it('resolves once QMP greets, and stop() quits QEMU over QMP and leaves no socket', async () => {
    const dir = tmp();
    const qmpSocket = path.join(dir, 'q.sock');
    const logFile = path.join(dir, 'qemu.log');
    const qemu = await launchQemu({ qmpSocket, name: 'web1.example.com', argv: ['-nodefaults'], logFile });
    strays.push(qemu);
    expect(qemu.greeting.version.major).toBe(7);
    expect(isGone(qemu.pid)).toBe(false);
    expect(qemu.commandLine).toEqual(expect.arrayContaining(['-S', '-machine', 'pc,accel=tcg', '-D', logFile]));
    expect(qemu.commandLine).not.toContain('-daemonize');
    // The launcher let go of the socket: a client is served at once.
    await withQmp(qmpSocket, { greetingTimeoutMs: 500 }, async (q) => {
      expect(await q.execute('query-name')).toEqual({ name: 'web1.example.com' });
    });
    const exit = await within(qemu.stop(), 10_000, 'QEMU to stop');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(qemu.exitStatus()).toEqual(exit);
    expect(isGone(qemu.pid)).toBe(true);
    expect(existsSync(qmpSocket)).toBe(false);
    await expect(qemu.stop()).resolves.toEqual(exit); // idempotent
  });

  it('rejects with QEMU\'s stderr when QEMU exits during start', async () => {
    const dir = tmp();
    const err = await launchQemu({ qmpSocket: path.join(dir, 'q.sock'), argv: ['-nodefaults', '-device', 'no-such-device'] }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(QemuLaunchError);
    expect((err as Error).message).toMatch(/^QEMU exited during start \(exit code 1\): .*'no-such-device' is not a valid device model name/);
    expect((err as QemuLaunchError).stderr).toContain('no-such-device');
    expect((err as Error).message).not.toContain('\n');
  });

  it('refuses a QMP socket path that already exists', async () => {
    const dir = tmp();
    const p = path.join(dir, 'q.sock');
    writeFileSync(p, '');
    await expect(launchQemu({ qmpSocket: p })).rejects.toThrow(/QMP socket path .*q\.sock already exists/);
  });

  it('starts a migration target with -incoming defer', async () => {
    const { qmpSocket } = await startTestQemu({ argv: ['-incoming', 'defer'] });
    const status = await withQmp(qmpSocket, {}, (q) => q.execute('query-status'));
    expect(status).toMatchObject({ status: 'inmigrate' });
  });

  it('stop() falls back to signals when the QMP socket is busy', async () => {
    const { qemu, qmpSocket } = await startTestQemu();
    const holder = await QmpClient.connect(qmpSocket);
    try {
      const exit = await within(qemu.stop({ quitTimeoutMs: 200 }), 15_000, 'QEMU to stop by signal');
      expect(isGone(qemu.pid)).toBe(true);
      // QEMU handles SIGTERM and exits by itself ("terminating on signal 15").
      expect(exit.code === 0 || exit.signal !== null).toBe(true);
      expect(qemu.stderrTail()).toContain('terminating on signal 15');
    } finally {
      await holder.close();
    }
  });

  it('kills a QEMU that does not greet within startTimeoutMs', async () => {
    const dir = tmp();
    const fake = path.join(dir, 'slow-qemu');
    writeFileSync(fake, '#!/bin/sh\necho "$$" > "$(dirname "$0")/pid"\nexec sleep 60\n');
    chmodSync(fake, 0o755);
    const started = Date.now();
    const err = await launchQemu({ qmpSocket: path.join(dir, 'q.sock'), binary: fake, startTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QemuLaunchError);
    expect((err as Error).message).toContain('did not greet on');
    expect((err as Error).message).toContain('within 300 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
    const pid = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
    strayPids.push(pid);
    await waitFor(() => isGone(pid), { what: `the slow fake QEMU (pid ${pid}) to be killed` });
  });

  it('an abort during start kills QEMU and rejects with QmpAbortedError', async () => {
    const dir = tmp();
    const fake = path.join(dir, 'slow-qemu');
    writeFileSync(fake, '#!/bin/sh\necho "$$" > "$(dirname "$0")/pid"\nexec sleep 60\n');
    chmodSync(fake, 0o755);
    const ac = new AbortController();
    const launching = launchQemu({ qmpSocket: path.join(dir, 'q.sock'), binary: fake, signal: ac.signal }).catch((e: unknown) => e);
    const pidFile = path.join(dir, 'pid');
    const pid = await waitFor(() => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0), {
      what: 'the fake QEMU to start',
    });
    strayPids.push(pid);
    ac.abort();
    expect(await within(launching, 5_000, 'the launch to be cancelled')).toBeInstanceOf(QmpAbortedError);
    await waitFor(() => isGone(pid), { what: `the fake QEMU (pid ${pid}) to be killed` });
  });
});

describe('no QEMU outlives the Node process that launched it', () => {
  /** Transpiles the launcher and what it imports to JS in a temp dir, for a plain `node` child. */
  function buildLauncher(): string {
    const out = tmp();
    writeFileSync(path.join(out, 'package.json'), '{"type": "module"}');
    // The launcher and every module it reaches by relative imports.
    const todo = ['src/qemu/launch.ts'];
    const seen = new Set<string>();
    for (let rel = todo.pop(); rel !== undefined; rel = todo.pop()) {
      if (seen.has(rel)) continue;
      seen.add(rel);
      const source = readFileSync(path.join(repoRoot, rel), 'utf8');
      for (const m of source.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) todo.push(path.posix.join(path.posix.dirname(rel), `${m[1]}.ts`));
      const js = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      }).outputText;
      const dest = path.join(out, rel.replace(/\.ts$/, '.js'));
      mkdirSync(path.dirname(dest), { recursive: true });
      writeFileSync(dest, js);
    }
    writeFileSync(
      path.join(out, 'child.mjs'),
      `import { launchQemu } from './src/qemu/launch.js';
const [qmpSocket, killWithParent, mode] = process.argv.slice(2);
const h = await launchQemu({ qmpSocket, killWithParent: killWithParent === 'yes', argv: ['-nodefaults'] });
console.log(JSON.stringify({ pid: h.pid }));
if (mode === 'exit') process.exit(0);
setInterval(() => {}, 1000);
`,
    );
    return out;
  }

  async function runChild(mode: 'exit' | 'hang', killWithParent: boolean): Promise<{ childPid: number; qemuPid: number; exited: Promise<unknown> }> {
    requireQemu();
    const out = buildLauncher();
    const child = spawn(process.execPath, [path.join(out, 'child.mjs'), path.join(out, 'q.sock'), killWithParent ? 'yes' : 'no', mode], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    strayPids.push(child.pid!);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const line = await within(
      new Promise<string>((resolve) => child.stdout!.once('data', (b: Buffer) => resolve(b.toString()))),
      20_000,
      'the child to launch QEMU',
    );
    const qemuPid = (JSON.parse(line) as { pid: number }).pid;
    strayPids.push(qemuPid);
    return { childPid: child.pid!, qemuPid, exited };
  }

  it('kills QEMU from the exit hook when the launching process exits', async () => {
    const { qemuPid, exited } = await runChild('exit', false);
    await within(exited, 10_000, 'the child to exit');
    await waitFor(() => isGone(qemuPid), { what: `QEMU pid ${qemuPid} to die with its parent` });
  });

  it('kills QEMU (pdeathsig) when the launching process is SIGKILLed', async () => {
    const { childPid, qemuPid, exited } = await runChild('hang', true);
    expect(isGone(qemuPid)).toBe(false);
    process.kill(childPid, 'SIGKILL');
    await within(exited, 10_000, 'the child to die');
    await waitFor(() => isGone(qemuPid), { what: `QEMU pid ${qemuPid} to die with its SIGKILLed parent` });
  });
});
