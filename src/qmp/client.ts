/**
 * A QMP client over a Unix socket, for QEMU's `-qmp unix:PATH,server=on,wait=off` monitor.
 *
 * (Over 500 lines on purpose: it is one class, the connection's state machine — connect, greeting,
 * the batched writes, replies matched by id, a previous client's replies, events and their buffer,
 * timeouts, aborts, close and the replies still owed at close — and
 * its invariants span all of it: every request settled exactly once, nothing buffered without a
 * bound, the socket closed on every path. Split, the parts would have to be read together anyway.)
 *
 * Use it connect → work → close (`withQmp`): QEMU serves ONE client per QMP socket and Ganeti
 * itself needs `ctrl/NAME.qmp`, so the tool never holds an instance's socket while idle. Before it
 * connects it looks in the kernel's socket table (./socket-holders.ts): while someone else holds the
 * socket it waits there, not in QEMU's short listen queue, and reports QmpBusyError after
 * `greetingTimeoutMs`. Where the table cannot tell, a held socket shows up as a connect that
 * succeeds but brings no greeting: QmpBusyError after `greetingTimeoutMs` too.
 *
 * Protocol decisions (QEMU 7.2 behaviour measured on this machine kind: docs/qemu-ganeti-facts.md,
 * "One client per QMP socket" and "QMP's cost is in the bytes"):
 * - Every command carries a unique `id`, a number counting up per connection (`"id":7`). QEMU 7.2
 *   reads its socket one byte per main-loop iteration, so every byte sent costs QEMU time (~2–15 µs
 *   a byte, depending on the load; the former `"pb-7"` strings were 5 bytes more per command);
 *   lines are compact JSON for the same reason. QEMU echoes the id in the reply and replies are
 *   matched by it, so several commands may be in flight and events may come in between. The one
 *   exception is `qmp_capabilities` at connect: its id is `"caps"`.
 * - Replies before the answer to our `qmp_capabilities` (after the greeting, or even before it) are
 *   a previous client's: QEMU answers commands one at a time, and a command whose client went away
 *   while QEMU was carrying it out is answered on the socket's next connection (measured on 7.2: a
 *   client that sent `query-qmp-schema` and closed at once had its reply delivered to the next
 *   client in 12 of 30 tries; a plugboard killed mid-hot-add does the same). QEMU carries out our
 *   `qmp_capabilities` only after that command, so everything before its reply is not ours: it is
 *   recorded in the transcript, counted (`staleReplies`) and otherwise ignored, never matched to
 *   one of our ids (which count from 1 in every process, so they would match).
 * - Commands issued in the same tick (a pipelined batch) go out in ONE write (see send); `flush()`
 *   writes them at once, for a caller with CPU work to do while QEMU reads them.
 * - Otherwise a reply WITHOUT an id can only be QEMU's answer to a line it could not parse (`JSON
 *   parse error…`): the stream is out of step, so it is a QmpProtocolError and the connection is
 *   closed.
 * - A reply whose id we gave up on (its request timed out or was aborted) is a late reply: it is
 *   recorded in the transcript and otherwise ignored (the command may have taken effect: callers
 *   that time out on a state-changing command must re-check the state). A reply with an id we never
 *   sent is a QmpProtocolError.
 * - Lines end in `\r\n`; a line longer than `maxLineBytes` is a QmpProtocolError and the
 *   connection is dropped before more than `maxLineBytes` are buffered.
 * - Events (`{"event": …}`) may arrive at any time, also before a reply. They go to `on('event')`
 *   listeners and into a bounded buffer, so that `waitForEvent(…, {since: mark})` also sees an event
 *   that arrived between `mark()` and the wait (e.g. DEVICE_DELETED in the same read as the reply
 *   to `device_del`).
 */
import net from 'node:net';
import { InternalError, messageOf, PlugboardError } from '../errors.js';
import { waitUntilUnheld } from './socket-holders.js';
import {
  HmpCommandError,
  QmpAbortedError,
  QmpBusyError,
  QmpCommandError,
  QmpConnectError,
  QmpProtocolError,
  QmpTimeoutError,
} from './errors.js';
import type { Transcript } from './transcript.js';

export const DEFAULT_GREETING_TIMEOUT_MS = 1_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;
export const DEFAULT_EVENT_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_BUFFERED_EVENTS = 1_000;
/** How long a closed connection stays open for the replies QEMU still owes it (see close). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 2_000;
/** The pending key of the `qmp_capabilities` sent at connect (ids count from 1)… */
const CAPS_KEY = 0;
/** …and its id on the wire: a string, so that no numeric id of any plugboard process matches it. */
const CAPS_ID = 'caps';
/** Ids of abandoned requests remembered to recognise their late replies. */
const MAX_ABANDONED_IDS = 1_000;

export interface QmpVersion {
  major: number;
  minor: number;
  micro: number;
  /** Distribution package string, e.g. `Debian 1:7.2+dfsg-7+deb12u18+b3`. */
  package: string;
}

export interface QmpGreeting {
  version: QmpVersion;
  capabilities: string[];
}

/** An asynchronous QMP event, with its place in this connection's event order. */
export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  /** QEMU's timestamp of the event. */
  timestamp?: { seconds: number; microseconds: number };
  /** 1, 2, 3… in order of arrival on this connection. Compare with a mark from `mark()`. */
  seq: number;
  /** Date.now() when it was read. */
  receivedAt: number;
}

/** A point in a connection's event stream; events after it have `seq > mark`. */
export type EventMark = number;

export interface QmpConnectOptions {
  /** How long connect + greeting may take before the socket counts as busy (default 1000 ms). */
  greetingTimeoutMs?: number;
  /** Default reply timeout for `execute` (default 15000 ms), also used for `qmp_capabilities`. */
  commandTimeoutMs?: number;
  /** Aborting it cancels every wait and closes the connection, at any time in its life. */
  signal?: AbortSignal;
  /** Records every line sent and received. */
  transcript?: Transcript;
  /** Longest line accepted from the peer (default 8 MiB). Longer → QmpProtocolError, disconnect. */
  maxLineBytes?: number;
  /** Events kept for `waitForEvent(…, {since})` (default 1000, oldest dropped). */
  maxBufferedEvents?: number;
  /**
   * Resolve `connect` as soon as `qmp_capabilities` is sent, not answered (default false): the
   * caller's first commands then go right behind it (QEMU answers in order) instead of a round trip
   * later. A refused or unanswered `qmp_capabilities` then fails the connection: every command
   * rejects with that error (QmpConnectError for a refusal).
   */
  pipelineCapabilities?: boolean;
  /**
   * Look in the kernel's socket table first, and connect only once QEMU has no client (default
   * true): a connection that gives up waiting behind another client would stay in QEMU's listen
   * queue, and two of them make every further connect, Ganeti's too, fail (./socket-holders.ts).
   * Still held when `greetingTimeoutMs` has passed → QmpBusyError, without having connected.
   */
  lookBeforeConnect?: boolean;
  /** QEMU's pid, whose socket table is read too: for a QEMU in another network namespace. */
  qemuPid?: number;
  /** How long a closed connection waits for replies QEMU still owes it (default 2000 ms; see close). */
  drainTimeoutMs?: number;
}

/** The least time left for the greeting once the socket was seen free. */
const MIN_GREETING_AFTER_WAIT_MS = 250;

export interface QmpCallOptions {
  /** Default: the connection's commandTimeoutMs. */
  timeoutMs?: number;
  /** Cancels this wait only (the connection stays open; a late reply is ignored). */
  signal?: AbortSignal;
}

export interface HmpOptions extends QmpCallOptions {
  /**
   * `status` (default): the command is an action (`drive_add`, `drive_del`…) whose output is empty
   * or ends in `OK` on success; any other output is QEMU's error text → HmpCommandError.
   * `text`: the command prints data (`info …`): return it unchecked.
   */
  expect?: 'status' | 'text';
}

export interface WaitForEventOptions {
  /** Also consider buffered events that arrived after this mark. Default: only events from now on. */
  since?: EventMark;
  /** Default 5000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Words for error messages, e.g. `DEVICE_DELETED for disk-1`. */
  what?: string;
}

export type EventPredicate = string | ((event: QmpEvent) => boolean);

type ClientEvents = {
  event: (event: QmpEvent) => void;
  /** The connection ended; `error` is set when it ended because of a failure, not close(). */
  close: (error: Error | undefined) => void;
};

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface EventWaiter {
  what: string;
  matches: (e: QmpEvent) => boolean;
  resolve: (e: QmpEvent) => void;
  reject: (err: Error) => void;
}

/** `draining`: closed for its user, the socket still open until QEMU has answered (see close). */
type Phase = 'connecting' | 'greeting' | 'ready' | 'draining' | 'closed';

export class QmpClient {
  readonly socketPath: string;
  private readonly socket: net.Socket;
  private readonly transcript: Transcript | undefined;
  private readonly maxLineBytes: number;
  private readonly maxBufferedEvents: number;
  private readonly commandTimeoutMs: number;
  private phase: Phase = 'connecting';
  private greetingValue: QmpGreeting | undefined;
  private onGreeting: ((g: QmpGreeting) => void) | undefined;
  private nextId = 1;
  /** Until the `qmp_capabilities` of connect is answered: replies before it are not ours. */
  private negotiating = true;
  /** Replies that came before the answer to our `qmp_capabilities`: a previous client's. */
  staleReplies = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly abortWatches = new Map<AbortSignal, { callbacks: Set<() => void>; listener: () => void }>();
  private readonly abandoned = new Set<number>();
  /** Replies QEMU owes and will soon send: held on to by close (see there). */
  private readonly owed = new Set<number>();
  /** Whether writes are corked until the end of this tick (see send). */
  private corked = false;
  /** Lines written by another process in progress (executeWrittenBy); own lines wait in `held`. */
  private externalWrites = 0;
  private held: string[] = [];
  private readonly eventWaiters = new Set<EventWaiter>();
  private readonly events: QmpEvent[] = [];
  private eventSeq = 0;
  private readonly listeners: { [K in keyof ClientEvents]: Set<ClientEvents[K]> } = {
    event: new Set(),
    close: new Set(),
  };
  /** Partial line: chunks received since the last newline. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private closeError: Error | undefined;
  private readonly drainTimeoutMs: number;
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly socketClosed: Promise<void>;
  private detachSignal: (() => void) | undefined;

  private constructor(socketPath: string, options: QmpConnectOptions) {
    this.socketPath = socketPath;
    this.transcript = options.transcript;
    this.maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.maxBufferedEvents = options.maxBufferedEvents ?? DEFAULT_MAX_BUFFERED_EVENTS;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.socket = net.createConnection({ path: socketPath });
    this.socketClosed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.onSocketError(err));
    this.socket.on('close', () => this.onSocketClose());
  }

  /**
   * Connects, reads the greeting and sends `qmp_capabilities`. No greeting within
   * `greetingTimeoutMs` (or EAGAIN: QEMU's listen queue is full) → QmpBusyError, socket closed.
   */
  static async connect(socketPath: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const signal = options.signal;
    if (signal?.aborted) throw new QmpAbortedError('connect', socketPath, { cause: signal.reason });
    let greetingTimeoutMs = options.greetingTimeoutMs ?? DEFAULT_GREETING_TIMEOUT_MS;
    if (options.lookBeforeConnect !== false) {
      const waited = await waitUntilUnheld(socketPath, greetingTimeoutMs, options);
      if (waited > 0) greetingTimeoutMs = Math.max(greetingTimeoutMs - waited, Math.min(greetingTimeoutMs, MIN_GREETING_AFTER_WAIT_MS));
    }
    const client = new QmpClient(socketPath, options);
    if (signal) {
      const onAbort = () => {
        const err = new QmpAbortedError('QMP work', socketPath, { cause: signal.reason });
        if (client.phase !== 'closed' && client.phase !== 'draining') client.shutdown(err, () => err, { drain: true });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      client.detachSignal = () => signal.removeEventListener('abort', onAbort);
    }
    try {
      await client.handshake(greetingTimeoutMs);
      client.phase = 'ready';
      const negotiated = client.execute('qmp_capabilities');
      if (options.pipelineCapabilities) {
        negotiated.catch((err: unknown) => {
          client.fail(
            err instanceof QmpCommandError
              ? new QmpConnectError(socketPath, 'other', `QEMU refused qmp_capabilities on ${socketPath}: ${err.desc}`, { cause: err })
              : err instanceof PlugboardError
                ? err
                : new QmpConnectError(socketPath, 'other', `qmp_capabilities on ${socketPath} failed: ${messageOf(err)}`, { cause: err }),
          );
        });
        return client;
      }
      await negotiated;
      return client;
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  /** The greeting QEMU sent (version and capabilities). */
  get greeting(): QmpGreeting {
    if (!this.greetingValue) throw new InternalError('QmpClient.greeting read before the greeting arrived');
    return this.greetingValue;
  }

  get closed(): boolean {
    return this.phase === 'closed' || this.phase === 'draining';
  }

  /**
   * Runs a QMP command and resolves with its `return` value. QEMU's `{"error"}` → QmpCommandError
   * (with `errorClass` and `desc`). Timeout → QmpTimeoutError (the command may still take effect).
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: QmpCallOptions = {}): Promise<T> {
    return this.request<T>(command, args, options, (line) => this.send(line));
  }

  /**
   * Runs a QMP command whose line ANOTHER PROCESS writes on this connection: the descriptor helper
   * (src/qmp/fdpass/), which attaches a file descriptor to it (SCM_RIGHTS, which Node's `net` cannot
   * send). The reply comes back here and is matched by id, as for `execute`. `write(line)` is
   * called once everything this client queued before has been handed to the kernel (so the line
   * lands after it); until `write` settles, this client's own lines wait. A `write` that rejects
   * rejects the command with its error (the line may or may not have gone out: a late reply is
   * ignored, as for a timed-out command); a writer that cut a line halfway must end the connection
   * (`failExternally`): the stream is out of step.
   */
  executeWrittenBy<T = unknown>(
    write: (line: string) => Promise<void>,
    command: string,
    args?: Record<string, unknown>,
    options: QmpCallOptions = {},
  ): Promise<T> {
    return this.request<T>(command, args, options, (line, fail) => {
      this.externalWrites++;
      this.transcript?.record('out', this.socketPath, line);
      void this.drained()
        .then(() => write(line))
        .then(
          () => this.endExternalWrite(),
          (err: unknown) => {
            this.endExternalWrite();
            fail(err instanceof Error ? err : new PlugboardError(messageOf(err)));
          },
        );
    });
  }

  /**
   * The connected socket, ONLY to share it with a child process as one of its stdio descriptors
   * (`child_process.spawn(…, {stdio: [..., socket]})`): the descriptor helper writes on it. Reading
   * from it or writing to it here would break this client.
   */
  socketForChild(): net.Socket {
    if (this.phase !== 'ready') throw this.closedError('a child process to share the connection with');
    return this.socket;
  }

  /**
   * Ends the connection because another writer of its stream (the descriptor helper) broke it, e.g.
   * wrote only part of a line: every waiter rejects with `err`.
   */
  failExternally(err: Error): void {
    this.fail(err);
  }

  private request<T>(
    command: string,
    args: Record<string, unknown> | undefined,
    options: QmpCallOptions,
    transmit: (line: string, fail: (err: Error) => void) => void,
  ): Promise<T> {
    const step = `reply to ${command}`;
    if (this.phase !== 'ready') return Promise.reject(this.closedError(step));
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new QmpAbortedError(step, this.socketPath, { cause: signal.reason }));
    // qmp_capabilities at connect: the first command, with its own id (see onReply).
    const caps = this.negotiating && command === 'qmp_capabilities' && this.pending.size === 0;
    const id = caps ? CAPS_KEY : this.nextId++;
    const message: Record<string, unknown> = { execute: command };
    if (args !== undefined) message['arguments'] = args;
    message['id'] = caps ? CAPS_ID : id;
    const line = JSON.stringify(message);
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;

    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => abandon(new QmpAbortedError(step, this.socketPath, { cause: signal?.reason }), { owed: true });
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        if (signal) this.unwatchAbort(signal, onAbort);
        this.pending.delete(id);
      };
      // Given up on: its late reply is recognised. An aborted command's reply is still owed (QEMU
      // answers it soon: see close); one that timed out or whose line may not have gone out is not.
      const abandon = (err: Error, options: { owed?: boolean } = {}) => {
        cleanup();
        this.rememberAbandoned(id);
        if (options.owed) this.owed.add(id);
        reject(err);
      };
      this.pending.set(id, {
        command,
        resolve: (v) => {
          cleanup();
          resolve(v as T);
        },
        reject: (err) => {
          cleanup();
          reject(err);
        },
      });
      timer = setTimeout(() => abandon(new QmpTimeoutError(step, timeoutMs, this.socketPath)), timeoutMs);
      if (signal) this.watchAbort(signal, onAbort);
      // The writer failed: the line was not sent, or (a writer that died) maybe it was — a late
      // reply is then ignored like any abandoned request's.
      transmit(line, (err) => {
        if (this.pending.has(id)) abandon(err);
      });
    });
  }

  /**
   * Runs a human-monitor (HMP) command through `human-monitor-command` and returns its output.
   * HMP reports errors as output text: with `expect: 'status'` (default) output other than empty
   * or `OK` (QEMU 7.2 `drive_add` prints `OK` on success, `drive_del` nothing) → HmpCommandError.
   */
  async hmp(commandLine: string, options: HmpOptions = {}): Promise<string> {
    const output = await this.execute<unknown>('human-monitor-command', { 'command-line': commandLine }, options);
    if (typeof output !== 'string') {
      throw this.fail(
        new QmpProtocolError(
          this.socketPath,
          'unexpected',
          `QEMU answered HMP '${commandLine}' on ${this.socketPath} with a ${typeof output}, not text`,
        ),
      );
    }
    if ((options.expect ?? 'status') === 'status' && !hmpSucceeded(output)) {
      throw new HmpCommandError(commandLine, output);
    }
    return output;
  }

  /**
   * One 'abort' listener per signal, however many commands wait on it: a probe sends a few dozen
   * commands at once with the caller's signal, and a listener each made Node print
   * "MaxListenersExceededWarning: Possible EventTarget memory leak" on the operator's terminal.
   */
  private watchAbort(signal: AbortSignal, onAbort: () => void): void {
    let w = this.abortWatches.get(signal);
    if (!w) {
      const callbacks = new Set<() => void>();
      const listener = () => {
        this.abortWatches.delete(signal);
        for (const cb of [...callbacks]) cb();
      };
      w = { callbacks, listener };
      this.abortWatches.set(signal, w);
      signal.addEventListener('abort', listener, { once: true });
    }
    w.callbacks.add(onAbort);
  }

  private unwatchAbort(signal: AbortSignal, onAbort: () => void): void {
    const w = this.abortWatches.get(signal);
    if (!w) return;
    w.callbacks.delete(onAbort);
    if (w.callbacks.size === 0) {
      this.abortWatches.delete(signal);
      signal.removeEventListener('abort', w.listener);
    }
  }

  /** Subscribes to events or to the end of the connection. Returns the unsubscribe function. */
  on<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): () => void {
    (this.listeners[type] as Set<ClientEvents[K]>).add(listener);
    return () => this.off(type, listener);
  }

  off<K extends keyof ClientEvents>(type: K, listener: ClientEvents[K]): void {
    (this.listeners[type] as Set<ClientEvents[K]>).delete(listener);
  }

  /** The current point in the event stream: take it BEFORE the command whose event you will wait for. */
  mark(): EventMark {
    return this.eventSeq;
  }

  /** Buffered events after `since` (default: all still buffered), oldest first. */
  recentEvents(since: EventMark = 0): QmpEvent[] {
    return this.events.filter((e) => e.seq > since);
  }

  /**
   * Resolves with the first event matching `predicate` (an event name or a function) that arrived
   * after `since` (default: now). Times out with QmpTimeoutError; the connection closing rejects.
   * With more than `maxBufferedEvents` events between the mark and this call the oldest are gone.
   */
  waitForEvent(predicate: EventPredicate, options: WaitForEventOptions = {}): Promise<QmpEvent> {
    const matches = typeof predicate === 'string' ? (e: QmpEvent) => e.event === predicate : predicate;
    const what = options.what ?? (typeof predicate === 'string' ? `event ${predicate}` : 'event');
    const since = options.since ?? this.eventSeq;
    const timeoutMs = options.timeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS;
    const { signal } = options;
    for (const e of this.events) {
      if (e.seq > since && matches(e)) return Promise.resolve(e);
    }
    if (this.closed) return Promise.reject(this.closedError(what));
    if (signal?.aborted) return Promise.reject(new QmpAbortedError(what, this.socketPath, { cause: signal.reason }));

    return new Promise<QmpEvent>((resolve, reject) => {
      const onAbort = () => {
        cleanup();
        reject(new QmpAbortedError(what, this.socketPath, { cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new QmpTimeoutError(what, timeoutMs, this.socketPath));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.eventWaiters.delete(waiter);
      };
      const waiter: EventWaiter = {
        what,
        matches,
        resolve: (e) => {
          cleanup();
          resolve(e);
        },
        reject: (err) => {
          cleanup();
          reject(err);
        },
      };
      this.eventWaiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Closes the connection and releases the socket (QEMU then serves the next client). Pending
   * requests and event waits reject with QmpConnectError(reason 'closed'). Safe to call twice.
   *
   * QEMU still carries out a command whose client has gone, and sends the reply to the socket's NEXT
   * client, ahead of the answer to its `qmp_capabilities` (measured on 7.2, see the header). Ganeti's
   * client takes the first reply after its `qmp_capabilities` for the answer to it, and each later
   * reply for the answer to the command before: its list of supported commands comes out empty and
   * its hotplug fails ("does not support the 'device_add' QMP command"). So while QEMU still owes
   * this connection replies (a command in flight, e.g. pipelined behind one that failed, or one
   * given up on by an abort), the socket stays open, read and ignored, until they have come or
   * `drainTimeoutMs` has passed; the caller is not kept waiting (only the returned promise waits).
   * A command that timed out is not waited for again: QEMU has not answered it for its whole
   * timeout, and the socket is not held longer for it.
   */
  async close(): Promise<void> {
    if (this.phase !== 'closed' && this.phase !== 'draining') {
      this.shutdown(undefined, (step) => this.closedError(step), { drain: true });
    }
    await this.socketClosed;
  }

  // ---- internals ----

  private handshake(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.onGreeting = undefined;
        this.fail(new QmpBusyError(this.socketPath, timeoutMs));
      }, timeoutMs);
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.off('close', onClose);
        this.onGreeting = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onClose = (err: Error | undefined) => done(err ?? this.closedError('the QMP greeting'));
      this.on('close', onClose);
      this.socket.once('connect', () => {
        if (this.phase === 'connecting') this.phase = 'greeting';
      });
      if (this.phase === 'closed') done(this.closedError('the QMP greeting'));
      this.onGreeting = () => done();
    });
  }

  /**
   * Writes now what `execute` queued in this tick, instead of at its end: for a caller that has CPU
   * work to do while QEMU reads the commands (the executor builds its bus model during the probe).
   */
  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  /**
   * Lines sent in the same tick are written together (cork until process.nextTick, which runs
   * after the promise jobs of this turn: `Promise.all([execute(a), execute(b)])` is one write).
   * A write per line woke QEMU for the first one, which then often ran before this process had
   * written the next (~0.6 ms between the lines of one batch on a busy 2-core node).
   */
  private send(line: string): void {
    this.transcript?.record('out', this.socketPath, line);
    if (this.externalWrites > 0) {
      this.held.push(line);
      return;
    }
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => this.flush());
    }
    this.socket.write(`${line}\n`);
  }

  /**
   * Resolves once every byte this client wrote has been handed to the kernel: an empty write's
   * callback comes after those of the writes before it (Node's own buffer and libuv's queue).
   */
  private drained(): Promise<void> {
    this.flush();
    return new Promise<void>((resolve, reject) => {
      this.socket.write('', (err) => (err ? reject(err) : resolve()));
    });
  }

  private endExternalWrite(): void {
    this.externalWrites--;
    if (this.externalWrites > 0 || this.held.length === 0 || this.phase !== 'ready') return;
    const lines = this.held;
    this.held = [];
    this.socket.write(lines.map((l) => `${l}\n`).join(''));
  }

  private onData(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length && this.phase !== 'closed') {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      // The limit is on the message; its `\r` (before the `\n`) is not counted.
      if (this.chunkBytes + (end - start) > this.maxLineBytes + 1) {
        this.fail(
          new QmpProtocolError(
            this.socketPath,
            'line-too-long',
            `QEMU sent a line longer than ${this.maxLineBytes} bytes on ${this.socketPath}: disconnected`,
          ),
        );
        return;
      }
      if (nl === -1) {
        this.chunks.push(chunk.subarray(start));
        this.chunkBytes += chunk.length - start;
        return;
      }
      const piece = chunk.subarray(start, nl);
      const line = this.chunks.length === 0 ? piece : Buffer.concat([...this.chunks, piece]);
      this.chunks = [];
      this.chunkBytes = 0;
      start = nl + 1;
      this.onLine(line.toString('utf8'));
    }
  }

  private onLine(raw: string): void {
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return;
    this.transcript?.record('in', this.socketPath, text);
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      this.fail(this.garbage(`not JSON: ${excerpt(text)}`, err));
      return;
    }
    if (!isObject(msg)) {
      this.fail(this.garbage(`not a QMP message: ${excerpt(text)}`));
      return;
    }
    if (typeof msg['event'] === 'string') {
      if (this.phase !== 'draining') this.onEvent(msg);
      return;
    }
    if (isObject(msg['QMP'])) {
      // A second greeting has been seen in the field (Ganeti works around it): ignore it.
      if (this.greetingValue) return;
      this.greetingValue = parseGreeting(msg['QMP']);
      this.onGreeting?.(this.greetingValue);
      return;
    }
    if ('return' in msg || isObject(msg['error'])) {
      this.onReply(msg);
      return;
    }
    this.fail(this.garbage(`not a QMP message: ${excerpt(text)}`));
  }

  private onReply(msg: Record<string, unknown>): void {
    const id = msg['id'];
    const error = isObject(msg['error']) ? msg['error'] : undefined;
    if (this.phase === 'draining') {
      if (this.negotiating) {
        if (id !== CAPS_ID) return; // a previous client's (see the header)
        this.negotiating = false;
      } else if (typeof id === 'number') {
        this.abandoned.delete(id);
        this.owed.delete(id);
      }
      if (this.owed.size === 0) this.endDrain();
      return;
    }
    if (this.negotiating) {
      if (id === CAPS_ID && this.greetingValue && this.pending.has(CAPS_KEY)) {
        this.negotiating = false; // now, not in a later tick: the next reply may be in this chunk
        this.settle(CAPS_KEY, error, msg);
      } else {
        this.staleReplies++; // a previous client's (see the header); the transcript has the line
      }
      return;
    }
    if (typeof id !== 'number' || !this.pending.has(id)) {
      if (typeof id === 'number' && this.abandoned.delete(id)) {
        this.owed.delete(id);
        return; // late reply to a timed-out/aborted request
      }
      const why =
        id === undefined
          ? error
            ? `an error without id (QEMU could not read a command?): ${String(error['desc'])}`
            : 'a reply without id'
          : `a reply to id ${JSON.stringify(id)} that was never sent`;
      this.fail(this.unexpected(why));
      return;
    }
    this.settle(id, error, msg);
  }

  private settle(id: number, error: Record<string, unknown> | undefined, msg: Record<string, unknown>): void {
    const p = this.pending.get(id)!;
    if (error) {
      p.reject(new QmpCommandError(p.command, String(error['class'] ?? 'GenericError'), String(error['desc'] ?? '')));
    } else {
      p.resolve(msg['return']);
    }
  }

  private onEvent(msg: Record<string, unknown>): void {
    const ts = msg['timestamp'];
    const event: QmpEvent = {
      event: msg['event'] as string,
      data: isObject(msg['data']) ? msg['data'] : {},
      ...(isObject(ts) && typeof ts['seconds'] === 'number' && typeof ts['microseconds'] === 'number'
        ? { timestamp: { seconds: ts['seconds'], microseconds: ts['microseconds'] } }
        : {}),
      seq: ++this.eventSeq,
      receivedAt: Date.now(),
    };
    this.events.push(event);
    if (this.events.length > this.maxBufferedEvents) this.events.shift();
    for (const w of [...this.eventWaiters]) {
      if (safeMatch(w.matches, event)) w.resolve(event);
    }
    for (const l of [...this.listeners.event]) callSafely(() => l(event), 'QMP event listener');
  }

  private rememberAbandoned(id: number): void {
    this.abandoned.add(id);
    if (this.abandoned.size > MAX_ABANDONED_IDS) {
      const oldest = this.abandoned.values().next().value;
      if (oldest !== undefined) this.abandoned.delete(oldest);
    }
  }

  private onSocketError(err: NodeJS.ErrnoException): void {
    if (this.phase === 'draining') return this.endDrain();
    if (this.phase === 'closed') return;
    if (this.phase === 'connecting') {
      this.fail(err.code === 'EAGAIN' ? new QmpBusyError(this.socketPath, undefined, { cause: err }) : QmpConnectError.fromSocketError(this.socketPath, err));
      return;
    }
    this.fail(
      new QmpProtocolError(this.socketPath, 'closed', `QMP connection to ${this.socketPath} broke: ${err.code ?? err.message}`, {
        cause: err,
      }),
    );
  }

  private onSocketClose(): void {
    if (this.phase === 'draining') return this.endDrain();
    if (this.phase === 'closed') return;
    if (!this.greetingValue) {
      this.fail(new QmpProtocolError(this.socketPath, 'closed', `QEMU closed ${this.socketPath} before sending its QMP greeting`));
      return;
    }
    // The peer closed: each waiter learns what it was waiting for when that happened.
    this.shutdown(new QmpProtocolError(this.socketPath, 'closed', `QEMU closed ${this.socketPath}`), (step) =>
      new QmpProtocolError(this.socketPath, 'closed', `QEMU closed ${this.socketPath} while plugboard waited for ${step}`),
    );
  }

  /** Ends the connection because of `err`; every waiter rejects with it. Returns `err`. */
  private fail(err: Error): Error {
    if (this.phase === 'draining') this.endDrain();
    else if (this.phase !== 'closed') this.shutdown(err, () => err);
    return err;
  }

  /**
   * Ends the connection for its user: every wait rejects (`errorFor`), the close listeners run. The
   * socket is destroyed now, or — `drain`, with the stream in step and replies still owed (commands
   * in flight, or given up on) — once QEMU has sent them or `drainTimeoutMs` has passed (see close).
   */
  private shutdown(cause: Error | undefined, errorFor: (step: string) => Error, options: { drain?: boolean } = {}): void {
    const greeted = this.phase === 'ready';
    this.closeError = cause;
    this.detachSignal?.();
    for (const [id] of this.pending) {
      if (id === CAPS_KEY) continue; // its reply is recognised by `negotiating` (id "caps")
      this.rememberAbandoned(id);
      this.owed.add(id);
    }
    // Lines held behind another process's write were never sent: nothing is owed for them.
    for (const line of this.held.splice(0)) this.owed.delete((JSON.parse(line) as { id?: number }).id ?? -1);
    // Once greeted, qmp_capabilities has been sent (connect sends it in the same turn).
    const owed = this.owed.size > 0 || (greeted && this.negotiating);
    this.phase = options.drain && greeted && owed ? 'draining' : 'closed';
    if (this.phase === 'closed') this.destroySocket();
    else this.drainTimer = setTimeout(() => this.endDrain(), this.drainTimeoutMs);
    for (const p of [...this.pending.values()]) p.reject(errorFor(`reply to ${p.command}`));
    for (const w of [...this.eventWaiters]) w.reject(errorFor(w.what));
    for (const l of [...this.listeners.close]) callSafely(() => l(cause), 'QMP close listener');
  }

  private endDrain(): void {
    if (this.phase !== 'draining') return;
    this.phase = 'closed';
    clearTimeout(this.drainTimer);
    this.destroySocket();
  }

  private destroySocket(): void {
    this.chunks = [];
    this.chunkBytes = 0;
    this.socket.destroy();
  }

  private closedError(step: string): Error {
    if (this.closeError) return this.closeError;
    return new QmpConnectError(this.socketPath, 'closed', `QMP connection to ${this.socketPath} is closed (waiting for ${step})`);
  }

  private garbage(what: string, cause?: unknown): QmpProtocolError {
    return new QmpProtocolError(this.socketPath, 'garbage', `garbage on ${this.socketPath}: ${what}`, { cause });
  }

  private unexpected(what: string): QmpProtocolError {
    return new QmpProtocolError(this.socketPath, 'unexpected', `QMP protocol error on ${this.socketPath}: ${what}`);
  }
}

/**
 * Connects, runs `work`, and always closes (also when `work` throws), so the instance's QMP socket
 * is free again for Ganeti.
 */
export async function withQmp<T>(
  socketPath: string,
  options: QmpConnectOptions,
  work: (qmp: QmpClient) => Promise<T>,
): Promise<T> {
  const qmp = await QmpClient.connect(socketPath, options);
  try {
    return await work(qmp);
  } finally {
    // close() closes the descriptor at once (destroy → uv_close: QEMU sees the end of the
    // connection and serves its next client); its promise only waits for Node's 'close' event, a
    // loop turn later, which the caller (holding the instance lock meanwhile) need not wait for.
    void qmp.close();
  }
}

/** Whether the output of an action HMP command means success: nothing, or a last line `OK`. */
export function hmpSucceeded(output: string): boolean {
  const lines = output
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  return lines.length === 0 || lines[lines.length - 1] === 'OK';
}

function parseGreeting(qmp: Record<string, unknown>): QmpGreeting {
  const version = isObject(qmp['version']) ? qmp['version'] : {};
  const qemu = isObject(version['qemu']) ? version['qemu'] : {};
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  return {
    version: {
      major: num(qemu['major']),
      minor: num(qemu['minor']),
      micro: num(qemu['micro']),
      package: typeof version['package'] === 'string' ? version['package'].trim() : '',
    },
    capabilities: Array.isArray(qmp['capabilities']) ? qmp['capabilities'].filter((c) => typeof c === 'string') : [],
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short, printable piece of a bad line for an error message. */
function excerpt(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(cut);
}

function safeMatch(matches: (e: QmpEvent) => boolean, e: QmpEvent): boolean {
  try {
    return matches(e);
  } catch (err) {
    process.emitWarning(`QMP event predicate failed: ${String(err)}`);
    return false;
  }
}

function callSafely(fn: () => void, what: string): void {
  try {
    fn();
  } catch (err) {
    process.emitWarning(`${what} failed: ${String(err)}`);
  }
}
