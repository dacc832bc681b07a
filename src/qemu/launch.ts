/**
 * Starting a QEMU for the demo, the migration check (`-incoming defer`) and the tests.
 *
 * NOT for starting Ganeti instances: Ganeti starts those. This launcher starts a throw-away QEMU
 * (TCG, paused by default) with a QMP socket and returns once that socket greets. QEMU runs in the
 * foreground as our child (never `-daemonize`) and dies with us: it gets SIGKILL when this process
 * exits (an `exit` hook), and, through `setpriv --pdeathsig KILL` when util-linux's setpriv is
 * there, also when this process is killed without running its hooks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, unlinkSync } from 'node:fs';
import { messageOf, PlugboardError } from '../errors.js';
import { QmpClient, withQmp, type QmpGreeting } from '../qmp/client.js';
import { QmpAbortedError, QmpConnectError } from '../qmp/errors.js';
import { findQemu } from './binary.js';

export interface LaunchQemuOptions {
  /** Extra arguments, appended after the launcher's own (`-nodefaults`, `-device …`, `-incoming defer`…). */
  argv?: readonly (string | number)[];
  /** Path of the QMP socket QEMU creates. Must not exist yet. */
  qmpSocket: string;
  /** `-S`: start with the CPUs stopped (default true). */
  paused?: boolean;
  /** Accelerator (default `tcg`: works everywhere, no /dev/kvm needed). */
  accel?: 'tcg' | 'kvm';
  /** Machine type (default `pc`, i440FX, whose `pci.0` takes hot-plugged devices). */
  machine?: string;
  /** `-m` in MiB (default 64). */
  memoryMb?: number;
  /** `-name`. */
  name?: string;
  /** QEMU's own log file (`-D`), where e.g. a failed incoming migration explains itself. */
  logFile?: string;
  /** `-display` value (default `none`); false leaves it to `argv`. */
  display?: string | false;
  /** Cancels the START (QEMU is killed). Does not stop a QEMU that has started. */
  signal?: AbortSignal;
  /** How long QEMU may take until its QMP socket greets (default 10000 ms). */
  startTimeoutMs?: number;
  /** QEMU binary (default: findQemu()). */
  binary?: string;
  /** Kill QEMU when this process dies, even by SIGKILL (default true; needs setpriv). */
  killWithParent?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface QemuExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface QemuHandle {
  readonly pid: number;
  readonly qmpSocket: string;
  /** The full command line that was run (for logs and error messages). */
  readonly commandLine: readonly string[];
  /** The greeting QEMU sent when it became ready (version…). */
  readonly greeting: QmpGreeting;
  /** Resolves when QEMU has exited; never rejects. */
  readonly exited: Promise<QemuExit>;
  /** The exit status once QEMU has exited, else undefined. */
  exitStatus(): QemuExit | undefined;
  /** The last 64 KiB QEMU wrote to stderr. */
  stderrTail(): string;
  /** The last 64 KiB QEMU wrote to stdout. */
  stdoutTail(): string;
  /**
   * Stops QEMU: `quit` over QMP, then SIGTERM, then SIGKILL, each with a deadline. Removes the QMP
   * socket file if QEMU left it behind. Safe to call more than once and after QEMU exited.
   */
  stop(options?: { quitTimeoutMs?: number }): Promise<QemuExit>;
}

/** QEMU could not be started: it exited during start, or did not greet in time. */
export class QemuLaunchError extends PlugboardError {
  override name = 'QemuLaunchError';
  constructor(
    message: string,
    /** What QEMU printed on stderr (tail). */
    readonly stderr: string,
    readonly exit: QemuExit | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const TAIL_BYTES = 64 * 1024;
const RETRY_MS = 10;
/** How long QEMU may take to exit after its QMP socket failed during start. */
const EXIT_GRACE_MS = 1_000;
/** Longest Unix socket path (sun_path is 108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/** Starts QEMU and resolves once its QMP socket has greeted (then the socket is free again). */
export async function launchQemu(options: LaunchQemuOptions): Promise<QemuHandle> {
  const { qmpSocket, signal } = options;
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  if (signal?.aborted) throw new QmpAbortedError('QEMU start', qmpSocket, { cause: signal.reason });
  if (Buffer.byteLength(qmpSocket) > MAX_SOCKET_PATH_BYTES) {
    throw new QemuLaunchError(`QMP socket path is longer than ${MAX_SOCKET_PATH_BYTES} bytes: ${qmpSocket}`, '', undefined);
  }
  if (existsSync(qmpSocket)) {
    throw new QemuLaunchError(`QMP socket path ${qmpSocket} already exists: another QEMU, or a leftover?`, '', undefined);
  }
  const binary = options.binary ?? findQemu(options.env ?? process.env);
  const memoryMb = options.memoryMb ?? 64;
  if (!Number.isInteger(memoryMb) || memoryMb < 1) throw new QemuLaunchError(`memoryMb must be a positive integer, got ${memoryMb}`, '', undefined);
  const display = options.display ?? 'none';
  const qemuArgs = [
    '-machine',
    `${options.machine ?? 'pc'},accel=${options.accel ?? 'tcg'}`,
    ...(options.name !== undefined ? ['-name', qemuOptValue(options.name)] : []),
    '-m',
    String(memoryMb),
    ...((options.paused ?? true) ? ['-S'] : []),
    ...(display !== false ? ['-display', display] : []),
    '-qmp',
    `unix:${qemuOptValue(qmpSocket)},server=on,wait=off`,
    ...(options.logFile !== undefined ? ['-D', options.logFile] : []),
    ...(options.argv ?? []).map(String),
  ];
  const setpriv = (options.killWithParent ?? true) ? findSetpriv() : undefined;
  const [file, args] = setpriv
    ? [setpriv, ['--pdeathsig', 'KILL', '--', binary, ...qemuArgs]]
    : [binary, qemuArgs];
  const commandLine = [binary, ...qemuArgs];

  installExitHook();
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  children.add(child);
  const stderr = new Tail();
  const stdout = new Tail();
  child.stderr?.on('data', (b: Buffer) => stderr.push(b));
  child.stdout?.on('data', (b: Buffer) => stdout.push(b));

  let exitStatus: QemuExit | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<QemuExit>((resolve) => {
    child.once('exit', (code, sig) => {
      exitStatus = { code, signal: sig };
      children.delete(child);
      resolve(exitStatus);
    });
    child.once('error', (err) => {
      // spawn failure (ENOENT/EACCES): no 'exit' follows
      spawnError = err;
      if (child.pid === undefined) {
        exitStatus = { code: null, signal: null };
        children.delete(child);
        resolve(exitStatus);
      }
    });
  });
  /** stdio is flushed shortly after exit: wait for it, bounded, to report complete stderr. */
  const stdioClosed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const failStart = async (message: string, cause?: unknown): Promise<never> => {
    if (!exitStatus) {
      child.kill('SIGKILL');
      await exited;
    }
    await Promise.race([stdioClosed, delay(500)]);
    removeStaleSocket(qmpSocket);
    const err = stderr.text().trim();
    const oneLine = err ? `: ${cut(err.split('\n').map((l) => l.trim()).filter(Boolean).join('; '), 500)}` : '';
    throw new QemuLaunchError(`${message}${oneLine}`, err, exitStatus, { cause });
  };

  // Wait for the greeting: connect-retry until it greets, QEMU exits, the deadline or an abort.
  const deadline = Date.now() + startTimeoutMs;
  let greeting: QmpGreeting | undefined;
  let lastError: unknown;
  while (!greeting) {
    if (spawnError) return failStart(`cannot run ${file}: ${spawnError.message}`, spawnError);
    if (exitStatus) return failStart(`QEMU exited during start (${describeExit(exitStatus)})`);
    if (signal?.aborted) {
      await failStart('QEMU start cancelled').catch(() => undefined);
      throw new QmpAbortedError('QEMU start', qmpSocket, { cause: signal.reason });
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      return failStart(`QEMU did not greet on ${qmpSocket} within ${startTimeoutMs} ms`, lastError);
    }
    try {
      const qmp = await QmpClient.connect(qmpSocket, {
        greetingTimeoutMs: remaining,
        commandTimeoutMs: remaining,
        ...(signal ? { signal } : {}),
      });
      greeting = qmp.greeting;
      await qmp.close();
    } catch (err) {
      lastError = err;
      const retriable = err instanceof QmpConnectError && (err.reason === 'not-running' || err.reason === 'gone');
      if (retriable) {
        await Promise.race([exited, delay(RETRY_MS)]);
      } else if (!signal?.aborted) {
        // A reset or a close before the greeting usually means QEMU is on its way out: let it
        // finish (bounded) so that the error shows QEMU's own reason from stderr.
        await Promise.race([exited, delay(EXIT_GRACE_MS)]);
        if (!exitStatus) {
          return failStart(`QEMU's QMP socket ${qmpSocket} failed during start: ${messageOf(err)}`, err);
        }
      }
    }
  }

  let stopping: Promise<QemuExit> | undefined;
  const pid = child.pid!;
  const handle: QemuHandle = {
    pid,
    qmpSocket,
    commandLine,
    greeting,
    exited,
    exitStatus: () => exitStatus,
    stderrTail: () => stderr.text(),
    stdoutTail: () => stdout.text(),
    stop: (stopOptions = {}) => {
      stopping ??= (async () => {
        const quitTimeoutMs = stopOptions.quitTimeoutMs ?? 3_000;
        if (!exitStatus) {
          try {
            await withQmp(qmpSocket, { greetingTimeoutMs: 500, commandTimeoutMs: 1_000 }, (q) => q.execute('quit'));
          } catch {
            // busy, already gone, or closed before replying: the signals below take over
          }
          if (!(await exitsWithin(exited, quitTimeoutMs))) {
            child.kill('SIGTERM');
            if (!(await exitsWithin(exited, 2_000))) {
              child.kill('SIGKILL');
              if (!(await exitsWithin(exited, 5_000))) {
                throw new QemuLaunchError(`QEMU pid ${pid} did not exit after SIGKILL`, stderr.text(), undefined);
              }
            }
          }
        }
        removeStaleSocket(qmpSocket);
        return exited;
      })();
      return stopping;
    },
  };
  return handle;
}

/** QEMU option values escape a comma by doubling it. */
function qemuOptValue(v: string): string {
  return v.replace(/,/g, ',,');
}

function findSetpriv(): string | undefined {
  for (const p of ['/usr/bin/setpriv', '/bin/setpriv']) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** QEMU unlinks its socket on a clean exit; after a kill the file stays. Remove only a socket. */
function removeStaleSocket(p: string): void {
  try {
    if (lstatSync(p).isSocket()) unlinkSync(p);
  } catch {
    // not there
  }
}

function describeExit(e: QemuExit): string {
  return e.signal ? `signal ${e.signal}` : `exit code ${e.code}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function exitsWithin(exited: Promise<QemuExit>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const result = await Promise.race([exited.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}

function cut(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Keeps the last TAIL_BYTES of a stream. */
class Tail {
  private bufs: Buffer[] = [];
  private size = 0;
  push(b: Buffer): void {
    this.bufs.push(b);
    this.size += b.length;
    while (this.size > TAIL_BYTES && this.bufs.length > 1) {
      this.size -= this.bufs.shift()!.length;
    }
  }
  text(): string {
    const all = Buffer.concat(this.bufs);
    return all.subarray(Math.max(0, all.length - TAIL_BYTES)).toString('utf8');
  }
}
