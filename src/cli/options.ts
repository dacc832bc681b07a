import { InputError } from '../errors.js';

/** `--timeout S`: seconds (fractions allowed), more than 0 and at most an hour, as milliseconds. */
export function timeoutMs(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 3600) {
    throw new InputError(`--timeout ${value}: expected seconds, more than 0 and at most 3600`);
  }
  return Math.round(n * 1000);
}

/** `--job-timeout S`: seconds, more than 0 and at most an hour, as milliseconds. */
export function jobTimeoutMs(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 3600) {
    throw new InputError(`--job-timeout ${value}: expected seconds, more than 0 and at most 3600`);
  }
  return Math.round(n * 1000);
}
