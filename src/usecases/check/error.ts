/** The error of the migration check (its own module: every part of the check may throw it). */
import { PlugboardError } from '../../errors.js';

/** The check could not be made or did not finish (timeout, the check QEMU failed to start…). */
export class MigrationCheckError extends PlugboardError {
  override name = 'MigrationCheckError';
  constructor(
    message: string,
    /** The check QEMU's log and stderr, when it got that far. */
    readonly log?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
