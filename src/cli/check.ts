/**
 * `plugboard check NAME [--json] [--timeout S]`: is the instance ready to migrate?
 *
 * Two answers in one: the drift (the runtime file against the running QEMU, as `show --live`
 * reports it) and the migration dry-run (a paused QEMU started from the runtime file, beside the
 * instance and touching nothing of it, has the same devices at the same places: see
 * src/usecases/check/). Exit 0 only when both match, 1 when either does not (or the check
 * could not run), 2 for bad input.
 */
import type { Command } from 'commander';
import { resolveRoot, validateInstanceName } from '../runtime/root.js';
import type { CliIo } from './io.js';
import { timeoutMs } from './options.js';

const DEFAULT_TIMEOUT_S = 30;


export function registerCheckCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('check')
    .description(
      'is the instance ready to migrate? compares the runtime file with the running QEMU (drift), then starts a paused QEMU from the runtime file beside it (touching none of its disks, sockets or files) and compares the device layouts',
    )
    .argument('<name>', 'instance name')
    .option('--json', 'print JSON')
    .option('--timeout <seconds>', 'give up after this long', String(DEFAULT_TIMEOUT_S))
    .action(async (name: string, opts: { json?: boolean; timeout: string }, cmd: Command) => {
      validateInstanceName(name);
      const waitMs = timeoutMs(opts.timeout);
      const root = resolveRoot(cmd.optsWithGlobals().root as string | undefined);
      const { runCheck } = await import('./check-run.js');
      setExit(await runCheck(root, name, waitMs, opts.json === true, io));
    });
}
