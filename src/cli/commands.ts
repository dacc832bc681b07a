/**
 * The read-only commands of the core issue: list, show, cmdline. Only their definitions live here:
 * what a command runs is imported when it runs (list.ts, core-run.ts, live-run.ts), so that
 * `plugboard list` does not load the QMP client, the executor or the migration check.
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { validateInstanceName, resolveRoot } from '../runtime/root.js';
import type { CliIo } from './io.js';
import { rapiOptions, type RapiFlags } from './ganeti-options.js';

export function registerCoreCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const rootOf = (cmd: Command): string | undefined => cmd.optsWithGlobals().root as string | undefined;

  rapiOptions(
    program
      .command('list')
      .description("every instance under the root: status, disk_type, nic_type, controller, disks, NICs, problems (on a Ganeti node: Ganeti's marks)")
      .option('--cluster', "every instance of the Ganeti cluster (RAPI): its primary node and status; those on this node open here")
      .option('--json', 'print JSON'),
  ).action(async (opts: RapiFlags & { json?: boolean; cluster?: boolean }, cmd: Command) => {
    const { runList, runClusterList } = await import('./list.js');
    const root = resolveRoot(rootOf(cmd));
    setExit(opts.cluster ? await runClusterList(root, opts, opts.json === true, io) : await runList(root, opts.json === true, io, opts));
  });

  rapiOptions(
    program
      .command('show')
      .description("the PCI and SCSI bus maps of one instance, the next hot-add address, and problems found (on a Ganeti node: Ganeti's names and marks)")
      .argument('[name]', 'instance name')
      .option('--runtime-file <file>', 'read this runtime file instead of the instance under the root')
      .option('--live', 'ask the running QEMU too: adds its real bus state and the drift against the runtime file')
      .option('--json', 'print JSON'),
  ).action(async (name: string | undefined, opts: RapiFlags & { runtimeFile?: string; json?: boolean; live?: boolean }, cmd: Command) => {
    if (opts.live) {
      if (opts.runtimeFile !== undefined || name === undefined) throw new InputError('--live needs an instance NAME (QEMU is asked over ctrl/NAME.qmp)');
      validateInstanceName(name);
      const { showLive } = await import('./live-run.js');
      return setExit(await showLive(resolveRoot(rootOf(cmd)), name, opts.json === true, io, opts));
    }
    const { runShow } = await import('./core-run.js');
    await runShow(name, { root: rootOf(cmd), runtimeFile: opts.runtimeFile }, opts.json === true, io, opts);
  });

  program
    .command('cmdline')
    .description('the per-device QEMU options Ganeti adds at start (what a migration target is started with)')
    .argument('[name]', 'instance name')
    .option('--runtime-file <file>', 'read this runtime file instead of the instance under the root')
    .option('--blockdev', 'use the -blockdev form for disks (newer Ganeti) instead of -drive')
    .option('--json', 'print JSON')
    .action(
      async (name: string | undefined, opts: { runtimeFile?: string; json?: boolean; blockdev?: boolean }, cmd: Command) => {
        const { runCmdline } = await import('./core-run.js');
        await runCmdline(name, { root: rootOf(cmd), runtimeFile: opts.runtimeFile }, opts.blockdev === true, opts.json === true, io);
      },
    );
}
