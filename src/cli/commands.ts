/**
 * The read-only commands of the core issue: list, show, cmdline.
 */
import type { Command } from 'commander';
import { ExitCode, InputError } from '../errors.js';
import { buildBusModel } from '../bus/model.js';
import { allocate } from '../bus/allocate.js';
import { deviceOptions } from '../qemu/options.js';
import { listInstances, resolveRoot, runtimeFilePath, validateInstanceName, instanceStatus } from '../runtime/root.js';
import { loadRuntimeFile } from '../runtime/write.js';
import type { RuntimeFile } from '../runtime/types.js';
import { type CliIo, printJson } from './io.js';
import { renderShowText, showJson } from './show.js';
import { showLive } from './live-commands.js';
import { openRuntime } from './target.js';

export function showFor(rf: RuntimeFile) {
  const model = buildBusModel(rf);
  return showJson(rf, model, {
    disk: allocate(model, rf, { kind: 'disk' }),
    nic: allocate(model, rf, { kind: 'nic' }),
  });
}

export function registerCoreCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const rootOf = (cmd: Command): string | undefined => cmd.optsWithGlobals().root as string | undefined;

  program
    .command('list')
    .description('every instance under the root: status, disk_type, nic_type, controller, disks, NICs, problems')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const root = resolveRoot(rootOf(cmd));
      const names = await listInstances(root);
      const rows = await Promise.all(
        names.map(async (name) => {
          const status = await instanceStatus(root, name);
          try {
            const rf = await loadRuntimeFile(runtimeFilePath(root, name), { instance: name });
            const model = buildBusModel(rf);
            return {
              instance: name,
              status,
              disk_type: rf.hvparams.disk_type,
              nic_type: rf.hvparams.nic_type,
              scsi_controller_type: rf.hvparams.scsi_controller_type,
              controller: model.scsi?.controller ?? null,
              disks: rf.disks.length,
              nics: rf.nics.length,
              problems: model.problems.length,
            };
          } catch (error) {
            return { instance: name, status, error: error instanceof Error ? error.message.split('\n')[0] : String(error) };
          }
        }),
      );
      if (rows.some((r) => 'error' in r)) setExit(ExitCode.failed);
      if (opts.json) return printJson(io, rows);
      if (rows.length === 0) {
        io.stdout(`no instances under ${root} (conf/*.runtime)\n`);
        return;
      }
      const header = ['INSTANCE', 'STATUS', 'DISK_TYPE', 'NIC_TYPE', 'CONTROLLER', 'DISKS', 'NICS', 'PROBLEMS'];
      const table = rows.map((r) =>
        'error' in r
          ? [r.instance, r.status, `unreadable: ${r.error}`]
          : [r.instance, r.status, r.disk_type, r.nic_type, r.controller ?? '-', String(r.disks), String(r.nics), String(r.problems)],
      );
      io.stdout(formatTable([header, ...table]));
    });

  program
    .command('show')
    .description('the PCI and SCSI bus maps of one instance, the next hot-add address, and problems found')
    .argument('[name]', 'instance name')
    .option('--runtime-file <file>', 'read this runtime file instead of the instance under the root')
    .option('--live', 'ask the running QEMU too: adds its real bus state and the drift against the runtime file')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, opts: { runtimeFile?: string; json?: boolean; live?: boolean }, cmd: Command) => {
      if (opts.live) {
        if (opts.runtimeFile !== undefined || name === undefined) throw new InputError('--live needs an instance NAME (QEMU is asked over ctrl/NAME.qmp)');
        validateInstanceName(name);
        return setExit(await showLive(resolveRoot(rootOf(cmd)), name, opts.json === true, io));
      }
      const rf = await openRuntime(name, { root: rootOf(cmd), runtimeFile: opts.runtimeFile });
      const show = showFor(rf);
      if (opts.json) printJson(io, show);
      else io.stdout(renderShowText(show));
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
        const rf = await openRuntime(name, { root: rootOf(cmd), runtimeFile: opts.runtimeFile });
        const options = deviceOptions(rf, { blockdev: opts.blockdev === true });
        if (opts.json) return printJson(io, options);
        for (const o of options) io.stdout(`${o.option} ${o.value}\n`);
      },
    );
}

export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
