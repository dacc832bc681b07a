/**
 * The real thing: live migrations between two QEMU 7.2 processes on this machine (TCG, 64 MiB, no
 * guest OS: the source runs its firmware, the target stays paused), over a Unix socket, with the `return-path` capability on both sides (without it the
 * source may report `completed` for a migration the target refused).
 *
 * A sandbox instance gets a disk hot-added through plugboard (runAction: device_add + the runtime
 * file rewritten). A target started from the REWRITTEN runtime file receives the instance
 * (`completed`); a target started from the STALE file (saved before the hot-add) refuses it
 * (`failed`, and the target writes `Unknown savevm section or instance …` to its `-D` log when it
 * is daemonized as Ganeti runs it; to stderr otherwise). `plugboard check` predicts both outcomes
 * from the runtime file alone.
 *
 * Both QEMUs open the same disk images: the source holds QEMU's image locks; a QEMU started with
 * `-incoming` opens its images inactive and takes the locks only when the migration completes (after
 * the source released them), so no `file.locking=off` or `share-rw=on` is needed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { createRoot, createSandboxInstance, type SandboxInstanceSpec } from '../../src/demo/sandbox.js';
import { probeLive } from '../../src/live/probe.js';
import { instanceArgv, launchFromRuntime, launchInstance } from '../../src/qemu/instance.js';
import type { QemuHandle } from '../../src/qemu/launch.js';
import { checkMigration } from '../../src/usecases/check/run.js';
import { withQmp } from '../../src/qmp/client.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import { runtimeFilePath } from '../../src/runtime/root.js';
import { requireQemu } from '../helpers/qemu.js';
import { waitFor, within } from '../helpers/wait.js';

requireQemu();

let work: string;
let root: string;
const qemus: QemuHandle[] = [];
/** Daemonized QEMUs are not our children: killed by pid in afterEach. */
const daemons: number[] = [];

beforeEach(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'pb-migrate-'));
  root = path.join(work, 'source');
});
afterEach(async () => {
  for (const pid of daemons.splice(0)) {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await Promise.all(qemus.splice(0).map((q) => q.stop()));
  rmSync(work, { recursive: true, force: true });
});

async function startSource(spec: SandboxInstanceSpec): Promise<QemuHandle> {
  await createSandboxInstance(root, spec);
  const q = await launchInstance(root, spec.name, { startTimeoutMs: 20_000 });
  qemus.push(q);
  return q;
}

function rawImage(name: string): string {
  const p = path.join(work, name);
  writeFileSync(p, '');
  truncateSync(p, 1 << 20);
  return p;
}

/** The process exists and is not a zombie (a daemonized QEMU is reaped by init, not by us). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

let targets = 0;

interface Target {
  dir: string;
  qmpSocket: string;
  /** QEMU's `-D` log. */
  logFile: string;
  /** Resolves when the target QEMU is gone. */
  gone: () => Promise<void>;
  /** What it printed on stderr (only for a target that is our child). */
  stderr: () => string;
}

/**
 * A migration target on "another node": started from `runtimeText` the way Ganeti starts one, its
 * kvm_cmd paths (pid file, monitor socket) moved to its own root, as they are on the target node.
 * The disks are the same images. `daemonize`: as Ganeti runs it (`-daemonize`: QEMU then writes
 * its error messages to the `-D` log); otherwise our child (launchQemu: messages on stderr).
 */
async function startTarget(name: string, runtimeText: string, opts: { daemonize?: boolean } = {}): Promise<Target> {
  const dir = path.join(work, `target${++targets}`);
  await createRoot(dir);
  const doc = JSON.parse(runtimeText) as [unknown[], ...unknown[]];
  doc[0] = doc[0].map((a) => (typeof a === 'string' ? a.replaceAll(root, dir) : a));
  const rf = parseRuntimeText(JSON.stringify(doc), path.join(dir, 'conf', `${name}.runtime`), name);
  const qmpSocket = path.join(dir, 'qmp.sock');
  const logFile = path.join(dir, 'qemu.log');
  if (!opts.daemonize) {
    const qemu = await launchFromRuntime(rf, qmpSocket, { incoming: 'defer', logFile, startTimeoutMs: 20_000 });
    qemus.push(qemu);
    return { dir, qmpSocket, logFile, gone: async () => void (await within(qemu.exited, 10_000, 'the target to exit')), stderr: () => qemu.stderrTail() };
  }
  // -daemonize: the parent exits once QEMU is initialized (QMP socket listening); the pid file says who runs.
  const binary = String(rf.kvmCmd[0]);
  const args = ['-machine', 'pc,accel=tcg', '-S', '-qmp', `unix:${qmpSocket},server=on,wait=off`, '-D', logFile, '-daemonize', ...instanceArgv(rf, { incoming: 'defer' })];
  const parent = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  parent.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const code = await within(new Promise<number | null>((resolve) => parent.once('exit', (c) => resolve(c))), 20_000, 'the daemonizing QEMU to return');
  if (code !== 0) throw new Error(`daemonized target failed to start (exit ${code}): ${err}`);
  const pidFile = path.join(dir, 'pid', name);
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  daemons.push(pid);
  return {
    dir,
    qmpSocket,
    logFile,
    gone: async () => void (await waitFor(() => !alive(pid), { timeoutMs: 10_000, what: `the daemonized target (pid ${pid}) to exit` })),
    stderr: () => err,
  };
}

interface MigrationResult {
  status: 'completed' | 'failed';
  /** QEMU's `total-time` (completed) in ms. */
  totalTimeMs: number | undefined;
  errorDesc: string | undefined;
  wallMs: number;
}

const RETURN_PATH = [{ capability: 'return-path', state: true }];

/** Migrates `source` to `target` over a Unix socket and waits (with a deadline) for the outcome. */
async function migrate(source: QemuHandle, target: Target, timeoutMs = 15_000): Promise<MigrationResult> {
  const socket = path.join(target.dir, 'migrate.sock');
  const uri = `unix:${socket}`;
  await withQmp(target.qmpSocket, {}, async (t) => {
    await t.execute('migrate-set-capabilities', { capabilities: RETURN_PATH });
    await t.execute('migrate-incoming', { uri });
  });
  return withQmp(source.qmpSocket, {}, async (s) => {
    await s.execute('migrate-set-capabilities', { capabilities: RETURN_PATH });
    const t0 = performance.now();
    await s.execute('migrate', { uri });
    const final = await waitFor(
      async () => {
        const r = await s.execute<{ status?: string; 'total-time'?: number; 'error-desc'?: string }>('query-migrate');
        return r.status === 'completed' || r.status === 'failed' ? r : undefined;
      },
      { timeoutMs, intervalMs: 5, what: `the migration to ${socket} to complete or fail` },
    );
    return {
      status: final.status as 'completed' | 'failed',
      totalTimeMs: final['total-time'],
      errorDesc: final['error-desc'],
      wallMs: Math.round(performance.now() - t0),
    };
  });
}

const conf = (name: string) => runtimeFilePath(root, name);

describe.each([
  ['paravirtual: a virtio-blk-pci hot-added on pci.0', { name: 'mig-pv', diskType: 'paravirtual', disks: 1, nics: 1 }, 'pci.0 slot'],
  ['scsi-hd on lsi: a scsi-hd hot-added on scsi.0', { name: 'mig-lsi', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, nics: 1 }, 'scsi.0 target'],
] as [string, SandboxInstanceSpec, string][])('live migration after %s', (_label, spec) => {
  it('fails to a target started from the stale runtime file and completes to one started from the rewritten file; check predicts both', async () => {
    const name = spec.name;
    const source = await startSource(spec);
    const stale = readFileSync(conf(name), 'utf8');

    const outcome = await runAction({ type: 'hot-add-disk', instance: name, path: rawImage('hot.img') }, { root });
    expect(outcome.status).toBe('done');
    const added = outcome.plan.device.id;
    const rewritten = readFileSync(conf(name), 'utf8');
    expect(rewritten).toContain(added);
    expect(stale).not.toContain(added);
    // Ganeti migrates running instances (and QEMU 7.2 refuses a second `migrate` from a source that
    // was paused when a migration failed: "Can't migrate the vm that was paused due to previous
    // migration"). Without a guest OS the CPU idles in the firmware.
    await withQmp(source.qmpSocket, {}, (s) => s.execute('cont'));

    // The check, from the file alone: the stale file would not start the hot-added disk.
    writeFileSync(conf(name), stale);
    const staleCheck = await checkMigration(root, name);
    expect(staleCheck.layoutOk).toBe(false);
    expect(staleCheck.differences.map((d) => [d.code, d.what])).toEqual([['missing-from-target', added]]);
    writeFileSync(conf(name), rewritten);
    const goodCheck = await checkMigration(root, name);
    expect(goodCheck.differences).toEqual([]);
    expect(goodCheck.ok).toBe(true);

    // Stale target, started as Ganeti starts it (-daemonize, -D): QEMU refuses the device state of
    // the hot-added disk, says so in its -D log, and exits.
    const bad = await startTarget(name, stale, { daemonize: true });
    const failed = await migrate(source, bad);
    expect(failed.status).toBe('failed');
    await bad.gone();
    const log = readFileSync(bad.logFile, 'utf8');
    expect(log).toContain('Unknown savevm section or instance');
    expect(log).toContain('Make sure that your current VM setup matches your saved VM setup, including any hotplugged devices');
    expect(log).toContain(spec.diskType === 'paravirtual' ? '/virtio-blk' : '/scsi-disk');
    // The source survives a failed migration and keeps running.
    await withQmp(source.qmpSocket, {}, async (s) => {
      expect(await s.execute('query-status')).toMatchObject({ status: 'running', running: true });
    });

    // Rewritten target: the migration completes and the target has the disk where the source has it.
    const good = await startTarget(name, rewritten);
    const completed = await migrate(source, good);
    expect(completed).toMatchObject({ status: 'completed', errorDesc: undefined });
    const [src, dst] = await Promise.all([
      withQmp(source.qmpSocket, {}, (q) => probeLive(q)),
      withQmp(good.qmpSocket, {}, (q) => probeLive(q)),
    ]);
    const where = (s: typeof src) => ({
      pci: s.pci.find((f) => f.qdevId === added)?.slot,
      scsi: s.scsi.find((d) => d.id === added)?.scsiId,
    });
    expect(where(dst)).toEqual(where(src));
    expect(where(dst).pci ?? where(dst).scsi).toBeDefined();
    await withQmp(good.qmpSocket, {}, async (q) => {
      // Received, paused (the target was started with -S), not waiting for a migration any more.
      expect(await q.execute('query-status')).toMatchObject({ running: false });
      expect(await q.execute('query-migrate')).toMatchObject({ status: 'completed' });
    });
    expect(good.stderr()).toBe('');
  });

  it('a non-daemonized target (plugboard\'s own launcher) reports the refusal on stderr, not in its -D log', async () => {
    const name = spec.name;
    const source = await startSource(spec);
    const stale = readFileSync(conf(name), 'utf8');
    expect((await runAction({ type: 'hot-add-disk', instance: name, path: rawImage('hot.img') }, { root })).status).toBe('done');
    const bad = await startTarget(name, stale);
    expect((await migrate(source, bad)).status).toBe('failed');
    await bad.gone();
    expect(bad.stderr()).toContain('Unknown savevm section or instance');
    expect(existsSync(bad.logFile) ? readFileSync(bad.logFile, 'utf8') : '').not.toContain('Unknown savevm section');
  });
});
