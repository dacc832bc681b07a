/**
 * Figure `hotplug-scsi-disk-add-fd`: a scsi-hd hot-add over a passed descriptor, into a QEMU that
 * cannot open the image itself (`-runas nobody`, image in a 0700 directory), against the same bare
 * exchange with SCM_RIGHTS done by the bench itself.
 *
 * Phase 1 (issue 12): the executor does not plan descriptor passing yet, so "ours" is the
 * mechanism's exchange as the executor will run it (src/fdpass): connect (capabilities pipelined),
 * the helper started right after the connect (Python starts while QEMU answers), the path checked,
 * `query-fdsets`, the plan's steps through `runFdStep` (open as root, `add-fd` + descriptor,
 * `drive_add … /dev/fdset/N`, `remove-fd`, `device_add`), the check (`qom-get scsi-id`), helper
 * closed (exited), socket closed. What phase 2 adds on top is what `hotplug-scsi-disk-add` already
 * measures (lock, runtime file read/written, probe, plan).
 *
 * Floors, each a fresh connection, one command at a time:
 * - `bare` (the figure's baseline): ONE Python process started for the hot-add (as a one-shot tool
 *   on a node must: Node cannot send SCM_RIGHTS) that connects, sends `add-fd` with the descriptor
 *   (sendmsg), `drive_add`, `remove-fd`, `device_add`, `qom-get`, and exits; timed spawn to exit.
 * - `warm` (a second line, no target): the same exchange from a Python process started before the
 *   clock — the exchange alone, without any process start: what the helper's start costs.
 * Every hot-add is followed by its unplug (not timed), and the bench waits until QEMU has let go of
 * the image. The QEMU runs (not paused): QEMU 7.2 closes a descriptor given back with `remove-fd`
 * only while the guest runs.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fromDist, log, median, onCleanup, removeDir, result, summary, waitFor, withTimeout } from './lib.js';

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
  const { launchQemu } = await fromDist('src/qemu/launch.js');
  const { QmpClient } = await fromDist('src/qmp/client.js');
  const { FdHelper } = await fromDist('src/qmp/fdpass/helper.js');
  const { checkDiskPath } = await fromDist('src/qmp/fdpass/inspect.js');
  const { chooseFdset, diskFdSteps, parseFdsets } = await fromDist('src/qmp/fdpass/plan.js');
  const { runFdStep } = await fromDist('src/qmp/fdpass/run.js');

  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return [{ name: 'hotplug-scsi-disk-add-fd', ok: null, note: 'needs root (the helper opens the image as root; QEMU runs as nobody)' }];
  }
  const dir = mkdtempSync(path.join('/dev/shm', 'pb-bench-fd-'));
  chmodSync(dir, 0o700);
  const images = [];
  for (let i = 0; i < IMAGES; i++) {
    const f = path.join(dir, `img${i}.raw`);
    writeFileSync(f, Buffer.alloc(1024 * 1024));
    chmodSync(f, 0o600);
    images.push(f);
  }
  const socket = path.join(dir, 'qmp.sock');
  const qemu = await launchQemu({ qmpSocket: socket, paused: false, memoryMb: 16, argv: ['-nodefaults', '-device', 'virtio-scsi-pci,id=scsi', '-runas', 'nobody'] });
  const warm = spawn('/usr/bin/python3', ['-I', '-S', '-c', BARE, 'serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
  onCleanup(async () => {
    warm.kill('SIGKILL');
    await qemu.stop();
    removeDir(dir);
  });
  warm.stdout.setEncoding('utf8');

  let seq = 0;
  const target = 1;
  const newId = () => `disk-fdb0${String(++seq).padStart(4, '0')}-0000-4000`;

  /** Not timed: unplug `id` and wait until QEMU has closed the image and dropped every fdset. */
  const unplug = async (id, file) => {
    const qmp = await QmpClient.connect(socket, { greetingTimeoutMs: 5_000 });
    try {
      const mark = qmp.mark();
      await qmp.execute('device_del', { id });
      await qmp.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data.device === id, { since: mark, timeoutMs: 5_000 });
      await waitFor(async () => !(await qmp.execute('query-block')).some((b) => b.inserted) && (await qmp.execute('query-fdsets')).length === 0, {
        timeoutMs: 5_000,
        everyMs: 5,
        what: `QEMU to release ${file}`,
      });
    } finally {
      await qmp.close();
    }
  };

  const ours = async (file) => {
    const id = newId();
    const t0 = performance.now();
    const qmp = await QmpClient.connect(socket, { pipelineCapabilities: true, greetingTimeoutMs: 5_000 });
    const helper = FdHelper.start(qmp);
    try {
      const checked = checkDiskPath(file, 'scsi-hd');
      const fdset = chooseFdset(parseFdsets(await qmp.execute('query-fdsets')));
      const steps = [
        ...diskFdSteps({
          id,
          fdset,
          backend: 'drive',
          open: { typed: file, path: checked.path, kind: checked.kind, direct: false, dev: checked.dev, ino: checked.ino },
          driveOptions: `,if=none,id=${id},format=raw,auto-read-only=off,aio=threads,discard=ignore`,
        }),
        { command: { execute: 'device_add', arguments: { driver: 'scsi-hd', id, drive: id, bus: 'scsi.0', channel: 0, 'scsi-id': target, lun: 0 } } },
      ];
      for (const step of steps) await runFdStep(qmp, helper, step);
      const got = await qmp.execute('qom-get', { path: `/machine/peripheral/${id}`, property: 'scsi-id' });
      if (got !== target) throw new Error(`fd hot-add: QEMU put ${id} at target ${got}`);
    } finally {
      await helper.close();
      void qmp.close();
    }
    return { ms: performance.now() - t0, id };
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
    await unplug(x.id, file);
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
    `hotplug-fd: scsi-hd over a passed descriptor (-runas nobody): median ${s.median.toFixed(2)} ms (min ${s.min.toFixed(2)}, p90 ${s.p90.toFixed(2)}); ` +
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
