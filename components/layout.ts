/**
 * Layout maths of the view: pure functions of the terminal size, unit-tested without rendering
 * (test/unit/layout-*.test.ts), and held to the frame by a property over sizes, screens and
 * instances (test/unit/tui-frame.test.tsx): every screen's lines are counted here, so the frame
 * never has more lines than the terminal, and a screen that cannot lay out says so ("terminal too
 * small (need W×H)") instead of drawing a broken frame. Every screen lays out from 60×16.
 */

export interface Size {
  columns: number;
  rows: number;
}

/** No screen lays out narrower than this. */
export const MIN_COLUMNS = 60;

/**
 * The height of a frame: one line less than the terminal, so that ink never treats the output as a
 * full screen (then it clears the whole terminal for every frame, which flickers).
 */
export function frameHeight(size: Size): number {
  return Math.max(1, size.rows - 1);
}

/** A layout, or the size the screen needs when the terminal is smaller. */
export type Fitted<T> = ({ fits: true } & T) | { fits: false; need: Size };

/** "terminal too small (need 60×16)", or a shorter form that fits `width`. */
export function tooSmallText(need: Size, width: number): string {
  const variants = [`terminal too small (need ${need.columns}×${need.rows})`, `too small: need ${need.columns}×${need.rows}`, `${need.columns}×${need.rows}`];
  return variants.find((v) => [...v].length <= width) ?? variants[variants.length - 1]!.slice(0, Math.max(0, width));
}

/**
 * One claim on the frame's lines: `min` lines or none fit, then up to `max` in all. Claims are
 * served in order (the first ones are the most important); a key may claim several times (its
 * lines add up), which lets a part grow in steps between other parts.
 */
export interface LineClaim<K extends string> {
  key: K;
  min: number;
  max: number;
}

/** The lines each key gets out of `total`, or null when the minimums do not fit. */
export function shareLines<K extends string>(total: number, claims: readonly LineClaim<K>[]): Record<K, number> | null {
  const out = {} as Record<K, number>;
  let left = total;
  for (const c of claims) {
    out[c.key] = (out[c.key] ?? 0) + c.min;
    left -= c.min;
  }
  if (left < 0) return null;
  for (const c of claims) {
    const more = Math.max(0, Math.min(c.max - c.min, left));
    out[c.key] += more;
    left -= more;
  }
  return out;
}

/** The smallest number of terminal rows the claims fit in. */
export function rowsNeeded(claims: readonly LineClaim<string>[]): number {
  return claims.reduce((n, c) => n + c.min, 0) + 1;
}

/** The layout of `claims` at `size`, or the size it needs. */
export function fitLines<K extends string>(size: Size, claims: readonly LineClaim<K>[]): Fitted<{ lines: Record<K, number> }> {
  const need = { columns: Math.max(MIN_COLUMNS, size.columns), rows: rowsNeeded(claims) };
  if (size.columns < MIN_COLUMNS) return { fits: false, need };
  const lines = shareLines(frameHeight(size), claims);
  return lines ? { fits: true, lines } : { fits: false, need };
}

const ALL = Number.MAX_SAFE_INTEGER;

// ------------------------------------------------------------------------------------------------
// The instance screen.

/** The width of the label in front of each row of the PCI grid (`0x08 `). */
export const PCI_ROW_LABEL = 5;
/** Borders (left + right) of a pane. */
export const PANE_BORDER = 2;

/** Cell widths the PCI grid uses: the tag (`D0~`) plus a bracket or pad on each side. */
export const PCI_CELL_NARROW = 5;
export const PCI_CELL_WIDE = 9;
/** The SCSI pane is put beside the PCI pane when it gets at least this width. */
export const SCSI_PANE_MIN_WIDTH = 30;

/** How many slots of pci.0 go in one row of the grid for an inner pane width. 8 (4 rows) when it fits, then 4, then 2. */
export function pciSlotsPerRow(innerWidth: number, cellWidth: number = PCI_CELL_NARROW): number {
  for (const n of [8, 4, 2]) if (PCI_ROW_LABEL + n * cellWidth <= innerWidth) return n;
  return 1;
}

/** Rows of the grid for 32 slots. */
export function pciGridRows(perRow: number): number {
  return Math.ceil(32 / Math.max(1, perRow));
}

/** Where the two map panes go for a width (the instance and what-if screens). */
export interface PaneGeometry {
  /** The panes are side by side (else the SCSI pane is below the PCI pane). */
  sideBySide: boolean;
  /** Outer widths of the panes. */
  pciWidth: number;
  scsiWidth: number;
  perRow: number;
  cellWidth: number;
  /** Lines inside the PCI pane: its title, the column header and the grid. */
  gridLines: number;
}

export function paneGeometry(columns: number): PaneGeometry {
  const width = Math.max(MIN_COLUMNS, columns);
  const cellWidth = width >= 120 ? PCI_CELL_WIDE : PCI_CELL_NARROW;
  const pciNeed = PANE_BORDER + PCI_ROW_LABEL + 8 * cellWidth;
  const sideBySide = width >= pciNeed + SCSI_PANE_MIN_WIDTH;
  const perRow = sideBySide ? 8 : pciSlotsPerRow(width - PANE_BORDER, cellWidth);
  return {
    sideBySide,
    pciWidth: sideBySide ? pciNeed : width,
    scsiWidth: sideBySide ? width - pciNeed : width,
    perRow,
    cellWidth,
    gridLines: 2 + pciGridRows(perRow),
  };
}

export interface InstanceLayout extends PaneGeometry {
  /** Inner height (lines inside the border) of both panes when side by side; of the PCI pane when stacked. */
  paneInner: number;
  /** Lines of the SCSI pane's list of targets (after its title line). */
  scsiListRows: number;
  /** Lines for drift and problem messages (0: a message replaces the selection line). */
  messageLines: number;
  /** Lines of notes (demo notes, warnings) under the title. */
  noteLines: number;
  /** Lines of the legend (0–2). */
  legendLines: number;
  /** The line "next hot-add: …" (0 or 1). */
  nextLines: number;
  /** Lines about the selected place (1 or 2). */
  selectionLines: number;
}

/** Every line of the instance screen, top to bottom (what the frame holds). */
export function instanceLines(l: InstanceLayout): number {
  const panes = l.sideBySide ? l.paneInner + PANE_BORDER : l.paneInner + PANE_BORDER + 1 + l.scsiListRows + PANE_BORDER;
  return 1 + l.noteLines + panes + l.selectionLines + l.nextLines + l.legendLines + l.messageLines + 1;
}

type InstanceKey = 'title' | 'panes' | 'scsi' | 'selection' | 'keys' | 'messages' | 'next' | 'notes' | 'legend';

function instanceClaims(size: Size, g: PaneGeometry, scsiRowsNeeded: number | undefined): LineClaim<InstanceKey>[] {
  const noteMax = size.rows >= 30 ? 2 : 1;
  const basics: LineClaim<InstanceKey>[] = [
    { key: 'messages', min: 0, max: 1 },
    { key: 'next', min: 0, max: 1 },
    { key: 'selection', min: 0, max: 1 },
    { key: 'notes', min: 0, max: noteMax },
    { key: 'legend', min: 0, max: 2 },
  ];
  if (g.sideBySide) {
    // The SCSI list uses the panes' height: it grows to what its rows need (or without end when not known).
    const paneMax = scsiRowsNeeded === undefined ? ALL : Math.max(g.gridLines, scsiRowsNeeded + 1) - g.gridLines;
    return [
      { key: 'title', min: 1, max: 1 },
      { key: 'panes', min: g.gridLines + PANE_BORDER, max: g.gridLines + PANE_BORDER },
      { key: 'selection', min: 1, max: 1 },
      { key: 'keys', min: 1, max: 1 },
      ...basics,
      // The first 4 spare lines go to the SCSI list, the next up to 7 to messages, the rest to the
      // SCSI list again (as far as its rows need), then to the messages.
      { key: 'panes', min: 0, max: Math.min(4, paneMax) },
      { key: 'messages', min: 0, max: 7 },
      { key: 'panes', min: 0, max: Math.max(0, paneMax - 4) },
      { key: 'messages', min: 0, max: ALL },
    ];
  }
  const scsiMax = Math.min(12, scsiRowsNeeded ?? 12);
  return [
    { key: 'title', min: 1, max: 1 },
    { key: 'panes', min: g.gridLines + PANE_BORDER, max: g.gridLines + PANE_BORDER },
    // The SCSI pane below: its title, at least one row of its list, the border.
    { key: 'scsi', min: 1 + 1 + PANE_BORDER, max: 1 + 1 + PANE_BORDER },
    { key: 'selection', min: 1, max: 1 },
    { key: 'keys', min: 1, max: 1 },
    ...basics,
    { key: 'scsi', min: 0, max: Math.max(0, scsiMax - 1) },
    { key: 'messages', min: 0, max: ALL },
  ];
}

/**
 * The instance screen. Lines, top to bottom: title (1), notes, the two panes (side by side, or the
 * SCSI pane below the PCI pane), the selected place (1–2), next hot-add (1), legend (2), messages
 * (drift, problems), keys (1). The PCI pane holds a title line, a column header and the grid; the
 * SCSI pane a title line and a list of targets. When lines are short, the notes, legend, the next
 * line and the messages give way (in reverse order of `instanceClaims`); `scsiRowsNeeded` (the
 * rows of the SCSI list) keeps the panes from growing past what they show.
 */
export function instanceLayout(size: Size, scsiRowsNeeded?: number): Fitted<InstanceLayout> {
  const g = paneGeometry(size.columns);
  const fitted = fitLines(size, instanceClaims(size, g, scsiRowsNeeded));
  if (!fitted.fits) {
    // At the width asked (or the smallest): stacked panes need more lines than side by side.
    return { fits: false, need: { columns: fitted.need.columns, rows: rowsNeeded(instanceClaims(size, paneGeometry(fitted.need.columns), scsiRowsNeeded)) } };
  }
  const n = fitted.lines;
  const paneInner = n.panes - PANE_BORDER;
  return {
    fits: true,
    ...g,
    paneInner,
    scsiListRows: g.sideBySide ? paneInner - 1 : n.scsi - 1 - PANE_BORDER,
    messageLines: n.messages,
    noteLines: n.notes,
    legendLines: n.legend,
    nextLines: n.next,
    selectionLines: n.selection,
  };
}

/** The first visible index of a list of `count` items with `visible` lines, keeping `selected` in view. */
export function scrollWindow(selected: number, count: number, visible: number, previousTop = 0): number {
  if (visible <= 0 || count <= visible) return 0;
  let top = Math.min(Math.max(0, previousTop), count - visible);
  if (selected < top) top = selected;
  if (selected >= top + visible) top = selected - visible + 1;
  return Math.max(0, Math.min(top, count - visible));
}

// ------------------------------------------------------------------------------------------------
// The instance list.

export interface ListColumns {
  name: number;
  status: number;
  diskType: number;
  nicType: number;
  controller: number;
  disks: number;
  nics: number;
  marks: number;
}

/**
 * Column widths of the instance list for a width. The name gets what its longest value needs (8–30),
 * the marks column what is left; when that is under 10, the controller, then the type columns give
 * up room (their values are then cut with '…').
 */
export function listColumns(width: number, longestName: number): ListColumns {
  const cols: ListColumns = { name: Math.max(10, Math.min(30, longestName + 2)), status: 10, diskType: 13, nicType: 12, controller: 16, disks: 6, nics: 5, marks: 0 };
  const used = () => 2 + cols.name + cols.status + cols.diskType + cols.nicType + cols.controller + cols.disks + cols.nics;
  const shrink = (key: 'controller' | 'diskType' | 'nicType' | 'name' | 'status', min: number) => {
    const deficit = 10 - (width - used());
    if (deficit > 0) cols[key] = Math.max(min, cols[key] - deficit);
  };
  shrink('controller', 9);
  shrink('diskType', 10);
  shrink('nicType', 9);
  shrink('status', 9);
  shrink('name', 8);
  cols.marks = Math.max(1, width - used());
  return cols;
}

export interface ListLayout {
  /** Lines of the banner (demo notes) shown. */
  bannerLines: number;
  /** Instances shown. */
  rows: number;
}

/** The instance list: title, banner (up to 3 lines), column header, rows (at least 3), filter or marks line, keys. */
export function listLayout(size: Size, bannerLines: number): Fitted<ListLayout> {
  const f = fitLines(size, [
    { key: 'title', min: 1, max: 1 },
    { key: 'header', min: 1, max: 1 },
    { key: 'rows', min: 3, max: 3 },
    { key: 'status', min: 1, max: 1 },
    { key: 'keys', min: 1, max: 1 },
    { key: 'banner', min: 0, max: Math.min(3, bannerLines) },
    { key: 'rows', min: 0, max: ALL },
  ]);
  return f.fits ? { fits: true, bannerLines: f.lines.banner, rows: f.lines.rows } : f;
}

/** Lines the instance list can show: the frame minus title, banner, column header, filter/status and keys. */
export function listRows(size: Size, bannerLines: number): number {
  const l = listLayout(size, bannerLines);
  return l.fits ? l.rows : 3;
}

// ------------------------------------------------------------------------------------------------
// The screens of scrolled text: detail, help, QMP log.

export interface TextScreenLayout {
  /** Lines of the scrolled text. */
  body: number;
  /** Optional lines above it (a blank line, a second title line) that were given. */
  extra: number;
}

/** Title, `extra` optional lines, at least 2 lines of text, the key line. */
export function textScreenLayout(size: Size, extra = 0): Fitted<TextScreenLayout> {
  const f = fitLines(size, [
    { key: 'title', min: 1, max: 1 },
    { key: 'body', min: 2, max: 2 },
    { key: 'keys', min: 1, max: 1 },
    { key: 'extra', min: 0, max: extra },
    { key: 'body', min: 0, max: ALL },
  ]);
  return f.fits ? { fits: true, body: f.lines.body, extra: f.lines.extra } : f;
}

// ------------------------------------------------------------------------------------------------
// What-if.

export interface WhatIfLayout extends PaneGeometry {
  /** The line that says when it takes effect (0 or 1). */
  whenLines: number;
  /** The maps are shown (they need their whole height). */
  maps: boolean;
  /** Outer height of the PCI pane (and of the SCSI pane beside it). */
  pciPane: number;
  /** Outer height of the SCSI pane (stacked: below the PCI pane). */
  scsiPane: number;
  /** Lines of the output (notes, next hot-add, the options). */
  output: number;
  /** Rows rows of the maps would need (for the note when they are hidden). */
  mapsNeed: number;
}

/** Rows of the SCSI list the what-if maps show (its title line aside). */
export const WHATIF_SCSI_ROWS = 5;

/**
 * What-if: title (1), when (1), the three parameters (3), the gnt-instance line (1), the maps of the
 * next start (side by side: one pane height; stacked: the PCI pane and a SCSI pane of 1–5 rows),
 * the output (at least 2 lines), keys (1). The maps are shown whole or not at all.
 */
export function whatIfLayout(size: Size): Fitted<WhatIfLayout> {
  const g = paneGeometry(size.columns);
  const base = fitLines(size, [
    { key: 'title', min: 1, max: 1 },
    { key: 'params', min: 3, max: 3 },
    { key: 'command', min: 1, max: 1 },
    { key: 'output', min: 2, max: 2 },
    { key: 'keys', min: 1, max: 1 },
    { key: 'when', min: 0, max: 1 },
    { key: 'output', min: 0, max: ALL },
  ]);
  if (!base.fits) return base;
  const pciPane = g.gridLines + PANE_BORDER;
  const mapsMin = g.sideBySide ? pciPane : pciPane + 1 + 1 + PANE_BORDER;
  const spare = base.lines.output - 2;
  const maps = spare >= mapsMin;
  let scsiPane = 0;
  let used = 0;
  if (maps) {
    scsiPane = g.sideBySide ? pciPane : Math.min(1 + WHATIF_SCSI_ROWS + PANE_BORDER, spare - pciPane);
    used = g.sideBySide ? pciPane : pciPane + scsiPane;
  }
  return {
    fits: true,
    ...g,
    whenLines: base.lines.when,
    maps,
    pciPane: maps ? pciPane : 0,
    scsiPane,
    output: base.lines.output - used,
    mapsNeed: rowsNeeded([{ key: 'x', min: 1 + 1 + 3 + 1 + 2 + 1 + mapsMin, max: 0 }]),
  };
}

// ------------------------------------------------------------------------------------------------
// Hot-add wizard and unplug.

export interface StepScreenLayout {
  /** The blank line under the header (0 or 1). */
  gap: number;
  /** Lines of the step's body. */
  body: number;
}

/** The wizard and the unplug screen: a title, a second header line, a gap, a body of at least `minBody` lines. */
export function stepScreenLayout(size: Size, minBody: number): Fitted<StepScreenLayout> {
  const f = fitLines(size, [
    { key: 'title', min: 1, max: 1 },
    { key: 'header', min: 1, max: 1 },
    { key: 'body', min: minBody, max: minBody },
    { key: 'gap', min: 0, max: 1 },
    { key: 'body', min: 0, max: ALL },
  ]);
  return f.fits ? { fits: true, gap: f.lines.gap, body: f.lines.body } : f;
}

/** The fewest body lines of the wizard's steps (the field steps: label, field, check, hint). */
export const WIZARD_MIN_BODY = 4;
/** The unplug screen's: two lines of plan, the question, the answer, the hint. */
export const UNPLUG_MIN_BODY = 5;

/** The first `n` lines of `lines`, the last of them saying how many were left out when some were. */
export function clipLines(lines: readonly string[], n: number, more: (left: number) => string): string[] {
  if (lines.length <= n) return [...lines];
  if (n <= 0) return [];
  return [...lines.slice(0, n - 1), more(lines.length - n + 1)];
}
