/**
 * The instance list as a person reads it: every instance with status, types, controller and counts;
 * filtering by typing; opening an instance; what it says when the root has no instances.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import { InstanceService } from '../../src/tui/service.js';
import { KEYS, lines, makeRoot, renderTui, type Rendered, type TestRoot } from './tui-helpers.js';

let root: TestRoot;
let ui: Rendered | undefined;

beforeAll(async () => {
  root = await makeRoot([
    { name: 'web1', disks: 2, nics: 1 },
    { name: 'db1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 3, nics: 1 },
    { name: 'store1', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 5, nics: 2 },
    { name: 'old1', legacy: true, disks: 1, nics: 0 },
  ]);
});
afterAll(() => root.remove());
afterEach(() => ui?.unmount());

function open(rootDir: string, size = { columns: 80, rows: 24 }): Rendered {
  const service = new InstanceService({ root: rootDir });
  ui = renderTui(<App service={service} title="plugboard test" />, size);
  return ui;
}

describe('instance list', () => {
  it('lists every instance with status, disk_type, nic_type, controller and disk/NIC counts', async () => {
    const t = open(root.root);
    const f = await t.waitFor((f) => f.includes('store1') && f.includes('megasas') && !f.includes('loading'));
    const row = (name: string) => lines(f).find((l) => l.includes(` ${name} `))!;
    expect(row('db1')).toMatch(/db1\s+stopped\s+scsi-hd\s+paravirtual\s+lsi\s+3\s+1/);
    expect(row('store1')).toMatch(/store1\s+stopped\s+scsi-hd\s+paravirtual\s+megasas\s+5\s+2/);
    expect(row('web1')).toMatch(/web1\s+stopped\s+paravirtual\s+paravirtual\s+-\s+2\s+1/);
    expect(row('old1')).toContain('legacy');
    expect(f).toContain('4 instances');
  });

  it('fits 80×24: no line wider than 80 columns, no more than 23 lines', async () => {
    const t = open(root.root);
    const f = await t.waitFor((f) => f.includes('megasas'));
    const ls = lines(f);
    expect(ls.length).toBeLessThanOrEqual(23);
    for (const l of ls) expect(l.length).toBeLessThanOrEqual(80);
  });

  it('filters by typing: "st" keeps store1 only; Esc clears the filter', async () => {
    const t = open(root.root);
    await t.waitFor((f) => f.includes('megasas'));
    let f = await t.press(['s', 't'], 'filter: st');
    expect(f).toContain('store1');
    expect(f).not.toMatch(/\bweb1\b/);
    expect(f).not.toMatch(/\bdb1\b/);
    f = await t.press(KEYS.escape, (f) => f.includes('web1') && !f.includes('filter:'));
    expect(f).toContain('db1');
  });

  it('filters on the controller too ("lsi" finds db1)', async () => {
    const t = open(root.root);
    await t.waitFor((f) => f.includes('megasas'));
    const f = await t.press(['/', 'l', 's', 'i'], 'filter: lsi');
    expect(f).toMatch(/\bdb1\b/);
    expect(f).not.toMatch(/\bstore1\b/);
  });

  it('opens the selected instance with Enter and comes back with Esc', async () => {
    const t = open(root.root);
    await t.waitFor((f) => f.includes('megasas'));
    await t.press(KEYS.down, '> old1');
    let f = await t.press(KEYS.enter, 'pci.0 · 32 slots');
    expect(f).toContain('old1 ·');
    f = await t.press(KEYS.escape, '4 instances');
    expect(f).toContain('> old1');
  });

  it('explains what to do when the root has no instances', async () => {
    const empty = await makeRoot([]);
    try {
      const t = open(empty.root);
      const f = await t.waitFor('No instances under');
      expect(f).toContain('--root DIR');
      expect(f).toContain('plugboard demo');
    } finally {
      empty.remove();
    }
  });

  it('says why when the root does not exist', async () => {
    const t = open('/nonexistent/plugboard-root');
    const f = await t.waitFor('does not exist');
    expect(f).toContain('/nonexistent/plugboard-root');
    expect(f).toContain('--root DIR');
  });
});
