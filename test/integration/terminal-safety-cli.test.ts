/**
 * No control sequence from outside reaches the terminal through the CLI. A hostile QMP peer (the
 * fake QEMU of test/hostile/terminal.ts on a real Unix socket) reports a device whose id, driver and
 * file name hold the title, clipboard and screen-clearing sequences (7- and 8-bit CSI), CR/BS/DEL
 * and bidi overrides, and refuses a hot-add with such an error text; the runtime file's bridge, a
 * host file name, the root and the arguments hold them too. For every output path — text on
 * stdout, messages on stderr (the error printer, commander's errors), JSON — nothing raw reaches the
 * output, the operator sees the escaped form and a note saying so, `--json` gives the exact values,
 * and what plugboard writes back (the QMP commands, the runtime file) has the exact value.
 *
 * In-process through main() (the CLI's io is the boundary), and once as a child process (the real
 * process.stdout / process.stderr). `check` starts a real QEMU for its migration dry-run.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { escapeForTerminal } from '../../src/text/terminal.js';
import { requireQemu } from '../helpers/qemu.js';
import { killCliChildren, runCli } from '../hostile/lib.js';
import { EVIL_DRIVER, EVIL_ERROR, EVIL_ID, RAW_CONTROL, SET_TITLE, startHostilePeer, type HostilePeer } from '../hostile/terminal.js';

let peer: HostilePeer | undefined;
afterEach(async () => {
  killCliChildren();
  await peer?.stop();
  peer = undefined;
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

/** Nothing a terminal would act on, in any of the output (line feeds aside). */
function expectClean(r: { stdout: string; stderr: string }, what: string): void {
  for (const [name, text] of [
    ['stdout', r.stdout],
    ['stderr', r.stderr],
  ] as const) {
    const bad = RAW_CONTROL.exec(text.replaceAll('\n', ''));
    expect(bad, `${what}: ${name} holds ${bad ? escapeForTerminal(bad[0]) : ''}:\n${escapeForTerminal(text, { keepNewlines: true })}`).toBeNull();
  }
}

const ESCAPED_ID = escapeForTerminal(EVIL_ID);
const NOTE = /^plugboard: note: \d+ characters? from outside plugboard .* shown escaped/m;

describe('CLI output with a hostile QMP peer', () => {
  it('show --live: the device QEMU invented is shown escaped on stdout, with a note on stderr', async () => {
    peer = await startHostilePeer();
    const r = await cli(['--root', peer.root, 'show', 'fk1', '--live']);
    expect(r.code).toBe(0);
    expectClean(r, 'show --live');
    expect(r.stdout).toContain(ESCAPED_ID);
    expect(r.stdout).toContain('evil\\x1b]0;PB-PWNED-TITLE\\x07\\x1b[2J\\x1b[H\\x9b2J\\u202e\\u2066x');
    expect(r.stdout).toContain(escapeForTerminal(EVIL_DRIVER));
    expect(r.stderr).toMatch(NOTE);
  });

  it('show --live --json: the exact values, and no raw character a terminal would act on', async () => {
    peer = await startHostilePeer();
    const r = await cli(['--root', peer.root, 'show', 'fk1', '--live', '--json']);
    expect(r.code).toBe(0);
    expectClean(r, 'show --live --json');
    const doc = JSON.parse(r.stdout) as { live: { peripherals: { id: string; driver: string }[] }; drift: { items: { id: string }[] } };
    expect(doc.live.peripherals.map((p) => p.id)).toContain(EVIL_ID);
    expect(doc.live.peripherals.find((p) => p.id === EVIL_ID)!.driver).toBe(EVIL_DRIVER);
    expect(doc.drift.items.map((i) => i.id)).toContain(EVIL_ID);
    // JSON's own escapes, not the text's: `\u001b`, `\u009b`.
    expect(r.stdout).toContain('\\u009b2J');
    expect(r.stderr).toBe('');
  });

  it('show and cmdline (no QEMU asked): the runtime file’s words are escaped, its JSON exact', async () => {
    peer = await startHostilePeer();
    const text = await cli(['--root', peer.root, 'cmdline', 'fk1']);
    const json = await cli(['--root', peer.root, 'show', 'fk1', '--json']);
    const list = await cli(['--root', peer.root, 'list']);
    for (const [what, r] of [
      ['cmdline', text],
      ['show --json', json],
      ['list', list],
    ] as const) {
      expect(r.code, what).toBe(0);
      expectClean(r, what);
    }
  });

  it('hotplug, refused by QEMU: its error text is escaped on stderr; the runtime file is untouched', async () => {
    peer = await startHostilePeer({ refuseDeviceAdd: true });
    const before = readFileSync(peer.runtimeFile, 'utf8');
    const r = await cli(['--root', peer.root, 'hotplug', 'disk', 'fk1', '--path', peer.evilImage]);
    expect(r.code).toBe(1);
    expectClean(r, 'hotplug refused');
    expect(r.stderr).toContain(escapeForTerminal(EVIL_ERROR));
    // The plan printed first names the host file, escaped.
    expect(r.stdout).toContain(escapeForTerminal(peer.evilImage));
    expect(r.stderr).toMatch(NOTE);
    expect(readFileSync(peer.runtimeFile, 'utf8')).toBe(before);
  });

  it('hotplug --dry-run --json: the plan’s exact path; hotplug: QEMU and the runtime file get the exact path', async () => {
    peer = await startHostilePeer();
    const dry = await cli(['--root', peer.root, 'hotplug', 'disk', 'fk1', '--path', peer.evilImage, '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expectClean(dry, 'hotplug --dry-run --json');
    const plan = JSON.parse(dry.stdout) as { qmp: { arguments: Record<string, unknown> }[] };
    expect(JSON.stringify(plan.qmp.map((q) => q.arguments))).toContain(JSON.stringify(peer.evilImage).slice(1, -1));

    const r = await cli(['--root', peer.root, 'hotplug', 'disk', 'fk1', '--path', peer.evilImage]);
    expect(r.code, r.stderr).toBe(0);
    expectClean(r, 'hotplug');
    expect(r.stdout).toMatch(/^done: hot-added/m);
    expect([...peer.qemu.drives.values()]).toContain(peer.evilImage);
    const doc = JSON.parse(readFileSync(peer.runtimeFile, 'utf8')) as unknown[][];
    expect((doc[3] as [unknown, string][]).map((d) => d[1])).toContain(peer.evilImage);
  });

  it('unplug of the invented device: the argument echoed back in the error is escaped', async () => {
    peer = await startHostilePeer();
    const r = await cli(['--root', peer.root, 'unplug', 'disk', 'fk1', EVIL_ID, '--timeout', '1']);
    expect(r.code).toBe(2);
    expectClean(r, 'unplug');
    expect(r.stderr).toContain(ESCAPED_ID);
  });

  it('arguments and the environment echoed back: an unknown command, a root that does not exist', async () => {
    const unknown = await cli([`list${SET_TITLE}`]);
    expect(unknown.code).toBe(2);
    expectClean(unknown, 'unknown command');
    expect(unknown.stderr).toContain('list\\x1b]0;PB-PWNED-TITLE\\x07');
    const root = await cli(['list'], {});
    expectClean(root, 'list');
    const badRoot = await cli(['--root', `/nonexistent/${SET_TITLE}`, 'list']);
    expect(badRoot.code).not.toBe(0);
    expectClean(badRoot, 'bad root');
    expect(badRoot.stderr).toContain('/nonexistent/\\x1b]0;PB-PWNED-TITLE\\x07');
  });

  it('check: drift and the migration dry-run name the device escaped (text), exactly (JSON)', async () => {
    requireQemu();
    peer = await startHostilePeer();
    const r = await cli(['--root', peer.root, 'check', 'fk1', '--timeout', '20']);
    expect(r.code).toBe(1);
    expectClean(r, 'check');
    expect(r.stdout).toContain(ESCAPED_ID);
    const j = await cli(['--root', peer.root, 'check', 'fk1', '--json', '--timeout', '20']);
    expectClean(j, 'check --json');
    expect(j.stdout).toContain(JSON.stringify(EVIL_ID).slice(1, -1).replace('\u009b', '\\u009b').replace('\u202e', '\\u202e').replace('\u2066', '\\u2066'));
  }, 60_000);

  it('as a process: the real stdout and stderr get the escaped text', async () => {
    peer = await startHostilePeer();
    const r = await runCli(peer.root, ['show', 'fk1', '--live']);
    expect(r.code).toBe(0);
    expectClean(r, 'plugboard show --live (process)');
    expect(r.stdout).toContain(ESCAPED_ID);
    expect(r.stderr).toMatch(NOTE);
  }, 240_000);
});
