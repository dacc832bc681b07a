/**
 * End to end, in a real terminal (tmux, on its own server socket `pb-term-PID`), the shipped
 * program (`node bin/plugboard.js`, the bundle that renders through components/ink-fast):
 *
 * - against a hostile QMP peer (test/hostile/terminal.ts: device ids, drivers, file names with the
 *   title sequence OSC 0, the clipboard sequence OSC 52, screen clearing, bidi overrides), on the
 *   instance list, the map, the device's detail and the QMP log: the pane's title and tmux's paste
 *   buffers (OSC 52 with `set-clipboard on`) are untouched, and the screen shows the escaped form. A
 *   control run first shows that the same tmux does take a title and a buffer from a program that
 *   writes those sequences, so the check can fail;
 * - resizing the window (resize-window) on the instance screen and in the wizard: each new frame
 *   has the screen's title on the first line, its key line last, no line wider than the window and
 *   nothing left over from the frame before;
 * - NO_COLOR and TERM=dumb: no colour (SGR) in the pane, where the same screen has colour without
 *   them; TERM=dumb keeps the program out of the alternate screen.
 *
 * Every wait is for the screen (or a tmux state) with a deadline. $CI, FORCE_COLOR and NO_COLOR are
 * removed from the program's environment (each case sets what it tests).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import stringWidth from 'string-width';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIfStale, REPO } from '../helpers/bundle.js';
import { waitFor } from '../helpers/wait.js';
import { startHostilePeer, type HostilePeer } from '../hostile/terminal.js';

const SOCKET = `pb-term-${process.pid}`;
const EXIT_FILE = path.join(os.tmpdir(), `pb-term-${process.pid}.exit`);
let peer: HostilePeer;
let serverUp = false;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8', timeout: 10_000 });
}

function screen(target: string, opts: { escapes?: boolean } = {}): string {
  return tmux('capture-pane', '-p', ...(opts.escapes ? ['-e'] : []), '-t', target);
}

async function see(target: string, expected: string | RegExp | ((s: string) => boolean), timeoutMs = 30_000): Promise<string> {
  const ok = (s: string) => (typeof expected === 'string' ? s.includes(expected) : expected instanceof RegExp ? expected.test(s) : expected(s));
  try {
    return await waitFor(
      () => {
        const s = screen(target);
        return ok(s) ? s : undefined;
      },
      { timeoutMs, intervalMs: 50, what: String(expected) },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; the screen was:\n${screen(target)}`, { cause: error });
  }
}

async function key(target: string, k: string, expected: string | RegExp | ((s: string) => boolean), timeoutMs?: number): Promise<string> {
  tmux('send-keys', '-t', target, k);
  return see(target, expected, timeoutMs);
}

/** The program's environment: the test's, without what changes how it draws, plus `extra`. */
function programEnv(extra: Record<string, string>): string[] {
  const drop = new Set(['CI', 'CONTINUOUS_INTEGRATION', 'FORCE_COLOR', 'NO_COLOR', 'TERM']);
  return [...Object.entries(process.env).filter(([k]) => !drop.has(k)).map(([k, v]) => `${k}=${v ?? ''}`), ...Object.entries(extra).map(([k, v]) => `${k}=${v}`)];
}

/** A new session running plugboard on the hostile peer's root; its exit status goes to EXIT_FILE.<session>. */
function startPlugboard(session: string, size: { columns: number; rows: number }, env: Record<string, string> = {}): void {
  const run = `"${process.execPath}" bin/plugboard.js --root '${peer.root}'; echo $? > '${EXIT_FILE}.${session}'`;
  tmux('new-session', '-d', '-s', session, '-x', String(size.columns), '-y', String(size.rows), '-c', REPO, 'env', '-i', ...programEnv({ TERM: 'screen', ...env }), '/bin/sh', '-c', run);
  tmux('set-option', '-t', session, 'remain-on-exit', 'on');
}

async function quit(session: string): Promise<void> {
  tmux('send-keys', '-t', session, 'q');
  const file = `${EXIT_FILE}.${session}`;
  await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').trim() !== '', { timeoutMs: 20_000, what: `plugboard in ${session} to exit` });
  expect(readFileSync(file, 'utf8').trim()).toBe('0');
}

beforeAll(async () => {
  await buildIfStale();
  peer = await startHostilePeer({ prefix: 'pb-term-e2e-' });
  // A server of our own; `set-clipboard on`: OSC 52 from a program sets a paste buffer.
  tmux('-f', '/dev/null', 'new-session', '-d', '-s', 'control', '-x', '100', '-y', '30', '/bin/sh');
  serverUp = true;
  tmux('set-option', '-s', 'escape-time', '0');
  tmux('set-option', '-s', 'set-clipboard', 'on');
}, 300_000);

afterAll(async () => {
  if (serverUp) {
    try {
      tmux('kill-server');
    } catch {
      // already gone
    }
  }
  rmSync(path.join(process.env['TMUX_TMPDIR'] || '/tmp', `tmux-${process.getuid?.() ?? 0}`, SOCKET), { force: true });
  for (const s of ['hostile', 'colour', 'nocolour', 'dumb']) rmSync(`${EXIT_FILE}.${s}`, { force: true });
  await peer?.stop();
});

const title = (target: string) => tmux('display-message', '-p', '-t', target, '#{pane_title}').trim();
const buffers = () => tmux('list-buffers', '-F', '#{buffer_name}: #{buffer_sample}').trim();

describe('plugboard in a terminal', () => {
  it('control: this tmux does take a title and a paste buffer from a program that writes OSC 0 and OSC 52', async () => {
    tmux('send-keys', '-t', 'control', "printf '\\033]0;PB-CONTROL-TITLE\\007\\033]52;c;cGItY29udHJvbA==\\007'", 'Enter');
    await waitFor(() => title('control') === 'PB-CONTROL-TITLE', { timeoutMs: 10_000, what: 'the control title' });
    await waitFor(() => buffers().includes('pb-control'), { timeoutMs: 10_000, what: 'the control paste buffer' });
    for (const line of buffers().split('\n').filter(Boolean)) tmux('delete-buffer', '-b', line.split(':')[0]!);
    expect(buffers()).toBe('');
  });

  it('a hostile QMP peer sets neither the title nor the clipboard; the screen shows the escaped form; resizing redraws cleanly', async () => {
    startPlugboard('hostile', { columns: 120, rows: 40 });
    tmux('select-pane', '-t', 'hostile', '-T', 'pb-safe-title');
    await see('hostile', /> fk1 +running/);
    await key('hostile', 'Enter', /fk1 · live: QEMU answered/);
    await see('hostile', /evil\\x1b\]0;PB-PWNED-TITLE\\x07/);
    // To the device QEMU invented (slot 0x10): from the disk on 0x0c, a row down and four left.
    for (const k of ['j', 'h', 'h', 'h']) tmux('send-keys', '-t', 'hostile', k);
    await key('hostile', 'h', /pci\.0 slot 0x10: /);
    const s = await key('hostile', 'Enter', /device +evil/);
    expect(s).toContain('evil\\x1b]0;PB-PWNED-TITLE\\x07\\x1b[2J\\x1b[H\\x9b2J\\u202e\\u2066x');
    expect(s).toContain('virtio-blk-pci\\x1b]52;c;cGItcHduZWQ=\\x07');
    await key('hostile', 'Escape', /fk1 · live: QEMU answered/);
    await key('hostile', 'L', /QMP log · \d+ messages/);
    await key('hostile', 'w', /\\x9b2J/);
    expect(title('hostile')).toBe('pb-safe-title');
    expect(buffers()).toBe('');

    // Resizing the instance screen, smaller and bigger: a clean frame of the new size each time.
    await key('hostile', 'Escape', /fk1 · live: QEMU answered/);
    for (const size of [
      { columns: 70, rows: 20 },
      { columns: 160, rows: 50 },
      { columns: 60, rows: 16 },
      { columns: 100, rows: 30 },
    ]) {
      tmux('resize-window', '-t', 'hostile', '-x', String(size.columns), '-y', String(size.rows));
      await see('hostile', (sc) => cleanFrame(sc, size, /^fk1 · /, /^Tab pane · /) === null, 15_000).catch((error: Error) => {
        throw new Error(`${error.message}\nwhy: ${cleanFrame(screen('hostile'), size, /^fk1 · /, /^Tab pane · /)}`);
      });
    }

    // And the wizard.
    await key('hostile', 'a', 'What do you want to hot-add to fk1?');
    for (const size of [
      { columns: 60, rows: 16 },
      { columns: 140, rows: 45 },
      { columns: 80, rows: 24 },
    ]) {
      tmux('resize-window', '-t', 'hostile', '-x', String(size.columns), '-y', String(size.rows));
      await see('hostile', (sc) => cleanFrame(sc, size, /^Hot-add to fk1/, /^↑↓(\/kj)? choose · /, { once: /What do you want/ }) === null, 15_000).catch((error: Error) => {
        throw new Error(`${error.message}\nwhy: ${cleanFrame(screen('hostile'), size, /^Hot-add to fk1/, /^↑↓(\/kj)? choose · /, { once: /What do you want/ })}`);
      });
    }
    await key('hostile', 'Escape', /fk1 · live: QEMU answered/);
    expect(title('hostile')).toBe('pb-safe-title');
    expect(buffers()).toBe('');
    await quit('hostile');
  }, 180_000);

  it('NO_COLOR and TERM=dumb: no colour, where the same screen has colour without them; TERM=dumb stays out of the alternate screen', async () => {
    const sgr = /\u001b\[[0-9;]*[1-9][0-9;]*m/;
    startPlugboard('colour', { columns: 120, rows: 30 });
    startPlugboard('nocolour', { columns: 120, rows: 30 }, { NO_COLOR: '1' });
    startPlugboard('dumb', { columns: 120, rows: 30 }, { TERM: 'dumb' });
    for (const s of ['colour', 'nocolour', 'dumb']) await see(s, /> fk1 +running/);
    expect(screen('colour', { escapes: true })).toMatch(sgr);
    expect(screen('nocolour', { escapes: true })).not.toMatch(sgr);
    expect(screen('dumb', { escapes: true })).not.toMatch(sgr);
    const alternate = (s: string) => tmux('display-message', '-p', '-t', s, '#{alternate_on}').trim();
    expect(alternate('colour')).toBe('1');
    expect(alternate('dumb')).toBe('0');
    // The map without colour still says what is selected, where the next hot-add goes, what drifts.
    const map = await key('nocolour', 'Enter', /fk1 · live: QEMU answered/);
    expect(map).toMatch(/\[D0[^\]]*\]/);
    expect(map).toMatch(/▸ pci\.0/);
    expect(map).toMatch(/ \+ /);
    expect(screen('nocolour', { escapes: true })).not.toMatch(sgr);
    for (const s of ['colour', 'nocolour', 'dumb']) await quit(s);
  }, 120_000);
});

/**
 * Why a captured screen is not a clean frame of `size` (null when it is): the title on the first
 * line, the key line as the last line of the frame (rows - 1 lines: ink's frame is one line less
 * than the terminal), the line below it empty, no line wider than the window, the key line and
 * `once` only once (a second one would be left from the frame before).
 */
function cleanFrame(captured: string, size: { columns: number; rows: number }, titleRe: RegExp, keysRe: RegExp, opts: { once?: RegExp } = {}): string | null {
  const lines = captured.replace(/\n$/, '').split('\n');
  if (lines.length !== size.rows) return `${lines.length} lines captured, not ${size.rows} (the window has not been resized yet?)`;
  if (!titleRe.test(lines[0] ?? '')) return `the first line is ${JSON.stringify(lines[0])}`;
  const wide = lines.findIndex((l) => stringWidth(l) > size.columns);
  if (wide >= 0) return `line ${wide + 1} is wider than ${size.columns}: ${JSON.stringify(lines[wide])}`;
  const keyLines = lines.map((l, i) => (keysRe.test(l) ? i : -1)).filter((i) => i >= 0);
  if (keysRe.source.startsWith('^Tab') && keyLines.join() !== String(size.rows - 2)) return `the key line is on lines ${keyLines.map((i) => i + 1).join(', ') || 'none'}, not ${size.rows - 1}`;
  if (keyLines.length !== 1) return `the key line is on lines ${keyLines.map((i) => i + 1).join(', ') || 'none'}`;
  if ((lines[size.rows - 1] ?? '').trim() !== '') return `the last line is not empty: ${JSON.stringify(lines[size.rows - 1])}`;
  if (opts.once && lines.filter((l) => opts.once!.test(l)).length !== 1) return `${opts.once} is on ${lines.filter((l) => opts.once!.test(l)).length} lines`;
  return null;
}
