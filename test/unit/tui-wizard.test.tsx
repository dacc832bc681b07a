/**
 * The guided hot-add, step by step, as a person reads it: disk or NIC, the type (defaults from the
 * instance; SCSI types only with a controller), the path checked as it is typed, the preview with
 * the place and the exact QMP commands (from the core's planner), Esc back, confirm, progress and
 * the result with the transcript. Nothing is run before confirm. NIC actions go through the same
 * preview/run path and the core's refusal is shown as it is.
 *
 * The planner is the real one (the instances are stopped, so it plans from the runtime file); only
 * `run` is replaced (it needs a QEMU: the e2e test runs it for real) and counts its calls.
 */
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import { keyLine } from '../../components/keymap.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { InstanceService } from '../../src/tui/service.js';
import { FakeRunService, KEYS, makeRoot, renderTui, type Rendered, type TestRoot } from './tui-helpers.js';

let root: TestRoot;
let ui: Rendered | undefined;

beforeAll(async () => {
  root = await makeRoot([
    { name: 'web1', disks: 2, nics: 1 },
    { name: 'db1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 3, nics: 1 },
    { name: 'other', disks: 2, nics: 0 },
  ]);
});
afterAll(() => root.remove());
afterEach(() => ui?.unmount());

function openWizard(name: string, service = new FakeRunService({ root: root.root, transcript: new Transcript() })): { t: Rendered; service: FakeRunService } {
  ui = renderTui(<App service={service} title="t" first={[{ kind: 'instance', name }, { kind: 'wizard', name }]} />);
  return { t: ui, service };
}

async function typeText(t: Rendered, text: string, expected: string | RegExp): Promise<string> {
  for (const ch of text) t.write(ch);
  return t.waitFor(expected);
}

async function clearField(t: Rendered, length: number): Promise<void> {
  for (let i = 0; i < length; i++) t.write(KEYS.backspace);
  // The cursor: `▏` without styling (FORCE_COLOR=0, NO_COLOR), an inverse space with.
  await t.waitFor(/^>\s*▏?\s*$/m);
}

describe('hot-add wizard: disk', () => {
  it('asks disk or NIC, with where each would go', async () => {
    const { t } = openWizard('db1');
    const f = await t.waitFor('What do you want to hot-add to db1?');
    expect(f).toMatch(/❯ Disk .*next → scsi\.0 target 3/);
    expect(f).toMatch(/NIC .*next → pci\.0 slot 0x0d/);
  });

  it('offers the instance’s disk_type first, and SCSI types because db1 has a controller', async () => {
    const { t } = openWizard('db1');
    await t.waitFor('What do you want');
    const f = await t.press(KEYS.enter, 'disk_type of the new disk');
    expect(f).toMatch(/❯ scsi-hd +\(instance default\) → scsi\.0 target 3/);
    expect(f).toMatch(/paravirtual +→ pci\.0 slot 0x0d/);
    expect(f).toContain('scsi-block');
    expect(f).toContain('lsi controller');
    expect(f).toContain('targets 0–7');
  });

  it('offers no SCSI type to an instance without a controller, and says why', async () => {
    const { t } = openWizard('web1');
    await t.waitFor('What do you want');
    const f = await t.press(KEYS.enter, 'disk_type of the new disk');
    expect(f).toMatch(/❯ paravirtual +\(instance default\) → pci\.0 slot 0x0f/);
    expect(f).not.toContain('scsi-hd ');
    expect(f).toContain('No SCSI controller in web1');
  });

  it('checks the path as it is typed', async () => {
    const { t } = openWizard('db1');
    await t.waitFor('What do you want');
    await t.press(KEYS.enter, 'disk_type');
    await t.press(KEYS.enter, 'Host path of the scsi-hd disk');
    await t.waitFor('✗ enter the host path');
    await typeText(t, 'disks', '✗ use an absolute path');
    await clearField(t, 5);
    await typeText(t, '/nonexistent/x.img', '✗ does not exist');
    await clearField(t, '/nonexistent/x.img'.length);
    await typeText(t, root.root, '✗ is a directory');
    // db1's own disk: QEMU would refuse a second writer.
    await typeText(t, '/disks/db1-disk0.img', '✗ already disk/0 of db1');
    await clearField(t, `${root.root}/disks/db1-disk0.img`.length);
    const f = await typeText(t, path.join(root.root, 'disks', 'other-disk0.img'), '✓ regular file, 8 MiB');
    // Enter with a bad path does nothing; with a good one it goes on. The keys are the key map's.
    expect(f).toContain(keyLine('wizard', 80, 'path', { typing: true }));
    expect(f).toContain('Tab complete');
  });

  it('completes the path with Tab', async () => {
    const { t } = openWizard('db1');
    await t.waitFor('What do you want');
    await t.press(KEYS.enter, 'disk_type');
    await t.press(KEYS.enter, 'Host path');
    await typeText(t, path.join(root.root, 'disks', 'oth'), 'oth');
    const f = await t.press(KEYS.tab, 'other-disk0.img  other-disk1.img');
    expect(f).toContain(`> ${path.join(root.root, 'disks', 'other-disk')}`);
  });

  it('previews the place and the exact QMP commands without running anything; Esc goes back; y runs it once', async () => {
    const { t, service } = openWizard('db1');
    await t.waitFor('What do you want');
    await t.press(KEYS.enter, 'disk_type');
    await t.press(KEYS.enter, 'Host path');
    const image = path.join(root.root, 'disks', 'other-disk1.img');
    await typeText(t, image, '✓ regular file');
    let f = await t.press(KEYS.enter, 'plan: hot-add disk');
    expect(f).toMatch(/plan: hot-add disk (disk-[0-9a-f-]+) \(scsi-hd\) on db1/);
    const id = /plan: hot-add disk (disk-[0-9a-f-]+)/.exec(f)![1]!;
    expect(f).toContain('address: scsi.0 target 3');
    expect(f).toContain(`HMP drive_add dummy file=${image}`);
    expect(f).toMatch(/device_add \{"drive":"disk-[0-9a-f-]+","driver":"scsi-hd"/);
    expect(f).toContain('"scsi-id":3');
    expect(f).toContain('nothing has been sent');
    expect(service.runs).toHaveLength(0);

    f = await t.press(KEYS.escape, 'Host path of the scsi-hd disk');
    expect(f).toContain(`> ${image}`);
    f = await t.press(KEYS.enter, 'plan: hot-add disk');
    // The same device id as before: the UUID is fixed once, so preview and run agree.
    expect(f).toContain(id);

    f = await t.press(KEYS.enter, `Hot-add disk ${id} (scsi-hd`);
    expect(f).toMatch(/to db1 at scsi\.0 target 3\?/);
    expect(f).toContain('y yes, hot-add it now');
    expect(service.runs).toHaveLength(0);
    await t.press('n', 'Enter go on to confirm');
    await t.press(KEYS.enter, 'y yes, hot-add it now');

    f = await t.press('y', `✓ hot-added ${id}`);
    expect(service.runs).toHaveLength(1);
    expect(service.runs[0]).toMatchObject({ type: 'hot-add-disk', instance: 'db1', path: image, diskType: 'scsi-hd' });
    expect(f).toContain('✓ 2. add scsi-hd');
    expect(f).toContain('QMP transcript of this action');
    await t.press(KEYS.pageDown, /→ \{"execute":"device_add"/);

    f = await t.press(KEYS.enter, 'pci.0 · 32 slots');
    expect(f).toContain('db1 ·');
  });
});

describe('hot-add wizard: NIC', () => {
  it('asks nic_type, MAC and bridge (checked as typed), previews through the same path, and shows the core’s refusal', async () => {
    const { t, service } = openWizard('web1');
    await t.waitFor('What do you want');
    await t.press(KEYS.down, '❯ NIC');
    let f = await t.press(KEYS.enter, 'nic_type of the new NIC');
    expect(f).toMatch(/❯ paravirtual +\(instance default\) → pci\.0 slot 0x0f/);
    expect(f).toContain('e1000');
    expect(f).not.toContain('ne2k_isa');
    f = await t.press(KEYS.enter, 'MAC address of the new paravirtual NIC');
    expect(f).toContain('✓ empty: a fresh MAC address is generated');
    await typeText(t, 'zz', '✗ six hex pairs');
    await clearField(t, 2);
    await typeText(t, '01:00:00:11:22:33', '✗ a multicast address');
    await clearField(t, 17);
    await typeText(t, 'aa:00:00:11:22:33', '✓ unicast MAC address');
    await t.press(KEYS.enter, 'Bridge (nicparams link)');
    await typeText(t, 'br0', '✓ bridge br0');
    f = await t.press(KEYS.enter, '✗ the plan was refused; nothing was sent:');
    expect(f).toContain('NIC hotplug is not available yet');
    expect(service.previews.at(-1)).toMatchObject({ type: 'hot-add-nic', instance: 'web1', nicType: 'paravirtual', mac: 'aa:00:00:11:22:33', link: 'br0' });
    expect(service.runs).toHaveLength(0);
    // Enter does not go on from a refused plan; Esc goes back to the bridge.
    t.write(KEYS.enter);
    f = await t.press(KEYS.escape, 'Bridge (nicparams link)');
    expect(f).toContain('> br0');
  });
});

describe('hot-add from the map', () => {
  it('refuses to start the wizard on a stopped instance, and says why', async () => {
    ui = renderTui(<App service={new InstanceService({ root: root.root })} title="t" first={{ kind: 'instance', name: 'web1' }} />);
    await ui.waitFor('stopped: runtime file only');
    const f = await ui.press('a', 'web1 is not running here: hot-add needs its QEMU');
    expect(f).toContain('pci.0 · 32 slots');
  });
});
