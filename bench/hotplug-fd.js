/**
 * Figure `hotplug-scsi-disk-add-fd`: a scsi-hd hot-add over a passed descriptor, through the real
 * path — `runAction` (instance lock, runtime file read, QMP connect, the descriptor helper started
 * right after the connect, probe with `query-fdsets`, plan, the user check, open as root, `add-fd` +
 * descriptor, `drive_add … /dev/fdset/N`, `remove-fd`, `device_add`, verify, runtime file written
 * and fsynced, helper exited, socket closed, lock released) — into an instance started from its
 * runtime file as Ganeti starts it with security_model=user: `-runas nobody` (the image in a 0700
 * directory: QEMU cannot open it itself), against the same bare exchange with SCM_RIGHTS done by
 * the bench itself.
 *
 * Floors, each a fresh connection, one command at a time:
 * - `bare` (the figure's baseline): ONE Python process started for the hot-add (as a one-shot tool
 *   on a node must: Node cannot send SCM_RIGHTS) that connects, sends `add-fd` with the descriptor
 *   (sendmsg), `drive_add`, `remove-fd`, `device_add`, `qom-get`, and exits; timed spawn to exit.
 * - `warm` (a second line, no target): the same exchange from a Python process started before the
 *   clock — the exchange alone, without any process start: what the helper's start costs.
 * Every hot-add is followed by its unplug (not timed: `runAction` after ours, a plain exchange
 * after the floors), and the bench waits until QEMU has let go of the image and dropped every
 * fdset. The QEMU runs (not paused): QEMU 7.2 closes a descriptor given back with `remove-fd` only
 * while the guest runs.
 */
import { spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fromDist, log, median, onCleanup, result, summary, waitFor, withTimeout } from './lib.js';
import { startInstances } from './qemus.js';

const IMAGES = 4;

// The bare exchange: minimal Python (no json module; replies checked for "return"), as fast as a
// one-shot tool can be. argv: socket file id target fdset.
const BARE = String.raw`
import os, sys
from _socket import socket, AF_UNIX, SOCK_STREAM, SOL_SOCKET, SCM_RIGHTS
import struct
def exchange(sock_path, path, ident, target, fdset):
    s = socket(AF_UNIX, SOCK_STREAM)
    s.connect(sock_path)
    buf = b''
    def reply(greeting=False):
        nonlocal buf
        while True:
            while b'\n' not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise SystemExit('QEMU closed the connection')
                buf += chunk
            line, buf = buf.split(b'\n', 1)
            if b'"event"' in line:
                continue
            if not greeting and b'"return"' not in line:
                raise SystemExit(line.decode())
            return line
    reply(True)
    s.sendall(b'{"execute":"qmp_capabilities"}\n')
    reply()
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    s.sendmsg([('{"execute":"add-fd","arguments":{"fdset-id":%d}}\n' % fdset).encode()], [(SOL_SOCKET, SCM_RIGHTS, struct.pack('i', fd))])
    os.close(fd)
    reply()
    s.sendall(('{"execute":"human-monitor-command","arguments":{"command-line":"drive_add dummy file=/dev/fdset/%d,if=none,id=%s,format=raw,auto-read-only=off,aio=threads,discard=ignore"}}\n' % (fdset, ident)).encode())
    r = reply()
    if b'"return": ""' not in r and b'OK' not in r:
        raise SystemExit(r.decode())
    s.sendall(('{"execute":"remove-fd","arguments":{"fdset-id":%d}}\n' % fdset).encode())
    reply()
    s.sendall(('{"execute":"device_add","arguments":{"driver":"scsi-hd","id":"%s","drive":"%s","bus":"scsi.0","channel":0,"scsi-id":%d,"lun":0}}\n' % (ident, ident, target)).encode())
    reply()
    s.sendall(('{"execute":"qom-get","arguments":{"path":"/machine/peripheral/%s","property":"scsi-id"}}\n' % ident).encode())
    r = reply()
    if (b'"return": %d' % target) not in r:
        raise SystemExit(r.decode())
    s.close()
if sys.argv[1] == 'serve':
    for line in sys.stdin:
        a = line.split()
        exchange(a[0], a[1], a[2], int(a[3]), int(a[4]))
        sys.stdout.write('ok\n')
        sys.stdout.flush()
else:
    exchange(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
`;

export async function run({ runs = 25 } = {}) {
  const { runAction } = await fromDist('src/usecases/run-action.js');
  const { qmpSocketPath } = await fromDist('src/runtime/root.js');
  const { QmpClient } = await fromDist('src/qmp/client.js');

  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return [{ name: 'hotplug-scsi-disk-add-fd', ok: null, note: 'needs root (the helper opens the image as root; QEMU runs as nobody)' }];
  }
  // As Ganeti starts a security_model=user instance: hvparams say so, `-runas` is added at start.
  const { root, instances } = await startInstances(1, {
    prefix: 'hotplug-fd',
    spec: () => ({
      name: 'web1',
      diskType: 'scsi-hd',
      scsiControllerType: 'virtio-scsi-pci',
      disks: 2,
      nics: 1,
      diskSizeMb: 1,
      extraKvmCmd: ['-nodefaults'],
      hvparams: { security_model: 'user', security_domain: 'nobody' },
    }),
    launch: { paused: false, extraArgv: ['-runas', 'nobody'] },
  });
  const name = instances[0].name;
  const socket = qmpSocketPath(root, name);
  // The root is a 0700 temp directory: nobody cannot open the images in it.
  const images = [];
  for (let i = 0; i < IMAGES; i++) {
    const f = path.join(root, 'disks', `fd${i}.raw`);
    writeFileSync(f, Buffer.alloc(1024 * 1024));
    chmodSync(f, 0o600);
    images.push(f);
  }
  const warm = spawn('/usr/bin/python3', ['-I', '-S', '-c', BARE, 'serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  onCleanup(async () => {
    warm.kill('SIGKILL');
  });
  warm.stdout.setEncoding('utf8');

  let seq = 0;
  // The instance has two disks at targets 0 and 1: the hot-add takes target 2, ours and the floors alike.
  const target = 2;
  const newId = () => `disk-fdb0${String(++seq).padStart(4, '0')}-0000-4000`;

  /** Not timed: QEMU has closed the image and dropped every fdset. */
  const released = async (file) => {
    const qmp = await QmpClient.connect(socket, { greetingTimeoutMs: 5_000 });
    try {
      await waitFor(async () => !(await qmp.execute('query-block')).some((b) => b.inserted?.file === file || b.inserted?.file?.startsWith('/dev/fdset/')) && (await qmp.execute('query-fdsets')).length === 0, {
        timeoutMs: 5_000,
        everyMs: 5,
        what: `QEMU to release ${file}`,
      });
    } finally {
      await qmp.close();
    }
  };

  /** Not timed: a floor's disk unplugged with a plain exchange. */
  const unplug = async (id, file) => {
    const qmp = await QmpClient.connect(socket, { greetingTimeoutMs: 5_000 });
    try {
      const mark = qmp.mark();
      await qmp.execute('device_del', { id });
      await qmp.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data.device === id, { since: mark, timeoutMs: 5_000 });
    } finally {
      await qmp.close();
    }
    await released(file);
  };

  const ours = async (file) => {
    const t0 = performance.now();
    const o = await runAction({ type: 'hot-add-disk', instance: name, path: file }, { root });
    const ms = performance.now() - t0;
    if (o.status !== 'done' || !o.runtimeWritten || !o.plan.fdPassing || o.plan.allocation?.['scsi-id'] !== target) {
      throw new Error(`fd hot-add: ${o.status}: ${o.message} (${o.plan.fdPassing ? 'by descriptor' : 'NOT by descriptor'})`);
    }
    return { ms, uuid: o.plan.device.uuid };
  };
  const oursUnplug = async (uuid, file) => {
    const o = await runAction({ type: 'unplug-disk', instance: name, device: uuid, timeoutMs: 5_000 }, { root });
    if (o.status !== 'done') throw new Error(`fd unplug: ${o.status}: ${o.message}`);
    await released(file);
  };

  const bare = async (file) => {
    const id = newId();
    const t0 = performance.now();
    const child = spawn('/usr/bin/python3', ['-I', '-S', '-c', BARE, socket, file, id, String(target), '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    const ms = performance.now() - t0;
    if (code !== 0) throw new Error(`bare fd hot-add: exit ${code}: ${err.trim()}`);
    return { ms, id };
  };

  const warmBare = async (file) => {
    const id = newId();
    const answered = new Promise((resolve) => warm.stdout.once('data', resolve));
    const t0 = performance.now();
    warm.stdin.write(`${socket} ${file} ${id} ${target} 0\n`);
    await answered;
    return { ms: performance.now() - t0, id };
  };

  const bounded = (what, fn) => (...a) => withTimeout(fn(...a), 15_000, what);
  const [o, b, w] = [bounded('fd hot-add', ours), bounded('bare fd hot-add', bare), bounded('warm bare fd hot-add', warmBare)];
  const oursMs = [];
  const bareMs = [];
  const warmMs = [];
  const warmup = 3;
  for (let i = 0; i < warmup + runs; i++) {
    const file = images[i % IMAGES];
    const x = await o(file);
    await oursUnplug(x.uuid, file);
    const y = await b(file);
    await unplug(y.id, file);
    const z = await w(file);
    await unplug(z.id, file);
    if (i >= warmup) {
      oursMs.push(x.ms);
      bareMs.push(y.ms);
      warmMs.push(z.ms);
    }
  }
  const s = summary(oursMs);
  log(
    `hotplug-fd: runAction hot-add of a scsi-hd over a passed descriptor (-runas nobody): median ${s.median.toFixed(2)} ms (min ${s.min.toFixed(2)}, p90 ${s.p90.toFixed(2)}); ` +
      `bare one-shot Python ${median(bareMs).toFixed(2)} ms (min ${Math.min(...bareMs).toFixed(2)}); warm Python exchange alone ${median(warmMs).toFixed(2)} ms (min ${Math.min(...warmMs).toFixed(2)})`,
  );
  return [
    result({ name: 'hotplug-scsi-disk-add-fd', unit: 'ms', value: s.median, baseline: median(bareMs), target: { ratio: 2 }, runs }),
    result({
      name: 'hotplug-scsi-disk-add-fd-vs-warm',
      unit: 'ms',
      value: s.median,
      baseline: median(warmMs),
      target: {},
      runs,
      note: 'against the exchange alone (a Python process started before the clock): the helper start is the difference; no target',
    }),
  ];
}
