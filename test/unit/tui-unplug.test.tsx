/**
 * Unplug from the map: pick a device, see the plan, confirm (a disk needs an explicit "yes", a NIC
 * a y), watch it go; a PCI unplug the guest does not acknowledge shows as pending, not as done.
 * Devices that are not Ganeti's disks or NICs cannot be unplugged, and the screen says why.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { FakeRunService, KEYS, makeRoot, renderTui, type Rendered, type TestRoot } from './tui-helpers.js';

let root: TestRoot;
let ui: Rendered | undefined;

beforeAll(async () => {
  root = await makeRoot([
    { name: 'web1', disks: 2, nics: 1 },
    { name: 'db1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, nics: 1 },
  ]);
});
afterAll(() => root.remove());
afterEach(() => ui?.unmount());

function openMap(name: string): { t: Rendered; service: FakeRunService } {
  const service = new FakeRunService({ root: root.root, transcript: new Transcript() });
  service.live = true;
  ui = renderTui(<App service={service} title="t" first={{ kind: 'instance', name }} />);
  return { t: ui, service };
}

describe('unplug', () => {
  it('a SCSI disk: plan first, then only the whole word "yes" unplugs it', async () => {
    const { t, service } = openMap('db1');
    await t.waitFor('scsi.0 target 0: disk/0');
    let f = await t.press('u', 'device_del');
    expect(f).toMatch(/Unplug disk (disk-[0-9a-f-]+) from db1 \(scsi\.0 target 0\)/);
    expect(f).toContain('Type yes and Enter to unplug disk');
    expect(f).toContain('nothing has been sent yet');
    await t.press(['y', KEYS.enter], 'type yes (the whole word)');
    expect(service.runs).toHaveLength(0);
    f = await t.press(['e', 's', KEYS.enter], '✓ unplugged disk-');
    expect(service.runs).toHaveLength(1);
    expect(service.runs[0]).toMatchObject({ type: 'unplug-disk', instance: 'db1' });
    expect(f).toContain('✓ 1. ask QEMU to remove');
    await t.press(KEYS.enter, 'scsi.0 target 0: disk/0');
  });

  it('Esc keeps the disk: nothing is run', async () => {
    const { t, service } = openMap('db1');
    await t.waitFor('scsi.0 target 0: disk/0');
    await t.press('u', 'Type yes and Enter');
    await t.press(KEYS.escape, 'scsi.0 target 0: disk/0');
    expect(service.runs).toHaveLength(0);
  });

  it('a PCI disk the guest does not acknowledge ends as pending, with why', async () => {
    const { t } = openMap('web1');
    await t.waitFor('pci.0 slot 0x0c: disk/0');
    let f = await t.press('u', 'Type yes and Enter');
    expect(f).toContain('A PCI unplug needs the guest to acknowledge it');
    f = await t.press(['y', 'e', 's', KEYS.enter], '… pending:');
    expect(f).toMatch(/… pending: disk-[0-9a-f-]+ is still in QEMU/);
    expect(f).toContain('the guest did not acknowledge the');
    expect(f).not.toContain('✓ unplugged');
  });

  it('a NIC asks for y, and goes through the same path (the core’s refusal is shown)', async () => {
    const { t, service } = openMap('web1');
    await t.waitFor('pci.0 slot 0x0c');
    await t.press(['l', 'l'], 'pci.0 slot 0x0e: nic/0');
    const f = await t.press('u', '✗ the unplug was refused; nothing was sent:');
    expect(f).toContain('NIC hotplug is not available yet');
    expect(f).toMatch(/Unplug NIC nic-[0-9a-f-]+ from web1/);
    expect(service.previews.at(-1)).toMatchObject({ type: 'unplug-nic', instance: 'web1' });
  });

  it('refuses QEMU’s own devices and empty slots, saying why', async () => {
    const { t } = openMap('web1');
    await t.waitFor('pci.0 slot 0x0c');
    await t.press('g', 'pci.0 slot 0x00: host bridge');
    const f = await t.press('u', 'not one of Ganeti');
    expect(f).toContain('plugboard only unplugs those');
    await t.press('G', 'pci.0 slot 0x1f');
    await t.press('u', 'is empty: select a disk or NIC to unplug');
  });
});
