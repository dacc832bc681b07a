/**
 * A scripted fake QMP server on a real Unix socket in a temp dir, for testing the QMP client
 * without QEMU (and for misbehaviour QEMU never shows: garbage, huge lines, silence).
 *
 *   const fake = await FakeQmpServer.start();            // greets like QEMU 7.2, answers qmp_capabilities
 *   const client = QmpClient.connect(fake.path);
 *   const conn = await fake.nextConnection();
 *   const cmd = await conn.nextCommand();                 // a command the test must answer
 *   conn.event('DEVICE_DELETED', { device: 'x' });
 *   conn.reply(cmd, {});
 *   await fake.stop();                                    // in afterEach: closes everything, removes the dir
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const QEMU_72_GREETING = {
  QMP: {
    version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' },
    capabilities: ['oob'],
  },
};

export interface FakeCommand {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
  /** The line as received. */
  raw: string;
}

export interface FakeQmpOptions {
  /** Sent on accept (default QEMU 7.2's). `false`: never greet, like a socket another client holds. */
  greeting?: object | false;
  /** Answer `qmp_capabilities` with `{"return": {}}` by itself (default true). */
  autoCapabilities?: boolean;
  /** Called for every other command; if absent, commands wait in `nextCommand()` for the test. */
  handler?: (cmd: FakeCommand, conn: FakeQmpConnection) => void;
  /** Listen here (e.g. an instance's ctrl/NAME.qmp) instead of in a temp dir of its own. */
  socketPath?: string;
}

/** A queue whose `shift` waits (with a deadline) for the next item. */
class AsyncQueue<T> {
  private items: T[] = [];
  private waiters: ((item: T) => void)[] = [];
  push(item: T): void {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  shift(timeoutMs: number, what: string): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise<T>((resolve, reject) => {
      const waiter = (it: T) => {
        clearTimeout(timer);
        resolve(it);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`fake QMP: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

export class FakeQmpConnection {
  /** Every command received on this connection, in order (auto-answered ones included). */
  readonly commands: FakeCommand[] = [];
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  private readonly queue = new AsyncQueue<FakeCommand>();
  private buffer = '';
  private isClosed = false;

  constructor(
    readonly socket: net.Socket,
    private readonly options: FakeQmpOptions,
  ) {
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        resolve();
      }),
    );
    socket.on('error', () => undefined); // EPIPE/ECONNRESET when the client drops us: expected in tests
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.onData(text));
    if (options.greeting !== false) this.send(options.greeting ?? QEMU_72_GREETING);
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** The next command not answered automatically. */
  nextCommand(options: { timeoutMs?: number } = {}): Promise<FakeCommand> {
    return this.queue.shift(options.timeoutMs ?? 5_000, 'a command from the client');
  }

  /** `{"return": value, "id": cmd.id}` (no id key if the command had none). */
  reply(cmd: FakeCommand, value: unknown = {}): void {
    this.send({ return: value, ...(cmd.id !== undefined ? { id: cmd.id } : {}) });
  }

  replyError(cmd: FakeCommand, errorClass: string, desc: string): void {
    this.send({ ...(cmd.id !== undefined ? { id: cmd.id } : {}), error: { class: errorClass, desc } });
  }

  event(name: string, data?: Record<string, unknown>): void {
    this.send({ timestamp: { seconds: 1_700_000_000, microseconds: 0 }, event: name, ...(data ? { data } : {}) });
  }

  /** One JSON message, ended by `\r\n` like QEMU. */
  send(message: unknown): void {
    this.sendRaw(`${JSON.stringify(message)}\r\n`);
  }

  sendRaw(data: string | Buffer): void {
    if (!this.isClosed) this.socket.write(data);
  }

  /**
   * Writes `totalBytes` of `fill` with no newline, chunk by chunk and respecting backpressure,
   * until done or the client closes the connection. Returns the bytes the kernel took (each
   * chunk counts once its write callback succeeded).
   */
  async writeWithoutNewline(totalBytes: number, fill = 'a', chunkBytes = 64 * 1024): Promise<{ accepted: number; closedByClient: boolean }> {
    const chunk = Buffer.alloc(chunkBytes, fill);
    let accepted = 0;
    let sent = 0;
    while (sent < totalBytes && !this.isClosed) {
      const piece = totalBytes - sent >= chunkBytes ? chunk : chunk.subarray(0, totalBytes - sent);
      sent += piece.length;
      const ok = await new Promise<boolean>((resolve) => {
        this.socket.write(piece, (err) => resolve(!err));
      });
      if (!ok) break;
      accepted += piece.length;
    }
    return { accepted, closedByClient: this.isClosed || sent < totalBytes };
  }

  /** Half-close (FIN) like a process that exits cleanly. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line === '') continue;
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.send({ error: { class: 'GenericError', desc: `JSON parse error, invalid keyword '${line.slice(0, 20)}'` } });
        continue;
      }
      const cmd: FakeCommand = {
        execute: String(parsed['execute']),
        ...(parsed['arguments'] !== undefined ? { arguments: parsed['arguments'] as Record<string, unknown> } : {}),
        ...('id' in parsed ? { id: parsed['id'] } : {}),
        raw: line,
      };
      this.commands.push(cmd);
      if (cmd.execute === 'qmp_capabilities' && (this.options.autoCapabilities ?? true)) {
        this.reply(cmd, {});
      } else if (this.options.handler) {
        this.options.handler(cmd, this);
      } else {
        this.queue.push(cmd);
      }
    }
  }
}

export class FakeQmpServer {
  readonly connections: FakeQmpConnection[] = [];
  private readonly queue = new AsyncQueue<FakeQmpConnection>();

  private constructor(
    /** The temp dir holding the socket; removed by stop(). */
    readonly dir: string,
    /** The socket path to connect to. */
    readonly path: string,
    private readonly server: net.Server,
  ) {}

  static async start(options: FakeQmpOptions = {}): Promise<FakeQmpServer> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-fakeqmp-'));
    const socketPath = options.socketPath ?? path.join(dir, 'fake.qmp');
    const server = net.createServer();
    const fake = new FakeQmpServer(dir, socketPath, server);
    server.on('connection', (socket) => {
      const conn = new FakeQmpConnection(socket, options);
      fake.connections.push(conn);
      fake.queue.push(conn);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return fake;
  }

  /** The next accepted connection (in accept order). */
  nextConnection(options: { timeoutMs?: number } = {}): Promise<FakeQmpConnection> {
    return this.queue.shift(options.timeoutMs ?? 5_000, 'a client to connect');
  }

  /** Closes every connection and the server, removes the temp dir. */
  async stop(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await Promise.all(this.connections.map((c) => c.closed));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.path, { force: true });
  }
}

/** A server that accepts connections and never says anything, for timeouts. */
export async function startSilentQmp(): Promise<FakeQmpServer> {
  return FakeQmpServer.start({ greeting: false });
}
