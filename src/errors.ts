/**
 * The typed error hierarchy of plugboard. Every error plugboard throws is a PlugboardError (the
 * linter refuses `new Error(…)` and other roots outside this file); the CLI prints `error.message`
 * (one line per problem) and maps `exitCode`. Modelled on ky's source/errors: small classes,
 * `cause` kept, no stack traces shown to operators. What is thrown at plugboard from outside (Node's
 * errno errors, a library's) is read with messageOf / firstLineOf.
 */

/** Exit codes of the CLI: 0 ok, 1 the operation failed, 2 bad usage or bad input. */
export const ExitCode = { ok: 0, failed: 1, badInput: 2 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class PlugboardError extends Error {
  override name = 'PlugboardError';
  /** How the CLI exits when this error ends a command. */
  readonly exitCode: ExitCode = ExitCode.failed;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** One problem found in an input, located by file and JSON path: `disks[1][0].hvinfo.addr`. */
export interface InputIssue {
  /** JSON path in the operator's notation: `disks[1][0].hvinfo.addr`, or '' for the whole file. */
  path: string;
  message: string;
}

/** Bad input: a runtime file, an argument, a name. Never leads to a write. */
export class InputError extends PlugboardError {
  override name = 'InputError';
  override readonly exitCode: ExitCode = ExitCode.badInput;
  constructor(
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A runtime file that could not be fully understood. `message` has one line per issue:
 * `conf/web1.runtime: disks[1][0].hvinfo.addr: expected hex string like "0xd"`.
 */
export class RuntimeFileError extends InputError {
  override name = 'RuntimeFileError';
  constructor(
    readonly file: string,
    readonly issues: InputIssue[],
    options?: { cause?: unknown },
  ) {
    super(issues.map((i) => `${file}: ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n'), options);
  }
}

/** The operation was refused before anything was sent or written (bus full, unsupported type…). */
export class RefusedError extends PlugboardError {
  override name = 'RefusedError';
}

/** An instance that does not exist under the root, or whose files are not where they should be. */
export class NotFoundError extends PlugboardError {
  override name = 'NotFoundError';
  override readonly exitCode: ExitCode = ExitCode.badInput;
}

/** A state plugboard's own code should never reach (a bug, not the operator's input). */
export class InternalError extends PlugboardError {
  override name = 'InternalError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(`internal error: ${message}`, options);
  }
}

/** The operator interrupted (Ctrl-C, SIGINT, quitting the view): the reason given to an AbortController. */
export class InterruptedError extends PlugboardError {
  override name = 'InterruptedError';
}

/** The message of anything thrown: an Error's `message`, else its string form. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The first line of messageOf(error), for places that show one line (a list row, a status). */
export function firstLineOf(error: unknown): string {
  return messageOf(error).split('\n')[0] ?? '';
}
