/**
 * The test guest (test/helpers/guest.ts) really acknowledges PCI unplug requests: what the
 * integration tests of hot-unplug rely on. With no guest OS QEMU never sends DEVICE_DELETED for a PCI
 * device (docs/qemu-ganeti-facts.md, "Unplug"), so each test below would time out if the guest did not boot or did not answer ACPI.
 * Boot time and unplug latencies are printed (no timed assertions).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { QmpClient, type QmpEvent } from '../../src/qmp/client.js';
import { GUEST_QEMU_OPTIONS, GUEST_READY_MARKER, GuestSerial, bootGuestArgs, guestAssets } from '../helpers/guest.js';

const assets = guestAssets();
// On CI a missing guest is a failure (prepare.sh must have built it), elsewhere a skip.
const mustRun = process.env['CI'] === 'true';

interface PciDevice {
  slot: number;
  qdev_id: string;
}
interface PciBus {
  devices: PciDevice[];
}

interface RunningGuest {
  qemu: QemuHandle;
  /** Held for the whole test: QEMU serves one QMP client at a time. */
  qmp: QmpClient;
  serial: GuestSerial;
  dir: string;
}

/** Boots the guest with `devices` on the command line; resolves once QMP answers (before the marker). */
async function startGuest(devices: (dir: string) => string[], drivers = true): Promise<RunningGuest> {
  if (!assets) throw new Error('the test guest is not built: run test/setup/prepare.sh');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugboard-guest-'));
  const serial = await GuestSerial.listen(path.join(dir, 'serial.sock'));
  const qmpSocket = path.join(dir, 'qmp.sock');
  let qemu: QemuHandle | undefined;
  try {
    qemu = await launchQemu({
      ...GUEST_QEMU_OPTIONS,
      qmpSocket,
      argv: ['-nodefaults', '-no-user-config', ...bootGuestArgs(assets, { serialSocket: serial.path, drivers }), ...devices(dir)],
    });
    const qmp = await QmpClient.connect(qmpSocket, { greetingTimeoutMs: 5_000 });
    return { qemu, qmp, serial, dir };
  } catch (err) {
    await qemu?.stop();
    await serial.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function stopGuest(g: RunningGuest | undefined): Promise<void> {
  if (!g) return;
  await g.qmp.close(); // frees the socket for stop()'s quit
  await g.qemu.stop();
  await g.serial.close();
  fs.rmSync(g.dir, { recursive: true, force: true });
}

async function pciIds(qmp: QmpClient): Promise<Map<string, number>> {
  const buses = await qmp.execute<PciBus[]>('query-pci');
  const ids = new Map<string, number>();
  for (const d of buses[0]?.devices ?? []) if (d.qdev_id) ids.set(d.qdev_id, d.slot);
  return ids;
}

/** device_del ID, then the DEVICE_DELETED whose data.device is ID; returns the latency in ms. */
async function unplug(qmp: QmpClient, id: string): Promise<number> {
  const mark = qmp.mark();
  const t0 = performance.now();
  await qmp.execute('device_del', { id });
  await qmp.waitForEvent((e: QmpEvent) => e.event === 'DEVICE_DELETED' && e.data['device'] === id, {
    since: mark,
    timeoutMs: 10_000,
    what: `DEVICE_DELETED for ${id}`,
  });
  return performance.now() - t0;
}

/** A 1 MiB raw image as virtio-blk-pci `d1` in slot 0xd. */
function coldDisk(dir: string): string[] {
  const img = path.join(dir, 'd1.img');
  fs.writeFileSync(img, Buffer.alloc(1024 * 1024));
  return ['-drive', `file=${img},format=raw,if=none,id=drv-d1`, '-device', 'virtio-blk-pci,id=d1,drive=drv-d1,bus=pci.0,addr=0xd'];
}

async function bootToReady(drivers: boolean): Promise<RunningGuest> {
  const t0 = performance.now();
  const guest = await startGuest(coldDisk, drivers);
  try {
    await guest.serial.waitForReady(40_000);
  } catch (err) {
    await stopGuest(guest);
    throw err;
  }
  const ms = performance.now() - t0;
  console.log(`guest (drivers ${drivers ? 'loaded' : 'not loaded'}): QEMU start to ${GUEST_READY_MARKER}: ${ms.toFixed(0)} ms (TCG)`);
  return guest;
}

describe.skipIf(!assets && !mustRun)('test guest acknowledges PCI unplug', () => {
  let guest: RunningGuest | undefined;

  beforeAll(async () => {
    guest = await bootToReady(true);
  });

  afterAll(async () => {
    await stopGuest(guest);
  });

  it('boots to the ready marker with the virtio drivers loaded and ACPI hotplug slots', () => {
    const out = guest!.serial.output;
    expect(out).toContain(GUEST_READY_MARKER);
    expect(out).toMatch(/modules:.* virtio_pci .*virtio_blk .*virtio_net/);
    expect(out).not.toContain('failed');
    expect(out).toMatch(/[1-9]\d* ACPI hotplug slots/);
  });

  it('device_del of a cold-plugged virtio-blk-pci brings DEVICE_DELETED for it and frees slot 0xd', async () => {
    const qmp = guest!.qmp;
    expect((await pciIds(qmp)).get('d1')).toBe(0xd);
    const ms = await unplug(qmp, 'd1');
    console.log(`guest: virtio-blk-pci d1 (cold-plugged) device_del → DEVICE_DELETED: ${ms.toFixed(1)} ms`);
    expect((await pciIds(qmp)).has('d1')).toBe(false);
  });

  it('a disk hot-added with blockdev-add + device_add unplugs, and its node can then be deleted', async () => {
    const qmp = guest!.qmp;
    const img = path.join(guest!.dir, 'd2.img');
    fs.writeFileSync(img, Buffer.alloc(1024 * 1024));
    await qmp.execute('blockdev-add', { driver: 'raw', 'node-name': 'd2', file: { driver: 'file', filename: img } });
    await qmp.execute('device_add', { driver: 'virtio-blk-pci', id: 'd2', drive: 'd2', bus: 'pci.0', addr: '0xe' });
    expect((await pciIds(qmp)).get('d2')).toBe(0xe);
    const ms = await unplug(qmp, 'd2');
    console.log(`guest: virtio-blk-pci d2 (hot-added) device_del → DEVICE_DELETED: ${ms.toFixed(1)} ms`);
    expect((await pciIds(qmp)).has('d2')).toBe(false);
    // The node is free only once the device is gone ("Node d2 is in use" otherwise).
    await qmp.execute('blockdev-del', { 'node-name': 'd2' });
  });

  it('a NIC hot-added with netdev_add + device_add unplugs, and its netdev can then be deleted', async () => {
    const qmp = guest!.qmp;
    await qmp.execute('netdev_add', { type: 'user', id: 'n1' });
    await qmp.execute('device_add', {
      driver: 'virtio-net-pci', id: 'n1', netdev: 'n1', mac: 'aa:00:00:00:00:01', bus: 'pci.0', addr: '0xf',
    });
    expect((await pciIds(qmp)).get('n1')).toBe(0xf);
    const ms = await unplug(qmp, 'n1');
    console.log(`guest: virtio-net-pci n1 (hot-added) device_del → DEVICE_DELETED: ${ms.toFixed(1)} ms`);
    expect((await pciIds(qmp)).has('n1')).toBe(false);
    await qmp.execute('netdev_del', { id: 'n1' });
  });
});

describe.skipIf(!assets && !mustRun)('test guest booted with plugboard.drivers=none', () => {
  let guest: RunningGuest | undefined;

  beforeAll(async () => {
    guest = await bootToReady(false);
  });

  afterAll(async () => {
    await stopGuest(guest);
  });

  it('loads no driver and still acknowledges the unplug of the unbound virtio-blk-pci', async () => {
    expect(guest!.serial.output).toContain('modules: none');
    const qmp = guest!.qmp;
    expect((await pciIds(qmp)).get('d1')).toBe(0xd);
    const ms = await unplug(qmp, 'd1');
    console.log(`guest (no drivers): virtio-blk-pci d1 (cold-plugged, unbound) device_del → DEVICE_DELETED: ${ms.toFixed(1)} ms`);
    expect((await pciIds(qmp)).has('d1')).toBe(false);
  });
});
