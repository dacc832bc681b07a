/**
 * Quitting the TUI (q, Ctrl-C) while a hotplug runs: the service cancels the action's waits, the
 * executor finishes what it must (undo, pending record), and the view reports the state it left
 * before the process goes. Real QEMU, through the same InstanceService the view uses.
 */
import { describe, expect, it } from 'vitest';
import { InstanceService } from '../../src/tui/service.js';
import { readPending } from '../../src/live/pending.js';
import { diskIds, startSandbox, useSandboxCleanup } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';

useSandboxCleanup();

describe('TUI interrupted during a hotplug', () => {
  it('an unplug waiting for a guest that never answers: quitting says "pending", keeps the entry and records it', async () => {
    const sb = await startSandbox({ name: 'tui1', disks: 2, extraKvmCmd: ['-nodefaults'] });
    const id = diskIds(await sb.load())[1]!;
    const service = new InstanceService({ root: sb.root, unplugTimeoutMs: 30_000 });
    let waiting = false;
    const run = service.run(
      { type: 'unplug-disk', instance: 'tui1', device: id, timeoutMs: 30_000 },
      { onProgress: (e) => void (e.phase === 'waiting' && (waiting = true)) },
    );
    await waitFor(() => waiting, { timeoutMs: 10_000, what: 'the unplug to wait for the guest' });
    const quitAt = Date.now();
    service.dispose(); // what q / Ctrl-C does
    const lines = await service.settle();
    expect(Date.now() - quitAt).toBeLessThan(5_000); // not the 30 s unplug timeout
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pending: unplug of .* is pending: interrupted/);
    const result = await run;
    expect(result.ok && result.outcome.status).toBe('pending');
    expect(diskIds(await sb.load())).toContain(id); // entry kept: QEMU still has the device
    expect((await readPending(sb.root, 'tui1')).map((r) => r.id)).toEqual([id]);
  });

  it('a hot-add cancelled between its steps: quitting waits for the rollback and says what was undone', async () => {
    const sb = await startSandbox({ name: 'tui2', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 1, extraKvmCmd: ['-nodefaults'] });
    const before = sb.runtimeText();
    const service = new InstanceService({ root: sb.root });
    const run = service.run(
      { type: 'hot-add-disk', instance: 'tui2', path: await sb.image('new') },
      // Quit as the device_add goes out: the step finishes, then the rest is cancelled and undone.
      { onProgress: (e) => void (e.phase === 'step' && e.index === 1 && service.dispose()) },
    );
    const result = await run;
    const lines = await service.settle();
    expect(result.ok).toBe(false);
    expect(lines).toEqual([]); // settled already: nothing left running
    expect(!result.ok && result.message).toMatch(/undone/);
    expect(sb.runtimeText()).toBe(before);
    expect((await sb.drift()).items).toEqual([]);
  });
});
