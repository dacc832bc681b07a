/**
 * The QMP client against a REAL QEMU 7.2 (paused, TCG, -nodefaults). QEMU is required: when it is
 * missing these tests fail with the install hint (see test/helpers/qemu.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { QmpClient, withQmp } from '../../src/qmp/client.js';
import { HmpCommandError, QmpBusyError, QmpCommandError } from '../../src/qmp/errors.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { clientsOfSocket, qmpSocketClients, type SocketClients } from '../../src/qmp/socket-holders.js';
import { requireQemu, startTestQemu, useTestQemuCleanup } from '../helpers/qemu.js';
import { waitFor, within } from '../helpers/wait.js';

useTestQemuCleanup();

interface PciDevice {
  bus: number;
  slot: number;
  function: number;
  qdev_id: string;
  class_info: { desc?: string; class: number };
}

function rawDisk(dir: string, name: string, bytes = 1024 * 1024): string {
  const p = path.join(dir, name);
  writeFileSync(p, '');
  truncateSync(p, bytes);
  return p;
}

/** QEMU's side of `socket` in the kernel's table(s): accepted and queued connections. */
function clientsOf(socket: string, ...tables: string[]): SocketClients | undefined {
  return clientsOfSocket((tables.length > 0 ? tables : ['/proc/self/net/unix']).map((t) => readFileSync(t, 'utf8')), socket);
}

/** A plain connect, as Ganeti's (non-blocking) makes it: the socket once connected, or the errno. */
function plainConnect(socket: string): Promise<net.Socket | string> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
    s.once('connect', () => resolve(s));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** The error `p` rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  const r = await p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  if (r.ok) {
    if (r.v instanceof QmpClient) await r.v.close();
    throw new Error('expected a rejection');
  }
  return r.e as Error;
}

describe('QMP against QEMU 7.2', () => {
  it('connects, reads the 7.2 greeting and negotiates capabilities', async () => {
    const { qmpSocket } = await startTestQemu();
    const transcript = new Transcript();
    await withQmp(qmpSocket, { transcript }, async (qmp) => {
      expect(qmp.greeting.version).toMatchObject({ major: 7, minor: 2 });
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch', running: false });
    });
    const sent = transcript.entries().filter((e) => e.direction === 'out').map((e) => JSON.parse(e.json).execute);
    expect(sent).toEqual(['qmp_capabilities', 'query-status']);
  });

  it('query-pci on -nodefaults shows host bridge 00.0, ISA 01.0, IDE 01.1, ACPI 01.3 and nothing else', async () => {
    const { qmpSocket } = await startTestQemu();
    const buses = await withQmp(qmpSocket, {}, (qmp) => qmp.execute<{ bus: number; devices: PciDevice[] }[]>('query-pci'));
    expect(buses).toHaveLength(1);
    const slots = buses[0]!.devices.map((d) => `${d.slot.toString(16).padStart(2, '0')}.${d.function}`);
    expect(slots).toEqual(['00.0', '01.0', '01.1', '01.3']);
    expect(buses[0]!.devices.every((d) => d.qdev_id === '')).toBe(true);
  });

  it('a second client gets QmpBusyError within the greeting timeout while the first holds the socket, and is served after', async () => {
    const { qmpSocket } = await startTestQemu();
    const first = await QmpClient.connect(qmpSocket);
    try {
      const started = Date.now();
      const err = await QmpClient.connect(qmpSocket, { greetingTimeoutMs: 300 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      const waited = Date.now() - started;
      expect(err).toBeInstanceOf(QmpBusyError);
      expect((err as Error).message).toContain(`holds ${qmpSocket}`);
      expect(waited).toBeGreaterThanOrEqual(250);
      expect(waited).toBeLessThan(2_000);
      // While the first still holds it, a waiting second client is served as soon as it lets go.
      const second = QmpClient.connect(qmpSocket, { greetingTimeoutMs: 5_000 });
      await first.execute('query-status');
      await first.close();
      const client = await within(second, 5_000, 'the second client to be served');
      expect(await client.execute('query-status')).toMatchObject({ status: 'prelaunch' });
      await client.close();
    } finally {
      await first.close();
    }
  });

  it('reports busy at once when QEMU\'s listen queue is full (EAGAIN), without waiting for a greeting', async () => {
    const { qmpSocket } = await startTestQemu();
    const first = await QmpClient.connect(qmpSocket);
    const fillers: net.Socket[] = [];
    try {
      // QEMU listens with a tiny backlog: while one client is served, only a couple more can queue.
      let full = false;
      for (let i = 0; i < 16 && !full; i++) {
        full = await new Promise<boolean>((resolve, reject) => {
          const s = net.connect(qmpSocket);
          s.once('connect', () => {
            fillers.push(s);
            resolve(false);
          });
          s.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EAGAIN' ? resolve(true) : reject(e)));
        });
      }
      expect(full).toBe(true);
      const started = Date.now();
      // Connecting blindly: looking first would see the holder and never connect (tested below).
      const busy = await QmpClient.connect(qmpSocket, { greetingTimeoutMs: 10_000, lookBeforeConnect: false }).catch((e: unknown) => e);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(busy).toBeInstanceOf(QmpBusyError);
      expect((busy as QmpBusyError).waitedMs).toBeUndefined();
      expect(((busy as Error).cause as NodeJS.ErrnoException).code).toBe('EAGAIN');
    } finally {
      for (const s of fillers) s.destroy();
      await first.close();
    }
  });

  it('device_add of a duplicate id fails with GenericError and QEMU\'s own words', async () => {
    const { qmpSocket } = await startTestQemu({ extraArgs: ['-device', 'lsi,id=scsi'] });
    await withQmp(qmpSocket, {}, async (qmp) => {
      const err = await qmp.execute('device_add', { driver: 'virtio-balloon-pci', id: 'scsi' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpCommandError);
      expect(err).toMatchObject({ command: 'device_add', errorClass: 'GenericError', desc: "Duplicate device ID 'scsi'" });
      const unknown = await qmp.execute('no-such-command').catch((e: unknown) => e);
      expect(unknown).toMatchObject({ errorClass: 'CommandNotFound' });
    });
  });

  it('HMP drive_add succeeds on a raw file (QEMU prints OK); the same id again is an HmpCommandError', async () => {
    const { qmpSocket, dir } = await startTestQemu();
    const file = rawDisk(dir, 'd.raw');
    await withQmp(qmpSocket, {}, async (qmp) => {
      const cmd = `drive_add dummy file=${file},if=none,id=X,format=raw`;
      expect((await qmp.hmp(cmd)).trim()).toBe('OK');
      const err = await qmp.hmp(cmd).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(HmpCommandError);
      expect(err).toMatchObject({ errorClass: 'HmpError', desc: "Duplicate ID 'X' for drive" });
      const missing = await qmp.hmp(`drive_add dummy file=${dir}/nope.raw,if=none,id=Y,format=raw`).catch((e: unknown) => e);
      expect((missing as Error).message).toContain('No such file or directory');
      const block = await qmp.execute<{ device: string }[]>('query-block');
      expect(block.map((b) => b.device)).toEqual(['X']);
    });
  });

  it('hot-adds a scsi-hd on lsi with drive_add + device_add, and device_del brings DEVICE_DELETED for it', async () => {
    const { qmpSocket, dir } = await startTestQemu({ extraArgs: ['-device', 'lsi,id=scsi'] });
    const file = rawDisk(dir, 'sd.raw');
    await withQmp(qmpSocket, {}, async (qmp) => {
      await qmp.hmp(`drive_add dummy file=${file},if=none,id=disk-sd0,format=raw`);
      await qmp.execute('device_add', {
        driver: 'scsi-hd',
        id: 'disk-sd0',
        drive: 'disk-sd0',
        bus: 'scsi.0',
        channel: 0,
        'scsi-id': 0,
        lun: 0,
      });
      const peripherals = await qmp.execute<{ name: string; type: string }[]>('qom-list', { path: '/machine/peripheral' });
      expect(peripherals).toContainEqual({ name: 'disk-sd0', type: 'child<scsi-hd>' });
      expect(await qmp.execute('qom-get', { path: '/machine/peripheral/disk-sd0', property: 'scsi-id' })).toBe(0);

      const mark = qmp.mark();
      await qmp.execute('device_del', { id: 'disk-sd0' });
      const ev = await qmp.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === 'disk-sd0', {
        since: mark,
        timeoutMs: 5_000,
        what: 'DEVICE_DELETED for disk-sd0',
      });
      expect(ev.data).toMatchObject({ device: 'disk-sd0', path: '/machine/peripheral/disk-sd0' });
      const after = await qmp.execute<{ name: string }[]>('qom-list', { path: '/machine/peripheral' });
      expect(after.map((p) => p.name)).not.toContain('disk-sd0');
      // A drive made by drive_add goes away with its device.
      const block = await qmp.execute<{ device: string }[]>('query-block');
      expect(block.map((b) => b.device)).not.toContain('disk-sd0');
    });
  });
});

describe("a previous client's reply delivered to the next connection", () => {
  /** A client as a killed plugboard leaves it: command 1 sent, the connection gone before the reply. */
  async function leaveWithCommandInFlight(socket: string, line: string): Promise<void> {
    const s = net.connect(socket);
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (text += d));
    await waitFor(() => text.includes('"QMP"'), { what: 'the greeting' });
    s.write('{"execute":"qmp_capabilities"}\n');
    await waitFor(() => text.includes('"return"'), { what: 'the answer to qmp_capabilities' });
    s.write(line);
    s.destroy();
  }

  it('QEMU answers the next client with it, before the answer to its qmp_capabilities; plugboard ignores it, and its own command 1 gets its own reply', async () => {
    const { qmpSocket } = await startTestQemu();
    // QEMU 7.2 does this often, not always (query-qmp-schema takes QEMU long enough to answer that
    // the client has gone by then about half the time): try until it has happened three times.
    let tries = 0;
    let seen = 0;
    const deadline = Date.now() + 30_000;
    while (seen < 3) {
      expect(Date.now(), `a stale reply in ${tries} tries`).toBeLessThan(deadline);
      tries++;
      await leaveWithCommandInFlight(qmpSocket, '{"execute":"query-qmp-schema","id":1}\n');
      const transcript = new Transcript();
      await withQmp(qmpSocket, { transcript }, async (qmp) => {
        // Our command 1: the stale reply carries id 1 too, and a schema where a status is expected.
        expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch', running: false });
        if (qmp.staleReplies > 0) {
          seen++;
          const lines = transcript.entries().map((e) => `${e.direction} ${e.json.slice(0, 40)}`);
          const stale = lines.findIndex((l) => l.startsWith('in {"return": [{"name"'));
          expect(stale).toBeGreaterThan(lines.findIndex((l) => l.includes('qmp_capabilities')));
          expect(stale).toBeLessThan(lines.findIndex((l) => l.startsWith('in {"return": {}')));
        }
      });
    }
    console.log(`stale replies: a client gone with query-qmp-schema in flight — its reply reached the next client in ${seen} of ${tries} tries`);
  });

  /** Ganeti's QMP client (hv_kvm/monitor.py): no ids, the first reply after a command is its answer. */
  async function asGaneti(socket: string): Promise<{ caps: unknown; commands: unknown }> {
    const s = net.connect(socket);
    const replies: unknown[] = [];
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      text += d;
      let nl: number;
      while ((nl = text.indexOf('\n')) >= 0) {
        const msg = JSON.parse(text.slice(0, nl)) as Record<string, unknown>;
        text = text.slice(nl + 1);
        if ('return' in msg || 'error' in msg) replies.push(msg);
      }
    });
    try {
      await waitFor(() => s.readyState === 'open', { what: "Ganeti's connect" });
      s.write('{"execute": "qmp_capabilities"}\r\n');
      await waitFor(() => replies.length >= 1, { what: 'the answer to qmp_capabilities', timeoutMs: 10_000 });
      s.write('{"execute": "query-commands"}\r\n');
      await waitFor(() => replies.length >= 2, { what: 'the answer to query-commands', timeoutMs: 10_000 });
      return { caps: replies[0], commands: replies[1] };
    } finally {
      s.destroy();
    }
  }

  it("plugboard closing with a reply owed keeps the socket until it comes, so Ganeti's next session gets its own answers", async () => {
    const { qmpSocket } = await startTestQemu();
    for (let i = 0; i < 10; i++) {
      // A pipelined pair whose first command fails: the work ends with the second still in QEMU.
      const err = await withQmp(qmpSocket, {}, async (qmp) => {
        const failing = qmp.execute('device_del', { id: 'no-such-device' });
        void qmp.execute('query-qmp-schema').catch(() => undefined);
        await failing;
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpCommandError);
      const ganeti = await asGaneti(qmpSocket);
      expect(ganeti.caps, `try ${i}`).toEqual({ return: {} });
      expect((ganeti.commands as { return: { name: string }[] }).return.map((c) => c.name), `try ${i}`).toContain('device_add');
    }
  });
});

describe('looking before connecting: QEMU\'s listen queue stays free for Ganeti', () => {
  it('the kernel\'s table shows QEMU\'s listener, an accepted client (03) and a queued one (02) at the socket\'s path', async () => {
    const { qmpSocket } = await startTestQemu();
    // The launcher's own connection, closed, until QEMU has dropped it.
    await waitFor(() => clientsOf(qmpSocket)?.closed === 0, { what: 'QEMU to drop the launcher\'s connection' });
    expect(clientsOf(qmpSocket)).toEqual({ connected: 0, queued: 0, closed: 0 });
    const holder = await QmpClient.connect(qmpSocket);
    const waiting = await plainConnect(qmpSocket);
    try {
      expect(waiting).toBeInstanceOf(net.Socket);
      expect(clientsOf(qmpSocket)).toEqual({ connected: 1, queued: 1, closed: 0 });
    } finally {
      if (waiting instanceof net.Socket) waiting.destroy();
      await holder.close();
    }
    await waitFor(() => clientsOf(qmpSocket)?.connected === 0 && clientsOf(qmpSocket)?.queued === 0, { what: 'QEMU to drop both connections' });
  });

  it('a client that has closed is seen as closed (RefCount down to the listener\'s) until QEMU drops it, and holds nothing: a connect goes in at once', async () => {
    const { qmpSocket, qemu } = await startTestQemu();
    await waitFor(() => clientsOf(qmpSocket)?.closed === 0, { what: 'QEMU to drop the launcher\'s connection' });
    const holder = await QmpClient.connect(qmpSocket);
    const waiting = await plainConnect(qmpSocket);
    expect(waiting).toBeInstanceOf(net.Socket);
    // QEMU stopped: nothing is dropped or accepted while both clients close.
    process.kill(qemu.pid, 'SIGSTOP');
    try {
      // A signal is taken when a thread next runs: wait until every thread of QEMU has stopped.
      await waitFor(() => threadStates(qemu.pid).every((st) => st === 'T'), { what: `QEMU ${qemu.pid} to stop` });
      await holder.close();
      (waiting as net.Socket).destroy();
      await waitFor(() => clientsOf(qmpSocket)?.closed === 2, { what: 'both connections to show their client closed' });
      expect(clientsOf(qmpSocket)).toEqual({ connected: 0, queued: 0, closed: 2 });
      expect(qmpSocketClients(qmpSocket)).toEqual({ connected: 0, queued: 0, closed: 2 });
    } finally {
      process.kill(qemu.pid, 'SIGCONT');
    }
    const client = await QmpClient.connect(qmpSocket, { greetingTimeoutMs: 5_000 });
    expect(await client.execute('query-status')).toMatchObject({ status: 'prelaunch' });
    await client.close();
  });

  it('while another client holds the socket, busy answers never connect: the queue stays empty and Ganeti\'s connect still gets in line; served at once when the holder goes', async () => {
    const { qmpSocket } = await startTestQemu();
    const holder = await QmpClient.connect(qmpSocket);
    let ganeti: net.Socket | string | undefined;
    try {
      for (let i = 0; i < 3; i++) {
        const err = await rejection(QmpClient.connect(qmpSocket, { greetingTimeoutMs: 150 }));
        expect(err).toBeInstanceOf(QmpBusyError);
        expect((err as QmpBusyError).seenHeld).toBe(true);
        expect(err.message).toBe(`socket busy: another client (Ganeti itself?) holds ${qmpSocket} (held for 150 ms; plugboard did not queue behind it); try again`);
      }
      expect(clientsOf(qmpSocket)).toEqual({ connected: 1, queued: 0, closed: 0 });
      ganeti = await plainConnect(qmpSocket);
      expect(ganeti).toBeInstanceOf(net.Socket);
      // One that waits is let in as soon as the holder (and the connection queued behind it) are gone.
      const next = QmpClient.connect(qmpSocket, { greetingTimeoutMs: 10_000 });
      await holder.close();
      (ganeti as net.Socket).destroy();
      const client = await within(next, 10_000, 'the waiting client to connect');
      expect(await client.execute('query-status')).toMatchObject({ status: 'prelaunch' });
      await client.close();
    } finally {
      if (ganeti instanceof net.Socket) ganeti.destroy();
      await holder.close();
    }
  });

  it('control: connecting blindly, two connections that gave up fill the queue and Ganeti\'s connect fails with EAGAIN', async () => {
    const { qmpSocket } = await startTestQemu();
    const holder = await QmpClient.connect(qmpSocket);
    try {
      for (let i = 0; i < 2; i++) {
        const err = await rejection(QmpClient.connect(qmpSocket, { greetingTimeoutMs: 150, lookBeforeConnect: false }));
        expect((err as QmpBusyError).seenHeld).toBe(false);
      }
      expect(clientsOf(qmpSocket)).toEqual({ connected: 1, queued: 0, closed: 2 });
      expect(await plainConnect(qmpSocket)).toBe('EAGAIN');
    } finally {
      await holder.close();
    }
  });

  it('a QEMU in another network namespace is found through its pid (/proc/PID/net/unix); without it plugboard can only connect and wait', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test needs root (unshare --net)');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-netns-'));
    const qmpSocket = path.join(dir, 'qmp.sock');
    const pidFile = path.join(dir, 'pid');
    let pid = 0;
    try {
      execFileSync('unshare', ['--net', '--', requireQemu(), '-machine', 'none', '-nodefaults', '-display', 'none', '-S',
        '-qmp', `unix:${qmpSocket},server=on,wait=off`, '-pidfile', pidFile, '-daemonize'], { stdio: 'pipe', timeout: 20_000 });
      pid = Number(readFileSync(pidFile, 'utf8').trim());
      const own = '/proc/self/net/unix';
      const qemus = `/proc/${pid}/net/unix`;
      // QEMU's listener is in its namespace only; a connection's server side in the connecting
      // process's namespace (here, this one).
      expect(clientsOf(qmpSocket, own)).toBeUndefined();
      expect(clientsOf(qmpSocket, qemus)).toEqual({ connected: 0, queued: 0, closed: 0 });
      const holder = await QmpClient.connect(qmpSocket, { qemuPid: pid });
      try {
        expect(clientsOf(qmpSocket, qemus)).toEqual({ connected: 0, queued: 0, closed: 0 });
        expect(clientsOf(qmpSocket, own, qemus)).toEqual({ connected: 1, queued: 0, closed: 0 });
        expect(qmpSocketClients(qmpSocket, pid)).toEqual({ connected: 1, queued: 0, closed: 0 });
        expect(qmpSocketClients(qmpSocket)).toBeUndefined();
        const seen = await rejection(QmpClient.connect(qmpSocket, { greetingTimeoutMs: 150, qemuPid: pid }));
        expect((seen as QmpBusyError).seenHeld).toBe(true);
        expect(qmpSocketClients(qmpSocket, pid)).toEqual({ connected: 1, queued: 0, closed: 0 });
        const blind = await rejection(QmpClient.connect(qmpSocket, { greetingTimeoutMs: 150 }));
        expect(blind).toBeInstanceOf(QmpBusyError);
        expect((blind as QmpBusyError).seenHeld).toBe(false);
        expect(qmpSocketClients(qmpSocket, pid)).toEqual({ connected: 1, queued: 0, closed: 1 });
      } finally {
        await holder.close();
      }
    } finally {
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await waitFor(() => !existsPid(pid), { what: `QEMU ${pid} to exit` });
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The state letter (R, S, T…) of each thread of `pid`. */
function threadStates(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((t) => {
    const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  });
}

function existsPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
