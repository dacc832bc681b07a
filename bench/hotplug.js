/**
 * Figures 3 and 4: a SCSI disk hot-add and its unplug, end to end through the executor
 * (`runAction`: instance lock, runtime file read, QMP connect, probe, plan, steps, verify, runtime
 * file written and fsynced, lock released), against the bare QMP exchange for the same change.
 *
 * The instance: a sandbox instance (Ganeti 3.0 runtime file, disk_type scsi-hd on virtio-scsi-pci,
 * two disks, one NIC) started from its runtime file (paused, TCG, -nodefaults); its root on tmpfs,
 * as Ganeti's /var/run is. The disk added is a raw image file; images rotate so that no add waits
 * for QEMU to let go of the image of the disk unplugged just before.
 *
 * The floors, each over a fresh plain socket (connect, greeting, qmp_capabilities … close), one
 * command at a time as the protocol needs:
 * - add: HMP `drive_add` (the same options), `device_add` (the same target), one check
 *   (`qom-get … scsi-id`);
 * - unplug: `device_del`, then `qom-list /machine/peripheral` until the device is gone.
 * A hot-add is always followed by its unplug (ours by ours, bare by bare), so every measurement
 * starts from the same QEMU and the same runtime file; between measurements the bench waits (not
 * timed) until QEMU has finalized the unplugged disk and released its image.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { fromDist, log, median, result, summary, withTimeout } from './lib.js';
import { startInstances, waitImageReleased } from './qemus.js';

const CONTROLLER = 'virtio-scsi-pci';
const IMAGES = 6;

/** A minimal QMP exchange over a plain socket: resolves with each reply's `return`; rejects on `error`. */
class RawQmp {
  static connect(socketPath) {
    return new Promise((resolve, reject) => {
      const c = new RawQmp(socketPath);
      c.waiter = { resolve: () => resolve(c), reject };
    });
  }

  constructor(socketPath) {
    this.buf = '';
    this.waiter = null;
    this.greeted = false;
    this.sock = net.createConnection({ path: socketPath });
    this.sock.setEncoding('utf8');
    this.sock.on('error', (err) => this.waiter?.reject(err));
    this.sock.on('close', () => this.waiter?.reject(new Error(`QEMU closed ${socketPath}`)));
    this.sock.on('data', (chunk) => {
      this.buf += chunk;
      for (let nl = this.buf.indexOf('\n'); nl !== -1; nl = this.buf.indexOf('\n')) {
        const msg = JSON.parse(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
        if (msg.event !== undefined) continue;
        const w = this.waiter;
        this.waiter = null;
        if (!this.greeted) {
          this.greeted = true;
          this.sock.write('{"execute":"qmp_capabilities"}\n');
          this.waiter = w;
          continue;
        }
        if (msg.error) w?.reject(new Error(`${msg.error.class}: ${msg.error.desc}`));
        else w?.resolve(msg.return);
      }
    });
  }

  execute(command, args) {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.sock.write(`${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`);
    });
  }

  close() {
    return new Promise((resolve) => {
      this.sock.once('close', resolve);
      this.sock.destroy();
    });
  }
}

export async function run({ runs = 25 } = {}) {
  const { runAction } = await fromDist('src/usecases/run-action.js');
  const { createDiskImage } = await fromDist('src/demo/sandbox.js');
  const { qmpSocketPath } = await fromDist('src/runtime/root.js');

  const { root, instances } = await startInstances(1, {
    prefix: 'hotplug',
    spec: () => ({ name: 'web1', diskType: 'scsi-hd', scsiControllerType: CONTROLLER, disks: 2, nics: 1, diskSizeMb: 1, extraKvmCmd: ['-nodefaults'] }),
  });
  const name = instances[0].name;
  const socket = qmpSocketPath(root, name);
  const images = [];
  for (let i = 0; i < IMAGES; i++) {
    const file = path.join(root, 'disks', `extra${i}.img`);
    await createDiskImage(file, 1);
    images.push(file);
  }

  const settled = (file) => waitImageReleased(socket, file);

  const oursAdd = async (file) => {
    const t0 = performance.now();
    const o = await runAction({ type: 'hot-add-disk', instance: name, path: file }, { root });
    const ms = performance.now() - t0;
    if (o.status !== 'done' || !o.runtimeWritten || o.plan.allocation?.bus !== 'scsi.0') throw new Error(`hot-add: ${o.status}: ${o.message}`);
    return { ms, uuid: o.plan.device.uuid, target: o.plan.allocation['scsi-id'] };
  };
  const oursUnplug = async (uuid) => {
    const t0 = performance.now();
    const o = await runAction({ type: 'unplug-disk', instance: name, device: uuid, timeoutMs: 5_000 }, { root });
    const ms = performance.now() - t0;
    if (o.status !== 'done' || !o.runtimeWritten) throw new Error(`unplug: ${o.status}: ${o.message}`);
    return ms;
  };
  const bareAdd = async (file, target) => {
    const id = `disk-${randomUUID().slice(0, 18)}`;
    const t0 = performance.now();
    const q = await RawQmp.connect(socket);
    const out = await q.execute('human-monitor-command', {
      'command-line': `drive_add dummy file=${file},if=none,id=${id},format=raw,auto-read-only=off,aio=threads,discard=ignore`,
    });
    if (typeof out !== 'string' || !/^(OK)?\s*$/.test(out.trim())) throw new Error(`drive_add: ${out}`);
    await q.execute('device_add', { driver: 'scsi-hd', id, drive: id, bus: 'scsi.0', channel: 0, 'scsi-id': target, lun: 0 });
    const got = await q.execute('qom-get', { path: `/machine/peripheral/${id}`, property: 'scsi-id' });
    await q.close();
    const ms = performance.now() - t0;
    if (got !== target) throw new Error(`bare hot-add: QEMU put ${id} at target ${got}, not ${target}`);
    return { ms, id };
  };
  const bareUnplug = async (id) => {
    const t0 = performance.now();
    const q = await RawQmp.connect(socket);
    await q.execute('device_del', { id });
    for (let polls = 0; ; polls++) {
      const list = await q.execute('qom-list', { path: '/machine/peripheral' });
      if (!list.some((p) => p.name === id)) break;
      if (polls > 10_000) throw new Error(`bare unplug: ${id} still there`);
    }
    await q.close();
    return performance.now() - t0;
  };

  const bounded = (what, fn) => (...args) => withTimeout(fn(...args), 10_000, what);
  const [ours1, ours2, bare1, bare2] = [
    bounded('plugboard hot-add', oursAdd),
    bounded('plugboard unplug', oursUnplug),
    bounded('bare hot-add', bareAdd),
    bounded('bare unplug', bareUnplug),
  ];

  const addOurs = [];
  const unplugOurs = [];
  const addBare = [];
  const unplugBare = [];
  const warmup = 3;
  for (let i = 0; i < warmup + runs; i++) {
    const file = images[i % IMAGES];
    const a = await ours1(file);
    const u = await ours2(a.uuid);
    await settled(file);
    const b = await bare1(file, a.target);
    const bu = await bare2(b.id);
    await settled(file);
    if (i >= warmup) {
      addOurs.push(a.ms);
      unplugOurs.push(u);
      addBare.push(b.ms);
      unplugBare.push(bu);
    }
  }
  const sa = summary(addOurs);
  const su = summary(unplugOurs);
  log(
    `hotplug: scsi-hd on ${CONTROLLER}: hot-add median ${sa.median.toFixed(2)} ms (min ${sa.min.toFixed(2)}, p90 ${sa.p90.toFixed(2)}), ` +
      `bare ${median(addBare).toFixed(2)} ms; unplug median ${su.median.toFixed(2)} ms (min ${su.min.toFixed(2)}, p90 ${su.p90.toFixed(2)}), bare ${median(unplugBare).toFixed(2)} ms`,
  );
  return [
    result({ name: 'hotplug-scsi-disk-add', unit: 'ms', value: sa.median, baseline: median(addBare), target: { ratio: 1.5 }, runs }),
    result({ name: 'hotplug-scsi-disk-unplug', unit: 'ms', value: su.median, baseline: median(unplugBare), target: { ratio: 2 }, runs }),
  ];
}
