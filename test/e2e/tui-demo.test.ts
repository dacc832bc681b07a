/**
 * End to end: the real binary (`node bin/plugboard.js demo`, built first when dist/ is stale) in a
 * tmux pane of 120×40, driven with send-keys and read with capture-pane, against the demo's real
 * paused QEMUs. Open db1 (scsi-hd on lsi), hot-add a SCSI disk through the wizard, see it on the
 * map, check that the runtime file and QEMU agree (probed with the core), unplug it, quit, and
 * check that the demo stopped its QEMUs and removed its sandbox.
 *
 * Every wait is for content on the screen (or a state), with a deadline. The tmux server runs on
 * its own socket and is killed in afterAll, with any QEMU of this test's sandbox still running.
 * $CI is removed from the pane's environment: ink changes its output when it is set.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDrift } from '../../src/live/drift.js';
import { readPending } from '../../src/live/pending.js';
import { probeLive } from '../../src/live/probe.js';
import { withQmp } from '../../src/qmp/client.js';
import { loadRuntimeFile } from '../../src/runtime/load.js';
import { qmpSocketPath, runtimeFilePath } from '../../src/runtime/root.js';
import { buildIfStale } from '../helpers/bundle.js';
import { requireQemu } from '../helpers/qemu.js';
import { waitFor } from '../helpers/wait.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TMUX_SOCKET = `pb-e2e-${process.pid}`;
const SESSION = 'demo';
/** Where the shell in the pane writes the demo's exit status. */
const EXIT_FILE = path.join(os.tmpdir(), `pb-e2e-${process.pid}.exit`);
let sandbox: string | undefined;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', TMUX_SOCKET, ...args], { encoding: 'utf8', timeout: 10_000 });
}

function screen(): string {
  return tmux('capture-pane', '-p', '-t', SESSION);
}

/** The screen once it shows `expected`; fails with the screen at the deadline. */
async function see(expected: string | RegExp, timeoutMs = 30_000): Promise<string> {
  try {
    return await waitFor(
      () => {
        const s = screen();
        return (typeof expected === 'string' ? s.includes(expected) : expected.test(s)) ? s : undefined;
      },
      { timeoutMs, intervalMs: 50, what: String(expected) },
    );
  } catch (error) {
    const pane = tmux('list-panes', '-t', SESSION, '-F', 'dead=#{pane_dead} status=#{pane_dead_status}').trim();
    throw new Error(`${(error as Error).message}; pane ${pane}; the screen was:\n${screen()}`, { cause: error });
  }
}

/** Sends one key (tmux key name or a character) and waits for what it should show. */
async function key(k: string, expected: string | RegExp, timeoutMs?: number): Promise<string> {
  tmux('send-keys', '-t', SESSION, k);
  return see(expected, timeoutMs);
}

/** Pids of the processes whose command line holds the sandbox path (the demo's QEMUs). */
function sandboxProcesses(root: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(root) && cmd.includes('qemu-system')) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

async function probe(root: string, name: string) {
  const [rf, live, pending] = await Promise.all([
    loadRuntimeFile(runtimeFilePath(root, name), { instance: name }),
    // The view asks QEMU every 3 s over a short connection: wait for it to let go (one client per socket).
    withQmp(qmpSocketPath(root, name), { greetingTimeoutMs: 5_000 }, (q) => probeLive(q)),
    readPending(root, name),
  ]);
  return { rf, live, drift: computeDrift(rf, live, pending) };
}

beforeAll(async () => {
  requireQemu();
  await buildIfStale();
  const env = Object.entries(process.env)
    .filter(([k]) => k !== 'CI' && k !== 'CONTINUOUS_INTEGRATION')
    .map(([k, v]) => `${k}=${v ?? ''}`);
  // The exit status goes to a file: tmux does not always record a dead pane's status.
  const run = `"${process.execPath}" bin/plugboard.js demo --no-guest; echo $? > '${EXIT_FILE}'`;
  tmux('-f', '/dev/null', 'new-session', '-d', '-s', SESSION, '-x', '120', '-y', '40', '-c', repo, 'env', '-i', ...env, 'CI=false', '/bin/sh', '-c', run);
  tmux('set-option', '-t', SESSION, 'remain-on-exit', 'on');
  tmux('set-option', '-s', 'escape-time', '0');
}, 240_000);

afterAll(() => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
  rmSync(path.join(process.env['TMUX_TMPDIR'] || '/tmp', `tmux-${process.getuid?.() ?? 0}`, TMUX_SOCKET), { force: true });
  rmSync(EXIT_FILE, { force: true });
  if (sandbox) {
    for (const pid of sandboxProcesses(sandbox)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(sandbox, { recursive: true, force: true });
  }
});

describe('plugboard demo in a terminal', () => {
  it('hot-adds a SCSI disk through the wizard, shows it, agrees with QEMU, unplugs it, and cleans up on q', async () => {
    let s = await see(/6 instances · 5 running/, 90_000);
    sandbox = /demo sandbox (\/\S+?):/.exec(s)?.[1];
    expect(sandbox, `no sandbox path on the screen:\n${s}`).toBeTruthy();
    const root = sandbox!;
    expect(sandboxProcesses(root)).toHaveLength(5);

    // db1 is the first row: open it.
    await see('> db1');
    s = await key('Enter', /db1 · live: QEMU answered/);
    expect(s).toMatch(/scsi\.0.* lsi.* 0–7.* 2 used.* 6 free/);
    expect(s).toMatch(/t2 +\+ +next hot-added disk/);

    // The wizard: disk → scsi-hd (the instance's) → a spare image → preview → confirm.
    await key('a', 'What do you want to hot-add to db1?');
    await key('Enter', /❯ scsi-hd +\(instance default\) → scsi\.0 target 2/);
    s = await key('Enter', '✓ regular file, 64 MiB');
    const image = /> (\/\S+spare-\d\.img)/.exec(s)?.[1];
    expect(image).toBeTruthy();
    s = await key('Enter', 'address: scsi.0 target 2');
    expect(s).toMatch(/device_add \{"drive":"disk-[0-9a-f-]+","driver":"scsi-hd"/);
    await key('Enter', 'yes, hot-add it now');
    s = await key('y', /✓ hot-added (disk-[0-9a-f-]+) at scsi\.0 target 2/, 30_000);
    const id = /✓ hot-added (disk-[0-9a-f-]+)/.exec(s)![1]!;
    expect(s).toContain('QMP transcript of this action');

    // Back on the map: the new disk on target 2, the next target is 3.
    s = await key('Enter', new RegExp(`t2 +D2 +${id}`));
    expect(s).toMatch(/t3 +\+ +next hot-added disk/);

    // The runtime file and QEMU agree.
    const after = await probe(root, 'db1');
    expect(after.rf.disks[2]!.hvinfo).toMatchObject({ id, driver: 'scsi-hd', bus: 'scsi.0', 'scsi-id': 2 });
    expect(after.rf.disks[2]!.link).toBe(image);
    expect(after.live.scsi.find((d) => d.id === id)).toMatchObject({ scsiId: 2, bus: 'scsi.0' });
    expect(after.drift.ok).toBe(true);

    // Unplug it: select target 2, u, type yes.
    await key('Down', 'scsi.0 target 1: disk/1');
    await key('Down', `scsi.0 target 2: disk/2`);
    await key('u', 'Type yes and Enter to unplug disk');
    for (const c of ['y', 'e']) tmux('send-keys', '-t', SESSION, c);
    await key('s', /> yes/);
    await key('Enter', `✓ unplugged ${id}`, 30_000);
    await key('Enter', /t2 +\+ +next hot-added disk/);

    const gone = await probe(root, 'db1');
    expect(gone.rf.disks.map((d) => ('id' in d.hvinfo ? d.hvinfo.id : ''))).not.toContain(id);
    expect(gone.live.peripherals.map((p) => p.id)).not.toContain(id);
    expect(gone.drift.ok).toBe(true);

    // q: every QEMU stopped, the sandbox removed, exit status 0.
    tmux('send-keys', '-t', SESSION, 'q');
    const exitStatus = () => (existsSync(EXIT_FILE) ? readFileSync(EXIT_FILE, 'utf8').trim() : '');
    await waitFor(() => exitStatus() !== '', { timeoutMs: 30_000, what: 'plugboard demo to exit' }).catch((error: Error) => {
      throw new Error(`${error.message}; the screen was:\n${screen()}`);
    });
    expect(exitStatus(), screen()).toBe('0');
    expect(sandboxProcesses(root)).toEqual([]);
    expect(existsSync(root)).toBe(false);
  }, 240_000);
});
