/**
 * A booted TCG guest in a confined QEMU started from its runtime file (`-runas nobody`; `-chroot`
 * into an empty directory) sees what `runAction` hot-adds by passing descriptors, and acknowledges
 * the unplugs `runAction` asks for: a virtio-blk disk on a loop device root:disk 0660 and a scsi-hd
 * on virtio-scsi on a 0600 image (their sizes in the guest's /sys/block), a NIC on a tap plugboard
 * created (its MAC in /sys/class/net). After each unplug QEMU holds nothing new, no fdset, the tap
 * is gone (descriptor counts printed). The guest is the one with a console shell
 * (test/helpers/guest-shell.ts); lsi has no driver in its kernel (fdpass-actions covers lsi on
 * QEMU's side).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { GuestShell, shellGuestAssets } from '../helpers/guest-shell.js';
import { FdLedger, fdsOn, loopDevice, privateImage, qemuFds, useFdpassCleanup, type Confinement } from '../helpers/fdpass.js';
import { bridgePorts, createBridge, linkExists, requireNetAdmin, useNetCleanup } from '../helpers/net.js';
import { startSandbox, useSandboxCleanup } from '../helpers/sandbox.js';
import { waitFor } from '../helpers/wait.js';

useSandboxCleanup();
useFdpassCleanup();
useNetCleanup();

const ledger = new FdLedger('fd passing with a booted guest (runAction)');
afterAll(() => ledger.report());

/** The guest's block devices with their size in 512-byte sectors. */
async function guestBlocks(shell: GuestShell): Promise<Map<string, number>> {
  const r = await shell.run('for pb_b in /sys/block/*; do echo "${pb_b##*/} $(cat $pb_b/size)"; done');
  return new Map(r.out.split('\n').filter(Boolean).map((l) => [l.split(' ')[0]!, Number(l.split(' ')[1])]));
}

describe.each<Confinement>(['runas', 'chroot'])('a booted guest in a QEMU %s', (confine) => {
  it('sees a virtio-blk disk, a scsi-hd and a NIC runAction passes by descriptor, and acknowledges their unplugs; nothing left', { timeout: 240_000 }, async () => {
    requireNetAdmin();
    const br = createBridge();
    const name = `fdg-${confine}`;
    const sb = await startSandbox(
      { name, diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 1, nics: 1, extraKvmCmd: ['-nodefaults'] },
      { guest: true, guestAssets: shellGuestAssets(), guestReadyTimeoutMs: 120_000, confine },
    );
    const shell = new GuestShell(sb.serial!);
    const pid = sb.qemu.pid;
    const root = { root: sb.root };
    const base = await guestBlocks(shell);

    // virtio-blk on a loop device: 40 MiB = 81920 sectors.
    let before = qemuFds(pid);
    const loop = loopDevice(40);
    const vblk = await runAction({ type: 'hot-add-disk', instance: name, path: loop.device, diskType: 'paravirtual' }, root);
    expect(vblk.status).toBe('done');
    expect(vblk.plan.fdPassing).toBeDefined();
    await shell.waitFor('cat /sys/block/vd*/size', (o) => o.split('\n').includes('81920'), 'a 40 MiB virtio disk');
    expect((await guestBlocks(shell)).get('vda')).toBe(81920);
    expect(fdsOn(pid, loop.device)).toBe(1);
    expect((await sb.drift()).items).toEqual([]);
    const vblkGone = await runAction({ type: 'unplug-disk', instance: name, device: vblk.plan.device.id, timeoutMs: 30_000 }, root);
    expect(vblkGone.status).toBe('done');
    expect(await guestBlocks(shell)).toEqual(base);
    let count = await ledger.settle(`${confine}: virtio-blk on a loop device, hot-add and unplug (guest acknowledged)`, pid, before, sb.qmpSocket);
    expect([count.leaked, count.fdsets, count.helpers, fdsOn(pid, loop.device)]).toEqual([[], [], 0, 0]);

    // scsi-hd on virtio-scsi on a 0600 image: 24 MiB = 49152 sectors.
    before = qemuFds(pid);
    const image = privateImage(24);
    const sd = await runAction({ type: 'hot-add-disk', instance: name, path: image }, root);
    expect(sd.status).toBe('done');
    await shell.waitFor('cat /sys/block/sd*/size', (o) => o.split('\n').includes('49152'), 'a 24 MiB SCSI disk');
    expect([...(await guestBlocks(shell)).values()]).toContain(49152);
    expect((await sb.drift()).items).toEqual([]);
    const sdGone = await runAction({ type: 'unplug-disk', instance: name, device: sd.plan.device.id, timeoutMs: 10_000 }, root);
    expect(sdGone.status).toBe('done');
    await shell.waitFor('cat /sys/block/sd*/size', (o) => !o.split('\n').includes('49152'), 'the SCSI disk to leave the guest');
    count = await ledger.settle(`${confine}: scsi-hd on virtio-scsi on an image, hot-add and unplug`, pid, before, sb.qmpSocket);
    expect([count.leaked, count.fdsets, count.helpers, fdsOn(pid, image)]).toEqual([[], [], 0, 0]);

    // A NIC on a tap plugboard creates as root.
    before = qemuFds(pid);
    const tunBefore = fdsOn(pid, '/dev/net/tun');
    const nic = await runAction({ type: 'hot-add-nic', instance: name, link: br }, root);
    expect(nic.status).toBe('done');
    const mac = (await sb.load()).nics.at(-1)!.mac;
    const create = nic.plan.steps.map((s) => s.command).find((c) => 'host' in c && c.host === 'fd-create-tap');
    const tap = create && 'host' in create ? String(create.detail['tap']) : '';
    expect(bridgePorts(br)).toEqual([tap]);
    expect(fdsOn(pid, '/dev/net/tun')).toBe(tunBefore + 1);
    await shell.waitFor('cat /sys/class/net/*/address', (o) => o.includes(mac), `MAC ${mac} in the guest`);
    expect((await sb.drift()).items).toEqual([]);
    const nicGone = await runAction({ type: 'unplug-nic', instance: name, device: nic.plan.device.id, timeoutMs: 30_000 }, root);
    expect(nicGone.status).toBe('done');
    await waitFor(() => !linkExists(tap), { what: `tap ${tap} to go` });
    await shell.waitFor('cat /sys/class/net/*/address', (o) => !o.includes(mac), `MAC ${mac} to leave the guest`);
    count = await ledger.settle(`${confine}: NIC on a tap created as root, hot-add and unplug (guest acknowledged)`, pid, before, sb.qmpSocket);
    expect([count.leaked, count.fdsets, count.helpers, fdsOn(pid, '/dev/net/tun')]).toEqual([[], [], 0, tunBefore]);
    expect((await sb.drift()).items).toEqual([]);
  });
});
