/**
 * The descriptor helper: a short-lived `/usr/bin/python3` child that opens disks and creates taps
 * as root and writes, on plugboard's own QMP connection, the one QMP command that carries each
 * descriptor (SCM_RIGHTS). Node stays the QMP client: it reads every reply.
 *
 *   const helper = FdHelper.start(qmp);                        // spawned now; starts while Node probes
 *   await helper.openDisk('d0', {path: '/dev/loop7', …});       // opened as root, held by the helper
 *   await qmp.executeWrittenBy(helper.writer('d0'), 'add-fd', {'fdset-id': 3});  // line + fd
 *   …
 *   await helper.close();                                       // before (or with) qmp.close()
 *
 * Why a child that shares the socket, and not a relay or a native module: Node's `net` cannot send
 * SCM_RIGHTS; a native module needs a compiler at install time or a prebuilt binary outside the
 * bundle; a relay that owns the QMP connection would sit in every byte of the action. Here the
 * helper gets the connected socket as its fd 3 (child_process stdio: documented, no internals),
 * writes only when told to, and never reads from it.
 *
 * The QMP socket is never held longer than without the helper: the helper holds a duplicate of it
 * only while it lives, `close()` waits for it to exit (SIGKILL after `exitTimeoutMs`), and it is
 * killed at once when the QMP connection closes for any reason, so QEMU sees the end of the
 * connection as soon as Node's side is closed. If plugboard dies, the helper reads the end of its
 * stdin and exits; every descriptor it still holds closes with it (a tap it created goes away).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { QmpClient } from '../client.js';
import { FD_HELPER_SOURCE } from './helper-source.js';
import { FdHelperError } from './errors.js';

/** Debian's python3: every Ganeti node has it (a pyenv/venv python3 earlier on PATH is not wanted). */
export const DEFAULT_PYTHON = '/usr/bin/python3';
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_EXIT_TIMEOUT_MS = 2_000;
const STDERR_TAIL = 4_096;

export interface FdHelperOptions {
  /** The Python 3 interpreter (default /usr/bin/python3). */
  python?: string;
  /** How long one request may take, the helper's start included (default 10 s). */
  requestTimeoutMs?: number;
  /** How long `close()` waits for the helper to exit before SIGKILL (default 2 s). */
  exitTimeoutMs?: number;
}

/** What `openDisk` opens. */
export interface DiskOpenRequest {
  /** The resolved path to open (no symlink in its last component: opened with O_NOFOLLOW). */
  path: string;
  /** O_DIRECT (the instance's disks bypass the host page cache: cache=none or aio=native). */
  direct: boolean;
  /** What it must be. */
  kind: 'block' | 'file' | 'char';
  /** Device and inode checked at planning (both 0: not checked). */
  dev: number;
  ino: number;
}

export interface DiskOpened {
  kind: 'block' | 'file' | 'char';
  /** Bytes (a block device's size; a regular file's length). */
  sizeBytes: number;
}

export interface TapRequest {
  /** The tap's name (at most 15 bytes); created fresh (IFF_TUN_EXCL: never an existing interface). */
  name: string;
  /** IFF_VNET_HDR, if the kernel has it (the instance's `vnet_hdr`). */
  vnetHdr: boolean;
  /** Queues (IFF_MULTI_QUEUE when > 1): one tap descriptor each. */
  queues: number;
  /** One /dev/vhost-net descriptor per queue. */
  vhost: boolean;
}

export interface TapCreated {
  name: string;
  /** Whether IFF_VNET_HDR was set (asked for and the kernel has it). */
  vnetHdr: boolean;
  /** Handles of the descriptors, in Ganeti's order: `H.tap.0…`, `H.vhost.0…`. */
  tapHandles: string[];
  vhostHandles: string[];
}

interface Waiter {
  what: string;
  resolve: (words: string[]) => void;
  reject: (err: FdHelperError) => void;
  timer: NodeJS.Timeout;
  /** A `send`: its line may be out when the answer never comes. */
  send: boolean;
}

export class FdHelper {
  private readonly child: ChildProcess;
  private readonly waiters = new Map<number, Waiter>();
  private seq = 0;
  private out = '';
  private stderr = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private startError: Error | undefined;
  private readonly exitedPromise: Promise<void>;
  private closing = false;
  private readonly detach: () => void;
  private readonly requestTimeoutMs: number;
  private readonly exitTimeoutMs: number;
  readonly python: string;

  private constructor(qmp: QmpClient, options: FdHelperOptions) {
    this.python = options.python ?? DEFAULT_PYTHON;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.exitTimeoutMs = options.exitTimeoutMs ?? DEFAULT_EXIT_TIMEOUT_MS;
    // -I: no PYTHON* variables, no user site, no current directory on sys.path; -S: no site.
    const socket = qmp.socketForChild();
    this.child = spawn(this.python, ['-I', '-S', '-c', FD_HELPER_SOURCE], {
      stdio: ['pipe', 'pipe', 'pipe', socket],
      env: { LC_ALL: 'C.UTF-8' },
    });
    // spawn() pauses a stream it shares with a child (it assumes the child reads it): Node reads
    // the replies, the helper never reads, so reading resumes at once.
    socket.resume();
    let exited!: () => void;
    this.exitedPromise = new Promise<void>((resolve) => (exited = resolve));
    this.child.on('error', (err: NodeJS.ErrnoException) => {
      // spawn failed (ENOENT, EACCES…): no 'exit' follows.
      this.startError = err;
      this.failAll(() => this.noPython(err));
      exited();
    });
    this.child.on('exit', (code, signal) => {
      this.exitInfo = { code, signal };
      this.failAll((w) => this.died(w));
      exited();
    });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: string) => this.onOut(chunk));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_TAIL);
    });
    // EPIPE when the helper is gone: its exit says why.
    this.child.stdin!.on('error', () => undefined);
    // The helper holds a duplicate of the QMP socket: it must not outlive the connection.
    this.detach = qmp.on('close', () => this.kill());
  }

  /** Starts the helper on `qmp`'s connection. Returns at once: Python starts while the caller works. */
  static start(qmp: QmpClient, options: FdHelperOptions = {}): FdHelper {
    return new FdHelper(qmp, options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Whether the helper has exited (or never started). */
  get exited(): boolean {
    return this.exitInfo !== undefined || this.startError !== undefined;
  }

  /** Answers once the helper runs: its pid. */
  async ping(): Promise<number> {
    const [pid] = await this.request('ping', []);
    return Number(pid);
  }

  /** Opens a disk as root and keeps the descriptor as `handle` (replacing what `handle` held). */
  async openDisk(handle: string, req: DiskOpenRequest): Promise<DiskOpened> {
    const [kind, size] = await this.request(
      'disk',
      [handle, hex(req.path), req.direct ? '1' : '0', req.kind, String(req.dev), String(req.ino)],
      `open ${req.path}`,
    );
    return { kind: kind as DiskOpened['kind'], sizeBytes: Number(size) };
  }

  /** Creates a tap as root; its descriptors are kept as `handle.tap.I` / `handle.vhost.I`. */
  async createTap(handle: string, req: TapRequest): Promise<TapCreated> {
    if (!Number.isInteger(req.queues) || req.queues < 1 || req.queues > 256) {
      throw new FdHelperError(`tap ${req.name}: ${req.queues} queues (1 to 256)`, 'NAME', '');
    }
    const [name, vnet] = await this.request(
      'tap',
      [handle, hex(req.name), req.vnetHdr ? '1' : '0', String(req.queues), req.vhost ? '1' : '0'],
      `create tap ${req.name}`,
    );
    const queues = [...Array(req.queues).keys()];
    return {
      name: Buffer.from(name ?? '', 'hex').toString('utf8'),
      vnetHdr: vnet === '1',
      tapHandles: queues.map((i) => `${handle}.tap.${i}`),
      vhostHandles: req.vhost ? queues.map((i) => `${handle}.vhost.${i}`) : [],
    };
  }

  /**
   * Writes `line` (one QMP command, without line end) on the QMP connection with `handle`'s
   * descriptor attached, then closes the helper's copy. For `QmpClient.executeWrittenBy`: see
   * `writer`.
   */
  async send(handle: string, line: string): Promise<void> {
    await this.request('send', [handle, hex(`${line}\n`)], `send ${handle}`, true);
  }

  /** `send` bound to a handle, as `QmpClient.executeWrittenBy` takes it. */
  writer(handle: string): (line: string) => Promise<void> {
    return (line) => this.send(handle, line);
  }

  /** Closes the descriptors of `handle` (and of `handle.*`) without sending them. Returns how many. */
  async drop(handle: string): Promise<number> {
    const [n] = await this.request('drop', [handle], `close ${handle}`);
    return Number(n);
  }

  /** The passwd entry of user `name` (NSS), or undefined when there is none. */
  async lookupUser(name: string): Promise<{ uid: number; gid: number } | undefined> {
    try {
      const [uid, gid] = await this.request('user', [hex(name)], `look up user ${name}`);
      return { uid: Number(uid), gid: Number(gid) };
    } catch (err) {
      if (err instanceof FdHelperError && err.code === 'NOUSER') return undefined;
      throw err;
    }
  }

  /** The user name of `uid` (NSS), or undefined when it has no passwd entry. */
  async lookupUid(uid: number): Promise<string | undefined> {
    try {
      const [name] = await this.request('uid', [String(uid)], `look up uid ${uid}`);
      return Buffer.from(name ?? '', 'hex').toString('utf8');
    } catch (err) {
      if (err instanceof FdHelperError && err.code === 'NOUSER') return undefined;
      throw err;
    }
  }

  /**
   * Ends the helper: closes its stdin (it closes every descriptor it still holds and exits), waits
   * for it, SIGKILL after `exitTimeoutMs`. Resolves once it has exited: the QMP socket is then held
   * by Node alone. Safe to call more than once.
   */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      this.detach();
      this.child.stdin?.end();
    }
    if (this.exited) return;
    const timer = setTimeout(() => this.kill(), this.exitTimeoutMs);
    try {
      await this.exitedPromise;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGKILL now (the QMP connection closed, a request timed out). Resolves once it has exited. */
  kill(): Promise<void> {
    this.closing = true;
    this.detach();
    if (!this.exited) this.child.kill('SIGKILL');
    return this.exitedPromise;
  }

  /** What the helper printed on stderr (a Python traceback if it crashed), last 4 KiB. */
  stderrTail(): string {
    return this.stderr;
  }

  private request(op: string, args: string[], what: string = op, send = false): Promise<string[]> {
    if (this.startError) return Promise.reject(this.noPython(this.startError));
    if (this.exited) return Promise.reject(this.died({ what, send } as Waiter));
    if (this.closing) return Promise.reject(new FdHelperError(`the descriptor helper is closed (asked to ${what})`, 'CLOSED', ''));
    const seq = ++this.seq;
    return new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(seq);
        reject(
          new FdHelperError(
            `the descriptor helper did not answer within ${this.requestTimeoutMs} ms (asked to ${what}); it was killed`,
            'REPLY-TIMEOUT',
            '',
            send,
          ),
        );
        void this.kill();
      }, this.requestTimeoutMs);
      this.waiters.set(seq, { what, resolve, reject, timer, send });
      this.child.stdin!.write(`${seq} ${op}${args.length ? ` ${args.join(' ')}` : ''}\n`);
    });
  }

  private onOut(chunk: string): void {
    this.out += chunk;
    let nl: number;
    while ((nl = this.out.indexOf('\n')) !== -1) {
      const line = this.out.slice(0, nl);
      this.out = this.out.slice(nl + 1);
      const [seqText, status, ...rest] = line.split(' ');
      const w = this.waiters.get(Number(seqText));
      if (!w) continue;
      this.waiters.delete(Number(seqText));
      clearTimeout(w.timer);
      if (status === 'ok') {
        w.resolve(rest);
      } else {
        const code = rest[0] ?? 'INTERNAL';
        const detail = Buffer.from(rest[1] ?? '', 'hex').toString('utf8');
        w.reject(new FdHelperError(`${w.what}: ${code}${detail ? ` (${detail})` : ''}`, code, detail, code === 'PARTIAL'));
      }
    }
  }

  private failAll(errorFor: (w: Waiter) => FdHelperError): void {
    for (const [seq, w] of [...this.waiters]) {
      this.waiters.delete(seq);
      clearTimeout(w.timer);
      w.reject(errorFor(w));
    }
  }

  private died(w: Pick<Waiter, 'what' | 'send'>): FdHelperError {
    const e = this.exitInfo;
    const how = e?.signal ? `was killed (${e.signal})` : `exited (status ${e?.code ?? '?'})`;
    const tail = this.stderr.trim().split('\n').slice(-1)[0];
    return new FdHelperError(
      `the descriptor helper (${this.python}, pid ${this.child.pid ?? '?'}) ${how} while asked to ${w.what}${tail ? `: ${tail}` : ''}`,
      'DIED',
      tail ?? '',
      w.send,
    );
  }

  private noPython(err: NodeJS.ErrnoException): FdHelperError {
    return new FdHelperError(
      `file-descriptor passing needs ${this.python} (Ganeti's own Python 3), which could not be started: ${err.code ?? err.message}`,
      'NOPYTHON',
      err.message,
      false,
      { cause: err },
    );
  }
}

function hex(text: string): string {
  return Buffer.from(text, 'utf8').toString('hex');
}
