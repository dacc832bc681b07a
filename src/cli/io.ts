import { countUnsafe, escapedNote, escapeForTerminal, jsonForTerminal } from '../text/terminal.js';

/** Where the CLI writes; injectable so tests run `main()` in-process and read what it printed. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/**
 * `plugboard list | head`: the reader may go away before plugboard has said everything. Writing to
 * it then fails (EPIPE, then "stream destroyed"), which Node reports as an uncaught error with a
 * stack trace. The rest of the output is dropped instead and the command carries on: a hot-add
 * whose progress nobody reads any more still finishes (or rolls back) and writes its runtime file.
 */
const gone = { stdout: false, stderr: false };
let guarded = false;

function guardPipes(): void {
  if (guarded) return;
  guarded = true;
  for (const name of ['stdout', 'stderr'] as const) {
    process[name].on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
      gone[name] = true;
    });
  }
}

export const processIo: CliIo = {
  stdout: (text) => {
    guardPipes();
    if (!gone.stdout) process.stdout.write(text);
  },
  stderr: (text) => {
    guardPipes();
    if (!gone.stderr) process.stderr.write(text);
  },
  env: process.env,
};

/** A CliIo whose output is made safe for a terminal, and what it escaped. */
export interface TerminalIo extends CliIo {
  /** Characters shown escaped so far (stdout and stderr). */
  escaped(): number;
}

/**
 * The one place where the CLI's text leaves for a terminal (main() wraps its io in it): every
 * character of stdout and stderr text that a terminal would act on or hide (ESC, CSI, BEL, CR,
 * DEL, C1, bidi overrides… see src/text/terminal.ts) is written escaped (`\x1b`, `\u202e`); line
 * feeds are kept. JSON output (printJson) holds none of them raw, so it passes unchanged and
 * `--json` consumers get the exact values.
 */
export function terminalIo(io: CliIo): TerminalIo {
  let escaped = 0;
  const safe = (write: (text: string) => void) => (text: string) => {
    const n = countUnsafe(text, { keepNewlines: true });
    if (n === 0) return write(text);
    escaped += n;
    write(escapeForTerminal(text, { keepNewlines: true }));
  };
  return { stdout: safe(io.stdout), stderr: safe(io.stderr), env: io.env, escaped: () => escaped };
}

/**
 * Node prints warnings (process.emitWarning: a view or transcript listener that threw, with the
 * error's text, which may quote QEMU; a deprecation in a dependency) on stderr itself, raw. Routed
 * here, they leave through `io` like every other stderr line, so the same escaping applies. Node's
 * format is kept (`(node:PID) [CODE] Name: message`); with `--no-warnings` (no listener of Node's)
 * nothing is printed, as before. Returns what puts Node's own printer back.
 */
export function routeWarnings(io: CliIo): () => void {
  const nodes = process.listeners('warning');
  if (nodes.length === 0) return () => {};
  const ours = (w: Error & { code?: string }): void => {
    io.stderr(`(node:${process.pid}) ${w.code ? `[${w.code}] ` : ''}${w.name}: ${w.message}\n`);
  };
  for (const l of nodes) process.removeListener('warning', l);
  process.on('warning', ours);
  return () => {
    process.removeListener('warning', ours);
    for (const l of nodes) process.on('warning', l);
  };
}

/** The line main() prints on stderr when the output held escaped characters. */
export function escapedNoteLine(count: number): string {
  return `plugboard: note: ${escapedNote(count)}\n`;
}

/**
 * The value as JSON on stdout: the exact values (JSON.parse gives them back), with the characters
 * JSON leaves raw that a terminal would act on (C1 controls such as the 8-bit CSI, DEL, bidi
 * overrides) written as `\uXXXX` escapes, so that `--json` on a terminal is as safe as the text.
 */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${jsonForTerminal(JSON.stringify(value, null, 2))}\n`);
}
