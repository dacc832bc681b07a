/**
 * One read path (src/usecases/read-instance.ts) behind the three readers of an instance: `plugboard
 * show --live`, the view (InstanceService.loadView) and `plugboard check`. Against a real QEMU 7.2
 * with a disk hot-added behind the runtime file's back, all three must report the same drift, and
 * the CLI and the view the same next places — they read it the same way, in the same order.
 */
import { describe, expect, it } from 'vitest';
import { nextJson } from '../../src/cli/show.js';
import { main } from '../../src/cli/main.js';
import { InstanceService } from '../../src/tui/service.js';
import { checkMigration } from '../../src/usecases/check/run.js';
import { readInstance } from '../../src/usecases/read-instance.js';
import { startSandbox, useSandboxCleanup } from '../helpers/sandbox.js';

useSandboxCleanup();

describe('show --live, the view and check read an instance the same way', () => {
  it('a disk hot-added behind the file: the same drift from all three, the same next places from the CLI and the view', async () => {
    const sb = await startSandbox({ name: 'read1', diskType: 'paravirtual', disks: 1, nics: 1 });
    const foreign = 'disk-0badc0de-0000-4000';
    const image = await sb.image('foreign');
    await sb.qmp(async (qmp) => {
      await qmp.execute('blockdev-add', { driver: 'raw', 'node-name': foreign, file: { driver: 'file', filename: image } });
      await qmp.execute('device_add', { driver: 'virtio-blk-pci', id: foreign, drive: foreign, bus: 'pci.0' });
    });

    let out = '';
    const code = await main(['--root', sb.root, 'show', sb.name, '--live', '--json'], { stdout: (t) => void (out += t), stderr: () => undefined, env: {} });
    expect(code).toBe(0);
    const shown = JSON.parse(out) as { drift: unknown; next: unknown };

    const service = new InstanceService({ root: sb.root });
    const view = await service.loadView(sb.name).finally(() => service.dispose());
    const checked = await checkMigration(sb.root, sb.name);
    const read = await readInstance(sb.root, sb.name);

    expect(read.drift?.items.map((i) => [i.code, i.id])).toEqual([['unknown-to-file', foreign]]);
    expect(shown.drift).toEqual(read.drift);
    expect(view.drift).toEqual(read.drift);
    expect(checked.drift).toEqual(read.drift);
    expect(view.next).toEqual(read.next);
    expect(shown.next).toEqual({ disk: nextJson(read.next.disk), nic: nextJson(read.next.nic) });
  });
});
