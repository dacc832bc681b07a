/**
 * For the file-descriptor passing tests: QEMUs confined as Ganeti confines them (`-runas nobody`,
 * `-chroot` into an empty directory), disks the QEMU user cannot open (a loop device root:disk
 * 0660 on an image in a 0700 directory, a 0600 image), QEMU's descriptors as /proc shows them, and
 * a small step runner that undoes in reverse on failure as the executor does.
 *
 * Everything machine-global made here has a unique name (`pbfd-` + random) and is removed after
 * each test and at process exit: loop devices (detached), users (userdel), temp directories.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { QmpClient } from '../../src/qmp/client.js';
import { QmpCommandError } from '../../src/qmp/errors.js';
import { FdHelper } from '../../src/qmp/fdpass/helper.js';
import { fdAlreadyGone, runFdStep } from '../../src/qmp/fdpass/run.js';
import { diskFdSteps, parseFdsets, type FdPlanStep, type FdsetInfo } from '../../src/qmp/fdpass/plan.js';
import { checkDiskPath } from '../../src/qmp/fdpass/inspect.js';
import { startTestQemu, type TestQemu, type StartTestQemuOptions } from './qemu.js';
import { waitFor } from './wait.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const loops = new Set<string>();
const users = new Set<string>();
const dirs = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const l of loops) spawnSync('losetup', ['-d', l], { timeout: 5_000 });
    for (const u of users) spawnSync('userdel', ['-f', u], { timeout: 5_000 });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000, env: { ...process.env, PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` } });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** A private directory (0700 root) for images: nobody cannot even look inside. */
export function privateDir(): string {
  hookExit();
  const d = mkdtempSync(path.join(os.tmpdir(), 'pbfd-'));
  chmodSync(d, 0o700);
  dirs.add(d);
  return d;
}

/** A raw image of `mib` MiB, mode 0600 root, in a private directory. */
export function privateImage(mib: number, dir = privateDir()): string {
  const file = path.join(dir, `img-${randomBytes(3).toString('hex')}.raw`);
  writeFileSync(file, '');
  spawnSync('truncate', ['-s', `${mib}M`, file]);
  chmodSync(file, 0o600);
  return file;
}

/** A loop device on a private image of `mib` MiB, root:disk 0660 (the QEMU user is not in group disk). */
export function loopDevice(mib: number): { device: string; image: string } {
  const image = privateImage(mib);
  const device = run('losetup', ['--find', '--show', image]);
  loops.add(device);
  chownSync(device, 0, 6);
  chmodSync(device, 0o660);
  return { device, image };
}

export function detachLoops(): void {
  for (const l of [...loops]) {
    spawnSync('losetup', ['-d', l], { timeout: 5_000 });
    loops.delete(l);
  }
}

/** A system user `pbfd-XXXXXX` without home or shell, removed by the cleanup. */
export function tempUser(): string {
  hookExit();
  const name = `pbfd-${randomBytes(3).toString('hex')}`;
  run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  users.add(name);
  return name;
}

export function removeUser(name: string): void {
  run('userdel', ['-f', name]);
  users.delete(name);
}

export function removeTempDirs(): void {
  for (const u of [...users]) {
    spawnSync('userdel', ['-f', u], { timeout: 5_000 });
    users.delete(u);
  }
  for (const d of [...dirs]) {
    rmSync(d, { recursive: true, force: true });
    dirs.delete(d);
  }
}

/** afterEach/afterAll: loop devices detached, users and directories removed. */
export function useFdpassCleanup(): void {
  const clean = () => {
    detachLoops();
    removeTempDirs();
  };
  afterEach(clean);
  afterAll(clean);
}

export type Confinement = 'runas' | 'chroot';

/** The scsi-hd cases of the descriptor tests: each controller with each backend, on a loop device and on an image. */
export const SCSI_CASES: readonly { controller: 'virtio-scsi-pci' | 'lsi'; backend: 'drive' | 'blockdev'; disk: 'loop' | 'image' }[] = [
  { controller: 'virtio-scsi-pci', backend: 'drive', disk: 'loop' },
  { controller: 'virtio-scsi-pci', backend: 'blockdev', disk: 'image' },
  { controller: 'lsi', backend: 'drive', disk: 'image' },
  { controller: 'lsi', backend: 'blockdev', disk: 'loop' },
];

/**
 * A running (not paused: QEMU 7.2 closes descriptors given back with `remove-fd` only while the
 * guest runs) QEMU, confined as Ganeti does it: `-runas nobody`, or `-chroot` into an empty
 * directory (as root). Without a guest, the CPU sits in SeaBIOS ("no bootable device").
 */
export async function startConfinedQemu(
  confine: Confinement,
  options: StartTestQemuOptions = {},
  user = 'nobody',
): Promise<TestQemu & { chroot?: string }> {
  const args = [...(options.argv ?? [])];
  let chroot: string | undefined;
  if (confine === 'runas') args.push('-runas', user);
  else {
    chroot = privateDir();
    chmodSync(chroot, 0o755);
    args.push('-chroot', chroot);
  }
  const q = await startTestQemu({ paused: false, ...options, argv: args });
  return chroot ? { ...q, chroot } : q;
}

/** QEMU's open descriptors: fd number → what it points to (`/dev/loop3`, `/dev/net/tun`, `socket:[…]`). */
export function qemuFds(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const n of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(n), readlinkSync(`/proc/${pid}/fd/${n}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** How many of QEMU's descriptors point at `target`. */
export function fdsOn(pid: number, target: string): number {
  return [...qemuFds(pid).values()].filter((t) => t === target).length;
}

/**
 * The descriptors QEMU has now that it did not have in `before` (by fd number and target). QEMU's
 * own event descriptors (`anon_inode:[eventfd]`…) are left out: a running QEMU makes them by itself
 * (SeaBIOS brings the virtio-scsi queues up while a test runs: their ioeventfds), and plugboard
 * never passes one — what it passes is a file, a block device, `/dev/net/tun` or `/dev/vhost-net`.
 */
export function newFds(pid: number, before: Map<number, string>): string[] {
  return [...qemuFds(pid)].filter(([n, t]) => before.get(n) !== t && !t.startsWith('anon_inode:')).map(([n, t]) => `${n} → ${t}`);
}

export async function fdsets(qmp: QmpClient): Promise<FdsetInfo[]> {
  return parseFdsets(await qmp.execute('query-fdsets'));
}

/** Undo in reverse as the executor does: "not found"/"already gone" answers count as done. */
export async function undoSteps(qmp: QmpClient, helper: FdHelper, done: FdPlanStep[]): Promise<string[]> {
  const log: string[] = [];
  for (const step of [...done].reverse()) {
    for (const u of step.undo ?? []) {
      try {
        await runFdStep(qmp, helper, { command: u });
        log.push(`${'execute' in u ? u.execute : u.host} ok`);
      } catch (err) {
        if (fdAlreadyGone(u, err) || (err instanceof QmpCommandError && /not found|DeviceNotFound|Failed to find node/i.test(`${err.desc} ${err.errorClass}`))) {
          log.push(`${'execute' in u ? u.execute : u.host} already gone`);
          continue;
        }
        throw err;
      }
    }
  }
  return log;
}

/**
 * Runs `steps` in order over `qmp` and `helper`; on the first failure undoes what was done (over
 * `undoOn()` when given: a fresh connection after this one broke) and rethrows.
 */
export async function runSteps(
  qmp: QmpClient,
  helper: FdHelper,
  steps: FdPlanStep[],
  opts: { undoOn?: () => Promise<{ qmp: QmpClient; helper: FdHelper }> } = {},
): Promise<{ results: unknown[] }> {
  const done: FdPlanStep[] = [];
  const results: unknown[] = [];
  for (const step of steps) {
    try {
      results.push(await runFdStep(qmp, helper, step));
      done.push(step);
    } catch (err) {
      if (step.check?.kind === 'gone-ok' && fdAlreadyGone(step.command, err)) continue;
      // A descriptor command whose answer never came may have been carried out: undo it too.
      if (!(err instanceof QmpCommandError) && step.passFd) done.push(step);
      const target = opts.undoOn ? await opts.undoOn() : { qmp, helper };
      const undone = await undoSteps(target.qmp, target.helper, done);
      throw Object.assign(err as Error, { undone });
    }
  }
  return { results };
}

/** Connects to a test QEMU's QMP socket. */
export function connect(q: TestQemu): Promise<QmpClient> {
  return QmpClient.connect(q.qmpSocket, { greetingTimeoutMs: 5_000, commandTimeoutMs: 10_000 });
}

/** mkdir -p with a mode. */
export function ensureDir(p: string, mode = 0o755): string {
  mkdirSync(p, { recursive: true, mode });
  return p;
}

/**
 * The steps phase 2's planner will emit for a disk hot-add over a passed descriptor (Ganeti 3.0
 * options for `drive_add`), then `device_add {...device, id, drive: id}` with its undo.
 */
export function diskHotAddSteps(
  id: string,
  file: string,
  fdset: number,
  backend: 'drive' | 'blockdev',
  device: Record<string, unknown>,
): FdPlanStep[] {
  const c = checkDiskPath(file, 'scsi-hd');
  return [
    ...diskFdSteps({
      id,
      fdset,
      backend,
      open: { typed: c.typed, path: c.path, kind: c.kind, direct: false, dev: c.dev, ino: c.ino },
      driveOptions: `,if=none,id=${id},format=raw,auto-read-only=off,aio=threads`,
    }),
    { purpose: `add ${String(device['driver'])} ${id}`, command: { execute: 'device_add', arguments: { ...device, id, drive: id } }, undo: [{ execute: 'device_del', arguments: { id } }] },
  ];
}

/** The descriptor helpers (`python3 -I -S -c <plugboard's helper>`) that are children of this process. */
export function descriptorHelperPids(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes("# plugboard's descriptor helper")) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** QEMU's descriptors that are not its own event descriptors (what plugboard could leave there). */
export function countedFds(pid: number): number {
  return [...qemuFds(pid).values()].filter((t) => !t.startsWith('anon_inode:')).length;
}

/** One line of the descriptor counts: QEMU before and after a case, what is new, its fdsets, helpers alive. */
export interface FdCount {
  case: string;
  before: number;
  after: number;
  leaked: string[];
  fdsets: FdsetInfo[];
  helpers: number;
}

/**
 * The descriptor counts of a test file: after each hot-add, unplug or rollback, `settle` waits
 * (bounded) until QEMU holds nothing new (QEMU closes a client's socket and a drive's descriptor
 * a moment after), then records QEMU's descriptors (`/proc/PID/fd`, its own eventfds left out),
 * `query-fdsets` over a new connection (which also proves the QMP socket is free) and the
 * descriptor helpers still alive. `report()` prints one line per case and appends them to
 * `.cache/fdpass-counts.jsonl`.
 */
export class FdLedger {
  readonly rows: FdCount[] = [];
  constructor(readonly suite: string) {}

  async settle(name: string, pid: number, before: Map<number, string>, qmpSocket: string): Promise<FdCount> {
    await waitFor(() => newFds(pid, before).length === 0 && descriptorHelperPids().length === 0, { timeoutMs: 5_000, what: `QEMU to hold nothing new (${name})` }).catch(() => undefined);
    const fresh = await QmpClient.connect(qmpSocket, { greetingTimeoutMs: 5_000 });
    let sets: FdsetInfo[];
    try {
      sets = await fdsets(fresh);
    } finally {
      await fresh.close();
    }
    await waitFor(() => newFds(pid, before).length === 0, { timeoutMs: 5_000, what: `QEMU to close the check's connection (${name})` }).catch(() => undefined);
    const row: FdCount = {
      case: name,
      before: [...before.values()].filter((t) => !t.startsWith('anon_inode:')).length,
      after: countedFds(pid),
      leaked: newFds(pid, before),
      fdsets: sets,
      helpers: descriptorHelperPids().length,
    };
    this.rows.push(row);
    return row;
  }

  report(): void {
    for (const r of this.rows) {
      console.log(
        `fd counts: ${this.suite}: ${r.case}: QEMU descriptors ${r.before} before, ${r.after} after, leaked ${r.leaked.length}${r.leaked.length ? ` (${r.leaked.join(', ')})` : ''}; fdsets ${r.fdsets.length}; helpers alive ${r.helpers}`,
      );
    }
    try {
      mkdirSync(path.join(REPO, '.cache'), { recursive: true });
      appendFileSync(path.join(REPO, '.cache', 'fdpass-counts.jsonl'), this.rows.map((r) => `${JSON.stringify({ suite: this.suite, ...r, at: new Date().toISOString() })}\n`).join(''));
    } catch {
      // informative only
    }
  }
}
