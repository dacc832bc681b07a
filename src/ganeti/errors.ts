/**
 * Errors of plugboard's side of Ganeti: finding the cluster, the RAPI client and following jobs.
 *
 * Every one is a PlugboardError whose message is one line that names the endpoint (never the
 * credentials) or the job and says what the operator can do. The underlying error is kept as `cause`
 * (Node's socket and TLS errors carry no credentials; the request's Authorization header is never
 * put into an error).
 */
import { ExitCode, InputError, PlugboardError } from '../errors.js';

/**
 * The settings to reach RAPI are wrong or missing: no endpoint, a credentials file readable by
 * others, no certificate to check the server against and no explicit insecure flag. Bad input:
 * nothing was sent.
 */
export class RapiSetupError extends InputError {
  override name = 'RapiSetupError';
}

/** Why a RAPI request failed, for code that branches on it (the message says it in words). */
export type RapiFailure =
  /** Nothing listens (ECONNREFUSED), no such socket, the name does not resolve, the host is unreachable. */
  | 'unreachable'
  /** The connection was reset or closed before a whole answer came (a RAPI daemon restart does this). */
  | 'connection-lost'
  /** The server's certificate is not the pinned one, or the TLS handshake failed. */
  | 'tls'
  /** 401 or 403: wrong user or password, or a user without write access. */
  | 'auth'
  /** 404: no such instance, job or resource. */
  | 'not-found'
  /** No answer within the request's timeout. */
  | 'timeout'
  /** An answer that is not what RAPI sends: not JSON, not the expected shape, an unexpected status. */
  | 'protocol'
  /** RAPI answered 4xx/5xx with its own `{code, message, explain}` (e.g. 400 for a bad parameter). */
  | 'refused';

/** A RAPI request did not get a usable answer. `endpoint` is the URL without credentials. */
export class RapiError extends PlugboardError {
  override name = 'RapiError';
  /** The HTTP status, when there was one. */
  readonly status: number | undefined;
  constructor(
    readonly failure: RapiFailure,
    /** `GET /2/instances/inst1.example.com` */
    readonly request: string,
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options);
    this.status = options?.status;
  }

  /** A retry may help: the daemon was down or restarting, or the network hiccuped. */
  get transient(): boolean {
    return this.failure === 'unreachable' || this.failure === 'connection-lost' || this.failure === 'timeout';
  }
}

/** 404: what was asked for does not exist. Bad input (exit 2), like plugboard's own NotFoundError. */
export class RapiNotFoundError extends RapiError {
  override name = 'RapiNotFoundError';
  override readonly exitCode: ExitCode = ExitCode.badInput;
}

/** A request or a job wait was cancelled through its AbortSignal (Ctrl-C, the screen moved on). */
export class RapiAbortedError extends PlugboardError {
  override name = 'RapiAbortedError';
}

/** Ganeti's error of a failed opcode: `["OpPrereqError", ["Hotplug is not possible: …", "wrong_state"]]`. */
export interface GanetiOpError {
  /** `OpPrereqError`, `OpExecError`, `HypervisorError`, … */
  errorClass: string;
  /** Ganeti's message, one line. */
  message: string;
  /** Ganeti's error code (`wrong_state`, `unknown_entity`, `resolver_error`, `environment_error`, `inval`, …) when it gave one. */
  code: string | undefined;
}

/** A job ended as `error` or `canceled`. Nothing of the failed opcode was applied (Ganeti's prerequisite checks come first). */
export class JobFailedError extends PlugboardError {
  override name = 'JobFailedError';
  constructor(
    readonly jobId: number,
    readonly status: string,
    readonly opError: GanetiOpError | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * plugboard stopped waiting for a job that is still queued or running. The job goes on in Ganeti:
 * the message says its id and how to follow it (`gnt-job watch ID`). Nothing is pretended.
 */
export class JobTimeoutError extends PlugboardError {
  override name = 'JobTimeoutError';
  constructor(
    readonly jobId: number,
    /** The job's last status seen (`queued`, `waiting`, `running`), or undefined if none was read. */
    readonly lastStatus: string | undefined,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      `job ${jobId} ${lastStatus === undefined ? 'has not finished' : `is still ${lastStatus}`} after ${formatSeconds(timeoutMs)}: plugboard stopped waiting, Ganeti did not; ` +
        `follow it with 'gnt-job watch ${jobId}' (or 'gnt-job info ${jobId}') on the master node`,
      options,
    );
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * A low-level signal inside the RAPI client, with an errno-like `code` its socket-error mapping reads
 * (`PLUGBOARD_CERT_MISMATCH` from the certificate check in the TLS handshake, `ECONNRESET` for an
 * answer cut short). Never reaches the operator as is: it becomes a RapiError's `cause`.
 */
export class RapiSocketSignal extends PlugboardError {
  override name = 'RapiSocketSignal';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
