/**
 * Errors of file-descriptor passing. `FdHelperError` is a failure of the helper or of what it was
 * asked to do (open, create, send), with the helper's code; `FdInputError` is bad input found while
 * checking or opening what the operator named (a path that vanished, a directory, a tap name in
 * use): exit 2, nothing changed.
 */
import { InputError, PlugboardError } from '../../errors.js';

/**
 * The helper's error codes: an errno name (`ENOENT`, `EACCES`, `EBUSY`…) for a failed system call,
 * or one of its own words:
 * - `KIND`: the path is not of the kind planned (detail: what it is now);
 * - `CHANGED`: the opened file is not the one checked at planning (detail: `dev:ino`);
 * - `NAME`, `NOMQ`, `NOUSER`, `NOHANDLE`, `NOOP`;
 * - `TIMEOUT`: QEMU read nothing for 5 s (the line was not sent); `PARTIAL`: part of a line went
 *   out (the QMP stream is broken);
 * - `INTERNAL`: a Python exception;
 * and Node's side: `DIED` (the helper exited while asked something), `NOPYTHON` (python3 could not
 * be started), `CLOSED` (asked after close), `REPLY-TIMEOUT` (no answer in time: helper killed).
 */
export type FdHelperCode = string;

export class FdHelperError extends PlugboardError {
  override name = 'FdHelperError';
  constructor(
    message: string,
    /** See FdHelperCode. */
    readonly code: FdHelperCode,
    /** The helper's detail (decoded), or ''. */
    readonly detail: string,
    /** Whether what was asked may have been done anyway (a `send` whose answer never came). */
    readonly maybeDone = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class FdInputError extends InputError {
  override name = 'FdInputError';
}
