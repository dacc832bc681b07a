/**
 * A drop-in for ink 6.8's `build/output.js` (the class that turns the laid-out tree's writes into
 * the frame's text) that produces the same text, byte for byte, at a fraction of the cost. The
 * bundle of the view (bin/esbuild-ink-fast.mjs) makes ink's renderer import it instead of ink's.
 *
 * ink builds a new Output for every frame, and for every line of every write it tokenizes the text
 * (`@alcalzone/ansi-tokenize`, one Intl.Segmenter pass and one object per character), slices it to
 * the clip rectangle (`slice-ansi`, another Segmenter pass), allocates width × height blank cells,
 * measures every character with `string-width`, and joins each row with `diffAnsiCodes` between
 * every pair of neighbouring cells. A keypress that moves the selection changes two rows of fifty,
 * yet the whole screen is paid again (~30 ms on the 200-instance list).
 *
 * Here:
 * - the results of tokenizing, slicing and measuring are kept between frames (module-level caches,
 *   bounded: two generations, the older dropped when the younger is full), so an unchanged line
 *   costs a few map look-ups;
 * - a line of printable ASCII, SGR sequences (what chalk writes) and characters that are always
 *   their own grapheme cluster (`·`, `…`, `▏`, `漢`…) is turned into cells without the Segmenter:
 *   each SGR sequence is tokenized alone by the library (the same tokens as in context: `tokenize`
 *   reads an SGR sequence up to its `m` either way) and applied with the library's
 *   `reduceAnsiCodesIncremental`, exactly as `styledCharsFromTokens` does; other lines go through
 *   `tokenize` itself;
 * - style lists are interned (one array per distinct list of codes), so neighbouring cells with
 *   the same style share one array and need no diff: `diffAnsiCodes(a, a)` is always empty (every
 *   code of `a` finds its end code, or for bold/dim its start code, in `a`, and none of `a` is new);
 *   the other diffs are computed by the library once per pair of styles and remembered. Only
 *   `code` and `endCode` of a style take part in `diffAnsiCodes`, `undoAnsiCodes` and
 *   `ansiCodesToString`, so style lists equal in those give equal text;
 * - cells are shared: one blank cell, one cell per (character, style).
 *
 * Everything that is not one of these shortcuts calls the same library functions as ink (tokenize,
 * reduceAnsiCodesIncremental, diffAnsiCodes, ansiCodesToString, slice-ansi, string-width). The
 * class API is ink's: constructor({width, height}), write(x, y, text, {transformers}), clip(),
 * unclip(), get() → {output, height}. test/unit/ink-fast.test.ts compares it with ink's class on
 * random operations.
 */
import sliceAnsi from 'slice-ansi';
import { ansiCodesToString, diffAnsiCodes, reduceAnsiCodesIncremental, tokenize, type AnsiCode } from '@alcalzone/ansi-tokenize';
import { Generations } from './cache.js';
import stringWidth, { unitWidth } from './string-width.js';

/** ink's `OutputTransformer`: applied to each line of a write, after clipping. */
export type OutputTransformer = (s: string, index: number) => string;

/** ink's `Clip`: a side is clipped when both of its bounds are numbers. */
export interface Clip {
  x1: number | undefined;
  x2: number | undefined;
  y1: number | undefined;
  y2: number | undefined;
}

type Operation =
  | { type: 'write'; x: number; y: number; text: string; transformers: OutputTransformer[] }
  | { type: 'clip'; clip: Clip }
  | { type: 'unclip' };

/** An interned style list: never mutated, one array per distinct list of (code, endCode). */
type Styles = readonly AnsiCode[];

/** One terminal cell. `filler` is what ink puts in the columns after a wide character. */
interface Cell {
  readonly value: string;
  readonly styles: Styles;
  readonly width: number;
  readonly filler: Cell | undefined;
}

// Bounds: a 160×50 screen has ~150 distinct written lines (~25,000 characters); the caches hold
// a few dozen screens' worth, and some megabytes at most however long the lines.
const widths = new Generations<number>(4096, 1 << 19);
const blockWidths = new Generations<number>(2048, 1 << 19);
const slices = new Generations<string>(4096, 1 << 19);
const lineCells = new Generations<readonly Cell[]>(2048, 1 << 19);

// ---- styles ---------------------------------------------------------------------------------

const interned = new Map<string, Styles>();
const INTERN_LIMIT = 4096;

function styleKey(codes: readonly AnsiCode[]): string {
  return JSON.stringify(codes.map((c) => [c.code, c.endCode]));
}

/** No style: the blank cells' and the row ends'. */
const EMPTY: Styles = [];
const EMPTY_KEY = styleKey(EMPTY);
interned.set(EMPTY_KEY, EMPTY);

/** The one array for this list of codes (the list itself the first time it is seen). */
function intern(codes: readonly AnsiCode[]): Styles {
  const key = styleKey(codes);
  const known = interned.get(key);
  if (known !== undefined) return known;
  // Past the bound start again: arrays handed out stay valid (reference equality still implies
  // equal content), only sharing with later ones is lost.
  if (interned.size >= INTERN_LIMIT) {
    interned.clear();
    interned.set(EMPTY_KEY, EMPTY);
  }
  interned.set(key, codes);
  return codes;
}

/** ansiCodesToString(styles): what opens a row's first cell. */
const openTexts = new WeakMap<Styles, string>();
function openText(styles: Styles): string {
  let s = openTexts.get(styles);
  if (s === undefined) {
    s = ansiCodesToString(styles as AnsiCode[]);
    openTexts.set(styles, s);
  }
  return s;
}

/** ansiCodesToString(diffAnsiCodes(from, to)), once per pair of interned styles. */
const diffTexts = new WeakMap<Styles, Map<Styles, string>>();
function diffText(from: Styles, to: Styles): string {
  let byTo = diffTexts.get(from);
  if (byTo === undefined) {
    byTo = new Map();
    diffTexts.set(from, byTo);
  }
  let s = byTo.get(to);
  if (s === undefined) {
    s = ansiCodesToString(diffAnsiCodes(from as AnsiCode[], to as AnsiCode[]));
    byTo.set(to, s);
  }
  return s;
}

/** The style after an SGR sequence, once per (style, sequence). */
const transitions = new WeakMap<Styles, Map<string, Styles>>();
function afterSgr(styles: Styles, sequence: string): Styles {
  let bySeq = transitions.get(styles);
  if (bySeq === undefined) {
    bySeq = new Map();
    transitions.set(styles, bySeq);
  }
  let next = bySeq.get(sequence);
  if (next === undefined) {
    // As styledCharsFromTokens: one reduce per ansi token of the sequence.
    let codes = styles as AnsiCode[];
    for (const token of tokenize(sequence)) {
      if (token.type === 'ansi') codes = reduceAnsiCodesIncremental(codes, [token]);
    }
    next = intern(codes);
    bySeq.set(sequence, next);
  }
  return next;
}

// ---- cells ----------------------------------------------------------------------------------

const BLANK: Cell = { value: ' ', styles: EMPTY, width: 1, filler: undefined };

let cellsByStyle = new WeakMap<Styles, Map<string, Cell>>();
let cellCount = 0;
const CELL_LIMIT = 65_536;

/** The shared cell for `value` in `styles`; `width` is ink's `Math.max(1, stringWidth(value))`. */
function cellFor(value: string, styles: Styles, width: number): Cell {
  if (cellCount >= CELL_LIMIT) {
    // Graphemes are unbounded (user text): start again rather than grow. Cells handed out stay
    // valid; only sharing with later ones is lost.
    cellsByStyle = new WeakMap();
    cellCount = 0;
  }
  let byValue = cellsByStyle.get(styles);
  if (byValue === undefined) {
    byValue = new Map();
    cellsByStyle.set(styles, byValue);
  }
  let cell = byValue.get(value);
  if (cell === undefined) {
    cell = { value, styles, width, filler: width > 1 ? { value: '', styles, width: 1, filler: undefined } : undefined };
    byValue.set(value, cell);
    cellCount++;
  }
  return cell;
}

/** Memoized `string-width` (through the ASCII fast path of ./string-width.js). */
function widthOf(text: string): number {
  let w = widths.get(text);
  if (w === undefined) {
    w = stringWidth(text);
    widths.set(text, w);
  }
  return w;
}

function widestLineOf(text: string): number {
  let w = blockWidths.get(text);
  if (w === undefined) {
    w = 0;
    for (const line of text.split('\n')) w = Math.max(w, widthOf(line));
    blockWidths.set(text, w);
  }
  return w;
}

/** `sliceAnsi(line, from, to)`; for printable ASCII without escapes that is `line.slice(from, to)`. */
function sliceLine(line: string, from: number, to: number): string {
  if (isPlainAscii(line) && Number.isInteger(from) && Number.isInteger(to) && from >= 0) {
    // slice-ansi walks one column per character, starts at `from`, stops at `to`: the same
    // characters, and '' when from >= to, as String.slice.
    return line.slice(from, to);
  }
  const key = `${from}:${to}:${line}`;
  let s = slices.get(key);
  if (s === undefined) {
    s = sliceAnsi(line, from, to);
    slices.set(key, s);
  }
  return s;
}

function isPlainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/**
 * The cells of a line made of printable ASCII, SGR sequences and characters that are always their
 * own grapheme cluster (./string-width.js `unitWidth`); undefined for other lines. `tokenize` cuts
 * such a line into one character token per code unit (ESC is a control: clusters break around it),
 * and reads each SGR sequence up to its `m`, as here.
 */
function simpleCells(line: string): Cell[] | undefined {
  const cells: Cell[] = [];
  let styles = EMPTY;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      cells.push(cellFor(line[i]!, styles, 1));
      continue;
    }
    if (c === 0x1b) {
      // ESC [ [0-9;]* m — exactly what ansi-tokenize's findSGRSequenceEndIndex accepts.
      if (line.charCodeAt(i + 1) !== 0x5b) return undefined;
      let j = i + 2;
      for (;;) {
        const d = line.charCodeAt(j);
        if ((d >= 0x30 && d <= 0x39) || d === 0x3b) j++;
        else break;
      }
      if (line.charCodeAt(j) !== 0x6d) return undefined;
      styles = afterSgr(styles, line.slice(i, j + 1));
      i = j;
      continue;
    }
    const w = unitWidth(c);
    if (w < 0) return undefined;
    cells.push(cellFor(line[i]!, styles, Math.max(1, w)));
  }
  return cells;
}

/** The cells of any line: styledCharsFromTokens(tokenize(line)), with interned styles. */
function tokenizedCells(line: string): Cell[] {
  const cells: Cell[] = [];
  let codes: AnsiCode[] = [];
  let styles = EMPTY;
  let changed = false;
  for (const token of tokenize(line)) {
    if (token.type === 'ansi') {
      codes = reduceAnsiCodesIncremental(codes, [token]);
      changed = true;
    } else {
      if (changed) {
        styles = intern(codes);
        changed = false;
      }
      cells.push(cellFor(token.value, styles, Math.max(1, widthOf(token.value))));
    }
  }
  return cells;
}

function cellsOf(line: string): readonly Cell[] {
  let cells = lineCells.get(line);
  if (cells === undefined) {
    cells = simpleCells(line) ?? tokenizedCells(line);
    lineCells.set(line, cells);
  }
  return cells;
}

/** styledCharsToString(row without holes).trimEnd(), with the shortcuts above. */
function rowText(row: readonly (Cell | undefined)[]): string {
  let out = '';
  let prev: Styles | undefined;
  for (let i = 0; i < row.length; i++) {
    const cell = row[i];
    if (cell === undefined) continue;
    const styles = cell.styles;
    if (prev === undefined) out += openText(styles);
    else if (prev !== styles) out += diffText(prev, styles);
    out += cell.value;
    prev = styles;
  }
  if (prev !== undefined) out += diffText(prev, EMPTY);
  return out.trimEnd();
}

/** Drops what the caches hold (tests; a long-running view never needs it). */
export function clearOutputCaches(): void {
  widths.clear();
  blockWidths.clear();
  slices.clear();
  lineCells.clear();
}

export default class Output {
  width: number;
  height: number;
  private readonly operations: Operation[] = [];

  constructor(options: { width: number; height: number }) {
    const { width, height } = options;
    this.width = width;
    this.height = height;
  }

  write(x: number, y: number, text: string, options: { transformers: OutputTransformer[] }): void {
    const { transformers } = options;
    if (!text) return;
    this.operations.push({ type: 'write', x, y, text, transformers });
  }

  clip(clip: Clip): void {
    this.operations.push({ type: 'clip', clip });
  }

  unclip(): void {
    this.operations.push({ type: 'unclip' });
  }

  get(): { output: string; height: number } {
    // The same grid as ink's (rows of `width` blank cells, `height` rows, so that margins at the
    // bottom are kept), with one shared blank cell.
    const blankRow: Cell[] = [];
    for (let x = 0; x < this.width; x++) blankRow.push(BLANK);
    const output: (Cell | undefined)[][] = [];
    for (let y = 0; y < this.height; y++) output.push(blankRow.slice());

    const clips: Clip[] = [];
    for (const operation of this.operations) {
      if (operation.type === 'clip') {
        clips.push(operation.clip);
        continue;
      }
      if (operation.type === 'unclip') {
        clips.pop();
        continue;
      }
      const { text, transformers } = operation;
      let { x, y } = operation;
      let lines = text.split('\n');
      const clip = clips.at(-1);
      if (clip) {
        const clipHorizontally = typeof clip.x1 === 'number' && typeof clip.x2 === 'number';
        const clipVertically = typeof clip.y1 === 'number' && typeof clip.y2 === 'number';
        // Entirely outside the clip area: nothing to write.
        if (clipHorizontally) {
          const width = widestLineOf(text);
          if (x + width < clip.x1! || x > clip.x2!) continue;
        }
        if (clipVertically) {
          const height = lines.length;
          if (y + height < clip.y1! || y > clip.y2!) continue;
        }
        if (clipHorizontally) {
          const x1 = clip.x1!;
          const x2 = clip.x2!;
          lines = lines.map((line) => {
            const from = x < x1 ? x1 - x : 0;
            const width = widthOf(line);
            const to = x + width > x2 ? x2 - x : width;
            return sliceLine(line, from, to);
          });
          if (x < x1) x = x1;
        }
        if (clipVertically) {
          const y1 = clip.y1!;
          const y2 = clip.y2!;
          const from = y < y1 ? y1 - y : 0;
          const height = lines.length;
          const to = y + height > y2 ? y2 - y : height;
          lines = lines.slice(from, to);
          if (y < y1) y = y1;
        }
      }

      let offsetY = 0;
      for (let index = 0; index < lines.length; index++) {
        const currentLine = output[y + offsetY];
        // A line below the pre-sized grid (text taller than the output) is dropped, as in ink.
        if (!currentLine) continue;
        let line = lines[index]!;
        for (const transformer of transformers) line = transformer(line, index);
        let offsetX = x;
        for (const cell of cellsOf(line)) {
          currentLine[offsetX] = cell;
          const w = cell.width;
          // A wide character: the columns it covers get an empty cell of its style.
          for (let k = 1; k < w; k++) currentLine[offsetX + k] = cell.filler;
          offsetX += w;
        }
        offsetY++;
      }
    }

    let generated = '';
    for (let y = 0; y < output.length; y++) {
      if (y > 0) generated += '\n';
      generated += rowText(output[y]!);
    }
    return { output: generated, height: output.length };
  }
}
