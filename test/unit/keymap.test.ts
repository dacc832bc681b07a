/**
 * The key map (components/keymap.ts): its shape (the man page is made from it), that every key it
 * shows is the key that runs the command, that no two commands share a key where both hold, that
 * the key lines fit, and that the help screen and the README are made from it.
 */
import fc from 'fast-check';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HELP_LINES } from '../../components/help/HelpScreen.js';
import { characterKeys, commandFor, keyPresses, describe as describeBinding, isNamedKey, keyAlternatives, keyLine, KEYMAP, keymapMarkdown, type KeyBinding, type KeyFlags, type ScreenName } from '../../components/keymap.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

const SCREENS: readonly ScreenName[] = ['instances', 'instance', 'detail', 'wizard', 'unplug', 'whatif', 'ganeti-wizard', 'ganeti-job', 'qmplog', 'help'];

/** The press of one shown key, as ink reports it. */
function press(k: string): { input: string; key: KeyFlags } {
  switch (k) {
    case '←':
      return { input: '', key: { leftArrow: true } };
    case '→':
      return { input: '', key: { rightArrow: true } };
    case '↑':
      return { input: '', key: { upArrow: true } };
    case '↓':
      return { input: '', key: { downArrow: true } };
    case 'Enter':
      return { input: '\r', key: { return: true } };
    case 'Esc':
      return { input: '', key: { escape: true } };
    case 'Tab':
      return { input: '\t', key: { tab: true } };
    case 'Backspace':
      return { input: '', key: { delete: true } };
    case 'PgUp':
      return { input: '', key: { pageUp: true } };
    case 'PgDn':
      return { input: '', key: { pageDown: true } };
    case 'Home':
      return { input: '', key: { home: true } };
    case 'End':
      return { input: '', key: { end: true } };
    case 'Space':
      return { input: ' ', key: {} };
    case 'Ctrl-C':
      return { input: 'c', key: { ctrl: true } };
    default:
      return { input: k, key: {} };
  }
}

const entries = KEYMAP as readonly { screen: string; title: string; bindings: readonly KeyBinding[] }[];

describe('the key map', () => {
  it('has the shape the man page is made from: an entry per screen, commands with keys and a description', () => {
    expect(entries.map((e) => e.screen)).toEqual(['global', ...SCREENS]);
    for (const e of entries) {
      expect(e.title).not.toBe('');
      expect(e.bindings.length).toBeGreaterThan(0);
      for (const b of e.bindings) {
        expect(b.command).toMatch(/^[a-z][a-z-]*$/);
        expect(b.keys.length).toBeGreaterThan(0);
        expect(b.description.length).toBeGreaterThan(5);
      }
      expect(new Set(e.bindings.map((b) => b.command)).size, `${e.screen}: a command twice`).toBe(e.bindings.length);
    }
  });

  it('is plain data: components/keymap.ts imports nothing (loadable by plain Node after tsc)', () => {
    expect(readFileSync(path.join(repo, 'components', 'keymap.ts'), 'utf8')).not.toMatch(/^import /m);
  });

  it('every key shown runs its command, wherever the binding holds', () => {
    for (const e of entries) {
      const screen = e.screen as ScreenName;
      for (const b of e.bindings) {
        for (const when of b.when ?? [undefined]) {
          for (const shown of b.keys) {
            for (const k of keyAlternatives(shown)) {
              const { input, key } = press(k);
              expect(commandFor(screen, input, key, { when }), `${screen}${when ? ` (${when})` : ''}: ${k}`).toBe(b.command);
              // In a text field, only named keys are commands (Space is text).
              if (isNamedKey(k) && k !== 'Space') expect(commandFor(screen, input, key, { when, typing: true })).toBe(b.command);
              else expect(commandFor(screen, input, key, { when, typing: true })).toBeUndefined();
            }
          }
        }
      }
    }
  });

  it('no two commands share a key where both hold, the global keys included', () => {
    const clashes: string[] = [];
    const global = entries[0]!.bindings;
    for (const e of entries.slice(1)) {
      const whens = new Set<string | undefined>([undefined, ...e.bindings.flatMap((b) => b.when ?? [])]);
      for (const when of whens) {
        const seen = new Map<string, string>();
        const holds = e.bindings.filter((b) => b.when === undefined || (when !== undefined && b.when.includes(when)));
        for (const b of [...holds, ...global]) {
          for (const shown of b.keys) {
            for (const k of keyAlternatives(shown)) {
              const other = seen.get(k);
              if (other && other !== b.command) clashes.push(`${e.screen}${when ? ` (${when})` : ''}: ${k} is ${other} and ${b.command}`);
              seen.set(k, b.command);
            }
          }
        }
      }
    }
    expect(clashes).toEqual([]);
  });

  it('keys that arrive in one read (typed fast, held down, over SSH) are one press each', () => {
    expect(keyPresses('jjh', {}).map((p) => p.input)).toEqual(['j', 'j', 'h']);
    expect(keyPresses('j', {})).toEqual([{ input: 'j', key: {} }]);
    expect(keyPresses('c', { ctrl: true })).toHaveLength(1);
    expect(keyPresses('漢字', {}).map((p) => p.input)).toEqual(['漢', '字']);
  });

  it('every screen takes its keys through common/useKeys.ts (no other use of ink’s useInput)', () => {
    const dir = path.join(repo, 'components');
    const files = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(d, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(d, e.name)] : []));
    const users = files(dir).filter((f) => /\buseInput\b/.test(readFileSync(f, 'utf8')) && /from 'ink'/.test(readFileSync(f, 'utf8')));
    expect(users.map((f) => path.relative(repo, f))).toEqual([path.join('components', 'common', 'useKeys.ts')]);
  });

  it('the instance list: every key of the list and the global ones are not the start of a filter', () => {
    const keys = characterKeys('instances');
    for (const k of ['j', 'k', 'l', 'g', 'G', 'r', '/', 'q', '?', 'L']) expect(keys.has(k), k).toBe(true);
    expect(keys.has('s')).toBe(false);
  });

  it('each screen’s key line fits any width and leads with the most important keys', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SCREENS), fc.integer({ min: 20, max: 260 }), (screen, width) => {
        const whens = new Set<string | undefined>([undefined, ...(entries.find((e) => e.screen === screen)!.bindings.flatMap((b) => b.when ?? []) as string[])]);
        for (const when of whens) {
          const line = keyLine(screen, width, when);
          if (width >= 40) expect([...line].length, `${screen} ${when ?? ''} at ${width}: ${line}`).toBeLessThanOrEqual(width);
          expect(line).not.toBe('');
        }
      }),
    );
    // The case the property once found (seed -279687406): one entry left, still wider than the line.
    expect([...keyLine('wizard', 40, 'preview')].length).toBeLessThanOrEqual(40);
    // The instance screen at 80 columns offers what the issue asked of it.
    const line = keyLine('instance', 80);
    for (const part of ['a hot-add', 'u unplug', 'Tab pane', '? help']) expect(line).toContain(part);
    expect(keyLine('instance', 200)).toContain('a/+ hot-add');
  });

  it('the help screen is made from it: every screen, every key and description (`+` hot-adds)', () => {
    const help = HELP_LINES.join('\n');
    for (const e of entries) {
      expect(help).toContain(e.title);
      for (const b of e.bindings) expect(help).toContain(`${b.keys.join(' ')}`.padEnd(13) + describeBinding(b));
    }
    expect(help).toMatch(/a \+ +hot-add a disk or NIC/);
  });

  it('the README’s key section is the one made from it (PLUGBOARD_UPDATE_README=1 rewrites it)', () => {
    const file = path.join(repo, 'README.md');
    let readme = readFileSync(file, 'utf8');
    const start = '<!-- keymap: made from components/keymap.ts (test/unit/keymap.test.ts checks it) -->\n';
    const end = '<!-- /keymap -->';
    const from = readme.indexOf(start);
    const to = readme.indexOf(end);
    expect(from, 'the README has no key section').toBeGreaterThan(0);
    if (process.env['PLUGBOARD_UPDATE_README'] === '1') {
      readme = `${readme.slice(0, from + start.length)}${keymapMarkdown()}\n${readme.slice(to)}`;
      writeFileSync(file, readme);
    }
    const section = readme.slice(readme.indexOf(start) + start.length, readme.indexOf(end));
    expect(section, `the README's key section is stale; it should be:\n${keymapMarkdown()}`).toBe(`${keymapMarkdown()}\n`);
  });
});
