/**
 * `plugboard downgrade [NAME…|--all] [--dry-run] [--json]`: runtime files back to the pre-hvinfo
 * form for a cluster going back to Ganeti 2.15 (src/usecases/downgrade.ts). Only the definition
 * lives here; what it runs is in downgrade-run.ts, imported when it runs.
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { resolveRoot } from '../runtime/root.js';
import type { CliIo } from './io.js';

export function registerDowngradeCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('downgrade')
    .description(
      'rewrite runtime files back to the pre-hvinfo form for a cluster going back to Ganeti 2.15: each PCI disk/NIC gets its pci slot from hvinfo, hvinfo goes; a backup NAME.runtime.pre-downgrade is kept; SCSI disks and devices off pci.0 are refused',
    )
    .argument('[names...]', 'instance names')
    .option('--all', 'every instance under the root')
    .option('--dry-run', 'say what would change, change nothing')
    .option('--json', 'print JSON')
    .action(async (names: string[], opts: { all?: boolean; dryRun?: boolean; json?: boolean }, cmd: Command) => {
      if (opts.all && names.length > 0) throw new InputError('give instance NAMEs or --all, not both');
      if (!opts.all && names.length === 0) throw new InputError('missing instance NAME (or --all for every instance under the root)');
      const root = resolveRoot(cmd.optsWithGlobals().root as string | undefined);
      const { runDowngrade } = await import('./downgrade-run.js');
      setExit(await runDowngrade(root, opts.all ? 'all' : names, { dryRun: opts.dryRun === true, json: opts.json === true }, io));
    });
}
