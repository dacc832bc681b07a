/**
 * The hot-add wizard of the view (ink-testing-library, the real InstanceService: preview and run
 * through the same use cases as the CLI) on a QEMU started from its runtime file with `-chroot`
 * into an empty directory: the preview shows the descriptor steps like any other command (the
 * open as root, `add-fd … + descriptor of … (SCM_RIGHTS)`), confirming runs it, QEMU has the disk
 * on /dev/fdset/N and the runtime file the path; after the unplug nothing is left in QEMU.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { App } from '../../components/App.js';
import { InstanceService } from '../../src/tui/service.js';
import { runAction } from '../../src/usecases/run-action.js';
import { KEYS, renderTui, type Rendered } from '../unit/tui-helpers.js';
import { detachLoops, FdLedger, fdsOn, loopDevice, qemuFds, removeTempDirs } from '../helpers/fdpass.js';
import { startSandbox, stopSandboxes } from '../helpers/sandbox.js';

// (useSandboxCleanup/useFdpassCleanup by hand: the React hooks lint rule reads `use…` in a .tsx as a hook.)
afterEach(stopSandboxes);
afterAll(stopSandboxes);
afterEach(() => {
  detachLoops();
  removeTempDirs();
});

const ledger = new FdLedger('fd passing through the TUI wizard');
afterAll(() => ledger.report());

let ui: Rendered | undefined;
let service: InstanceService | undefined;
afterEach(async () => {
  ui?.unmount();
  service?.dispose();
  await service?.settle();
});

describe('the hot-add wizard on a -chroot QEMU', () => {
  it('previews the descriptor steps, runs them on confirm; QEMU has the disk on an fdset, the runtime file the path', async () => {
    const sb = await startSandbox(
      { name: 'fdwiz', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, extraKvmCmd: ['-nodefaults'] },
      { running: true, confine: 'chroot' },
    );
    const { device } = loopDevice(16);
    const before = qemuFds(sb.qemu.pid);
    service = new InstanceService({ root: sb.root });
    ui = renderTui(<App service={service} title="t" first={[{ kind: 'instance', name: 'fdwiz' }, { kind: 'wizard', name: 'fdwiz' }]} />, { columns: 220, rows: 70 });
    const t = ui;
    await t.waitFor('What do you want to hot-add to fdwiz?');
    await t.press(KEYS.enter, 'disk_type of the new disk');
    await t.press(KEYS.enter, 'Host path of the scsi-hd disk');
    for (const ch of device) t.write(ch);
    await t.waitFor('✓ block device');
    const f = await t.press(KEYS.enter, 'plan: hot-add disk', 20_000);
    const id = /plan: hot-add disk (disk-[0-9a-f-]+) \(scsi-hd\) on fdwiz/.exec(f)?.[1];
    expect(id).toBeDefined();
    expect(f).toContain(`host: open ${device} (block device) read-write as root`);
    expect(f).toContain(`add-fd {"fdset-id":0,"opaque":"plugboard:${id}"} + descriptor of ${device} (SCM_RIGHTS)`);
    expect(f).toContain(`HMP drive_add dummy file.driver=host_device,file.filename=/dev/fdset/0,if=none,id=${id}`);
    expect(f).toContain('note: descriptor passing: QEMU runs chrooted (use_chroot=true)');
    expect(f).toContain('nothing has been sent');
    expect(await sb.qmp((q) => q.execute('query-fdsets'))).toEqual([]);

    await t.press(KEYS.enter, 'yes, hot-add it now');
    await t.press('y', `✓ hot-added ${id}`, 20_000);
    expect(fdsOn(sb.qemu.pid, device)).toBe(1);
    const blocks = await sb.qmp((q) => q.execute<{ qdev?: string; inserted?: { file: string } }[]>('query-block'));
    expect(blocks.find((b) => b.qdev === id)?.inserted?.file).toBe('/dev/fdset/0');
    expect((await sb.load()).disks.at(-1)?.link).toBe(device);
    expect((await sb.drift()).items).toEqual([]);
    ui.unmount();
    ui = undefined;
    service.dispose();
    await service.settle();
    service = undefined;

    const removed = await runAction({ type: 'unplug-disk', instance: 'fdwiz', device: id!, timeoutMs: 5_000 }, { root: sb.root });
    expect(removed.status).toBe('done');
    const count = await ledger.settle('chroot: wizard hot-add, then unplug', sb.qemu.pid, before, sb.qmpSocket);
    expect([count.leaked, count.fdsets, count.helpers, fdsOn(sb.qemu.pid, device)]).toEqual([[], [], 0, 0]);
  });
});
