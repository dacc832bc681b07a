/**
 * Reading the kernel's table of Unix sockets for the clients of a QMP socket
 * (src/qmp/socket-holders.ts): the parser over lines captured on this machine kind (Linux 6.1, a
 * QEMU 7.2 QMP socket with one client served and one queued), and the reader against a real local
 * listening socket. Real QEMU: test/integration/qmp-qemu.test.ts ("looking before connecting").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clientsOfSocket, qmpSocketClients, qmpSocketHolder } from '../../src/qmp/socket-holders.js';
import { waitFor } from '../helpers/wait.js';

const HEADER = 'Num       RefCount Protocol Flags    Type St Inode Path';
const LISTENER = '00000000ade3212e: 00000002 00000000 00010000 0001 01 16621 /tmp/qx/q.sock';
const SERVED = '0000000067fddddc: 00000003 00000000 00000000 0001 03 16635 /tmp/qx/q.sock';
const QUEUED = '0000000056f45d1c: 00000003 00000000 00000000 0001 02     0 /tmp/qx/q.sock';
const CLIENT_END = '00000000c0ffee00: 00000003 00000000 00000000 0001 03 16634';
const OTHER = '00000000deadbeef: 00000002 00000000 00010000 0001 01 11111 /tmp/qx/q.sock.other';
// The same two connections once their clients closed (QEMU stopped, so not yet dropped).
const SERVED_CLOSED = '0000000067fddddc: 00000002 00000000 00000000 0001 03 16635 /tmp/qx/q.sock';
const QUEUED_CLOSED = '0000000056f45d1c: 00000002 00000000 00000000 0001 02     0 /tmp/qx/q.sock';

describe('clientsOfSocket (the table\'s text)', () => {
  it('counts the served (state 03) and queued (state 02) connections of the one listener at the path', () => {
    const table = [HEADER, LISTENER, SERVED, QUEUED, CLIENT_END, OTHER, ''].join('\n');
    expect(clientsOfSocket(table, '/tmp/qx/q.sock')).toEqual({ connected: 1, queued: 1, closed: 0 });
    expect(clientsOfSocket([HEADER, LISTENER].join('\n'), '/tmp/qx/q.sock')).toEqual({ connected: 0, queued: 0, closed: 0 });
  });

  it('counts a connection whose client has closed (RefCount no higher than the listener\'s) as closed, not as a client', () => {
    expect(clientsOfSocket([HEADER, LISTENER, SERVED_CLOSED, QUEUED_CLOSED].join('\n'), '/tmp/qx/q.sock')).toEqual({ connected: 0, queued: 0, closed: 2 });
    expect(clientsOfSocket([HEADER, LISTENER, SERVED_CLOSED, QUEUED].join('\n'), '/tmp/qx/q.sock')).toEqual({ connected: 0, queued: 1, closed: 1 });
  });

  it('matches the whole path: a longer or shorter name is another socket', () => {
    const table = [HEADER, LISTENER, SERVED, OTHER].join('\n');
    expect(clientsOfSocket(table, '/tmp/qx/q.sock.other')).toEqual({ connected: 0, queued: 0, closed: 0 });
    expect(clientsOfSocket(table, '/tmp/qx/q')).toBeUndefined();
  });

  it('reads a path with spaces', () => {
    const p = '/run/a dir/q.sock';
    const table = [HEADER, LISTENER.replace('/tmp/qx/q.sock', p), SERVED.replace('/tmp/qx/q.sock', p)].join('\n');
    expect(clientsOfSocket(table, p)).toEqual({ connected: 1, queued: 0, closed: 0 });
  });

  it('cannot say without exactly one listener: none (another namespace, not bound under that name) or two (renamed)', () => {
    expect(clientsOfSocket([HEADER, SERVED].join('\n'), '/tmp/qx/q.sock')).toBeUndefined();
    expect(clientsOfSocket([HEADER, LISTENER, LISTENER.replace('ade3212e', 'ade32130'), SERVED].join('\n'), '/tmp/qx/q.sock')).toBeUndefined();
    expect(clientsOfSocket('', '/tmp/qx/q.sock')).toBeUndefined();
  });

  it('adds up the tables of two namespaces: the listener in one, the connections in the other', () => {
    expect(clientsOfSocket([[HEADER, LISTENER].join('\n'), [HEADER, SERVED, QUEUED].join('\n')], '/tmp/qx/q.sock')).toEqual({ connected: 1, queued: 1, closed: 0 });
  });
});

describe('qmpSocketHolder (this process\'s table) against a real listening socket', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function listening(): Promise<{ socket: string; server: net.Server }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-holders-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const socket = path.join(dir, 'q.sock');
    // Like QEMU: a backlog of one; a connection is accepted and served, the next waits.
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen({ path: socket, backlog: 1 }, resolve));
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { socket, server };
  }

  it('free with no client, held while one is connected, free once the client has closed (the server\'s side still open), gone once that closes too', async () => {
    const { socket, server } = await listening();
    expect(qmpSocketHolder(socket)).toBe('free');
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect(socket);
    cleanup.push(() => void client.destroy());
    const served = await accepted;
    expect(qmpSocketHolder(socket)).toBe('held');
    expect(qmpSocketClients(socket)).toEqual({ connected: 1, queued: 0, closed: 0 });
    client.destroy();
    await waitFor(() => qmpSocketClients(socket)?.closed === 1, { what: 'the client\'s close to show' });
    expect(qmpSocketHolder(socket)).toBe('free');
    expect(qmpSocketClients(socket)).toEqual({ connected: 0, queued: 0, closed: 1 });
    served.destroy();
    await waitFor(() => qmpSocketClients(socket)?.closed === 0, { what: 'the served connection to leave the table' });
  });

  it('unknown where nothing listens under that name', async () => {
    expect(qmpSocketHolder(path.join(os.tmpdir(), 'pb-holders-none', 'q.sock'))).toBe('unknown');
  });
});
