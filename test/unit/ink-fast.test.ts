/**
 * components/ink-fast/ (the bundle's replacements for ink's Output and for string-width) against
 * the real thing: the same operations given to ink 6.8's own Output class and to ours must give the
 * same frame, byte for byte, over several frames in a row (our caches live across frames); our
 * string-width must agree with the package on every string. Texts mix what ink writes — plain
 * ASCII, chalk styles (nested, bold+dim, 256 and true colours, inverse, resets), raw and malformed
 * escape sequences, links — with wide characters, emoji, combining marks, tabs, control characters
 * and several lines; operations include clips (partial and complete) and transformers.
 *
 * The last test bundles a real screen (the instance list) with esbuild twice, with and without the
 * plugin (bin/esbuild-ink-fast.mjs), and compares what ink renders.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Chalk } from 'chalk';
import { build, type Plugin } from 'esbuild';
import fc from 'fast-check';
import realStringWidth from 'string-width';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import InkOutput from '../../node_modules/ink/build/output.js';
import FastOutput, { clearOutputCaches, type Clip, type OutputTransformer } from '../../components/ink-fast/output.js';
import { Generations } from '../../components/ink-fast/cache.js';
import fastStringWidth, { simpleWidth, unitWidth } from '../../components/ink-fast/string-width.js';
import { createSandboxInstance } from '../../src/demo/sandbox.js';
import { InstanceService } from '../../src/tui/service.js';
import { makeRoot } from './tui-helpers.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const chalk = new Chalk({ level: 3 });

// ---- texts ------------------------------------------------------------------------------------

const ASCII_WORDS = ['a', 'hello', 'x y', '  ', ' ', 'inst000.example.com', 'running', '~ drift 2', '! 3', 'DISKS', '-', 'legacy '];
const UNICODE = [
  '古', '漢字', 'ｱ', 'ｶﾞ', '한', '\u1100\u1161', '😀', '👍🏽', '👨‍👩‍👧', '🇩🇪', '❤️', '❤', '1\u20e3', '#️⃣',
  'e\u0301', '\u0301', '\u200b', '\u200d', '…', '·', '▏', '“', '→', '\u00a0', '\u3000', 'é', 'ß',
];
const CONTROLS = ['\t', '\x07', '\r', '\r\n', '\x00', '\x7f', '\x1b', '\x9b', '\u0085'];
const RAW_SEQUENCES = [
  '\x1b[0m', '\x1b[m', '\x1b[1m', '\x1b[2m', '\x1b[22m', '\x1b[1;31m', '\x1b[31;1;4m', '\x1b[39m', '\x1b[49m',
  '\x1b[38;5;200m', '\x1b[48;2;1;2;3m', '\x1b[38;5m', '\x1b[7m', '\x1b[27m', '\x1b[999m', '\x1b[;m',
  // Not SGR, or malformed: the libraries' other paths.
  '\x1b[31', '\x1b[2K', '\x1b[1:2m', '\x1b[?25l', '\x9b31m', '\x1b]8;;http://example.com\x07', '\x1b]8;;\x07', '\x1b]8;id=1;x\x1b\\',
];
const STYLES: ((s: string) => string)[] = [
  chalk.bold, chalk.dim, chalk.italic, chalk.underline, chalk.inverse, chalk.strikethrough,
  chalk.red, chalk.green, chalk.yellow, chalk.gray, chalk.cyan, chalk.bgBlue, chalk.bgRedBright,
  chalk.ansi256(200), chalk.hex('#ff8800'), chalk.bgHex('#003366'),
  (s) => chalk.bold(chalk.dim(s)), (s) => chalk.dim(chalk.bold(s)), (s) => chalk.inverse.bold(s),
];

/** Any BMP code units but surrogates: every pair of neighbours the fast paths may meet. */
const bmpText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0xfffd }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCharCode(c)),
  maxLength: 8,
});

const atom = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ASCII_WORDS) },
  { weight: 3, arbitrary: fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...UNICODE) },
  { weight: 1, arbitrary: fc.constantFrom(...CONTROLS) },
  { weight: 2, arbitrary: fc.constantFrom(...RAW_SEQUENCES) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
  { weight: 2, arbitrary: bmpText },
);

const { styled } = fc.letrec<{ styled: string }>((tie) => ({
  styled: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    fc.tuple(fc.constantFrom(...STYLES), fc.array(tie('styled'), { maxLength: 3 })).map(([style, parts]) => style(parts.join(''))),
  ),
}));

/** One line of text (no newline). */
const lineText = fc.array(styled, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('').replaceAll('\n', ' '));
/** What a write gets: one or more lines. */
const text = fc.array(lineText, { minLength: 1, maxLength: 3 }).map((ls) => ls.join('\n'));

// ---- operations -------------------------------------------------------------------------------

/** Transformers as ink makes them (Text's colour and style) and two that look at the line index. */
const TRANSFORMERS: OutputTransformer[] = [
  (s) => chalk.green(s),
  (s) => chalk.inverse(s),
  (s) => chalk.bold(s),
  (s) => chalk.dim(s),
  (s, i) => (i % 2 ? chalk.bgYellow(s) : s),
  (s, i) => `${i}${s}`,
  (s) => s.toUpperCase(),
];

type Op =
  | { type: 'write'; x: number; y: number; text: string; transformers: number[] }
  | { type: 'clip'; clip: Clip }
  | { type: 'unclip' };

const W = 24;
const H = 8;

const coordinate = (max: number) => fc.integer({ min: -3, max: max + 3 });
const bound = (max: number) => fc.option(coordinate(max), { nil: undefined, freq: 4 });

function opArb(texts: fc.Arbitrary<string>): fc.Arbitrary<Op> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ type: fc.constant('write' as const), x: coordinate(W), y: coordinate(H), text: texts, transformers: fc.array(fc.nat({ max: TRANSFORMERS.length - 1 }), { maxLength: 2 }) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('clip' as const), clip: fc.record({ x1: bound(W), x2: bound(W), y1: bound(H), y2: bound(H) }) }) },
    { weight: 1, arbitrary: fc.constant({ type: 'unclip' as const }) },
  );
}

interface Sink {
  write(x: number, y: number, text: string, options: { transformers: OutputTransformer[] }): void;
  clip(clip: Clip): void;
  unclip(): void;
  get(): { output: string; height: number };
}

function replay(out: Sink, ops: readonly Op[]): { output: string; height: number } {
  for (const op of ops) {
    if (op.type === 'write') out.write(op.x, op.y, op.text, { transformers: op.transformers.map((i) => TRANSFORMERS[i]!) });
    else if (op.type === 'clip') out.clip({ ...op.clip });
    else out.unclip();
  }
  return out.get();
}

function bothFrames(width: number, height: number, ops: readonly Op[]): { ink: { output: string; height: number }; fast: { output: string; height: number } } {
  return {
    ink: replay(new InkOutput({ width, height }) as unknown as Sink, ops),
    fast: replay(new FastOutput({ width, height }), ops),
  };
}

describe('ink-fast Output against ink 6.8 Output', () => {
  it('gives the same frame for random writes, clips and transformers', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: W }), fc.integer({ min: 0, max: H }), fc.array(opArb(text), { maxLength: 12 }), (width, height, ops) => {
        const { ink, fast } = bothFrames(width, height, ops);
        expect(fast).toEqual(ink);
      }),
      { numRuns: 1500 },
    );
  }, 120_000);

  it('gives the same frames in a row, with the caches filled by the frames before (a keypress changes a few lines)', () => {
    // Every frame draws from one pool of texts, so most lines of a frame were seen before; the
    // caches are cleared at the start of each run only.
    fc.assert(
      fc.property(
        fc.array(text, { minLength: 1, maxLength: 8 }).chain((pool) =>
          fc.array(fc.array(opArb(fc.constantFrom(...pool)), { maxLength: 10 }), { minLength: 2, maxLength: 6 }),
        ),
        (frameOps) => {
          clearOutputCaches();
          for (const ops of frameOps) {
            const { ink, fast } = bothFrames(W, H, ops);
            expect(fast).toEqual(ink);
          }
        },
      ),
      { numRuns: 400 },
    );
  }, 120_000);

  it('gives the same frame for a screen like the instance list (160 columns, clipped, styled rows)', () => {
    const row = (i: number, selected: boolean): Op[] => [
      { type: 'write', x: 0, y: i + 2, text: `${selected ? '> ' : '  '}inst${String(i).padStart(3, '0')}.example.com      `, transformers: selected ? [1] : [] },
      { type: 'write', x: 30, y: i + 2, text: 'stopped   ', transformers: [3] },
      { type: 'write', x: 40, y: i + 2, text: `scsi-hd   paravirtual   lsi   ${i % 4} 1 ${chalk.yellow(i % 3 ? '~ drift 2' : '')}`, transformers: [] },
    ];
    const frame = (sel: number): Op[] => [
      { type: 'clip', clip: { x1: 0, x2: 160, y1: 0, y2: 49 } },
      { type: 'write', x: 0, y: 0, text: `plugboard · 200 instances · 0 running ${chalk.dim('refreshed 22:18:03')}`, transformers: [2] },
      { type: 'write', x: 0, y: 1, text: '  INSTANCE   STATUS   DISK_TYPE   NIC_TYPE   CONTROLLER   DISKS NICS MARKS', transformers: [2] },
      ...Array.from({ length: 46 }, (_, i) => row(i, i === sel)).flat(),
      { type: 'write', x: 0, y: 48, text: 'type to filter · ~ drift · … pending unplug · ! problems in the runtime file', transformers: [3] },
      { type: 'unclip' },
    ];
    clearOutputCaches();
    for (const sel of [0, 1, 2, 1]) {
      const { ink, fast } = bothFrames(160, 49, frame(sel));
      expect(fast.output).toBe(ink.output);
      expect(fast.output).toContain('inst001.example.com');
    }
  });
});

describe('ink-fast caches', () => {
  it('keep at most two generations: entries or key characters past the bound push the oldest out; a hit moves an entry back', () => {
    const g = new Generations<number>(3, 1_000);
    for (const k of ['a', 'b', 'c']) g.set(k, k.charCodeAt(0));
    g.set('d', 4); // young full: a b c become old
    expect(g.get('a')).toBe(97); // found in old, moved to young (d a)
    g.set('e', 5); // young d a e
    g.set('f', 6); // young full again: d a e old, b c dropped
    expect([g.get('b'), g.get('c')]).toEqual([undefined, undefined]);
    expect([g.get('a'), g.get('d'), g.get('f')]).toEqual([97, 4, 6]);

    const byChars = new Generations<number>(100, 10);
    byChars.set('x'.repeat(10), 1);
    byChars.set('y', 2); // young held 10 characters: it became old
    byChars.set('z'.repeat(10), 3);
    byChars.set('w', 4); // again: the 10 x are gone
    expect([byChars.get('x'.repeat(10)), byChars.get('y'), byChars.get('w')]).toEqual([undefined, 2, 4]);
  });
});

describe('ink-fast string-width against string-width', () => {
  it('agrees on random texts (styled, wide, emoji, controls, broken sequences, any BMP neighbours)', () => {
    fc.assert(
      fc.property(fc.oneof(text, bmpText, fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 30 })), (s) => {
        expect(fastStringWidth(s)).toBe(realStringWidth(s));
        expect(fastStringWidth(s, { countAnsiEscapeCodes: true })).toBe(realStringWidth(s, { countAnsiEscapeCodes: true }));
        expect(fastStringWidth(s, { ambiguousIsNarrow: false })).toBe(realStringWidth(s, { ambiguousIsNarrow: false }));
      }),
      { numRuns: 3000 },
    );
  }, 120_000);

  it('takes the fast path for printable ASCII, SGR sequences and characters that are their own cluster, and only for those', () => {
    expect(simpleWidth('hello')).toBe(5);
    expect(simpleWidth(chalk.bold(`a${chalk.hex('#102030')('bc')}`))).toBe(3);
    expect(simpleWidth('\x1b[mx\x1b[;m')).toBe(1);
    expect(simpleWidth('')).toBe(0);
    expect(simpleWidth(`↑↓ move · ${chalk.dim('… pending')} 漢字 é`)).toBe(26);
    for (const other of ['e\u0301', '\u0301', '\ufe0f', '\u200d', '\u1100', '😀', '\t', '\x9b31m', '\x1b[2K', '\x1b[31', '\x1b', '\x1b]8;;x\x07', '\x1b[1:2m']) {
      expect(simpleWidth(`a${other}`)).toBe(-1);
    }
  });

  it('agrees on every BMP character next to ASCII, a style and itself', () => {
    // The fast path's claim, for each code unit it accepts: its own cluster in any such company.
    let accepted = 0;
    for (let c = 0xa0; c <= 0xffff; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCharCode(c);
      const s = `x${ch}\x1b[1m${ch}${ch}\x1b[22my`;
      if (unitWidth(c) >= 0) accepted++;
      if (fastStringWidth(s) !== realStringWidth(s)) expect({ c: c.toString(16), fast: fastStringWidth(s) }).toEqual({ c: c.toString(16), fast: realStringWidth(s) });
    }
    expect(accepted).toBeGreaterThan(50_000);
  }, 120_000);
});

// ---- a real screen, bundled with and without the plugin -------------------------------------

describe('the bundle with the plugin', () => {
  // Made when the suite runs (a skipped suite's body still runs at collection, its hooks do not).
  let tmp = '';
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'pb-ink-fast-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  type InkFast = (distDir: string | undefined, options: { modules: string; extension: string }) => Plugin;
  const pluginFile = path.join(REPO, 'bin', 'esbuild-ink-fast.mjs');
  // ink imports react-devtools-core (for DEV=true only), which is not installed: as the build does.
  const noDevtools: Plugin = {
    name: 'no-devtools',
    setup(b) {
      b.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'stub' }));
      b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export default { initialize() {}, connectToDevTools() {} };', loader: 'js' }));
    },
  };

  /** Bundles an entry that renders the view (the instance list) of a service with ink's renderToString. */
  async function bundle(fast: boolean): Promise<string> {
    const contents = [
      `import React from 'react';`,
      `import { renderToString } from 'ink';`,
      `import { App } from ${JSON.stringify(path.join(REPO, 'components', 'App.js'))};`,
      `export function screen(service: any, size: { columns: number; rows: number }, first?: any): string {`,
      `  return renderToString(<App service={service} title="plugboard test" size={size} first={first} />, { columns: size.columns });`,
      `}`,
    ].join('\n');
    const outfile = path.join(tmp, `screen-${fast ? 'fast' : 'ink'}.mjs`);
    const { inkFast } = (await import(pathToFileURL(pluginFile).href)) as { inkFast: InkFast };
    const result = await build({
      stdin: { contents, loader: 'tsx', resolveDir: REPO, sourcefile: 'screen-entry.tsx' },
      absWorkingDir: REPO,
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      define: { 'process.env.NODE_ENV': '"production"' },
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
      plugins: [noDevtools, ...(fast ? [inkFast(undefined, { modules: path.join(REPO, 'components', 'ink-fast'), extension: '.ts' })] : [])],
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    // The plugin took ink's Output and string-width out (except wrap-ansi's own string-width 7).
    expect(inputs.some((f) => f.endsWith('ink-fast/output.ts'))).toBe(fast);
    expect(inputs.some((f) => f.endsWith('ink/build/output.js'))).toBe(!fast);
    expect(inputs.some((f) => f === 'node_modules/string-width/index.js')).toBe(true);
    return outfile;
  }

  it('renders the instance list exactly as ink does', async () => {
    const testRoot = await makeRoot([
      { name: 'web1.example.com', disks: 2, nics: 1 },
      { name: 'db1.example.com', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 3, nics: 1 },
      { name: 'store1.example.com', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 5, nics: 2 },
      { name: 'old1.example.com', legacy: true, disks: 1, nics: 0 },
    ]);
    onTestFinished(() => testRoot.remove());
    // One service (the test's own modules) for both bundles: the same list, the same refresh time.
    const service = new InstanceService({ root: testRoot.root });
    await service.refreshList();

    const [inkFile, fastFile] = await Promise.all([bundle(false), bundle(true)]);
    // The bundled chalk reads FORCE_COLOR when it loads: styled output, as in a terminal.
    const saved = process.env['FORCE_COLOR'];
    process.env['FORCE_COLOR'] = '3';
    try {
      type Screen = { screen(service: InstanceService, size: { columns: number; rows: number }): string };
      const ink = (await import(pathToFileURL(inkFile).href)) as Screen;
      const fast = (await import(pathToFileURL(fastFile).href)) as Screen;
      for (const size of [{ columns: 160, rows: 50 }, { columns: 80, rows: 24 }, { columns: 60, rows: 10 }, { columns: 40, rows: 10 }]) {
        const expected = ink.screen(service, size);
        // Under 60 columns: the screen says it is too small.
        expect(expected).toMatch(size.columns >= 60 ? /> db1\b/ : /terminal too small \(need 60×8\)/);
        if (size.columns >= 60) expect(expected).toContain('\x1b[7m'); // styled: the selection is inverse
        expect(fast.screen(service, size)).toBe(expected);
      }
      // A device detail whose words from outside are shown escaped (marked inverse), and a screen
      // too small to lay out: the same bytes, and no raw control character but SGR's.
      const hostile = await createSandboxInstance(testRoot.root, { name: 'hostile1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, nics: 1 }, '/usr/bin/qemu-system-x86_64');
      const doc = JSON.parse(readFileSync(hostile.runtimeFile, 'utf8')) as [unknown[], { nicparams: { link: string } }[], unknown, [unknown, string, unknown][]];
      doc[3][0]![1] = `/srv/\u001b]0;TITLE\u0007\u009b2J\u202e磁盘.img`;
      writeFileSync(hostile.runtimeFile, JSON.stringify(doc));
      await service.loadView('hostile1');
      const first = [{ kind: 'instance', name: 'hostile1' }, { kind: 'detail', name: 'hostile1', place: { bus: 'scsi.0', target: 0 } }];
      for (const size of [{ columns: 160, rows: 50 }, { columns: 80, rows: 24 }, { columns: 61, rows: 16 }, { columns: 40, rows: 10 }]) {
        const expected = (ink as unknown as { screen(s: InstanceService, z: typeof size, f: unknown): string }).screen(service, size, first);
        expect(expected.replace(/\u001b\[[0-9;]*m/g, '')).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
        if (size.columns > 60) expect(expected).toContain('\x1b[7m\\x1b');
        else expect(expected).toContain('terminal too small');
        expect((fast as unknown as { screen(s: InstanceService, z: typeof size, f: unknown): string }).screen(service, size, first)).toBe(expected);
      }
    } finally {
      if (saved === undefined) delete process.env['FORCE_COLOR'];
      else process.env['FORCE_COLOR'] = saved;
    }
  }, 60_000);
});
