/**
 * Whether QEMU's QMP socket has a client, read from the kernel's table of Unix sockets
 * (`/proc/self/net/unix`, or `/proc/PID/net/unix` for a QEMU in another network namespace) instead
 * of by connecting.
 *
 * Why not just connect and wait for the greeting: QEMU serves one client per QMP socket and queues
 * the next connections in a listen queue of two. A connection that gives up waiting for the greeting
 * stays in that queue until the holder leaves, and two of them fill it: every further connect — the
 * next Ganeti job's — then fails at once with EAGAIN (measured on QEMU 7.2,
 * docs/qemu-ganeti-facts.md, "One client per QMP socket"). So plugboard looks first, and connects
 * only to a socket that has no client.
 *
 * What the table shows for a socket bound at PATH (measured on Linux 6.1 with QEMU 7.2): the
 * listening socket (flag __SO_ACCEPTCON, 0x10000, state 01), one line per accepted connection
 * (state 03, SS_CONNECTED) and one per connection waiting in the listen queue (state 02,
 * SS_CONNECTING, inode 0) — all with PATH, since the server side of a connection carries the
 * listener's address. Clients are not bound, so they have no path. A closed client's server side
 * stays until QEMU accepts and closes it, a few milliseconds after the holder leaves. That server
 * side belongs to the network namespace of the client, the listener to QEMU's (see qmpSocketClients).
 *
 * The answer is 'unknown' whenever the table cannot say for sure (not Linux, no /proc, the socket
 * bound under another name, two listeners with the same name after a rename): the caller then
 * connects as before and relies on the greeting timeout.
 */
import { readFile, readlink } from 'node:fs/promises';

/** The flag of a listening socket in /proc/net/unix (__SO_ACCEPTCON). */
const ACCEPTING = 0x10000;

export interface SocketClients {
  /** Accepted connections (QEMU talks to them; one at a time). */
  connected: number;
  /** Connections waiting in QEMU's listen queue. */
  queued: number;
}

/**
 * Reads `/proc/net/unix` texts (one per network namespace): the clients of the one listening socket
 * bound at `socketPath`, or undefined if there is not exactly one such listener among them.
 */
export function clientsOfSocket(tables: string | readonly string[], socketPath: string): SocketClients | undefined {
  let listeners = 0;
  const clients: SocketClients = { connected: 0, queued: 0 };
  for (const table of typeof tables === 'string' ? [tables] : tables) {
    for (const line of table.split('\n')) {
      // Num: RefCount Protocol Flags Type St Inode Path — the path is the rest of the line (it may
      // hold spaces); a line without a path (an unbound socket) has only seven fields.
      const m = /^\s*[0-9a-f]+:\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (.*)$/i.exec(line);
      if (!m || m[3] !== socketPath) continue;
      const flags = Number.parseInt(m[1]!, 16);
      const state = Number.parseInt(m[2]!, 16);
      if (flags & ACCEPTING) listeners++;
      else if (state === 3) clients.connected++;
      else if (state === 2) clients.queued++;
    }
  }
  return listeners === 1 ? clients : undefined;
}

/**
 * The clients of QEMU's socket at `socketPath` as the kernel's tables show them, or undefined when
 * they cannot say (see the module header). The server side of a connection lives in the network
 * namespace of the process that CONNECTED, the listener in QEMU's: so this process's table is read
 * (its own connections and, on a node, everyone's), and with `qemuPid` QEMU's too when QEMU is in
 * another namespace (its listener, and the connections of its neighbours there, e.g. Ganeti's).
 */
export async function qmpSocketClients(socketPath: string, qemuPid?: number): Promise<SocketClients | undefined> {
  const paths = ['/proc/self/net/unix'];
  if (qemuPid !== undefined && Number.isSafeInteger(qemuPid) && qemuPid > 0) {
    // Only a namespace of its own: the same table read twice would count the listener twice.
    const [own, qemus] = await Promise.all([readlink('/proc/self/ns/net').catch(() => ''), readlink(`/proc/${qemuPid}/ns/net`).catch(() => '')]);
    if (own !== '' && qemus !== '' && own !== qemus) paths.push(`/proc/${qemuPid}/net/unix`);
  }
  const tables: string[] = [];
  for (const table of paths) {
    try {
      tables.push(await readFile(table, 'utf8'));
    } catch {
      // not Linux, no /proc, QEMU gone: the tables that could be read say what they can
    }
  }
  return clientsOfSocket(tables, socketPath);
}

/** 'held' (QEMU has a client or a queue), 'free', or 'unknown' (see the module header). */
export async function qmpSocketHolder(socketPath: string, qemuPid?: number): Promise<'held' | 'free' | 'unknown'> {
  const clients = await qmpSocketClients(socketPath, qemuPid);
  if (!clients) return 'unknown';
  return clients.connected + clients.queued > 0 ? 'held' : 'free';
}
