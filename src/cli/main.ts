/**
 * The non-interactive CLI. Every command uses the shared core; the TUI (`plugboard` with no command)
 * is loaded lazily so that scripts never pay for ink and react.
 */
import { Command, CommanderError, Option } from './commander.js';
import { ExitCode, PlugboardError } from '../errors.js';
import { type CliIo, processIo } from './io.js';
import { registerCoreCommands } from './commands.js';
import { registerLiveCommands } from './live-commands.js';
import { registerCheckCommand } from './check.js';
import { registerDowngradeCommand } from './downgrade.js';

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const program = new Command('plugboard')
    .description('PCI slots and SCSI targets of Ganeti KVM instances: bus maps, safe hot-plug and unplug')
    .showHelpAfterError('(run plugboard --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  program.addOption(
    new Option('--root <dir>', 'Ganeti KVM runtime root').env('PLUGBOARD_ROOT').default(undefined, '/var/run/ganeti/kvm-hypervisor'),
  );

  program.option('-V, --version', "print plugboard's version");
  if (commandWord(argv) === undefined && argv.some((a) => a === '--version' || a === '-V')) {
    io.stdout(`${(await import('./install.js')).plugboardVersion()}\n`);
    return ExitCode.ok;
  }

  let exitCode: number = ExitCode.ok;
  const setExit = (code: number): void => {
    exitCode = code;
  };
  registerCoreCommands(program, io, setExit);
  registerLiveCommands(program, io, setExit);
  // The interactive view's commands (`plugboard` alone, `demo`) are registered only when the command
  // line can be one of them: tui.ts brings the view's service and the demo sandbox with it.
  if (!SCRIPT_COMMANDS.has(commandWord(argv) ?? '')) (await import('./tui.js')).registerTuiCommands(program, io, setExit);
  registerCheckCommand(program, io, setExit);
  registerDowngradeCommand(program, io, setExit);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  }
}

/** Commands that never open the interactive view: they run without loading its registration. */
const SCRIPT_COMMANDS: ReadonlySet<string> = new Set(['list', 'show', 'cmdline', 'hotplug', 'unplug', 'check', 'downgrade']);

/**
 * The command word of `argv` (`list` in `--root /x list --json`); undefined when there is none or
 * when an option other than `--root` comes first (`--help`, `-V`…): then every command is registered.
 */
export function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--root') i++;
    else if (a.startsWith('--root=')) continue;
    else if (a.startsWith('-')) return undefined;
    else return a;
  }
  return undefined;
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
