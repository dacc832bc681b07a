/**
 * Errors of the QMP client. Every one is a PlugboardError with a one-line message that names the
 * socket (or the command) and says what an operator can do about it; the underlying error, if any,
 * is kept as `cause`.
 */
import { PlugboardError } from '../errors.js';

/** QEMU answered `{"error": {"class", "desc"}}` to a command. `desc` is QEMU's own words. */
export class QmpCommandError extends PlugboardError {
  override name = 'QmpCommandError';
  constructor(
    /** The QMP command that failed, e.g. `device_add`. */
    readonly command: string,
    /** QEMU's error class, e.g. `GenericError`, `CommandNotFound`, `DeviceNotFound`. */
    readonly errorClass: string,
    /** QEMU's description, e.g. `Duplicate device ID 'disk-1'`. */
    readonly desc: string,
    options?: { cause?: unknown },
  ) {
    super(`QEMU refused ${command}: ${desc} (${errorClass})`, options);
  }
}

/**
 * A human-monitor (HMP) command, sent through `human-monitor-command`, printed an error. HMP has no
 * error object: QEMU returns the error text as the command's output, which becomes `desc`.
 * `errorClass` is always `HmpError`; `command` is the HMP command line.
 */
export class HmpCommandError extends QmpCommandError {
  override name = 'HmpCommandError';
  constructor(commandLine: string, output: string, options?: { cause?: unknown }) {
    super(commandLine, 'HmpError', output.trim().replace(/\s*\r?\n\s*/g, '; '), options);
    this.message = `QEMU refused HMP command '${commandLine}': ${this.desc}`;
  }
}

/** A wait ran out of time: the greeting after connect, a reply, an event, QEMU's start or exit. */
export class QmpTimeoutError extends PlugboardError {
  override name = 'QmpTimeoutError';
  constructor(
    /** What was waited for, in words: `reply to device_add`, `event DEVICE_DELETED for disk-1`. */
    readonly step: string,
    readonly timeoutMs: number,
    /** The socket path the wait was about. */
    readonly socketPath: string,
    options?: { cause?: unknown },
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${step} on ${socketPath}`, options);
  }
}

/**
 * The QMP socket accepted the connection but sent no greeting in time, or refused to queue it
 * (EAGAIN): QEMU serves one client per QMP socket, so another client holds it.
 */
export class QmpBusyError extends PlugboardError {
  override name = 'QmpBusyError';
  constructor(
    readonly socketPath: string,
    /** How long we waited; undefined when the connect itself was refused. */
    readonly waitedMs: number | undefined,
    options?: {
      cause?: unknown;
      /**
       * The kernel's socket table showed QEMU with a client all along, so plugboard never connected
       * (./socket-holders.ts); otherwise it connected and no greeting came.
       */
      seenHeld?: boolean;
    },
  ) {
    super(
      `socket busy: another client (Ganeti itself?) holds ${socketPath}` +
        (waitedMs === undefined
          ? ''
          : options?.seenHeld
            ? ` (held for ${waitedMs} ms; plugboard did not queue behind it)`
            : ` (no QMP greeting within ${waitedMs} ms)`) +
        '; try again',
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.seenHeld = options?.seenHeld ?? false;
  }

  /** True when plugboard saw the client in the socket table and did not connect at all. */
  readonly seenHeld: boolean;
}

export type QmpConnectFailure =
  /** ENOENT: no socket at the path: the instance is not running (or the path is wrong). */
  | 'not-running'
  /** ECONNREFUSED: a socket file without a listener: QEMU is gone and left a stale socket. */
  | 'gone'
  /** EACCES/EPERM: not allowed to open the socket (not root?). */
  | 'permission'
  /** ENOTSOCK and friends: the path is not a socket. */
  | 'not-a-socket'
  /** The connection was closed on our side (close() or an abort) while a request was pending. */
  | 'closed'
  | 'other';

/** Could not connect to the QMP socket, or the connection is no longer usable. */
export class QmpConnectError extends PlugboardError {
  override name = 'QmpConnectError';
  constructor(
    readonly socketPath: string,
    readonly reason: QmpConnectFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Maps a Node socket error from `connect()` to an operator's sentence. */
  static fromSocketError(socketPath: string, err: NodeJS.ErrnoException): QmpConnectError {
    switch (err.code) {
      case 'ENOENT':
        return new QmpConnectError(
          socketPath,
          'not-running',
          `no QMP socket at ${socketPath}: the instance is not running on this node`,
          { cause: err },
        );
      case 'ECONNREFUSED':
        return new QmpConnectError(
          socketPath,
          'gone',
          `nothing listens on ${socketPath}: QEMU is gone (stale socket)`,
          { cause: err },
        );
      case 'EACCES':
      case 'EPERM':
        return new QmpConnectError(
          socketPath,
          'permission',
          `permission denied opening ${socketPath} (run as root?)`,
          { cause: err },
        );
      case 'ENOTSOCK':
      case 'ENOTDIR':
      case 'EPROTOTYPE':
        return new QmpConnectError(socketPath, 'not-a-socket', `${socketPath} is not a QMP socket (${err.code})`, {
          cause: err,
        });
      default:
        return new QmpConnectError(
          socketPath,
          'other',
          `cannot connect to ${socketPath}: ${err.code ?? err.message}`,
          { cause: err },
        );
    }
  }
}

export type QmpProtocolFailure =
  /** A line that is not JSON, or JSON that is not a QMP message. */
  | 'garbage'
  /** A line longer than the client's limit: the connection is dropped. */
  | 'line-too-long'
  /** QEMU closed the connection while we waited for the greeting or a reply. */
  | 'closed'
  /** A well-formed message that makes no sense here (reply with an id we never sent, …). */
  | 'unexpected';

/** QEMU (or whatever listens on the socket) broke the protocol. The connection is closed. */
export class QmpProtocolError extends PlugboardError {
  override name = 'QmpProtocolError';
  constructor(
    readonly socketPath: string,
    readonly reason: QmpProtocolFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A wait was cancelled through an AbortSignal (Ctrl-C, the UI moved on). `cause` is the signal's reason. */
export class QmpAbortedError extends PlugboardError {
  override name = 'QmpAbortedError';
  constructor(
    readonly step: string,
    readonly socketPath: string,
    options?: { cause?: unknown },
  ) {
    super(`cancelled while waiting for ${step} on ${socketPath}`, options);
  }
}
