/**
 * The interactive view from the CLI: `plugboard` without a command opens it on the root, and
 * `plugboard demo` (what `npm start` runs) opens it on a sandbox with real QEMUs.
 *
 * The view itself (ink + react) lives in components/ and is loaded here with a dynamic import, only
 * when it is opened: scripts that run `plugboard list` never load it. Nothing in src/ imports ink.
 */
import type { Command } from 'commander';
import { ExitCode } from '../errors.js';
import { Transcript } from '../qmp/transcript.js';
import { resolveRoot } from '../runtime/root.js';
import { InstanceService } from '../tui/service.js';
import type { CliIo } from './io.js';
import type { Demo } from './demo.js';

/** What components/app-entry.tsx exports (typed here so src/ does not import it statically). */
interface TuiModule {
  startTui(options: { service: InstanceService; title: string; demo: boolean }): { exited: Promise<void>; quit(): void };
}

const NEEDS_TTY =
  'the interactive view needs a terminal (stdin and stdout a TTY); for scripts use plugboard list, show, cmdline, hotplug and unplug';

async function loadTui(): Promise<TuiModule> {
  // ink decides once, when it is loaded, whether it writes to a CI log ($CI): then it only prints the
  // last frame at exit. This is an interactive terminal, not a CI log.
  const env = process.env;
  delete env['CI'];
  delete env['CONTINUOUS_INTEGRATION'];
  // React's production build loads and renders several times faster than its development build (the
  // bundle has it built in; this is for the unbundled modules).
  env['NODE_ENV'] ??= 'production';
  // In the bundle (bin/build-bundle.mjs) this is a chunk of it; unbundled, ink's and react's modules.
  return (await import('../../components/app-entry.js')) as TuiModule;
}

/** How long the first frame waits for the instances' names before it shows an empty list. */
const LIST_WAIT_MS = 300;

function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}

/** Opens the view and resolves when the operator quits (q, Ctrl-C) or on SIGINT/SIGTERM. */
async function runView(service: InstanceService, title: string, demo: boolean, io: CliIo, onSignal: () => Promise<void>): Promise<number> {
  // Start loading ink first, then read the instances while it loads: the first frame has them.
  const loading = loadTui();
  void service.refreshList();
  // The names (one readdir) are listed while ink loads: the first frame shows the list, not an empty
  // screen redrawn at once. Bounded: a slow runtime directory does not hold the view back.
  await waitAtMost(service.whenListed(), LIST_WAIT_MS);
  const { startTui } = await loading;
  const tui = startTui({ service, title, demo });
  let signalled: NodeJS.Signals | undefined;
  const onSig = (sig: NodeJS.Signals) => {
    signalled ??= sig;
    tui.quit();
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  process.on('SIGHUP', onSig);
  try {
    await tui.exited;
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
    process.off('SIGHUP', onSig);
    service.dispose();
    // A hot-add or unplug under way was cancelled by dispose(): let it finish undoing, and say what
    // state it left before anything else (the demo's cleanup) runs.
    for (const line of await service.settle()) io.stderr(`plugboard: interrupted action: ${line}\n`);
    await onSignal();
  }
  if (signalled === 'SIGINT') return 130;
  if (signalled === 'SIGTERM') return 143;
  if (signalled === 'SIGHUP') return 129;
  return ExitCode.ok;
}

export async function openTui(root: string, io: CliIo): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    io.stderr(`plugboard: ${NEEDS_TTY}\n`);
    return ExitCode.badInput;
  }
  const service = new InstanceService({ root, transcript: new Transcript() });
  return runView(service, `plugboard · ${root}`, false, io, async () => undefined);
}

export async function openDemo(opts: { qemu: boolean; guest: boolean }, io: CliIo): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    io.stderr(`plugboard: ${NEEDS_TTY}\n`);
    return ExitCode.badInput;
  }
  let demo: Demo | undefined;
  // A signal while QEMUs start: stop what was started, then leave.
  const early = () => {
    void (demo?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', early);
  process.once('SIGTERM', early);
  try {
    // The demo (QEMU launching, the sandbox, the test guest) is loaded only for `plugboard demo`.
    const { startDemo } = await import('./demo.js');
    demo = await startDemo({ qemu: opts.qemu, guest: opts.guest, onStatus: (line) => io.stderr(`plugboard demo: ${line}\n`) });
  } finally {
    process.off('SIGINT', early);
    process.off('SIGTERM', early);
  }
  const d = demo;
  const service = new InstanceService({
    root: d.root,
    transcript: new Transcript(),
    readOnly: d.readOnly,
    spareDisks: d.spareDisks,
  });
  service.setBanner(d.banner);
  for (const [name, lines] of d.notes) service.setNotes(name, lines);
  const off = d.onNotes((name, lines) => service.setNotes(name, lines));
  try {
    return await runView(service, 'plugboard demo', true, io, async () => {
      off();
      await d.stop();
    });
  } finally {
    await d.stop();
  }
}

/**
 * Registers `demo`, and the program's own action: `plugboard` (no command) opens the view on the
 * root. One call from main.ts.
 */
export function registerTuiCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('demo')
    .description('the interactive view on a sandbox with real paused QEMUs (what npm start runs); quitting removes it')
    .option('--no-qemu', 'do not start QEMUs: read-only, maps from the runtime files')
    .option('--no-guest', 'do not boot the test guest in the paravirtual instance')
    .action(async (opts: { qemu: boolean; guest: boolean }) => {
      setExit(await openDemo(opts, io));
    });

  program.allowExcessArguments(true).action(async (_opts: unknown, cmd: Command) => {
    if (cmd.args.length > 0) cmd.error(`error: unknown command '${cmd.args[0]}'`, { exitCode: ExitCode.badInput, code: 'commander.unknownCommand' });
    const root = resolveRoot(cmd.opts().root as string | undefined);
    setExit(await openTui(root, io));
  });
}
