/**
 * The non-interactive CLI. Every command uses the shared core; the TUI (`plugboard` with no command)
 * is loaded lazily so that scripts never pay for ink and react.
 */
import type { Command as CommandType } from 'commander';
import { Command, CommanderError, Option } from './commander.js';
import { ExitCode, messageOf, PlugboardError } from '../errors.js';
import { type CliIo, escapedNoteLine, processIo, routeWarnings, terminalIo } from './io.js';
import { registerCoreCommands } from './commands.js';
import { registerLiveCommands } from './live-commands.js';
import { registerCheckCommand } from './check.js';
import { registerDowngradeCommand } from './downgrade.js';

/**
 * Runs the command line. Everything it prints goes through `terminalIo`: characters from outside
 * (QEMU's words, file contents, file names, arguments) that a terminal would act on are shown
 * escaped, and a note on stderr says so.
 */
export async function main(argv: string[], rawIo: CliIo = processIo): Promise<number> {
  const io = terminalIo(rawIo);
  if (rawIo === processIo) routeWarnings(io);
  const code = await run(argv, io);
  if (io.escaped() > 0) rawIo.stderr(escapedNoteLine(io.escaped()));
  return code;
}

async function run(argv: string[], io: CliIo): Promise<number> {
  if (commandWord(argv) === undefined && argv.some((a) => a === '--version' || a === '-V')) {
    io.stdout(`${(await import('./install.js')).versionLine()}\n`);
    return ExitCode.ok;
  }

  let exitCode: number = ExitCode.ok;
  const setExit = (code: number): void => {
    exitCode = code;
  };
  const program = await createProgram(io, setExit, argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return reportError(error, io);
  }
}

/**
 * The commander program: every command and option. Given `argv`, the interactive view's commands
 * are registered only when the command line can be one of them; without it, everything is (the man
 * page and the bash completion are generated from that: packaging/).
 */
export async function createProgram(io: CliIo, setExit: (code: number) => void, argv?: readonly string[]): Promise<CommandType> {
  const program = new Command('plugboard')
    .description('PCI slots and SCSI targets of Ganeti KVM instances: bus maps, safe hot-plug and unplug')
    .showHelpAfterError('(run plugboard --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  program.addOption(
    new Option('--root <dir>', 'Ganeti KVM runtime root').env('PLUGBOARD_ROOT').default(undefined, '/var/run/ganeti/kvm-hypervisor'),
  );
  program.option('-V, --version', "print plugboard's version and the commit it was built from");

  registerCoreCommands(program, io, setExit);
  registerLiveCommands(program, io, setExit);
  // The interactive view's commands (`plugboard` alone, `demo`) are registered only when the command
  // line can be one of them: tui.ts brings the view's service and the demo sandbox with it.
  if (argv === undefined || !SCRIPT_COMMANDS.has(commandWord(argv) ?? '')) (await import('./tui.js')).registerTuiCommands(program, io, setExit);
  registerCheckCommand(program, io, setExit);
  registerDowngradeCommand(program, io, setExit);
  return program;
}

/** Commands that never open the interactive view: they run without loading its registration. */
const SCRIPT_COMMANDS: ReadonlySet<string> = new Set(['list', 'show', 'cmdline', 'hotplug', 'unplug', 'check', 'downgrade', 'whatif']);

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
  io.stderr(`plugboard: internal error: ${messageOf(error)}\n`);
  if (io.env.PLUGBOARD_DEBUG && error instanceof Error && error.stack) io.stderr(`${error.stack}\n`);
  return ExitCode.failed;
}
