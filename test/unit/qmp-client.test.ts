/**
 * The QMP client (src/qmp/client.ts) against a real local Unix-socket server that plays QEMU
 * (greeting, replies by id, events, and every way of misbehaving), torn down after each test.
 * (Over 500 lines on purpose: one file per module under test, and the client's cases — protocol,
 * timeouts, aborts, faults, limits — are one list an owner of the client reads through.)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { QmpClient, withQmp, type QmpEvent } from '../../src/qmp/client.js';
import { HmpCommandError, QmpAbortedError, QmpBusyError, QmpCommandError, QmpConnectError, QmpProtocolError, QmpTimeoutError } from '../../src/qmp/errors.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { PlugboardError } from '../../src/errors.js';
import { FakeQmpServer, QEMU_72_GREETING, type FakeQmpConnection, type FakeQmpOptions } from '../helpers/fake-qmp.js';
import { waitFor, within } from '../helpers/wait.js';

let fakes: FakeQmpServer[] = [];
let clients: QmpClient[] = [];
let tmpDirs: string[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(fakes.map((f) => f.stop()));
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  fakes = [];
  clients = [];
  tmpDirs = [];
});

async function fake(options: FakeQmpOptions = {}): Promise<FakeQmpServer> {
  const f = await FakeQmpServer.start(options);
  fakes.push(f);
  return f;
}

/** Connects a client to a fresh fake and returns both ends. */
async function pair(
  options: FakeQmpOptions = {},
  connectOptions: Parameters<typeof QmpClient.connect>[1] = {},
): Promise<{ server: FakeQmpServer; conn: FakeQmpConnection; client: QmpClient }> {
  const server = await fake(options);
  const connecting = QmpClient.connect(server.path, connectOptions);
  const conn = await server.nextConnection();
  const client = await connecting;
  clients.push(client);
  return { server, conn, client };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject, it resolved');
}

describe('QmpClient connect', () => {
  it('reads the greeting, sends qmp_capabilities, and exposes the QEMU version', async () => {
    const { client, conn } = await pair();
    expect(client.greeting.version).toEqual({ major: 7, minor: 2, micro: 22, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' });
    expect(client.greeting.capabilities).toEqual(['oob']);
    expect(conn.commands.map((c) => c.execute)).toEqual(['qmp_capabilities']);
    // QEMU 7.2 reads one byte per main-loop iteration: compact JSON, a short id.
    expect(conn.commands[0]!.raw).toBe('{"execute":"qmp_capabilities","id":"caps"}');
  });

  it('reports a socket that never greets as busy within the greeting timeout, and closes it', async () => {
    const server = await fake({ greeting: false });
    const started = Date.now();
    const connecting = rejection(QmpClient.connect(server.path, { greetingTimeoutMs: 150 }));
    const conn = await server.nextConnection();
    const err = await connecting;
    expect(err).toBeInstanceOf(QmpBusyError);
    expect(err).toBeInstanceOf(PlugboardError);
    expect((err as Error).message).toContain('socket busy: another client (Ganeti itself?) holds');
    expect((err as Error).message).toContain(server.path);
    expect((err as Error).message).toContain('try again');
    expect(Date.now() - started).toBeLessThan(2_000);
    // The socket is released: the server sees the client hang up.
    await within(conn.closed, 2_000, 'the busy client to close its socket');
  });

  it('says the instance is not running when there is no socket (ENOENT)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-qmp-'));
    tmpDirs.push(dir);
    const err = await rejection(QmpClient.connect(path.join(dir, 'web1.qmp')));
    expect(err).toBeInstanceOf(QmpConnectError);
    expect((err as QmpConnectError).reason).toBe('not-running');
    expect((err as Error).message).toMatch(/no QMP socket at .*web1\.qmp: the instance is not running/);
  });

  it('says QEMU is gone when the socket file has no listener (ECONNREFUSED)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-qmp-'));
    tmpDirs.push(dir);
    const sock = path.join(dir, 'stale.qmp');
    // A process that listens and is then SIGKILLed leaves its socket file behind, like a crashed QEMU.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await within(new Promise((resolve) => child.stdout!.once('data', resolve)), 5_000, 'the helper to listen');
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await within(gone, 5_000, 'the helper to die');
    expect(existsSync(sock)).toBe(true);
    const err = await rejection(QmpClient.connect(sock));
    expect(err).toBeInstanceOf(QmpConnectError);
    expect((err as QmpConnectError).reason).toBe('gone');
    expect((err as Error).message).toContain('QEMU is gone');
  });

  it('fails with a protocol error when the peer hangs up before greeting', async () => {
    const server = await fake({ greeting: false });
    const connecting = rejection(QmpClient.connect(server.path, { greetingTimeoutMs: 5_000 }));
    (await server.nextConnection()).destroy();
    const err = await connecting;
    expect(err).toBeInstanceOf(QmpProtocolError);
    expect((err as QmpProtocolError).reason).toBe('closed');
    expect((err as Error).message).toContain('before sending its QMP greeting');
  });

  it('rejects with the command error when qmp_capabilities is refused', async () => {
    const server = await fake({ autoCapabilities: false });
    const connecting = rejection(QmpClient.connect(server.path));
    const conn = await server.nextConnection();
    const caps = await conn.nextCommand();
    expect(caps.execute).toBe('qmp_capabilities');
    conn.replyError(caps, 'CommandNotFound', 'Capabilities negotiation is already complete');
    const err = await connecting;
    expect(err).toBeInstanceOf(QmpCommandError);
    await within(conn.closed, 2_000, 'the client to close after the failed handshake');
  });

  it('with pipelineCapabilities resolves once qmp_capabilities is sent: the first commands go right behind it, and its reply (no id) is matched', async () => {
    const server = await fake({ autoCapabilities: false });
    const connecting = QmpClient.connect(server.path, { pipelineCapabilities: true });
    const conn = await server.nextConnection();
    const client = await connecting;
    clients.push(client);
    const reply = client.execute('query-status');
    const caps = await conn.nextCommand();
    const status = await conn.nextCommand();
    expect([caps.raw, status.raw]).toEqual(['{"execute":"qmp_capabilities","id":"caps"}', `{"execute":"query-status","id":${String(status.id)}}`]);
    conn.reply(caps, {});
    conn.reply(status, { status: 'paused', running: false });
    await expect(reply).resolves.toEqual({ status: 'paused', running: false });
    // After the negotiation a reply without id is again QEMU out of step.
    const next = rejection(client.execute('query-status'));
    await conn.nextCommand();
    conn.send({ return: {} });
    expect(await next).toBeInstanceOf(QmpProtocolError);
  });

  it("ignores a previous client's replies that come before the answer to qmp_capabilities, even one with the id of a command in flight", async () => {
    const server = await fake({ autoCapabilities: false });
    const connecting = QmpClient.connect(server.path, { pipelineCapabilities: true });
    const conn = await server.nextConnection();
    const client = await connecting;
    clients.push(client);
    const reply = client.execute('query-status');
    const caps = await conn.nextCommand();
    const status = await conn.nextCommand();
    expect(status.id).toBe(1);
    // What QEMU sends a new client when the previous one left with a command in flight: its reply,
    // whatever id that client gave (plugboard's count from 1 too; Ganeti's have none).
    conn.send({ return: { status: 'running', running: true }, id: 1 });
    conn.send({ return: {} });
    conn.send({ error: { class: 'DeviceNotFound', desc: "Device 'x' not found" }, id: 'old' });
    conn.reply(caps, {});
    conn.reply(status, { status: 'paused', running: false });
    await expect(reply).resolves.toEqual({ status: 'paused', running: false });
    expect(client.staleReplies).toBe(3);
    // After the answer to qmp_capabilities an id never sent is again a protocol error.
    const next = rejection(client.execute('query-status'));
    await conn.nextCommand();
    conn.send({ return: {}, id: 1 });
    expect(await next).toMatchObject({ reason: 'unexpected' });
  });

  it("ignores a previous client's reply that comes before the greeting", async () => {
    const server = await fake({ greeting: false });
    const connecting = QmpClient.connect(server.path);
    const conn = await server.nextConnection();
    conn.send({ return: [{ name: 'query-status' }], id: 'old' });
    conn.send(QEMU_72_GREETING);
    const client = await connecting;
    clients.push(client);
    expect(client.staleReplies).toBe(1);
    expect(client.greeting.version.major).toBe(7);
  });

  it('with pipelineCapabilities a refused qmp_capabilities fails the connection: the commands behind it reject with a QmpConnectError naming it', async () => {
    const server = await fake({ autoCapabilities: false });
    const connecting = QmpClient.connect(server.path, { pipelineCapabilities: true });
    const conn = await server.nextConnection();
    const client = await connecting;
    clients.push(client);
    const pending = rejection(client.execute('query-block'));
    const caps = await conn.nextCommand();
    conn.replyError(caps, 'GenericError', 'injected');
    const err = await pending;
    expect(err).toBeInstanceOf(QmpConnectError);
    expect((err as Error).message).toBe(`QEMU refused qmp_capabilities on ${server.path}: injected`);
    expect(client.closed).toBe(true);
    await within(conn.closed, 2_000, 'the client to close after the failed negotiation');
  });

  it('is cancelled by an already-aborted signal before connecting', async () => {
    const server = await fake();
    const err = await rejection(QmpClient.connect(server.path, { signal: AbortSignal.abort() }));
    expect(err).toBeInstanceOf(QmpAbortedError);
    expect(server.connections).toHaveLength(0);
  });
});

describe('QmpClient execute', () => {
  it('writes the commands issued in one tick in one write (QEMU, woken by the first line, would otherwise often run before the next is written)', async () => {
    const { client, conn } = await pair();
    // Node flushes corked writes with the socket's _writev; an uncorked write goes through _write.
    const proto = net.Socket.prototype as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
    const write = vi.spyOn(proto, '_write');
    const writev = vi.spyOn(proto, '_writev');
    try {
      const a = client.execute('query-pci');
      const b = client.execute('query-block');
      const [ca, cb] = [await conn.nextCommand(), await conn.nextCommand()];
      expect(write).not.toHaveBeenCalled();
      expect(writev).toHaveBeenCalledTimes(1);
      expect((writev.mock.calls[0]![0] as unknown[]).length).toBe(2);
      conn.reply(ca, []);
      conn.reply(cb, []);
      await Promise.all([a, b]);
    } finally {
      write.mockRestore();
      writev.mockRestore();
    }
  });

  it('matches replies to requests by id, whatever the order and with events in between', async () => {
    const { client, conn } = await pair();
    const seen: string[] = [];
    client.on('event', (e) => seen.push(e.event));
    const a = client.execute('query-pci');
    const b = client.execute('query-block');
    const cmdA = await conn.nextCommand();
    const cmdB = await conn.nextCommand();
    expect(cmdA.id).not.toEqual(cmdB.id);
    expect(cmdB.raw).toBe(`{"execute":"query-block","id":${String(cmdB.id)}}`);
    conn.event('RESUME');
    conn.reply(cmdB, [{ device: 'b' }]);
    conn.event('STOP');
    conn.reply(cmdA, [{ bus: 0 }]);
    await expect(a).resolves.toEqual([{ bus: 0 }]);
    await expect(b).resolves.toEqual([{ device: 'b' }]);
    expect(seen).toEqual(['RESUME', 'STOP']);
  });

  it('sends arguments and resolves with the return value', async () => {
    const { client, conn } = await pair();
    const p = client.execute('device_add', { driver: 'scsi-hd', id: 'disk-1', bus: 'scsi.0', 'scsi-id': 3 });
    const cmd = await conn.nextCommand();
    expect(cmd.execute).toBe('device_add');
    expect(cmd.arguments).toEqual({ driver: 'scsi-hd', id: 'disk-1', bus: 'scsi.0', 'scsi-id': 3 });
    conn.reply(cmd, {});
    await expect(p).resolves.toEqual({});
  });

  it('delivers an event that arrives before the reply to a waiter that marked before the command', async () => {
    const { client, conn } = await pair();
    const mark = client.mark();
    const p = client.execute('device_del', { id: 'sd0' });
    const cmd = await conn.nextCommand();
    // Event and reply in one write: the event is read before the reply resolves.
    conn.sendRaw(
      `${JSON.stringify({ event: 'DEVICE_DELETED', data: { device: 'sd0', path: '/machine/peripheral/sd0' } })}\r\n` +
        `${JSON.stringify({ return: {}, id: cmd.id })}\r\n`,
    );
    await p;
    const ev = await client.waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === 'sd0', {
      since: mark,
      timeoutMs: 1_000,
    });
    expect(ev.data).toEqual({ device: 'sd0', path: '/machine/peripheral/sd0' });
    expect(ev.seq).toBeGreaterThan(mark);
  });

  it('keeps QEMU error class and desc in QmpCommandError', async () => {
    const { client, conn } = await pair();
    const p = rejection(client.execute('device_add', { driver: 'lsi', id: 'scsi' }));
    conn.replyError(await conn.nextCommand(), 'GenericError', "Duplicate device ID 'scsi'");
    const err = await p;
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toMatchObject({ command: 'device_add', errorClass: 'GenericError', desc: "Duplicate device ID 'scsi'" });
    expect((err as Error).message).toBe("QEMU refused device_add: Duplicate device ID 'scsi' (GenericError)");
    // The connection is still usable after a command error.
    const q = client.execute('query-status');
    conn.reply(await conn.nextCommand(), { status: 'prelaunch' });
    await expect(q).resolves.toEqual({ status: 'prelaunch' });
  });

  it('times out on a reply that never comes, then ignores the late reply and stays usable', async () => {
    const { client, conn } = await pair();
    const err = await rejection(client.execute('blockdev-add', { 'node-name': 'n1' }, { timeoutMs: 100 }));
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect(err).toMatchObject({ step: 'reply to blockdev-add', timeoutMs: 100 });
    const late = await conn.nextCommand();
    conn.reply(late, { late: true });
    const p = client.execute('query-status');
    conn.reply(await conn.nextCommand(), { status: 'paused' });
    await expect(p).resolves.toEqual({ status: 'paused' });
    expect(client.closed).toBe(false);
  });

  it('rejects pending requests with a protocol error when QEMU closes mid-reply', async () => {
    const { client, conn } = await pair();
    const p = rejection(client.execute('query-pci'));
    await conn.nextCommand();
    conn.sendRaw('{"return": [{"bus": 0, "devi'); // half a reply, then the peer is gone
    conn.destroy();
    const err = await within(p, 2_000, 'the pending request to fail');
    expect(err).toBeInstanceOf(QmpProtocolError);
    expect((err as QmpProtocolError).reason).toBe('closed');
    expect((err as Error).message).toContain('while plugboard waited for reply to query-pci');
    expect(client.closed).toBe(true);
    await expect(client.execute('query-pci')).rejects.toBeInstanceOf(QmpProtocolError);
  });

  it('treats a line that is not JSON as a protocol error and disconnects', async () => {
    const { client, conn } = await pair();
    const p = rejection(client.execute('query-pci'));
    await conn.nextCommand();
    conn.sendRaw('this is not json\r\n');
    const err = await p;
    expect(err).toBeInstanceOf(QmpProtocolError);
    expect((err as QmpProtocolError).reason).toBe('garbage');
    expect((err as Error).message).toContain('"this is not json"');
    await within(conn.closed, 2_000, 'the client to disconnect');
  });

  it('treats JSON that is not a QMP message as a protocol error', async () => {
    const { client, conn } = await pair();
    const p = rejection(client.execute('query-pci'));
    await conn.nextCommand();
    conn.sendRaw('[1, 2, 3]\r\n');
    expect(await p).toMatchObject({ reason: 'garbage' });
  });

  it('treats a reply without id as a protocol error (QEMU could not parse a command)', async () => {
    const { client, conn } = await pair();
    const p = rejection(client.execute('query-pci'));
    await conn.nextCommand();
    conn.send({ error: { class: 'GenericError', desc: "JSON parse error, invalid keyword 'garbage'" } });
    const err = await p;
    expect(err).toBeInstanceOf(QmpProtocolError);
    expect((err as QmpProtocolError).reason).toBe('unexpected');
    expect((err as Error).message).toContain('JSON parse error');
  });

  it('treats a reply to an id that was never sent as a protocol error', async () => {
    const { client, conn } = await pair();
    const p = rejection(client.execute('query-pci'));
    await conn.nextCommand();
    conn.send({ return: {}, id: 'someone-else-7' });
    expect(await p).toMatchObject({ reason: 'unexpected' });
  });

  it('drops the connection on a line longer than maxLineBytes before buffering it all', async () => {
    const maxLineBytes = 1024 * 1024;
    const { client, conn } = await pair({}, { maxLineBytes });
    const closeErrors: (Error | undefined)[] = [];
    client.on('close', (e) => closeErrors.push(e));
    const p = rejection(client.execute('query-qmp-schema'));
    await conn.nextCommand();
    const total = 64 * 1024 * 1024;
    const { accepted, closedByClient } = await within(conn.writeWithoutNewline(total), 20_000, 'the huge line to be cut off');
    const err = await p;
    expect(err).toBeInstanceOf(QmpProtocolError);
    expect((err as QmpProtocolError).reason).toBe('line-too-long');
    expect((err as Error).message).toContain(`longer than ${maxLineBytes} bytes`);
    expect(closedByClient).toBe(true);
    // The client stopped reading soon after its limit: only the limit plus socket buffers got through.
    expect(accepted).toBeLessThan(4 * 1024 * 1024);
    expect(closeErrors).toEqual([err]);
  });

  it('accepts a line of exactly maxLineBytes split over many reads', async () => {
    const maxLineBytes = 200_000;
    const { client, conn } = await pair({}, { maxLineBytes });
    const p = client.execute('query-qmp-schema');
    const cmd = await conn.nextCommand();
    const prefix = `{"id": ${JSON.stringify(cmd.id)}, "return": "`;
    const suffix = '"}';
    const line = prefix + 'x'.repeat(maxLineBytes - prefix.length - suffix.length) + suffix;
    expect(Buffer.byteLength(line)).toBe(maxLineBytes);
    for (let i = 0; i < line.length; i += 7_000) conn.sendRaw(line.slice(i, i + 7_000));
    conn.sendRaw('\r\n');
    const value = await p;
    expect((value as string).length).toBe(maxLineBytes - prefix.length - suffix.length);
  });

  it('rejects a call whose own signal is aborted, and keeps the connection', async () => {
    const { client, conn } = await pair();
    const ac = new AbortController();
    const p = rejection(client.execute('query-pci', undefined, { signal: ac.signal }));
    const cmd = await conn.nextCommand();
    ac.abort();
    expect(await p).toBeInstanceOf(QmpAbortedError);
    conn.reply(cmd, []); // late reply: ignored
    const q = client.execute('query-status');
    conn.reply(await conn.nextCommand(), { status: 'paused' });
    await expect(q).resolves.toEqual({ status: 'paused' });
  });

  it('closes the connection and rejects everything when the connect signal aborts', async () => {
    const ac = new AbortController();
    const { client, conn } = await pair({}, { signal: ac.signal });
    const p = rejection(client.execute('query-pci'));
    const w = rejection(client.waitForEvent('DEVICE_DELETED', { timeoutMs: 10_000 }));
    const cmd = await conn.nextCommand();
    ac.abort(new Error('operator pressed Ctrl-C'));
    expect(await p).toBeInstanceOf(QmpAbortedError);
    expect(await w).toBeInstanceOf(QmpAbortedError);
    expect(((await p) as Error).cause).toMatchObject({ message: 'operator pressed Ctrl-C' });
    expect(client.closed).toBe(true);
    // QEMU still owes the reply to query-pci: the socket stays open for it (else the next client,
    // Ganeti's, would get it), then goes.
    conn.reply(cmd, []);
    await within(conn.closed, 2_000, 'the aborted client to disconnect');
  });

  it('closed with replies owed, waits for them (no longer than drainTimeoutMs) before it lets the socket go; with none owed, at once', async () => {
    const { client, conn } = await pair({}, { drainTimeoutMs: 300 });
    const first = rejection(client.execute('query-pci'));
    const second = rejection(client.execute('query-block'));
    const [a, b] = [await conn.nextCommand(), await conn.nextCommand()];
    const closing = client.close();
    expect(await first).toMatchObject({ reason: 'closed' });
    expect(await second).toMatchObject({ reason: 'closed' });
    conn.reply(a, []);
    conn.send({ event: 'DEVICE_DELETED', data: { device: 'x' } });
    conn.reply(b, []);
    await within(closing, 1_000, 'the close once both replies are in');
    await within(conn.closed, 1_000, 'the server to see the close');

    const late = await pair({}, { drainTimeoutMs: 300 });
    void rejection(late.client.execute('query-pci'));
    await late.conn.nextCommand();
    const t0 = Date.now();
    await late.client.close(); // never answered: the drain's bound
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await within(late.conn.closed, 1_000, 'the server to see the close');

    // One that timed out is not waited for again: QEMU has not answered it for its whole timeout.
    const slow = await pair({}, { drainTimeoutMs: 10_000 });
    const timedOut = rejection(slow.client.execute('query-pci', undefined, { timeoutMs: 50 }));
    await slow.conn.nextCommand();
    expect(await timedOut).toBeInstanceOf(QmpTimeoutError);
    await within(slow.client.close(), 1_000, 'the close after a timeout');
    await within(slow.conn.closed, 1_000, 'the server to see the close after a timeout');

    const idle = await pair({}, { drainTimeoutMs: 10_000 });
    const status = idle.client.execute('query-status');
    idle.conn.reply(await idle.conn.nextCommand(), { status: 'paused', running: false });
    await status;
    await within(idle.client.close(), 1_000, 'an idle close');
    await within(idle.conn.closed, 1_000, 'the server to see the idle close');
  });

  it('rejects pending requests with QmpConnectError when the client closes itself', async () => {
    const { client, conn } = await pair();
    const p = rejection(client.execute('query-pci'));
    const cmd = await conn.nextCommand();
    const closing = client.close();
    const err = await p;
    conn.reply(cmd, []); // owed: the socket waits for it (see the test above)
    await closing;
    expect(err).toBeInstanceOf(QmpConnectError);
    expect((err as QmpConnectError).reason).toBe('closed');
    await within(conn.closed, 2_000, 'the server to see the close');
    await client.close(); // twice is fine
  });
});

describe('QmpClient hmp', () => {
  it('accepts OK and empty output of action commands, rejects any other text as HmpCommandError', async () => {
    const replies: Record<string, string> = {
      'drive_add dummy file=/x,if=none,id=X,format=raw': 'OK\r\n',
      'drive_del X': '',
      'drive_add dummy file=/x,if=none,id=X,format=raw ': "Duplicate ID 'X' for drive\r\n",
      'info version': '7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3\r\n',
    };
    const { client } = await pair({
      handler: (cmd, conn) => conn.reply(cmd, replies[String(cmd.arguments?.['command-line'])] ?? 'unknown'),
    });
    await expect(client.hmp('drive_add dummy file=/x,if=none,id=X,format=raw')).resolves.toBe('OK\r\n');
    await expect(client.hmp('drive_del X')).resolves.toBe('');
    const err = await rejection(client.hmp('drive_add dummy file=/x,if=none,id=X,format=raw '));
    expect(err).toBeInstanceOf(HmpCommandError);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toMatchObject({ errorClass: 'HmpError', desc: "Duplicate ID 'X' for drive" });
    await expect(client.hmp('info version', { expect: 'text' })).resolves.toContain('7.2.22');
    await expect(client.hmp('info version')).rejects.toBeInstanceOf(HmpCommandError);
  });

  it('sends human-monitor-command with the command line', async () => {
    const { client, conn } = await pair();
    const p = client.hmp('drive_del X');
    const cmd = await conn.nextCommand();
    expect(cmd).toMatchObject({ execute: 'human-monitor-command', arguments: { 'command-line': 'drive_del X' } });
    conn.reply(cmd, '');
    await p;
  });
});

describe('QmpClient events', () => {
  it('gives listeners every event with its data and QEMU timestamp', async () => {
    const { client, conn } = await pair();
    const got: QmpEvent[] = [];
    const off = client.on('event', (e) => got.push(e));
    conn.event('DEVICE_DELETED', { device: 'sd0' });
    conn.event('SHUTDOWN', { guest: false });
    await waitFor(() => got.length === 2, { what: 'two events' });
    expect(got.map((e) => [e.event, e.data])).toEqual([
      ['DEVICE_DELETED', { device: 'sd0' }],
      ['SHUTDOWN', { guest: false }],
    ]);
    expect(got[0]!.timestamp).toEqual({ seconds: 1_700_000_000, microseconds: 0 });
    off();
    conn.event('STOP');
    await client.waitForEvent('STOP', { since: 0 });
    expect(got).toHaveLength(2);
  });

  it('waitForEvent without a mark ignores events that came before the call', async () => {
    const { client, conn } = await pair();
    conn.event('DEVICE_DELETED', { device: 'old' });
    await client.waitForEvent('DEVICE_DELETED', { since: 0 });
    const w = client.waitForEvent((e) => e.event === 'DEVICE_DELETED', { timeoutMs: 2_000 });
    conn.event('DEVICE_DELETED', { device: 'new' });
    expect((await w).data['device']).toBe('new');
  });

  it('waitForEvent times out with a message naming what it waited for', async () => {
    const { client } = await pair();
    const err = await rejection(
      client.waitForEvent((e) => e.event === 'DEVICE_DELETED', { timeoutMs: 80, what: 'DEVICE_DELETED for disk-1' }),
    );
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as Error).message).toMatch(/^timed out after 80 ms waiting for DEVICE_DELETED for disk-1 on /);
  });

  it('waitForEvent is cancelled by its signal', async () => {
    const { client } = await pair();
    const ac = new AbortController();
    const w = rejection(client.waitForEvent('DEVICE_DELETED', { signal: ac.signal, timeoutMs: 10_000 }));
    ac.abort();
    expect(await w).toBeInstanceOf(QmpAbortedError);
    expect(client.closed).toBe(false);
  });

  it('waitForEvent rejects when QEMU closes the connection', async () => {
    const { client, conn } = await pair();
    const w = rejection(client.waitForEvent('DEVICE_DELETED', { timeoutMs: 10_000, what: 'DEVICE_DELETED for sd0' }));
    conn.destroy();
    const err = await w;
    expect(err).toBeInstanceOf(QmpProtocolError);
    expect((err as Error).message).toContain('while plugboard waited for DEVICE_DELETED for sd0');
  });

  it('keeps at most maxBufferedEvents events', async () => {
    const { client, conn } = await pair({}, { maxBufferedEvents: 3 });
    for (let i = 0; i < 5; i++) conn.event('E', { i });
    await client.waitForEvent((e) => e.data['i'] === 4, { since: 0 });
    expect(client.recentEvents().map((e) => e.data['i'])).toEqual([2, 3, 4]);
  });
});

describe('withQmp', () => {
  it('closes the connection after the work, also when the work throws', async () => {
    const server = await fake({ handler: (cmd, conn) => conn.reply(cmd, { status: 'paused' }) });
    const result = await withQmp(server.path, {}, (q) => q.execute('query-status'));
    expect(result).toEqual({ status: 'paused' });
    await within(server.connections[0]!.closed, 2_000, 'the first connection to close');
    await expect(
      withQmp(server.path, {}, async () => {
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    await waitFor(() => server.connections.length === 2, { what: 'the second connection' });
    await within(server.connections[1]!.closed, 2_000, 'the second connection to close');
  });
});

describe('Transcript on a connection', () => {
  it('records every message sent and received, in order, with directions and the socket', async () => {
    const transcript = new Transcript();
    const live: string[] = [];
    transcript.subscribe((e) => live.push(`${e.direction} ${e.json}`));
    const { client, conn, server } = await pair({}, { transcript });
    const p = client.execute('query-status');
    const cmd = await conn.nextCommand();
    conn.event('RESUME');
    conn.reply(cmd, { status: 'running' });
    await p;
    const entries = transcript.entries();
    expect(entries.map((e) => e.direction)).toEqual(['in', 'out', 'in', 'out', 'in', 'in']);
    expect(entries.map((e) => JSON.parse(e.json) as Record<string, unknown>)).toEqual([
      expect.objectContaining({ QMP: expect.anything() }),
      expect.objectContaining({ execute: 'qmp_capabilities' }),
      expect.objectContaining({ return: {} }),
      expect.objectContaining({ execute: 'query-status', id: cmd.id }),
      expect.objectContaining({ event: 'RESUME' }),
      expect.objectContaining({ return: { status: 'running' }, id: cmd.id }),
    ]);
    expect(entries.every((e) => e.socket === server.path)).toBe(true);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.at).toBeGreaterThanOrEqual(entries[i - 1]!.at);
    expect(live).toEqual(entries.map((e) => `${e.direction} ${e.json}`));
  });
});
