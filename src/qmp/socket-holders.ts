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
 * What the table shows for a socket bound at PATH (measured on Linux 6.18 with QEMU 7.2, with QEMU
 * stopped by SIGSTOP to see each state): the listening socket (flag __SO_ACCEPTCON, 0x10000, state
 * 01, RefCount 2), one line per accepted connection (state 03, SS_CONNECTED) and one per connection
 * waiting in the listen queue (state 02, SS_CONNECTING, inode 0) — all with PATH, since the server
 * side of a connection carries the listener's address; clients are not bound and have no path. The
 * server side's RefCount says whether its client is still there: 3 while the client end is open,
 * 2 (the listener's) once the client has closed it. Such a closed connection stays in the table
 * until QEMU's main loop drops it (accepted) or accepts and drops it (queued): 0.1–3 ms when QEMU has
 * no live client, only after the holder leaves otherwise. So a live client (RefCount above the
 * listener's) is a holder, or waits to be one; a closed one is on its way out and holds nothing.
 * The server side belongs to the network namespace of the process that connected, the listener to
 * QEMU's (see qmpSocketClients).
 *
 * The answer is 'unknown' whenever the table cannot say for sure (not Linux, no /proc, the socket
 * bound under another name, two listeners with the same name after a rename): the caller then
 * connects as before and relies on the greeting timeout.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { QmpAbortedError, QmpBusyError } from './errors.js';

/** The flag of a listening socket in /proc/net/unix (__SO_ACCEPTCON). */
const ACCEPTING = 0x10000;

/** The longest pause between two looks at the socket table while QEMU has another client. */
const HOLDER_POLL_MS = 20;

export interface SocketClients {
  /** Accepted connections whose client is there: QEMU serves one, so more than 0 means held. */
  connected: number;
  /** Connections waiting in QEMU's listen queue whose client is still there, waiting its turn. */
  queued: number;
  /** Connections, accepted or queued, whose client has closed: QEMU is about to drop them. */
  closed: number;
}

/** One line of the table that carries a path. */
interface TableLine {
  refCount: number;
  flags: number;
  state: number;
}

/** One table's text: its lines by path (one pass over its lines). */
function countTable(text: string): Map<string, TableLine[]> {
  const byPath = new Map<string, TableLine[]>();
  for (const line of text.split('\n')) {
    // Num: RefCount Protocol Flags Type St Inode Path — the path is the rest of the line (it may
    // hold spaces); a line without a path (an unbound socket, a client) has only seven fields.
    const m = /^\s*[0-9a-f]+:\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (.+)$/i.exec(line);
    if (!m) continue;
    let lines = byPath.get(m[4]!);
    if (!lines) byPath.set(m[4]!, (lines = []));
    lines.push({ refCount: Number.parseInt(m[1]!, 16), flags: Number.parseInt(m[2]!, 16), state: Number.parseInt(m[3]!, 16) });
  }
  return byPath;
}

/** The clients of the one listener at `socketPath` across counted tables, or undefined. */
function clientsIn(tables: readonly Map<string, TableLine[]>[], socketPath: string): SocketClients | undefined {
  const lines = tables.flatMap((t) => t.get(socketPath) ?? []);
  const listeners = lines.filter((l) => (l.flags & ACCEPTING) !== 0);
  if (listeners.length !== 1) return undefined;
  const closedRefs = listeners[0]!.refCount;
  const clients: SocketClients = { connected: 0, queued: 0, closed: 0 };
  for (const l of lines) {
    if ((l.flags & ACCEPTING) !== 0 || (l.state !== 3 && l.state !== 2)) continue;
    if (l.refCount <= closedRefs) clients.closed++;
    else if (l.state === 3) clients.connected++;
    else clients.queued++;
  }
  return clients;
}

/**
 * Reads `/proc/net/unix` texts (one per network namespace): the clients of the one listening socket
 * bound at `socketPath`, or undefined if there is not exactly one such listener among them.
 */
export function clientsOfSocket(tables: string | readonly string[], socketPath: string): SocketClients | undefined {
  return clientsIn((typeof tables === 'string' ? [tables] : tables).map(countTable), socketPath);
}

/**
 * Tables read in this turn of the event loop, shared by every connect started in it (the view's
 * refresh connects to every instance at once: one read and one pass, not one per instance). Reads
 * are synchronous: the kernel writes the text from memory, no disk is involved (~30 µs for a small
 * table; an asynchronous read costs ~8× that in thread-pool round trips).
 */
const thisTurn = new Map<string, Map<string, TableLine[]> | null>();

function tableOf(file: string): Map<string, TableLine[]> | null {
  let t = thisTurn.get(file);
  if (t !== undefined) return t;
  try {
    t = countTable(readFileSync(file, 'utf8'));
  } catch {
    t = null; // not Linux, no /proc, QEMU gone: the tables that could be read say what they can
  }
  if (thisTurn.size === 0) setImmediate(() => thisTurn.clear()).unref();
  thisTurn.set(file, t);
  return t;
}

let ownNamespace: string | undefined;

/**
 * The clients of QEMU's socket at `socketPath` as the kernel's tables show them, or undefined when
 * they cannot say (see the module header). The server side of a connection lives in the network
 * namespace of the process that CONNECTED, the listener in QEMU's: so this process's table is read
 * (its own connections and, on a node, everyone's), and with `qemuPid` QEMU's too when QEMU is in
 * another namespace (its listener, and the connections of its neighbours there, e.g. Ganeti's).
 */
export function qmpSocketClients(socketPath: string, qemuPid?: number): SocketClients | undefined {
  const files = ['/proc/self/net/unix'];
  if (qemuPid !== undefined && Number.isSafeInteger(qemuPid) && qemuPid > 0) {
    // Only a namespace of its own: the same table read twice would count the listener twice.
    ownNamespace ??= linkOf('/proc/self/ns/net');
    const qemus = linkOf(`/proc/${qemuPid}/ns/net`);
    if (ownNamespace !== '' && qemus !== '' && ownNamespace !== qemus) files.push(`/proc/${qemuPid}/net/unix`);
  }
  return clientsIn(files.map(tableOf).filter((t) => t !== null), socketPath);
}

function linkOf(file: string): string {
  try {
    return readlinkSync(file);
  } catch {
    return '';
  }
}

/**
 * 'held' (QEMU has a live client, or one waits its turn), 'free' (no client, or only closed ones on
 * their way out), or 'unknown' (see the module header).
 */
export function qmpSocketHolder(socketPath: string, qemuPid?: number): 'held' | 'free' | 'unknown' {
  const clients = qmpSocketClients(socketPath, qemuPid);
  if (!clients) return 'unknown';
  return clients.connected + clients.queued > 0 ? 'held' : 'free';
}

/**
 * Waits while the kernel's socket table shows QEMU with a live client, at most `timeoutMs`; returns
 * how long it waited (0: free or unknown at once). Still held at the deadline → QmpBusyError. Looks
 * again after 1, 2, 4… ms, at most HOLDER_POLL_MS apart (a look is one read of the table, ~30 µs).
 */
export async function waitUntilUnheld(
  socketPath: string,
  timeoutMs: number,
  options: { signal?: AbortSignal | undefined; qemuPid?: number | undefined },
): Promise<number> {
  const started = Date.now();
  const signal = options.signal;
  for (let look = 0; ; look++) {
    if (signal?.aborted) throw new QmpAbortedError('connect', socketPath, { cause: signal.reason });
    if (qmpSocketHolder(socketPath, options.qemuPid) !== 'held') return Date.now() - started;
    const waited = Date.now() - started;
    if (waited >= timeoutMs) throw new QmpBusyError(socketPath, timeoutMs, { seenHeld: true });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(new QmpAbortedError('connect', socketPath, { cause: signal?.reason }));
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.min(HOLDER_POLL_MS, 2 ** look, timeoutMs - waited),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
