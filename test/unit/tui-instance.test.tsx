/**
 * The instance screen as a person reads it: the 32 slots of pci.0 with the QEMU-managed range
 * shaded, QEMU's own devices, disks, NICs, free slots and the next hot-add slot; the SCSI map with
 * the controller's whole range; drift and pending unplugs marked; a legend; 80×24 and bigger;
 * resize; moving the selection and switching panes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import type { LiveState } from '../../src/live/probe.js';
import type { RuntimeFile } from '../../src/runtime/types.js';
import { InstanceService } from '../../src/tui/service.js';
import { buildInstanceView, type InstanceView } from '../../src/tui/view.js';
import { KEYS, lines, makeRoot, renderTui, type Rendered, type TestRoot } from './tui-helpers.js';

let root: TestRoot;
let ui: Rendered | undefined;

beforeAll(async () => {
  root = await makeRoot([
    { name: 'web1', disks: 2, nics: 1 },
    { name: 'db1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 3, nics: 1 },
    { name: 'store1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 12, nics: 1 },
  ]);
});
afterAll(() => root.remove());
afterEach(() => ui?.unmount());

const hvId = (h: unknown): string => (h as { id: string }).id;

/** QEMU as the probe would report it for web1: disk0 present (its unplug pending), disk1 gone, an unknown disk at 0x12. */
function liveFor(rf: RuntimeFile): LiveState {
  const fn = (slot: number, qdevId: string, driver: string | undefined, classDesc: string) => ({
    slot,
    function: 0,
    qdevId,
    driver,
    classCode: 0x100,
    classDesc,
    vendorId: 0x1af4,
    deviceId: 0x1001,
  });
  const disk0 = hvId(rf.disks[0]!.hvinfo);
  const nic0 = hvId(rf.nics[0]!.hvinfo);
  return {
    pci: [
      fn(0, '', undefined, 'Host bridge'),
      fn(1, '', undefined, 'ISA bridge'),
      fn(2, '', undefined, 'VGA controller'),
      fn(3, '', undefined, 'Class 00ff'),
      fn(0xc, disk0, 'virtio-blk-pci', 'SCSI controller'),
      fn(0xe, nic0, 'virtio-net-pci', 'Ethernet controller'),
      fn(0x12, 'disk-ffffffff-0000-1111', 'virtio-blk-pci', 'SCSI controller'),
    ],
    peripherals: [
      { id: disk0, driver: 'virtio-blk-pci' },
      { id: nic0, driver: 'virtio-net-pci' },
      { id: 'disk-ffffffff-0000-1111', driver: 'virtio-blk-pci' },
    ],
    scsi: [],
    blocks: [],
    controller: null,
    notes: [],
  };
}

/** The core's view of web1 with that live state, instead of asking a QEMU. */
class LiveWeb1Service extends InstanceService {
  override async loadView(name: string): Promise<InstanceView> {
    const rf = await this.loadFile(name);
    if (name !== 'web1') return super.loadView(name);
    const disk0 = hvId(rf.disks[0]!.hvinfo);
    return buildInstanceView({
      rf,
      live: liveFor(rf),
      liveStatus: { kind: 'live', at: Date.now() },
      pending: [{ id: disk0, since: '2025-01-01T10:00:00.000Z', kind: 'disk' }],
    });
  }
}

function openInstance(name: string, size = { columns: 80, rows: 24 }, service: InstanceService = new InstanceService({ root: root.root }), followTerminal = false): Rendered {
  ui = renderTui(<App service={service} title="t" first={{ kind: 'instance', name }} />, size, { followTerminal });
  return ui;
}

const gridRow = (f: string, label: string) => lines(f).find((l) => l.includes(`${label} `) && l.includes('│'))!;

describe('PCI map', () => {
  it('shows all 32 slots: the QEMU range shaded, QEMU’s devices, disks, the NIC, free slots and the next slot', async () => {
    const t = openInstance('web1');
    const f = await t.waitFor('pci.0 · 32 slots · 0x00–0x0b left to QEMU');
    expect(f).toContain('+0   +1   +2   +3   +4   +5   +6   +7');
    expect(gridRow(f, '0x00')).toMatch(/░hb░.*isa.*vga.*bal/);
    // 0x08–0x0b are shaded (left to QEMU, empty); 0x0c/0x0d the disks, 0x0e the NIC, 0x0f next.
    expect(gridRow(f, '0x08')).toMatch(/0x08 ░{20}\[?D0 ?\]? +D1 +N0 +\+/);
    expect(gridRow(f, '0x10')).toMatch(/0x10 +(· +){7}·/);
    expect(gridRow(f, '0x18')).toBeTruthy();
    expect(f).toContain('next hot-add: disk → pci.0 slot 0x0f · NIC → pci.0 slot 0x0f');
    expect(f).toContain('scsi.0 · none');
  });

  it('has a legend that explains every mark without colour', async () => {
    const t = openInstance('web1');
    const f = await t.waitFor('░ QEMU range');
    expect(f).toMatch(/D0 disk · N0 NIC · · free · \+ next/);
    expect(f).toMatch(/~ drift · … unplug pending · ! not in QEMU · \* only in QEMU/);
  });

  it('fits 80×24: at most 23 lines of at most 80 columns', async () => {
    const t = openInstance('db1');
    const f = await t.waitFor('scsi.0');
    expect(lines(f).length).toBeLessThanOrEqual(23);
    for (const l of lines(f)) expect(l.length).toBeLessThanOrEqual(80);
  });

  it('starts on the first disk and moves the selection with the arrow keys and hjkl', async () => {
    const t = openInstance('web1');
    let f = await t.waitFor('pci.0 slot 0x0c: disk/0');
    expect(gridRow(f, '0x08')).toContain('[D0 ]');
    await t.press(KEYS.right, 'pci.0 slot 0x0d: disk/1');
    await t.press('l', 'pci.0 slot 0x0e: nic/0');
    f = await t.press('l', 'pci.0 slot 0x0f: free');
    expect(f).toContain('the next hot-added disk goes here');
    await t.press(KEYS.down, 'pci.0 slot 0x17: free');
    await t.press('k', 'pci.0 slot 0x0f');
    f = await t.press(['k', 'h'], 'pci.0 slot 0x06: left to QEMU');
    expect(f).toContain('inside kvm_pci_reservations=12');
  });
});

describe('SCSI map', () => {
  it('shows the controller, its whole target range, used and free targets and the next target', async () => {
    const t = openInstance('db1');
    const f = await t.waitFor('lsi');
    expect(f).toMatch(/scsi\.0.* lsi.* 0–7.* 3 used.* 5 free/);
    expect(f).toMatch(/t0 +D0 +disk-/);
    expect(f).toMatch(/t2 +D2 +disk-/);
    expect(f).toMatch(/t3 +\+ +next hot-added disk/);
    expect(f).toMatch(/t4–7 +· +free \(4\)/);
    expect(f).toContain('next hot-add: disk → scsi.0 target 3');
    // The controller is one of QEMU's own devices on pci.0.
    expect(gridRow(f, '0x00')).toContain('scs');
  });

  it('Tab switches between the panes; the selection line follows the pane', async () => {
    const t = openInstance('db1');
    await t.waitFor('scsi.0 target 0: disk/0');
    await t.press(KEYS.down, 'scsi.0 target 1: disk/1');
    await t.press(KEYS.tab, /pci\.0 slot 0x0c: nic\/0/);
    const f = await t.press(KEYS.tab, 'scsi.0 target 1: disk/1');
    expect(f).toMatch(/>t1 +D1/);
  });

  it('scrolls a long target list and says how many rows are not shown', async () => {
    const t = openInstance('store1');
    let f = await t.waitFor('virtio-scsi-pci');
    expect(f).toMatch(/↓ \d+ more/);
    for (let i = 0; i < 11; i++) await t.press(KEYS.down, `scsi.0 target ${i + 1}: disk/${i + 1}`);
    f = await t.waitFor('scsi.0 target 11: disk/11');
    expect(f).toMatch(/>t11 +D11/);
    expect(f).toMatch(/↑ \d+ above/);
  });
});

describe('live state', () => {
  it('marks a pending unplug (…), a disk QEMU lacks (!) and a disk only QEMU has (*), with the drift messages', async () => {
    const t = openInstance('web1', { columns: 80, rows: 24 }, new LiveWeb1Service({ root: root.root }));
    const f = await t.waitFor('live: QEMU answered');
    const row08 = gridRow(f, '0x08');
    expect(row08).toMatch(/D0…/);
    expect(row08).toMatch(/D1!/);
    expect(gridRow(f, '0x10')).toMatch(/D\?\*/);
    expect(f).toMatch(/… disk-[0-9a-f-]+: .*unplug/i);
    expect(f).toMatch(/~ disk-[0-9a-f-]+: runtime file lists it at pci\.0 slot 0xd, QEMU does/);
    expect(f).toMatch(/~ disk-ffffffff-0000-1111: QEMU has it at pci\.0 slot 0x12/);
    // The next hot-add avoids the slot QEMU uses.
    expect(f).toContain('next hot-add: disk → pci.0 slot 0x0f');
  });

  it('says the runtime file is all there is for a stopped instance', async () => {
    const t = openInstance('web1');
    const f = await t.waitFor('stopped: runtime file only');
    expect(f).toContain('✓ no problems in the runtime file (QEMU not asked)');
  });
});

describe('size', () => {
  it('uses more room when there is: wide cells with driver names at 120×40', async () => {
    const t = openInstance('web1', { columns: 120, rows: 40 });
    const f = await t.waitFor('D0 vblk');
    expect(f).toContain('N0 vnet');
    expect(f).toContain('host-br');
    expect(lines(f).length).toBeLessThanOrEqual(39);
    for (const l of lines(f)) expect(l.length).toBeLessThanOrEqual(120);
  });

  it('follows a terminal resize', async () => {
    const t = openInstance('web1', { columns: 120, rows: 40 }, new InstanceService({ root: root.root }), true);
    await t.waitFor('D0 vblk');
    t.stdout.columns = 80;
    t.stdout.rows = 24;
    t.stdout.emit('resize');
    const f = await t.waitFor((f) => !f.includes('vblk') && f.includes('D0'));
    for (const l of lines(f)) expect(l.length).toBeLessThanOrEqual(80);
  });
});
