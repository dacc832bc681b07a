/**
 * Layout maths of the instance screen and its maps, without rendering: how many slots per row for
 * a width, what fits 80×24 and bigger terminals, the text of a grid cell, the folded SCSI list.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameHeight, instanceLayout as fittedLayout, instanceLines, pciGridRows, pciSlotsPerRow, PCI_CELL_NARROW, PCI_CELL_WIDE, PCI_ROW_LABEL, scrollWindow, type InstanceLayout, type Size } from '../../components/layout.js';
import { cellText, mapCells, scsiRows, targetRange, type PciCell } from '../../components/instance/cells.js';
import { legendLines } from '../../components/instance/Legend.js';
import { scsiTitle, scsiVisibleRows } from '../../components/instance/ScsiMap.js';
import { wrapLines, truncate } from '../../components/text.js';
import { buildBusModel } from '../../src/bus/model.js';
import { allocate } from '../../src/bus/allocate.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The layout at a size where it fits. */
function instanceLayout(size: Size, scsiRowsNeeded?: number): InstanceLayout {
  const l = fittedLayout(size, scsiRowsNeeded);
  if (!l.fits) throw new Error(`no layout at ${size.columns}×${size.rows}: needs ${l.need.columns}×${l.need.rows}`);
  return l;
}

describe('PCI grid', () => {
  it('puts 8 slots per row when they fit, then 4, then 2', () => {
    expect(pciSlotsPerRow(PCI_ROW_LABEL + 8 * PCI_CELL_NARROW)).toBe(8);
    expect(pciSlotsPerRow(PCI_ROW_LABEL + 8 * PCI_CELL_NARROW - 1)).toBe(4);
    expect(pciSlotsPerRow(PCI_ROW_LABEL + 4 * PCI_CELL_NARROW - 1)).toBe(2);
    expect(pciSlotsPerRow(PCI_ROW_LABEL + 8 * PCI_CELL_WIDE, PCI_CELL_WIDE)).toBe(8);
    expect(pciGridRows(8)).toBe(4);
    expect(pciGridRows(4)).toBe(8);
  });

  it('80×24: panes side by side, 8 slots per row, the whole screen within 23 lines and 80 columns', () => {
    const l = instanceLayout({ columns: 80, rows: 24 });
    expect(l).toMatchObject({ sideBySide: true, perRow: 8, cellWidth: PCI_CELL_NARROW });
    expect(l.pciWidth + l.scsiWidth).toBe(80);
    expect(l.scsiWidth).toBeGreaterThanOrEqual(30);
    expect(l).toMatchObject({ noteLines: 1, selectionLines: 2, nextLines: 1, legendLines: 2 });
    const lines = 1 + l.noteLines + l.paneInner + 2 + 2 + 1 + 2 + l.messageLines + 1;
    expect(lines).toBe(frameHeight({ columns: 80, rows: 24 }));
    expect(instanceLines(l)).toBe(lines);
    expect(l.paneInner).toBeGreaterThanOrEqual(2 + pciGridRows(8));
    expect(l.scsiListRows).toBeGreaterThanOrEqual(8);
    expect(l.messageLines).toBeGreaterThanOrEqual(1);
  });

  it('uses more room when there is: wide cells from 120 columns, more list lines and messages when taller', () => {
    const small = instanceLayout({ columns: 80, rows: 24 });
    const big = instanceLayout({ columns: 160, rows: 50 });
    expect(big.cellWidth).toBe(PCI_CELL_WIDE);
    expect(big.scsiListRows).toBeGreaterThan(small.scsiListRows);
    expect(big.messageLines).toBeGreaterThanOrEqual(small.messageLines);
  });

  it('never needs more lines than the frame has, for any terminal from 60×16 up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 60, max: 400 }), fc.integer({ min: 16, max: 200 }), fc.option(fc.integer({ min: 1, max: 300 })), (columns, rows, scsi) => {
        const l = instanceLayout({ columns, rows }, scsi ?? undefined);
        expect(instanceLines(l)).toBeLessThanOrEqual(frameHeight({ columns, rows }));
        // The panes, the selection and the keys are always there; the SCSI list has a row at least.
        expect(l.paneInner).toBeGreaterThanOrEqual(l.gridLines);
        expect(l.scsiListRows).toBeGreaterThanOrEqual(1);
        expect(l.selectionLines).toBeGreaterThanOrEqual(1);
        expect(l.sideBySide ? l.pciWidth + l.scsiWidth : l.pciWidth).toBeLessThanOrEqual(columns);
        expect(PCI_ROW_LABEL + l.perRow * l.cellWidth + 2).toBeLessThanOrEqual(l.pciWidth);
      }),
    );
  });

  it('does not grow the panes past the SCSI rows they show: the lines go to the messages', () => {
    const free = instanceLayout({ columns: 120, rows: 40 });
    const fitted = instanceLayout({ columns: 120, rows: 40 }, 3);
    expect(fitted.paneInner).toBe(2 + pciGridRows(8));
    expect(fitted.messageLines - free.messageLines).toBe(free.paneInner - fitted.paneInner);
    expect(instanceLayout({ columns: 120, rows: 40 }, 100).scsiListRows).toBe(free.scsiListRows);
  });

  it('stacks the panes on a narrow terminal', () => {
    const l = instanceLayout({ columns: 60, rows: 40 });
    expect(l.sideBySide).toBe(false);
    expect(l.perRow).toBe(8);
  });

  it('gives up the notes, the legend, the next line and the messages, in that order, as lines get short', () => {
    const at = (rows: number) => instanceLayout({ columns: 100, rows });
    // Side by side at 100 columns: title, panes (8), selection, keys = 11 lines: 12 rows.
    expect(at(12)).toMatchObject({ messageLines: 0, nextLines: 0, selectionLines: 1, noteLines: 0, legendLines: 0 });
    expect(at(13)).toMatchObject({ messageLines: 1, nextLines: 0 });
    expect(at(14)).toMatchObject({ messageLines: 1, nextLines: 1, selectionLines: 1 });
    expect(at(16)).toMatchObject({ selectionLines: 2, noteLines: 1, legendLines: 0 });
    expect(at(18)).toMatchObject({ legendLines: 2 });
  });

  it('says what it needs below the smallest size: more rows for stacked panes, 60 columns at least', () => {
    expect(fittedLayout({ columns: 100, rows: 11 })).toEqual({ fits: false, need: { columns: 100, rows: 12 } });
    // 60 columns: the panes are stacked (PCI 8 lines, SCSI at least 4).
    expect(fittedLayout({ columns: 60, rows: 15 })).toEqual({ fits: false, need: { columns: 60, rows: 16 } });
    expect(fittedLayout({ columns: 60, rows: 16 }).fits).toBe(true);
    expect(fittedLayout({ columns: 40, rows: 50 })).toEqual({ fits: false, need: { columns: 60, rows: 16 } });
  });
});

describe('cells', () => {
  const cell = (p: Partial<PciCell>): PciCell => ({ slot: 12, kind: 'disk', tag: 'D0', long: 'D0 vblk', mark: 'ok', next: [], reserved: false, ...p });

  it('is exactly the cell width, brackets the selection, shades the QEMU range, puts the mark after the tag', () => {
    expect(cellText(cell({}), 5, false)).toBe(' D0  ');
    expect(cellText(cell({}), 5, true)).toBe('[D0 ]');
    expect(cellText(cell({ mark: 'pending' }), 5, false)).toBe(' D0… ');
    expect(cellText(cell({ kind: 'reserved', tag: '', reserved: true }), 5, false)).toBe('░░░░░');
    expect(cellText(cell({ kind: 'qemu', tag: 'hb', reserved: true }), 5, false)).toBe('░hb░░');
    expect(cellText(cell({ tag: 'D12', mark: 'drift' }), 5, false)).toBe(' D12~');
    expect(cellText(cell({}), 9, false)).toBe(' D0 vblk ');
    for (const w of [5, 9]) for (const sel of [true, false]) expect(cellText(cell({ tag: 'D15', long: 'D15 vblk', mark: 'missing' }), w, sel)).toHaveLength(w);
  });

  it('maps a real runtime file: QEMU’s devices, the disks by index, free slots and the next slot', () => {
    const text = readFileSync(path.join(here, '..', 'fixtures', 'runtime', 'scsi-current.runtime'), 'utf8');
    const rf = parseRuntimeText(text, 'scsi-current.runtime');
    const model = buildBusModel(rf);
    const cells = mapCells({ rf, model, marks: new Map(), next: { disk: allocate(model, rf, { kind: 'disk' }), nic: allocate(model, rf, { kind: 'nic' }) } });
    expect(cells.pci).toHaveLength(32);
    expect(cells.pci[0]).toMatchObject({ kind: 'qemu', tag: 'hb' });
    const reserved = cells.pci.filter((c) => c.reserved);
    expect(reserved).toHaveLength(model.pci.reservations);
    for (const c of cells.pci.filter((c) => c.kind === 'nic')) expect(c.tag).toMatch(/^N\d+$/);
    if (cells.scsi) {
      const used = cells.scsi.filter((r) => r.kind === 'device');
      expect(used.length).toBe(model.scsi!.targets.filter((t) => t.state === 'used').length);
      // Every target of the range is in exactly one row.
      const covered = cells.scsi.reduce((n, r) => n + r.last - r.first + 1, 0);
      expect(covered).toBe(model.scsi!.maxTarget + 1);
    }
  });

  it('folds runs of free targets, keeps the next target on its own row', () => {
    const targets = Array.from({ length: 256 }, (_, t) => (t < 3 ? { target: t, state: 'used' as const, device: { id: `disk-${t}`, driver: 'scsi-hd', kind: 'disk' as const, source: 'runtime' as const } } : { target: t, state: 'free' as const }));
    const rows = scsiRows({ bus: 'scsi.0', controller: 'virtio-scsi-pci', maxTarget: 255, targets }, new Map(), new Map(), 3);
    expect(rows.map((r) => [r.kind, targetRange(r)])).toEqual([
      ['device', 't0'],
      ['device', 't1'],
      ['device', 't2'],
      ['next', 't3'],
      ['free', 't4–255'],
    ]);
  });

  it('the SCSI pane title and list fit the pane', () => {
    const scsi = { bus: 'scsi.0' as const, controller: 'virtio-scsi-pci', maxTarget: 255, targets: Array.from({ length: 256 }, (_, target) => ({ target, state: 'free' as const })) };
    for (const w of [28, 33, 60]) expect(scsiTitle(scsi, w).length).toBeLessThanOrEqual(w);
    expect(scsiVisibleRows(5, 9)).toBe(9);
    expect(scsiVisibleRows(12, 9)).toBe(8);
  });

  it('the legend fits the width', () => {
    for (const w of [80, 100, 140]) for (const l of legendLines(w)) expect(l.length).toBeLessThanOrEqual(w);
  });
});

describe('text', () => {
  it('scrollWindow keeps the selection visible and moves as little as possible', () => {
    expect(scrollWindow(0, 5, 10)).toBe(0);
    expect(scrollWindow(12, 30, 10)).toBe(3);
    expect(scrollWindow(12, 30, 10, 5)).toBe(5);
    expect(scrollWindow(2, 30, 10, 5)).toBe(2);
    expect(scrollWindow(29, 30, 10, 0)).toBe(20);
  });

  it('wrapLines never exceeds the width and loses no character but spaces at the breaks', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 300 }), { maxLength: 5 }), fc.integer({ min: 20, max: 120 }), (ls, w) => {
        const out = wrapLines(ls, w, 4);
        for (const l of out) expect(l.length).toBeLessThanOrEqual(w);
        expect(out.join('').replace(/\s/g, '')).toBe(ls.join('').replace(/\s/g, ''));
      }),
    );
  });

  it('truncate marks a cut with …', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abc', 4)).toBe('abc');
  });
});
