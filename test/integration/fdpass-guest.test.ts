/**
 * A booted TCG guest in a confined QEMU (`-runas nobody`; `-chroot` into an empty directory) sees
 * what plugboard passes as descriptors: a virtio-blk disk and a scsi-hd on virtio-scsi (their size
 * in /sys/block), a NIC on a tap plugboard created (its MAC in /sys/class/net; a multiqueue tap's
 * queues). Each unplug is acknowledged by the guest; afterwards QEMU holds no descriptor of the
 * disk, no fdset, no tap, and the tap is gone from the host.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FdHelper } from '../../src/qmp/fdpass/helper.js';
import { chooseFdset, nicFdSteps, tapCreateStep, type FdPlanStep } from '../../src/qmp/fdpass/plan.js';
import { executeHostCommand, hostCommands } from '../../src/actions/host-net.js';
import type { QmpClient } from '../../src/qmp/client.js';
import { GUEST_QEMU_OPTIONS, GuestSerial, bootGuestArgs } from '../helpers/guest.js';
import { GuestShell, shellGuestAssets } from '../helpers/guest-shell.js';
import { bridgePorts, createBridge, linkExists, requireNetAdmin, useNetCleanup } from '../helpers/net.js';
import { useTestQemuCleanup } from '../helpers/qemu.js';
import { waitFor } from '../helpers/wait.js';
import {
  connect,
  diskHotAddSteps,
  fdsets,
  fdsOn,
  loopDevice,
  newFds,
  privateDir,
  privateImage,
  qemuFds,
  runSteps,
  startConfinedQemu,
  useFdpassCleanup,
  type Confinement,
} from '../helpers/fdpass.js';

useTestQemuCleanup();
useFdpassCleanup();
useNetCleanup();

async function gone(qmp: QmpClient, id: string, mark: number): Promise<void> {
  await qmp.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === id, { since: mark, timeoutMs: 20_000, what: `DEVICE_DELETED for ${id}` });
}

/** The guest's block devices with their size in 512-byte sectors. */
async function guestBlocks(shell: GuestShell): Promise<Map<string, number>> {
  const r = await shell.run('for pb_b in /sys/block/*; do echo "${pb_b##*/} $(cat $pb_b/size)"; done');
  return new Map(r.out.split('\n').filter(Boolean).map((l) => [l.split(' ')[0]!, Number(l.split(' ')[1])]));
}

async function diskSteps(qmp: QmpClient, id: string, path: string, device: Record<string, unknown>): Promise<FdPlanStep[]> {
  return diskHotAddSteps(id, path, chooseFdset(await fdsets(qmp)), 'drive', device);
}

describe.each<Confinement>(['runas', 'chroot'])('a booted guest in a QEMU %s sees passed disks and NICs', (confine) => {
  it('virtio-blk, scsi-hd on virtio-scsi, a NIC and a multiqueue NIC: hot-added, seen by the guest, unplugged, nothing left', { timeout: 180_000 }, async () => {
    requireNetAdmin();
    const serial = await GuestSerial.listen(path.join(privateDir(), 'serial.sock'));
    const q = await startConfinedQemu(confine, {
      ...GUEST_QEMU_OPTIONS,
      argv: ['-nodefaults', ...bootGuestArgs(shellGuestAssets(), { serialSocket: serial.path }), '-device', 'virtio-scsi-pci,id=scsi'],
    });
    const pid = q.qemu.pid;
    try {
      await serial.waitForReady(90_000);
      const shell = new GuestShell(serial);
      const qmp = await connect(q);
      const helper = FdHelper.start(qmp);
      try {
        const before = qemuFds(pid);
        const baseBlocks = await guestBlocks(shell);

        // virtio-blk on a loop device (root:disk 0660), 40 MiB = 81920 sectors.
        const loop = loopDevice(40);
        const vblk = 'disk-1a2b3c4d-0001-4000';
        await runSteps(qmp, helper, await diskSteps(qmp, vblk, loop.device, { driver: 'virtio-blk-pci', bus: 'pci.0', addr: '0xc' }));
        await shell.waitFor('cat /sys/block/vd*/size', (o) => o.split('\n').includes('81920'), 'a 40 MiB virtio disk');
        expect((await guestBlocks(shell)).get('vda')).toBe(81920);
        expect(fdsOn(pid, loop.device)).toBe(1);
        let mark = qmp.mark();
        await qmp.execute('device_del', { id: vblk });
        await gone(qmp, vblk, mark);
        await waitFor(() => fdsOn(pid, loop.device) === 0, { what: `QEMU to close ${loop.device}` });
        expect(await fdsets(qmp)).toEqual([]);
        expect(await guestBlocks(shell)).toEqual(baseBlocks);

        // scsi-hd on virtio-scsi on a 0600 image, 24 MiB = 49152 sectors.
        const image = privateImage(24);
        const sd = 'disk-1a2b3c4d-0002-4000';
        await runSteps(qmp, helper, await diskSteps(qmp, sd, image, { driver: 'scsi-hd', bus: 'scsi.0', channel: 0, 'scsi-id': 0, lun: 0 }));
        await shell.waitFor('cat /sys/block/sd*/size', (o) => o.split('\n').includes('49152'), 'a 24 MiB SCSI disk');
        expect((await guestBlocks(shell)).get('sda')).toBe(49152);
        mark = qmp.mark();
        await qmp.execute('device_del', { id: sd });
        await gone(qmp, sd, mark);
        await waitFor(() => fdsOn(pid, image) === 0, { what: `QEMU to close ${image}` });
        expect(await fdsets(qmp)).toEqual([]);
        await shell.waitFor('ls /sys/block', (o) => !/\bsd[a-z]\b/.test(o), 'the SCSI disk to leave the guest');

        // NICs: one queue, then two (IFF_MULTI_QUEUE, mq=on).
        const bridge = createBridge();
        for (const queues of [1, 2]) {
          const id = `nic-1a2b3c4d-000${2 + queues}-4000`;
          const tap = `tap.pb.${randomBytes(4).toString('hex')}`;
          const mac = `aa:00:00:${randomBytes(3).toString('hex').match(/../g)!.join(':')}`;
          const nic = { id, tap, vnetHdr: true, queues, vhost: false };
          const tunBefore = fdsOn(pid, '/dev/net/tun');
          const steps: FdPlanStep[] = [tapCreateStep(nic), ...nicFdSteps(nic)];
          await runSteps(qmp, helper, steps.slice(0, 1));
          // Ganeti's kvm-ifup (plan-nic's tap-configure): MAC, up, MTU, master.
          await executeHostCommand(hostCommands.tapConfigure(tap, bridge), { root: privateDir() });
          const device: Record<string, unknown> = { driver: 'virtio-net-pci', id, netdev: id, mac, bus: 'pci.0', addr: `0x${(0xc + queues).toString(16)}` };
          if (queues > 1) Object.assign(device, { mq: 'on', vectors: 2 * queues + 2 });
          if (confine === 'chroot') {
            // A chrooted QEMU cannot load the NIC's option ROM: Ganeti passes romfile="" (HotAddNic).
            await runSteps(qmp, helper, steps.slice(1));
            await expect(qmp.execute('device_add', device)).rejects.toThrow(/romfile|efi-virtio/);
            device['romfile'] = '';
            await qmp.execute('device_add', device);
          } else {
            await runSteps(qmp, helper, [...steps.slice(1), { purpose: 'device_add', command: { execute: 'device_add', arguments: device } }]);
          }
          expect(fdsOn(pid, '/dev/net/tun')).toBe(tunBefore + queues);
          expect(bridgePorts(bridge)).toEqual([tap]);
          const seen = await shell.waitFor('cat /sys/class/net/*/address', (o) => o.includes(mac), `MAC ${mac} in the guest`);
          expect(seen).toContain(mac);
          // The tap as the kernel has it: IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, IFF_MULTI_QUEUE with two queues
          // (a one-CPU guest uses one queue pair of the two, so its /sys shows rx-0 only).
          const flags = Number.parseInt(readFileSync(`/sys/class/net/${tap}/tun_flags`, 'utf8'), 16);
          expect(flags & 0x5002).toBe(0x5002);
          expect(Boolean(flags & 0x100)).toBe(queues > 1);

          mark = qmp.mark();
          await qmp.execute('device_del', { id });
          await gone(qmp, id, mark);
          await qmp.execute('netdev_del', { id });
          await waitFor(() => !linkExists(tap), { what: `tap ${tap} to go` });
          expect(fdsOn(pid, '/dev/net/tun')).toBe(tunBefore);
          await shell.waitFor('cat /sys/class/net/*/address', (o) => !o.includes(mac), `MAC ${mac} to leave the guest`);
        }
        expect(newFds(pid, before)).toEqual([]);
      } finally {
        await helper.close();
        await qmp.close();
      }
    } finally {
      await serial.close();
    }
  });
});
