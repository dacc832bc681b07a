/**
 * The other screens as a person reads them: device detail (hvinfo, backend, host path, the -device
 * option, live state), what-if (maps and options at the next start, the gnt-instance line), the QMP
 * log, help, and quitting.
 */
import React from 'react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { InstanceService } from '../../src/tui/service.js';
import { KEYS, lines, makeRoot, renderTui, type Rendered, type TestRoot } from './tui-helpers.js';

let root: TestRoot;
let ui: Rendered | undefined;

beforeAll(async () => {
  root = await makeRoot([
    { name: 'web1', disks: 2, nics: 1 },
    { name: 'store1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 10, nics: 1 },
  ]);
});
afterAll(() => root.remove());
afterEach(() => ui?.unmount());

function open(first: React.ComponentProps<typeof App>['first'], service = new InstanceService({ root: root.root, transcript: new Transcript() })): Rendered {
  ui = renderTui(<App service={service} title="t" first={first} />);
  return ui;
}

describe('device detail', () => {
  it('shows hvinfo, the host path, the -device and -drive options and the live state of a disk', async () => {
    const t = open({ kind: 'instance', name: 'web1' });
    await t.waitFor('pci.0 slot 0x0c: disk/0');
    const f = await t.press(KEYS.enter, 'hvinfo');
    expect(f).toContain('web1 · pci.0 slot 0x0c · disk/0 (disk0)');
    expect(f).toMatch(/device +disk-[0-9a-f-]+ · virtio-blk-pci · disk/);
    expect(f).toMatch(/hvinfo +\{"driver":"virtio-blk-pci","id":"disk-[0-9a-f-]+",/);
    expect(f).toContain('"bus":"pci.0","addr":"0xc"}');
    expect(f).toMatch(/host +host path .*\/disks\/web1-disk0\.img/);
    expect(f).toMatch(/starts with -device virtio-blk-pci,id=disk-[0-9a-f-]+,bus=pci\.0,/);
    expect(f).toMatch(/addr=0xc,drive=disk-/);
    expect(f).toMatch(/-drive file=.*web1-disk0\.img,format=raw,/);
    expect(f).toContain('not running: the runtime file is all there is');
    await t.press(KEYS.escape, 'pci.0 slot 0x0c: disk/0');
  });

  it('describes QEMU’s own devices and empty slots', async () => {
    const t = open({ kind: 'detail', name: 'web1', place: { bus: 'pci.0', slot: 3 } });
    let f = await t.waitFor('virtio-balloon');
    expect(f).toContain('placed by QEMU itself (predicted from kvm_cmd)');
    expect(f).toContain('not one of Ganeti’s disks or NICs');
    t.unmount();
    const u = open({ kind: 'detail', name: 'web1', place: { bus: 'pci.0', slot: 8 } });
    f = await u.waitFor('left to QEMU');
    expect(f).toContain('inside kvm_pci_reservations=12');
  });
});

describe('what-if', () => {
  it('shows the maps and options at the next start, and the gnt-instance line, as the parameters change', async () => {
    const t = open([{ kind: 'instance', name: 'web1' }, { kind: 'whatif', name: 'web1' }]);
    let f = await t.waitFor('▸ disk_type');
    expect(f).toContain('takes effect at the next start only');
    expect(f).toContain('no change from the instance’s parameters');
    expect(f).toMatch(/▸ disk_type +‹ paravirtual +› +\(now\)/);
    // disk_type → scsi-hd (the next value after paravirtual is ide; go to scsi-hd).
    for (let i = 0; i < 6; i++) await t.press(KEYS.right, '‹');
    f = await t.waitFor('disk_type=scsi-hd');
    expect(f).toContain('gnt-instance modify -H disk_type=scsi-hd web1');
    expect(f).toMatch(/scsi\.0.* lsi.* 0–7.* 2 used/);
    expect(f).toMatch(/t0 +D0/);
    await t.press([KEYS.tab, KEYS.pageDown], '-device scsi-hd');
    await t.press(KEYS.tab, /▸ disk_type +‹ scsi-hd/);
    // kvm_pci_reservations: down twice, then left 4 times → 8.
    await t.press([KEYS.down, KEYS.down], '▸ kvm_pci_reservations');
    f = await t.press([KEYS.left, KEYS.left, KEYS.left, KEYS.left], 'kvm_pci_reservations=8');
    expect(f).toContain('gnt-instance modify -H disk_type=scsi-hd,kvm_pci_reservations=8 web1');
    expect(f).toContain('0x00–0x07 left to QEMU');
    await t.press('0', 'no change from the instance’s parameters');
    await t.press(KEYS.escape, 'pci.0 · 32 slots');
  });

  it('warns when the disks do not fit the controller it would start with', async () => {
    const t = open({ kind: 'whatif', name: 'store1' });
    await t.waitFor('▸ disk_type');
    await t.press(KEYS.down, '▸ scsi_controller_type');
    // virtio-scsi-pci → dc390 → lsi (cycling back).
    const f = await t.press([KEYS.left, KEYS.left], 'scsi_controller_type=lsi');
    expect(f).toMatch(/! disk\/8 \(disk-[0-9a-f-]+\) is on scsi-id 8/);
    expect(f).toContain('controller lsi accepts scsi-id 0–7 only, QEMU refuses it');
    expect(f).toMatch(/next hot-add after that start: disk → refused/);
  });
});

describe('QMP log, help, quit', () => {
  it('the QMP log shows what was sent and received, newest last', async () => {
    const transcript = new Transcript();
    transcript.record('out', `${root.root}/ctrl/web1.qmp`, '{"execute":"query-pci","id":"pb-1"}');
    transcript.record('in', `${root.root}/ctrl/web1.qmp`, '{"return": [], "id": "pb-1"}');
    const t = open({ kind: 'qmplog' }, new InstanceService({ root: root.root, transcript }));
    const f = await t.waitFor('query-pci');
    expect(f).toContain('2 messages this session');
    expect(f).toMatch(/web1 → \{"execute":"query-pci","id":"pb-1"\}/);
    expect(f).toMatch(/web1 ← \{"return": \[\], "id": "pb-1"\}/);
    transcript.record('out', `${root.root}/ctrl/web1.qmp`, '{"execute":"device_del","arguments":{"id":"disk-1"}}');
    await t.waitFor('device_del');
  });

  it('? opens the help with every key; Esc closes it', async () => {
    const t = open({ kind: 'instances' });
    await t.waitFor('2 instances');
    let seen = await t.press('?', 'plugboard · keys');
    for (let i = 0; i < 4; i++) seen += await t.press(KEYS.pageDown, 'plugboard · keys');
    for (const k of ['quit', 'the QMP log', 'filter by name', 'switch between the pci.0 and scsi.0 panes', 'hot-add a disk or NIC', 'unplug the selected disk or NIC', 'what-if']) {
      expect(seen).toContain(k);
    }
    await t.press(KEYS.escape, '2 instances');
  });

  it('L opens the QMP log from anywhere', async () => {
    const t = open({ kind: 'instance', name: 'web1' });
    await t.waitFor('pci.0 · 32 slots');
    await t.press('L', 'QMP log ·');
  });

  it('q leaves the app', async () => {
    const t = open({ kind: 'instances' });
    await t.waitFor('2 instances');
    t.write('q');
    // ink unmounts: the last frame stays, and no key does anything any more.
    await t.waitFor('2 instances');
    t.write('?');
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.frame()).not.toContain('plugboard · keys');
  });
});

describe('frames fit', () => {
  it('every screen fits 80×24', async () => {
    const screens: React.ComponentProps<typeof App>['first'][] = [
      { kind: 'whatif', name: 'store1' },
      { kind: 'detail', name: 'store1', place: { bus: 'scsi.0', target: 0 } },
      { kind: 'help' },
      { kind: 'qmplog' },
    ];
    for (const s of screens) {
      const t = open(s);
      const f = await t.waitFor((f) => f.length > 100 && !f.includes('loading'));
      expect(lines(f).length).toBeLessThanOrEqual(23);
      for (const l of lines(f)) expect(l.length, `${JSON.stringify(s)}: ${l}`).toBeLessThanOrEqual(80);
      t.unmount();
    }
  });
});
