/**
 * The one function that makes text from outside safe for a terminal (src/text/terminal.ts), and the
 * CLI's boundary (src/cli/io.ts): what is escaped and how, that nothing unsafe is left, that JSON
 * keeps its exact values, and that the view's widths count the escaped form.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { displayWidth, fit, truncate, wrapLines } from '../../components/text.js';
import { printJson, routeWarnings, terminalIo, type CliIo } from '../../src/cli/io.js';
import { waitFor } from '../helpers/wait.js';
import { countUnsafe, escapeForTerminal, hasUnsafe, jsonForTerminal, terminalPieces } from '../../src/text/terminal.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Any string: every code point, lone surrogates included. */
const anyString = fc.string({
  unit: fc.oneof(fc.constantFrom('\u001b', '\u009b', '\u202e', '\u0007', '\r', '\n', '\u007f', '\u{e0041}', 'é', '漢', 'a', ' '), fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c))),
  maxLength: 40,
});

describe('escapeForTerminal', () => {
  it('shows every control character, C1 (the 8-bit CSI too), DEL and bidi override escaped', () => {
    expect(escapeForTerminal('a\u001b]0;title\u0007b')).toBe('a\\x1b]0;title\\x07b');
    expect(escapeForTerminal('\u009b2J')).toBe('\\x9b2J');
    expect(escapeForTerminal('x\r\b\u007f\t\u0000')).toBe('x\\x0d\\x08\\x7f\\x09\\x00');
    expect(escapeForTerminal('abc\u202edef\u2066\u2069')).toBe('abc\\u202edef\\u2066\\u2069');
    for (const cp of [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069]) expect(escapeForTerminal(String.fromCodePoint(cp))).toBe(`\\u${cp.toString(16)}`);
    // Invisible format characters: zero-width, the soft hyphen, the BOM, tag characters.
    expect(escapeForTerminal('a\u200bb\u00adc\ufeffd\u{e0041}')).toBe('a\\u200bb\\xadc\\ufeffd\\u{e0041}');
    expect(escapeForTerminal('line\u2028sep')).toBe('line\\u2028sep');
    expect(escapeForTerminal('\ud800')).toBe('\\ud800');
  });

  it('keeps line feeds only when asked (multi-line CLI text), and printable text as it is', () => {
    expect(escapeForTerminal('a\nb')).toBe('a\\x0ab');
    expect(escapeForTerminal('a\nb', { keepNewlines: true })).toBe('a\nb');
    const plain = 'disk-3f7dec41 · scsi.0 target 2 ░ ✓ 漢字 é /tmp/node1/data.img';
    expect(escapeForTerminal(plain)).toBe(plain);
  });

  it('leaves nothing a terminal would act on, is idempotent, and the pieces join to it', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        const e = escapeForTerminal(s);
        expect(hasUnsafe(e)).toBe(false);
        expect(escapeForTerminal(e)).toBe(e);
        expect(terminalPieces(s).map((p) => p.text).join('')).toBe(e);
        expect(countUnsafe(s)).toBe(terminalPieces(s).filter((p) => p.escaped).reduce((n, p) => n + (p.text.match(/\\(x|u)/g)?.length ?? 0), 0));
      }),
    );
  });
});

describe('JSON output', () => {
  it('keeps the exact values and holds no raw character a terminal would act on', () => {
    fc.assert(
      fc.property(fc.dictionary(anyString, fc.oneof(anyString, fc.array(anyString, { maxLength: 3 }))), (value) => {
        const text = jsonForTerminal(JSON.stringify(value, null, 2));
        expect(JSON.parse(text)).toEqual(value);
        expect(hasUnsafe(text, { keepNewlines: true })).toBe(false);
      }),
    );
  });
});

describe('the CLI boundary', () => {
  function capture(): { io: CliIo; out: () => string; err: () => string } {
    let out = '';
    let err = '';
    return { io: { stdout: (t) => (out += t), stderr: (t) => (err += t), env: {} }, out: () => out, err: () => err };
  }

  it('escapes stdout and stderr text, counts what it escaped, and leaves JSON exact', () => {
    const c = capture();
    const io = terminalIo(c.io);
    io.stdout('id evil\u001b]0;x\u0007\n');
    io.stderr('plugboard: \u009b2J\n');
    printJson(io, { id: 'evil\u001b]0;x\u0007\u009b\u202e' });
    expect(c.out()).toBe('id evil\\x1b]0;x\\x07\n{\n  "id": "evil\\u001b]0;x\\u0007\\u009b\\u202e"\n}\n');
    expect(c.err()).toBe('plugboard: \\x9b2J\n');
    // The JSON's characters are JSON escapes (exact values), not the boundary's.
    expect(io.escaped()).toBe(3);
    expect(JSON.parse(c.out().split('\n').slice(1).join('\n'))).toEqual({ id: 'evil\u001b]0;x\u0007\u009b\u202e' });
  });

  it("routes Node's warnings (a listener that threw, quoting QEMU) through the same escaping, and puts Node's printer back", async () => {
    const printed: string[] = [];
    const nodePrinter = (w: Error): void => void printed.push(w.message);
    process.on('warning', nodePrinter);
    const c = capture();
    const io = terminalIo(c.io);
    const restore = routeWarnings(io);
    try {
      process.emitWarning('transcript subscriber failed: Error: device evil\u001b]52;c;aGk=\u0007 gone', { code: 'PB1' });
      await waitFor(() => c.err() !== '', { what: 'the warning on stderr' });
      expect(c.err()).toBe(`(node:${process.pid}) [PB1] Warning: transcript subscriber failed: Error: device evil\\x1b]52;c;aGk=\\x07 gone\n`);
      expect(io.escaped()).toBe(2);
      expect(printed).toEqual([]);
    } finally {
      restore();
    }
    process.emitWarning('after');
    await waitFor(() => printed.length > 0, { what: "Node's printer to be back" });
    process.removeListener('warning', nodePrinter);
    expect(printed).toEqual(['after']);
    expect(c.err()).not.toContain('after');
  });

  it('is the only way main() writes: no module of the CLI writes to process.stdout or process.stderr itself', () => {
    const dir = path.join(here, '..', '..', 'src', 'cli');
    for (const f of ['main.ts', 'tui.ts', 'list.ts', 'show.ts', 'live-run.ts', 'core-run.ts', 'check-run.ts', 'commands.ts', 'live-commands.ts', 'check.ts']) {
      const text = readFileSync(path.join(dir, f), 'utf8');
      expect(text, f).not.toMatch(/process\.(stdout|stderr)\.write|console\.(log|error|warn)/);
    }
  });
});

describe('widths of the view', () => {
  it('count escaped characters as their escaped form and wide characters as two columns', () => {
    expect(displayWidth('a\u001bb')).toBe(6);
    expect(displayWidth('漢字')).toBe(4);
    expect(truncate('ab\u001bcdef', 5)).toBe('ab…');
    expect(displayWidth(fit('x\u202ey', 10))).toBe(10);
    expect(displayWidth(fit('漢字漢字漢字', 7))).toBe(7);
  });

  it('wrapLines never exceeds the width as shown, whatever the characters (from 10 columns: the widest escape, \\u{10ffff})', () => {
    fc.assert(
      fc.property(fc.array(anyString, { maxLength: 4 }), fc.integer({ min: 10, max: 60 }), (ls, w) => {
        for (const l of wrapLines(ls, w, 2)) expect(displayWidth(l)).toBeLessThanOrEqual(w);
      }),
    );
  });
});
