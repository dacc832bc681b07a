/**
 * `plugboard whatif NAME [--disk-type T] [--scsi-controller-type T] [--kvm-pci-reservations N]`:
 * the bus maps and device options the instance would START with under other hypervisor parameters
 * (src/tui/whatif.ts, the what-if screen's), the `gnt-instance modify -H …` line that makes it so,
 * and with `--submit` that change sent to Ganeti as a job (on a Ganeti node). It takes effect at the
 * next start: the running QEMU keeps its devices where they are.
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { rapiOptions } from './ganeti-options.js';
import type { CliIo } from './io.js';
import type { WhatIfOptions } from './whatif-run.js';

export function registerWhatIfCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  rapiOptions(
    program
      .command('whatif')
      .description("what the instance would start with under other disk_type, scsi_controller_type, kvm_pci_reservations: the maps, the device options and the gnt-instance modify -H line; --submit sends that change to Ganeti (it takes effect at the next start)")
      .argument('[name]', 'instance name')
      .option('--disk-type <type>', 'disk_type to try')
      .option('--scsi-controller-type <type>', 'scsi_controller_type to try')
      .option('--kvm-pci-reservations <n>', 'kvm_pci_reservations to try (0–32)')
      .option('--runtime-file <file>', 'read this runtime file instead of the instance under the root')
      .option('--submit', "send the change to Ganeti as a job (gnt-instance modify -H …): Ganeti's configuration changes now, the instance follows at its next start")
      .option('--job-timeout <seconds>', 'with --submit: how long to follow the job', '300')
      .option('--json', 'print JSON'),
  ).action(async (name: string | undefined, opts: WhatIfOptions, cmd: Command) => {
    if (opts.submit && opts.runtimeFile !== undefined) throw new InputError('--submit changes the instance under the root through Ganeti: it does not take --runtime-file');
    const { runWhatIf } = await import('./whatif-run.js');
    setExit(await runWhatIf(name, opts, cmd.optsWithGlobals().root as string | undefined, io));
  });
}
