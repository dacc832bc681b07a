/**
 * Small helpers shared by the action tests: the commands a transcript shows were sent, an action's
 * failure or refusal as a value, and the CLI run in-process against a root.
 */
import { ActionFailedError } from '../../src/executor/outcome.js';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { InputError, RefusedError } from '../../src/errors.js';
import type { Transcript } from '../../src/qmp/transcript.js';

export type SentCommand = { execute: string; arguments?: Record<string, unknown> };

/** Every QMP command the transcript recorded as sent, in order. */
export function sentCommands(t: Transcript): SentCommand[] {
  return t
    .entries()
    .filter((e) => e.direction === 'out')
    .map((e) => JSON.parse(e.json) as SentCommand);
}

/** The ActionFailedError `p` rejects with (anything else is rethrown; success fails the test). */
export async function failure(p: Promise<unknown>): Promise<ActionFailedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ActionFailedError) return err;
    throw err;
  }
  throw new Error('expected the action to fail');
}

/** The RefusedError/InputError `p` rejects with (anything else is rethrown; success fails the test). */
export async function refusal(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    if (err instanceof RefusedError || err instanceof InputError) return err;
    throw err;
  }
  throw new Error('expected the action to be refused');
}

export interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process against the sandbox's root. */
export async function cli(sb: { root: string }, ...args: string[]): Promise<Cli> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {} };
  const code = await main(['--root', sb.root, ...args], io);
  return { code, stdout, stderr };
}
