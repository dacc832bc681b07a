/**
 * The commands that talk to a running QEMU: show --live, hotplug, unplug (and check, in check.ts).
 * Only their definitions live here; what they run is in live-run.ts, imported when a command runs.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { Option } from './commander.js';
import type { Action } from '../actions/types.js';
import type { CliIo } from './io.js';
import { timeoutMs } from './options.js';

/** `show --live` (see live-run.ts). */
export async function showLive(root: string, name: string, json: boolean, io: CliIo): Promise<number> {
  return (await import('./live-run.js')).showLive(root, name, json, io);
}

/** Plans (`--dry-run`) or runs an action and prints the outcome (see live-run.ts). */
async function dispatch(
  action: Action,
  opts: { dryRun?: boolean; json?: boolean; runtimeFile?: string },
  root: string | undefined,
  io: CliIo,
): Promise<number> {
  return (await import('./live-run.js')).dispatch(action, opts, root, io);
}

export function registerLiveCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const rootOf = (cmd: Command): string | undefined => cmd.optsWithGlobals().root as string | undefined;
  const common = (c: Command) =>
    c
      .option('--dry-run', 'print the plan (QMP commands, runtime-file change, rollback) and change nothing')
      .option('--json', 'print JSON')
      .option('--runtime-file <file>', 'with --dry-run: plan against this runtime file, no running instance needed');

  const hotplug = program.command('hotplug').description('hot-add a device to a running instance');
  common(
    hotplug
      .command('disk')
      .description('hot-add a disk: virtio-blk-pci on pci.0, or scsi-hd/scsi-block/scsi-generic/scsi-cd on scsi.0')
      .argument('<name>', 'instance name')
      .requiredOption('--path <path>', 'host path of the disk (block device or raw file)')
      .option('--disk-type <type>', "disk_type to use (default: the instance's)")
      .option('--uuid <uuid>', 'UUID of the new disk (default: a fresh one)')
      .addOption(new Option('--backend <style>', 'how to create the backend (default: as the instance\'s own disks)').choices(['drive', 'blockdev'])),
  ).action(
    async (
      name: string,
      opts: { path: string; diskType?: string; uuid?: string; backend?: 'drive' | 'blockdev'; dryRun?: boolean; json?: boolean; runtimeFile?: string },
      cmd: Command,
    ) => {
      const action: Action = {
        type: 'hot-add-disk',
        instance: name,
        path: path.resolve(opts.path),
        ...(opts.diskType !== undefined ? { diskType: opts.diskType } : {}),
        ...(opts.uuid !== undefined ? { uuid: opts.uuid } : {}),
        ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
      };
      setExit(await dispatch(action, opts, rootOf(cmd), io));
    },
  );

  common(
    hotplug
      .command('nic')
      .description('hot-add a NIC on pci.0: QEMU creates its tap, plugboard puts the tap on the bridge, records it in nic/NAME/SEQ')
      .argument('<name>', 'instance name')
      .option('--mac <mac>', 'MAC address (default: generated, aa:00:00:… or the prefix of the instance\'s NICs)')
      .option('--nic-type <type>', "nic_type to use (default: the instance's)")
      .option('--link <bridge>', "bridge to connect it to (default: the bridge of the instance's first NIC)")
      .option('--uuid <uuid>', 'UUID of the new NIC (default: a fresh one)'),
  ).action(
    async (
      name: string,
      opts: { mac?: string; nicType?: string; link?: string; uuid?: string; dryRun?: boolean; json?: boolean; runtimeFile?: string },
      cmd: Command,
    ) => {
      const action: Action = {
        type: 'hot-add-nic',
        instance: name,
        ...(opts.mac !== undefined ? { mac: opts.mac } : {}),
        ...(opts.nicType !== undefined ? { nicType: opts.nicType } : {}),
        ...(opts.link !== undefined ? { link: opts.link } : {}),
        ...(opts.uuid !== undefined ? { uuid: opts.uuid } : {}),
      };
      setExit(await dispatch(action, opts, rootOf(cmd), io));
    },
  );

  const unplug = program.command('unplug').description('unplug a device from a running instance');
  common(
    unplug
      .command('disk')
      .description('unplug a disk: device_del, wait until QEMU no longer lists it, remove its backend, rewrite the runtime file')
      .argument('<name>', 'instance name')
      .argument('<device>', 'UUID or device id of the disk')
      .option('--timeout <seconds>', 'how long to wait for the unplug (PCI needs the guest to acknowledge)', '10'),
  ).action(
    async (name: string, device: string, opts: { timeout: string; dryRun?: boolean; json?: boolean; runtimeFile?: string }, cmd: Command) => {
      const action: Action = { type: 'unplug-disk', instance: name, device, timeoutMs: timeoutMs(opts.timeout) };
      setExit(await dispatch(action, opts, rootOf(cmd), io));
    },
  );
  common(
    unplug
      .command('nic')
      .description('unplug a NIC: device_del, wait until QEMU no longer lists it, netdev_del (the tap goes), remove nic/NAME/SEQ, rewrite the runtime file')
      .argument('<name>', 'instance name')
      .argument('<device>', 'UUID or device id of the NIC')
      .option('--timeout <seconds>', 'how long to wait for the guest to acknowledge the unplug', '10'),
  ).action(
    async (name: string, device: string, opts: { timeout: string; dryRun?: boolean; json?: boolean; runtimeFile?: string }, cmd: Command) => {
      const action: Action = { type: 'unplug-nic', instance: name, device, timeoutMs: timeoutMs(opts.timeout) };
      setExit(await dispatch(action, opts, rootOf(cmd), io));
    },
  );
}
