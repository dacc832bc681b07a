/**
 * The non-interactive CLI. Every command uses the shared core; the TUI (`plugboard` with no command)
 * is loaded lazily so that scripts never pay for ink and react.
 */
import { Command, CommanderError, Option } from 'commander';
import { ExitCode, PlugboardError } from '../errors.js';
import { type CliIo, processIo } from './io.js';
import { registerCoreCommands } from './commands.js';
import { registerLiveCommands } from './live-commands.js';
import { registerCheckCommand } from './check.js';

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const program = new Command('plugboard')
    .description('PCI slots and SCSI targets of Ganeti KVM instances: bus maps, safe hot-plug and unplug')
    .showHelpAfterError('(run plugboard --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  program.addOption(
    new Option('--root <dir>', 'Ganeti KVM runtime root').env('PLUGBOARD_ROOT').default(undefined, '/var/run/ganeti/kvm-hypervisor'),
  );

  let exitCode: number = ExitCode.ok;
  const setExit = (code: number): void => {
    exitCode = code;
  };
  registerCoreCommands(program, io, setExit);
  registerLiveCommands(program, io, setExit);
  registerCheckCommand(program, io, setExit);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  }
}

export function reportError(error: unknown, io: CliIo): number {
  if (error instanceof CommanderError) {
    // --help and --version arrive here too, with exit code 0.
    if (error.exitCode === 0) return ExitCode.ok;
    return ExitCode.badInput;
  }
  if (error instanceof PlugboardError) {
    for (const line of error.message.split('\n')) io.stderr(`plugboard: ${line}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr(`plugboard: internal error: ${message}\n`);
  if (io.env.PLUGBOARD_DEBUG && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
  return ExitCode.failed;
}
