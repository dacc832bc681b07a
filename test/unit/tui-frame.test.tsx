/**
 * The frame never breaks: every screen (instances, instance, detail, the wizard's steps, unplug,
 * what-if, QMP log, help), over terminal sizes from 60×16 to 250×80 (fast-check) and over the
 * demo's instances, the runtime fixtures and generated ones (16 disks and 8 NICs, long names, names
 * and paths with characters shown escaped and CJK), keeps within the terminal: at most `rows - 1`
 * lines, no line wider than `columns`, nothing squashed or cut by the layout engine
 * (tui-frame-check.ts), the screen's title on the first line. Each case mounts the App once and
 * resizes it through the sizes (what a terminal resize does). Below the smallest size a screen
 * lays out, it says "terminal too small (need W×H)".
 *
 * The concrete failures this was written for: the what-if screen at 100×30 and 100×60 (its title
 * and first parameter lost, stale characters), the PCI pane's note that wrapped at 100+ columns.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { DOMElement } from 'ink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import type { Screen } from '../../components/app-state.js';
import { tooSmallText } from '../../components/layout.js';
import { DEMO_INSTANCES } from '../../src/cli/demo.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { deviceAt, runtimeEntryOf, type MapPlace } from '../../src/tui/detail.js';
import type { InstanceView } from '../../src/tui/view.js';
import { createSandboxInstance } from '../../src/demo/sandbox.js';
import { frameTextProblems, layoutProblems, type Size } from './tui-frame-check.js';
import { FakeRunService, KEYS, makeRoot, renderTui, settle, type Rendered, type TestRoot } from './tui-helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Text from outside that the view shows escaped, wide characters, and long words. */
const HOSTILE = '\u001b]0;PWNED\u0007\u009b2J\u202e磁盘\u2066x';
const LONG_NAME = 'a-very-long-instance-name-that-does-not-fit-anywhere.cluster.example.com';

let root: TestRoot;
const names: string[] = [];

/** A service whose views are live (QEMU answered, as the runtime file says), with warnings, notes and a banner to lay out. */
class FrameService extends FakeRunService {
  override async loadView(name: string, opts: { signal?: AbortSignal; record?: boolean } = {}): Promise<InstanceView> {
    const view = await super.loadView(name, opts);
    return name.startsWith('hostile') ? { ...view, warnings: [`pending record ${HOSTILE} is broken: ${'x'.repeat(150)}`, `second warning ${HOSTILE}`] } : view;
  }
}

function makeService(): FrameService {
  const transcript = new Transcript();
  const s = new FrameService({ root: root.root, transcript });
  s.live = true;
  s.refuseNic = false;
  s.setBanner(['demo sandbox /tmp/pb-demo-xyz: six instances, real paused QEMUs', `a second banner line with ${HOSTILE}`, 'a third one']);
  for (const n of names) s.setNotes(n, [`about ${n}: ${'note '.repeat(30)}`, `second note ${HOSTILE}`]);
  const sock = `${root.root}/ctrl/web1.qmp`;
  transcript.record('out', sock, '{"execute":"query-pci","id":1}');
  transcript.record('in', sock, `{"return": [{"bus": 0, "devices": [{"qdev_id": "${HOSTILE}"}]}], "id": 1}`);
  transcript.record('in', sock, `{"return": "${'y'.repeat(600)}"}`);
  return s;
}

beforeAll(async () => {
  root = await makeRoot([
    ...DEMO_INSTANCES.map((d) => d.spec),
    { name: 'big16', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 16, nics: 8 },
    { name: 'pci16', disks: 16, nics: 8, reservations: 4 },
    { name: LONG_NAME, diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 3, nics: 2 },
    { name: 'bare', disks: 0, nics: 0 },
  ]);
  // The runtime fixtures (Ganeti 3.0's current form and the legacy ones it upgrades).
  for (const f of ['scsi-current', 'legacy-pci', 'legacy-3-items']) {
    copyFileSync(path.join(here, '..', 'fixtures', 'runtime', `${f}.runtime`), path.join(root.root, 'conf', `fx-${f}.runtime`));
  }
  // Words from outside in the runtime file: disk paths, a NIC's bridge, a device id.
  const hostile = await createSandboxInstance(root.root, { name: 'hostile1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 3, nics: 1 }, '/usr/bin/qemu-system-x86_64');
  const doc = JSON.parse(readFileSync(hostile.runtimeFile, 'utf8')) as [unknown[], { nicparams: { link: string } }[], unknown, [unknown, string, unknown][]];
  doc[3].forEach((d, i) => (d[1] = `${root.root}/disks/${HOSTILE}-${i}.img`));
  doc[1][0]!.nicparams.link = `br${HOSTILE}`;
  writeFileSync(hostile.runtimeFile, JSON.stringify(doc));
  writeFileSync(path.join(root.root, 'disks', 'free.img'), Buffer.alloc(1 << 20));
  names.push(...DEMO_INSTANCES.map((d) => d.spec.name), 'big16', 'pci16', LONG_NAME, 'bare', 'fx-scsi-current', 'fx-legacy-pci', 'fx-legacy-3-items', 'hostile1');
}, 60_000);
afterAll(() => root.remove());

/** The first place on the map with a Ganeti disk or NIC (for detail and unplug), else slot 0. */
function devicePlace(view: InstanceView): { place: MapPlace; id?: string; kind?: 'disk' | 'nic' } {
  for (const t of view.model.scsi?.targets ?? []) {
    const place: MapPlace = { bus: 'scsi.0', target: t.target };
    const r = runtimeEntryOf(view, deviceAt(view, place));
    if (r) return { place, id: deviceAt(view, place)!.id, kind: r.kind };
  }
  for (const s of view.model.pci.slots) {
    const place: MapPlace = { bus: 'pci.0', slot: s.slot };
    const r = runtimeEntryOf(view, deviceAt(view, place));
    if (r) return { place, id: deviceAt(view, place)!.id, kind: r.kind };
  }
  return { place: { bus: 'pci.0', slot: 0 } };
}

/** How a screen is reached: the stack to start with, then keys (each with what to wait for). */
interface ScreenCase {
  name: string;
  /** The first line starts with this. */
  title: (instance: string) => string;
  stack: (instance: string, view: InstanceView) => Screen[] | null;
  /** Shown when the screen has its keys (before the keys are sent). */
  ready?: RegExp;
  keys?: (instance: string) => [string, string | RegExp][];
}

const instanceStack = (n: string): Screen[] => [{ kind: 'instances' }, { kind: 'instance', name: n }];
const imagePath = () => path.join(root.root, 'disks', 'free.img');

const SCREENS: ScreenCase[] = [
  { name: 'instances', title: () => 't · ', stack: () => [{ kind: 'instances' }] },
  { name: 'instance', title: (n) => n, stack: (n) => instanceStack(n) },
  { name: 'instance (scsi pane)', title: (n) => n, stack: (n, v) => (v.model.scsi ? instanceStack(n) : null), keys: () => [[KEYS.tab, /▸/]] },
  { name: 'detail', title: (n) => n, stack: (n, v) => [...instanceStack(n), { kind: 'detail', name: n, place: devicePlace(v).place }] },
  { name: 'what-if', title: (n) => `What if ${n}`.slice(0, 40), stack: (n) => [...instanceStack(n), { kind: 'whatif', name: n }] },
  {
    name: 'what-if (other values, output focused)',
    title: (n) => `What if ${n}`.slice(0, 40),
    stack: (n) => [...instanceStack(n), { kind: 'whatif', name: n }],
    ready: /‹/,
    keys: () => [
      [KEYS.right, /now: /],
      [KEYS.tab, /./],
    ],
  },
  { name: 'QMP log', title: () => 'QMP log', stack: () => [{ kind: 'qmplog' }] },
  { name: 'help', title: () => 'plugboard · keys', stack: () => [{ kind: 'help' }] },
  { name: 'wizard: kind', title: () => 'Hot-add to', stack: (n) => [...instanceStack(n), { kind: 'wizard', name: n }] },
  { name: 'wizard: type', title: () => 'Hot-add to', stack: (n) => [...instanceStack(n), { kind: 'wizard', name: n }], ready: /What do you want/, keys: () => [[KEYS.enter, /disk_type of the new disk/]] },
  {
    name: 'wizard: path',
    title: () => 'Hot-add to',
    stack: (n) => [...instanceStack(n), { kind: 'wizard', name: n }],
    ready: /What do you want/,
    keys: () => [
      [KEYS.enter, /disk_type of/],
      [KEYS.enter, /Host path/],
      // Typed: no control characters (they are keys), but a bidi override and wide characters.
      [`/nonexistent/${'deep/'.repeat(20)}磁盘\u202e.img`, /✗/],
    ],
  },
  {
    name: 'wizard: preview',
    title: () => 'Hot-add to',
    stack: (n) => [...instanceStack(n), { kind: 'wizard', name: n }],
    ready: /What do you want/,
    keys: () => [
      [KEYS.enter, /disk_type of/],
      [KEYS.enter, /Host path/],
      [imagePath(), /✓|✗/],
      [KEYS.enter, /plan: hot-add|refused|✗/],
    ],
  },
  {
    name: 'wizard: confirm and result',
    title: () => 'Hot-add to',
    stack: (n) => [...instanceStack(n), { kind: 'wizard', name: n }],
    ready: /What do you want/,
    keys: () => [
      [KEYS.enter, /disk_type of/],
      [KEYS.enter, /Host path/],
      [imagePath(), /✓|✗/],
      [KEYS.enter, /plan: hot-add|refused|✗/],
      [KEYS.enter, /Hot-add disk|refused|✗/],
      ['y', /QMP transcript|refused|✗/],
    ],
  },
  {
    name: 'wizard: NIC MAC and bridge',
    title: () => 'Hot-add to',
    stack: (n) => [...instanceStack(n), { kind: 'wizard', name: n }],
    ready: /What do you want/,
    keys: () => [
      [KEYS.down, /❯ NIC/],
      [KEYS.enter, /nic_type of/],
      [KEYS.enter, /MAC address/],
      ['zz:zz', /✗/],
    ],
  },
  {
    name: 'unplug: confirm',
    title: () => 'Unplug',
    stack: (n, v) => {
      const d = devicePlace(v);
      return d.id && d.kind ? [...instanceStack(n), { kind: 'unplug', name: n, place: d.place, deviceId: d.id, deviceKind: d.kind }] : null;
    },
    ready: /Type yes|\? y and Enter|refused/,
    keys: () => [['ye', /> ye/]],
  },
  {
    name: 'unplug: result',
    title: () => 'Unplug',
    stack: (n, v) => {
      const d = devicePlace(v);
      return d.id && d.kind ? [...instanceStack(n), { kind: 'unplug', name: n, place: d.place, deviceId: d.id, deviceKind: d.kind }] : null;
    },
    ready: /Type yes|\? y and Enter|refused/,
    keys: () => [
      ['yes', /> yes/],
      [KEYS.enter, /QMP transcript|refused|✗|pending/],
    ],
  },
];

interface Mounted {
  t: Rendered;
  setSize(size: Size): Promise<string>;
  root(): DOMElement;
}

/** Mounts the App on a screen, drives the keys, and returns a way to resize it. */
async function mount(screen: ScreenCase, instance: string, service: FrameService): Promise<Mounted | null> {
  const view = await service.loadView(instance);
  const stack = screen.stack(instance, view);
  if (!stack) return null;
  let rootEl: DOMElement | null = null;
  const ref = (el: DOMElement | null) => {
    rootEl = el;
  };
  const t = renderTui(<App service={service} title="t" first={stack} rootRef={ref} />, { columns: 120, rows: 40 }, { followTerminal: true });
  await t.waitFor((f) => !/loading( \S+)?…/.test(f) && f.trim() !== '' && !/asking QEMU…$/m.test(f) && (!screen.ready || screen.ready.test(f)), 8_000);
  for (const [k, expected] of screen.keys?.(instance) ?? []) await t.press(k, expected, 8_000);
  return {
    t,
    root: () => rootEl!,
    setSize: async (size) => {
      // As a terminal resize: the new size, then the signal the view listens to.
      t.stdout.columns = size.columns;
      t.stdout.rows = size.rows;
      t.stdout.emit('resize');
      // The frame of that size, after the effects it starts (scroll positions…) have run.
      let last = '';
      for (let i = 0; i < 20; i++) {
        await settle();
        const f = t.frame();
        if (f === last && (rootEl as { yogaNode?: { getComputedLayout(): { width: number } } } | null)?.yogaNode?.getComputedLayout().width === size.columns) return f;
        last = f;
      }
      return last;
    },
  };
}

/** Everything wrong with the screen at `size` (empty when it holds). */
function problems(m: Mounted, frame: string, size: Size, screen: ScreenCase, instance: string): string[] {
  const out = [...frameTextProblems(frame, size), ...layoutProblems(m.root())];
  const first = frame.split('\n')[0] ?? '';
  const title = screen.title(instance).slice(0, Math.max(1, size.columns - 1));
  if (first.startsWith('terminal too small')) out.push(`says ${JSON.stringify(first)} at ${size.columns}×${size.rows}, where every screen lays out`);
  else if (!first.startsWith(title)) out.push(`the first line is ${JSON.stringify(first)}, not the title ${JSON.stringify(title)}`);
  return out.map((p) => `${screen.name} of ${instance} at ${size.columns}×${size.rows}: ${p}`);
}

const sizeArb = fc.record({ columns: fc.integer({ min: 60, max: 250 }), rows: fc.integer({ min: 16, max: 80 }) });

describe('the frame fits the terminal', () => {
  it('every screen at the sizes named in the issue and at the corners of the range (60×16 … 250×80)', async () => {
    const service = makeService();
    const sizes: Record<string, Size[]> = {
      db1: [
        { columns: 60, rows: 16 },
        { columns: 80, rows: 24 },
        { columns: 100, rows: 30 },
        { columns: 100, rows: 60 },
        { columns: 250, rows: 80 },
      ],
      hostile1: [
        { columns: 60, rows: 16 },
        { columns: 119, rows: 16 },
        { columns: 60, rows: 80 },
        { columns: 250, rows: 16 },
      ],
    };
    const found: string[] = [];
    for (const screen of SCREENS) {
      for (const [instance, list] of Object.entries(sizes)) {
        const m = await mount(screen, instance, service);
        if (!m) continue;
        try {
          for (const size of list) found.push(...problems(m, await m.setSize(size), size, screen, instance));
        } finally {
          m.t.unmount();
        }
      }
    }
    expect(found).toEqual([]);
  }, 240_000);

  it('property: every screen, every instance (demo, fixtures, 16 disks / 8 NICs, long and hostile names), sizes from 60×16 to 250×80', async () => {
    const service = makeService();
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SCREENS), fc.constantFrom(...names), fc.array(sizeArb, { minLength: 3, maxLength: 5 }), async (screen, instance, sizes) => {
        const m = await mount(screen, instance, service);
        if (!m) return;
        try {
          const found: string[] = [];
          for (const size of sizes) {
            found.push(...problems(m, await m.setSize(size), size, screen, instance));
            checked++;
          }
          expect(found).toEqual([]);
        } finally {
          m.t.unmount();
        }
      }),
      // PLUGBOARD_FRAME_RUNS=500 for a longer search.
      { numRuns: Number(process.env['PLUGBOARD_FRAME_RUNS'] ?? 40), endOnFailure: true },
    );
    expect(checked).toBeGreaterThanOrEqual(80);
  }, 1_800_000);

  it('below the smallest size a screen can lay out, it says so instead of drawing a broken frame', async () => {
    const service = makeService();
    const tiny: Size[] = [
      { columns: 59, rows: 40 },
      { columns: 100, rows: 4 },
      { columns: 30, rows: 3 },
      { columns: 12, rows: 2 },
    ];
    for (const screen of SCREENS.filter((s) => !s.keys)) {
      const m = await mount(screen, 'store1', service);
      if (!m) continue;
      try {
        for (const size of tiny) {
          const f = await m.setSize(size);
          expect(frameTextProblems(f, size), `${screen.name} at ${size.columns}×${size.rows}`).toEqual([]);
          expect(f.split('\n')[0], `${screen.name} at ${size.columns}×${size.rows}`).toMatch(/^(terminal too small \(need \d+×\d+\)|too small: need \d+×\d+|\d+×\d+)/);
        }
      } finally {
        m.t.unmount();
      }
    }
    expect(tooSmallText({ columns: 60, rows: 16 }, 80)).toBe('terminal too small (need 60×16)');
  }, 120_000);
});
