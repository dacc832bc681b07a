/**
 * Layout maths of the view: pure functions of the terminal size, unit-tested without rendering
 * (test/unit/layout-*.test.ts). The smallest terminal the view is made for is 80×24; bigger ones
 * get wider cells, side-by-side panes and more lines.
 */

export interface Size {
  columns: number;
  rows: number;
}

export const MIN_SIZE: Size = { columns: 80, rows: 24 };

/**
 * The height of a frame: one line less than the terminal, so that ink never treats the output as a
 * full screen (then it clears the whole terminal for every frame, which flickers).
 */
export function frameHeight(size: Size): number {
  return Math.max(1, size.rows - 1);
}

/** The width of the label in front of each row of the PCI grid (`0x08 `). */
export const PCI_ROW_LABEL = 5;
/** Borders (left + right) of a pane. */
export const PANE_BORDER = 2;

/** Cell widths the PCI grid uses: the tag (`D0~`) plus a bracket or pad on each side. */
export const PCI_CELL_NARROW = 5;
export const PCI_CELL_WIDE = 9;

/** How many slots of pci.0 go in one row of the grid for an inner pane width. 8 (4 rows) when it fits, then 4, then 2. */
export function pciSlotsPerRow(innerWidth: number, cellWidth: number = PCI_CELL_NARROW): number {
  for (const n of [8, 4, 2]) if (PCI_ROW_LABEL + n * cellWidth <= innerWidth) return n;
  return 1;
}

/** Rows of the grid for 32 slots. */
export function pciGridRows(perRow: number): number {
  return Math.ceil(32 / Math.max(1, perRow));
}

export interface InstanceLayout {
  /** The panes are side by side (else the SCSI pane is below the PCI pane). */
  sideBySide: boolean;
  /** Outer widths of the panes. */
  pciWidth: number;
  scsiWidth: number;
  perRow: number;
  cellWidth: number;
  /** Inner height (lines inside the border) of both panes when side by side. */
  paneInner: number;
  /** Lines of the SCSI pane's list of targets (after its header line). */
  scsiListRows: number;
  /** Lines for drift and problem messages. */
  messageLines: number;
  /** Lines of notes (demo notes, warnings) under the title. */
  noteLines: number;
}

/**
 * The instance screen. Lines, top to bottom: title (1), notes, the two panes, the selected place
 * (2), next hot-add (1), legend (2), messages (drift, problems), keys (1). The PCI pane holds a
 * title line, a column header and the grid; the SCSI pane a title line and a list of targets that
 * uses the same height. `scsiRowsNeeded` (the rows of the SCSI list) keeps the panes from
 * growing past what they show: the lines left over go to the messages.
 */
export function instanceLayout(size: Size, scsiRowsNeeded?: number): InstanceLayout {
  const width = Math.max(40, size.columns);
  const height = frameHeight(size);
  const cellWidth = width >= 120 ? PCI_CELL_WIDE : PCI_CELL_NARROW;
  const pciNeed = PANE_BORDER + PCI_ROW_LABEL + 8 * cellWidth;
  const minScsi = 30;
  const sideBySide = width >= pciNeed + minScsi;
  let pciWidth: number;
  let scsiWidth: number;
  let perRow: number;
  if (sideBySide) {
    pciWidth = pciNeed;
    scsiWidth = width - pciWidth;
    perRow = 8;
  } else {
    pciWidth = width;
    scsiWidth = width;
    perRow = pciSlotsPerRow(width - PANE_BORDER, cellWidth);
  }
  const gridLines = 2 + pciGridRows(perRow); // title, column header, rows
  const fixed = 1 /* title */ + 2 /* selection */ + 1 /* next */ + 2 /* legend */ + 1 /* keys */;
  const noteLines = height >= 30 ? 2 : 1;
  let left = height - fixed - noteLines;
  let paneInner: number;
  let scsiListRows: number;
  let messageLines: number;
  if (sideBySide) {
    // After the grid: the first 4 spare lines go to the SCSI list, the next up to 8 to messages,
    // the rest to the SCSI list again (but not more than its rows need: then to the messages).
    const spare = Math.max(0, left - PANE_BORDER - gridLines);
    messageLines = Math.max(1, Math.min(8, spare - 4));
    paneInner = Math.max(gridLines, left - PANE_BORDER - messageLines);
    if (scsiRowsNeeded !== undefined) {
      const need = Math.max(gridLines, scsiRowsNeeded + 1);
      if (need < paneInner) {
        messageLines += paneInner - need;
        paneInner = need;
      }
    }
    scsiListRows = paneInner - 1;
  } else {
    left -= gridLines + PANE_BORDER;
    scsiListRows = Math.max(2, Math.min(12, left - PANE_BORDER - 1 - 2));
    left -= scsiListRows + 1 + PANE_BORDER;
    paneInner = gridLines;
    messageLines = Math.max(1, left);
  }
  return { sideBySide, pciWidth, scsiWidth, perRow, cellWidth, paneInner, scsiListRows, messageLines, noteLines };
}

/** The first visible index of a list of `count` items with `visible` lines, keeping `selected` in view. */
export function scrollWindow(selected: number, count: number, visible: number, previousTop = 0): number {
  if (visible <= 0 || count <= visible) return 0;
  let top = Math.min(Math.max(0, previousTop), count - visible);
  if (selected < top) top = selected;
  if (selected >= top + visible) top = selected - visible + 1;
  return Math.max(0, Math.min(top, count - visible));
}

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

/** Lines the instance list can show: the frame minus title, banner, column header, filter/status and keys. */
export function listRows(size: Size, bannerLines: number): number {
  return Math.max(3, frameHeight(size) - 1 - bannerLines - 1 - 1 - 1);
}
