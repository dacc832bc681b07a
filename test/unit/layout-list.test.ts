/** Layout maths of the instance list: column widths for a width, rows that fit. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameHeight, listColumns, listRows } from '../../components/layout.js';

const total = (c: ReturnType<typeof listColumns>) => 2 + c.name + c.status + c.diskType + c.nicType + c.controller + c.disks + c.nics + c.marks;

describe('instance list columns', () => {
  it('at 80 columns every column fits, the name column is at least 10 wide and the marks keep room', () => {
    const c = listColumns(80, 6);
    expect(total(c)).toBe(80);
    expect(c.name).toBeGreaterThanOrEqual(10);
    expect(c.marks).toBeGreaterThanOrEqual(8);
    expect(c.diskType).toBeGreaterThanOrEqual('scsi-generic'.length);
  });

  it('gives long names room on wide terminals, up to 30', () => {
    expect(listColumns(200, 40).name).toBe(30);
    expect(listColumns(200, 20).name).toBe(22);
  });

  it('never exceeds the width from 80 columns up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 80, max: 300 }), fc.integer({ min: 1, max: 253 }), (w, n) => {
        expect(total(listColumns(w, n))).toBeLessThanOrEqual(w);
      }),
    );
  });

  it('shows as many rows as fit under the title, banner, header and the two bottom lines', () => {
    expect(listRows({ columns: 80, rows: 24 }, 2)).toBe(frameHeight({ columns: 80, rows: 24 }) - 6);
    expect(listRows({ columns: 80, rows: 24 }, 0)).toBe(19);
  });
});
