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

export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}
