/**
 * No control sequence from outside reaches the terminal through the view: a hostile QMP peer (a
 * fake QEMU on a real Unix socket, test/hostile/terminal.ts) answers with device ids, drivers,
 * file names and error texts holding the title, clipboard and screen-clearing sequences, CR/BS/DEL
 * and bidi overrides; the runtime file's bridge and the root (the title) hold them too. Every frame
 * ink writes, on every screen, is checked byte by byte (no raw C0/C1/DEL/bidi/zero-width character),
 * and the operator sees the escaped form. What the view writes back (QMP commands, the runtime
 * file) keeps the exact value.
 *
 * And statically: components/common/Text.tsx is the only user of ink's <Text>, so no string reaches
 * ink another way.
 */
import chalk from 'chalk';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import { colorWanted } from '../../components/color.js';
import type { Screen } from '../../components/app-state.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { InstanceService } from '../../src/tui/service.js';
import { escapeForTerminal } from '../../src/text/terminal.js';
import { BIDI, EVIL_ERROR, EVIL_FILE, EVIL_ID, RAW_CONTROL, SET_TITLE, startHostilePeer, type HostilePeer } from '../hostile/terminal.js';
import { KEYS, renderTui, type Rendered } from './tui-helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

let peer: HostilePeer | undefined;
let ui: Rendered | undefined;
afterEach(async () => {
  ui?.unmount();
  ui = undefined;
  await peer?.stop();
  peer = undefined;
});

/** SGR sequences (colour, bold, inverse: what chalk writes) removed; nothing else is. */
const withoutSgr = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

/** Every frame written so far is free of raw control characters (the line feeds between lines aside). */
function expectNoRawControls(t: Rendered): void {
  t.rawFrames().forEach((f, i) => {
    const bad = RAW_CONTROL.exec(withoutSgr(f).replaceAll('\n', ''));
    expect(bad, `frame ${i} holds ${bad ? escapeForTerminal(bad[0]) : ''}:\n${escapeForTerminal(f, { keepNewlines: true })}`).toBeNull();
  });
}

async function open(first: Screen | Screen[] | ((p: HostilePeer) => Screen[]), opts: { refuseDeviceAdd?: boolean; title?: string } = {}): Promise<{ t: Rendered; service: InstanceService; peer: HostilePeer }> {
  peer = await startHostilePeer({ refuseDeviceAdd: opts.refuseDeviceAdd ?? false });
  const service = new InstanceService({ root: peer.root, transcript: new Transcript(), unplugTimeoutMs: 2_000 });
  ui = renderTui(<App service={service} title={opts.title ?? 'plugboard'} first={typeof first === 'function' ? first(peer) : first} />, { columns: 120, rows: 40 });
  return { t: ui, service, peer };
}

describe('a hostile QMP peer, on every screen', () => {
  it('the instance list: the root in the title is shown escaped', async () => {
    const { t } = await open({ kind: 'instances' }, { title: `plugboard · /srv/${SET_TITLE}${BIDI}root` });
    const f = await t.waitFor(/fk1/);
    expect(f).toContain('plugboard · /srv/\\x1b]0;PB-PWNED-TITLE\\x07\\u202e\\u2066root');
    await t.waitFor(/1 running/);
    expectNoRawControls(t);
  });

  it('the instance screen and the detail of the device QEMU invented: id, driver, file, drift', async () => {
    const { t } = await open([{ kind: 'instance', name: 'fk1' }]);
    await t.waitFor(/live: QEMU answered/);
    // The map and the drift line name the device QEMU has and the runtime file does not.
    let f = await t.waitFor(/only in QEMU|\* /);
    expect(f).toMatch(/evil\\x1b\]0;PB-PWNED-TITLE\\x07/);
    // And says so, first among the messages, in words (not only by colour).
    expect(f).toContain('! a name from QEMU or the runtime file holds characters a terminal would act on');
    t.unmount();
    ui = renderTui(<App service={new InstanceService({ root: peer!.root, transcript: new Transcript() })} title="t" first={[{ kind: 'instance', name: 'fk1' }, { kind: 'detail', name: 'fk1', place: { bus: 'pci.0', slot: 0x10 } }]} />, { columns: 160, rows: 40 });
    f = await ui.waitFor(/device +evil/);
    expect(f).toContain('evil\\x1b]0;PB-PWNED-TITLE\\x07\\x1b[2J\\x1b[H\\x9b2J\\u202e\\u2066x');
    expect(f).toContain('virtio-blk-pci\\x1b]52;c;cGItcHduZWQ=\\x07');
    expectNoRawControls(t);
    expectNoRawControls(ui);
  });

  it('the detail of the instance’s own NIC: the bridge from the runtime file', async () => {
    const { t } = await open([{ kind: 'instance', name: 'fk1' }, { kind: 'detail', name: 'fk1', place: { bus: 'pci.0', slot: 0xd } }]);
    const f = await t.waitFor(/network/);
    expect(f).toContain('br\\x1b]0;PB-PWNED-TITLE\\x07');
    expectNoRawControls(t);
  });

  it('the QMP log: QEMU’s replies as they came, escaped', async () => {
    const { t } = await open([{ kind: 'instance', name: 'fk1' }]);
    await t.waitFor(/live: QEMU answered/);
    await t.press('L', /QMP log · \d+ messages/);
    const f = await t.press('w', /\\x9b2J/);
    expect(f).toContain('\\u202e');
    expectNoRawControls(t);
  });

  it('the wizard: a file name from the host (Tab completion), the plan, QEMU’s error text, the transcript; nothing is changed', async () => {
    const { t, peer: p } = await open([{ kind: 'instance', name: 'fk1' }, { kind: 'wizard', name: 'fk1' }], { refuseDeviceAdd: true });
    const before = readFileSync(p.runtimeFile, 'utf8');
    await t.waitFor('What do you want to hot-add');
    await t.press(KEYS.enter, /disk_type of the new disk/);
    await t.press(KEYS.enter, /Host path/);
    // The completion of a directory whose one image has control sequences in its name.
    for (let i = 0; i < 60; i++) t.write(KEYS.backspace);
    await t.waitFor(/^>\s*▏?\s*$/m);
    t.write(`${path.join(p.root, 'disks', 'ne')}`);
    await t.waitFor(/disks\/ne/);
    await t.press(KEYS.tab, /new\\x1b\]0;PB-PWNED-TITLE\\x07\\u202e\\u2066\.img/);
    await t.waitFor('✓ regular file');
    let f = await t.press(KEYS.enter, /plan: hot-add disk/);
    expect(f).toContain('new\\x1b]0;PB-PWNED-TITLE\\x07');
    await t.press(KEYS.enter, /Hot-add disk/);
    f = await t.press('y', /QMP transcript/, 10_000);
    // QEMU's error text, escaped (wrapped over two lines here).
    expect(f).toContain("QEMU refused device_add: Property 'drive' \\x1b]0;");
    expect(f).toContain('\\x1b]52;c;cGItcHduZWQ=\\x07');
    expectNoRawControls(t);
    expect(readFileSync(p.runtimeFile, 'utf8')).toBe(before);
    expect(EVIL_ERROR).toContain(SET_TITLE);
  });

  it('the wizard’s hot-add writes the exact path to QEMU and to the runtime file (the escaping is for the screen only)', async () => {
    const { t, peer: p } = await open([{ kind: 'instance', name: 'fk1' }, { kind: 'wizard', name: 'fk1' }]);
    await t.waitFor('What do you want to hot-add');
    await t.press(KEYS.enter, /disk_type of the new disk/);
    await t.press(KEYS.enter, /Host path/);
    for (let i = 0; i < 60; i++) t.write(KEYS.backspace);
    await t.waitFor(/^>\s*▏?\s*$/m);
    t.write(`${path.join(p.root, 'disks', 'ne')}`);
    await t.waitFor(/disks\/ne/);
    await t.press(KEYS.tab, /\.img/);
    await t.waitFor('✓ regular file');
    await t.press(KEYS.enter, /plan: hot-add disk/);
    await t.press(KEYS.enter, /Hot-add disk/);
    const f = await t.press('y', /✓ hot-added|✗/, 10_000);
    expect(f).toMatch(/✓ hot-added/);
    expectNoRawControls(t);
    expect([...p.qemu.drives.values()]).toContain(p.evilImage);
    const doc = JSON.parse(readFileSync(p.runtimeFile, 'utf8')) as unknown[][];
    expect((doc[3] as [unknown, string][]).map((d) => d[1])).toContain(p.evilImage);
  });

  it('the unplug screen: the plan, the result and the transcript (QEMU’s file names)', async () => {
    const { t } = await open((p) => [{ kind: 'instance', name: 'fk1' }, { kind: 'unplug', name: 'fk1', place: { bus: 'pci.0', slot: 0xc }, deviceId: p.diskId, deviceKind: 'disk' }]);
    await t.waitFor(/Type yes/);
    const f = await t.press(['y', 'e', 's', KEYS.enter], /QMP transcript/, 10_000);
    expect(f).toMatch(/unplugged|pending/);
    // Somewhere in what was shown, QEMU's words came escaped (its answer to query-block names EVIL_FILE).
    expect(t.rawFrames().some((r) => /\\x7f|\\u202e|\\x1b/.test(r))).toBe(true);
    expectNoRawControls(t);
    expect(EVIL_FILE).toContain('\r');
  });

  it('with colour on, escaped characters are marked (inverse) and still no raw control character is written', async () => {
    const level = chalk.level;
    chalk.level = 1;
    try {
      const { t } = await open([{ kind: 'instance', name: 'fk1' }, { kind: 'detail', name: 'fk1', place: { bus: 'pci.0', slot: 0x10 } }]);
      await t.waitFor(/device +evil/);
      const raw = t.rawFrames().at(-1)!;
      expect(raw).toContain('\u001b[7m\\x1b');
      expectNoRawControls(t);
    } finally {
      chalk.level = level;
    }
  });
});

describe('colour', () => {
  it('NO_COLOR (set, not empty) and TERM=dumb turn it off', () => {
    expect(colorWanted({ TERM: 'xterm-256color' })).toBe(true);
    expect(colorWanted({ TERM: 'xterm-256color', NO_COLOR: '1' })).toBe(false);
    expect(colorWanted({ TERM: 'xterm-256color', NO_COLOR: '' })).toBe(true);
    expect(colorWanted({ TERM: 'dumb' })).toBe(false);
  });
});

describe('one way to the screen', () => {
  function sources(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(dir, e.name)] : []));
  }

  it('only components/common/Text.tsx imports ink’s Text; no component renders text another way', () => {
    const offenders: string[] = [];
    for (const file of sources(path.join(repo, 'components'))) {
      const rel = path.relative(repo, file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+'ink'/g)) {
        const names = m[2]!.split(',').map((n) => n.trim().replace(/^type\s+/, ''));
        const values = m[1] ? [] : m[2]!.split(',').map((n) => n.trim()).filter((n) => n !== '' && !n.startsWith('type '));
        if (rel !== path.join('components', 'common', 'Text.tsx') && values.some((n) => /^Text\b/.test(n))) offenders.push(`${rel}: imports Text from ink`);
        if (values.some((n) => /^(Transform|Static)\b/.test(n))) offenders.push(`${rel}: imports ${names.join(', ')} from ink`);
      }
      if (/from\s+'ink-(?!testing)[^']*'/.test(text)) offenders.push(`${rel}: imports an ink-* component library (it renders with ink's Text)`);
      if (/['"]ink-text['"]|['"]ink-virtual-text['"]/.test(text) && !rel.includes('ink-fast')) offenders.push(`${rel}: creates ink's text elements directly`);
    }
    expect(offenders).toEqual([]);
  });

  it('the escaping module is a leaf (it imports nothing of the project), and src/ never imports ink or react', () => {
    expect(readFileSync(path.join(repo, 'src', 'text', 'terminal.ts'), 'utf8')).not.toMatch(/^import /m);
    for (const file of sources(path.join(repo, 'src'))) expect(readFileSync(file, 'utf8'), file).not.toMatch(/from\s+'(ink|react)'/);
  });

  it('the id QEMU reports really holds the sequences (the test would prove nothing otherwise)', () => {
    expect(EVIL_ID).toMatch(RAW_CONTROL);
    expect(escapeForTerminal(EVIL_ID)).not.toMatch(RAW_CONTROL);
  });
});
