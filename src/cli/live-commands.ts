/**
 * The commands that talk to a running QEMU: show --live, hotplug, unplug (and check, in check.ts).
 */
import path from 'node:path';
import { type Command, Option } from 'commander';
import { ExitCode, InputError } from '../errors.js';
import { buildBusModel } from '../bus/model.js';
import { allocate } from '../bus/allocate.js';
import { withQmp } from '../qmp/client.js';
import { probeLive } from '../live/probe.js';
import { overlayLive } from '../live/overlay.js';
import { computeDrift, type Drift } from '../live/drift.js';
import { readPending } from '../live/pending.js';
import { qmpSocketPath, resolveRoot } from '../runtime/root.js';
import { previewAction } from '../actions/preview.js';
import { ActionFailedError, runAction } from '../actions/executor.js';
import { planJson, renderPlanText } from '../actions/plan-json.js';
import type { Action, Outcome } from '../actions/types.js';
import { type CliIo, printJson } from './io.js';
import { openRuntime } from './target.js';
import { renderShowText, showJson } from './show.js';

const seconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new InputError(`--timeout ${value}: expected seconds between 0 and 3600`);
  return Math.round(n * 1000);
};

export async function showLive(root: string, name: string, json: boolean, io: CliIo): Promise<number> {
  const rf = await openRuntime(name, { root });
  const live = await withQmp(qmpSocketPath(root, name), { greetingTimeoutMs: 1_000 }, (qmp) => probeLive(qmp));
  const pending = await readPending(root, name);
  const model = overlayLive(buildBusModel(rf), live);
  const drift = computeDrift(rf, live, pending);
  const show = showJson(rf, model, {
    disk: allocate(model, rf, { kind: 'disk' }),
    nic: allocate(model, rf, { kind: 'nic' }),
  });
  if (json) {
    printJson(io, { ...show, live, drift });
  } else {
    io.stdout(renderShowText(show));
    io.stdout(renderDrift(drift));
  }
  return ExitCode.ok;
}

export function renderDrift(drift: Drift): string {
  if (drift.ok) return '\ndrift: none (the runtime file matches QEMU)\n';
  return `\ndrift (${drift.items.length}):\n${drift.items.map((i) => `  ~ ${i.code}: ${i.message}`).join('\n')}\n`;
}

function printOutcome(io: CliIo, o: Outcome, json: boolean): void {
  if (json) {
    printJson(io, {
      status: o.status,
      message: o.message,
      plan: planJson(o.plan),
      runtimeWritten: o.runtimeWritten,
      undone: o.undone,
      leftovers: o.leftovers,
      ms: o.timings.totalMs,
    });
  } else {
    io.stdout(`${o.status}: ${o.message}\n`);
  }
}

async function dispatch(
  action: Action,
  opts: { dryRun?: boolean; json?: boolean; runtimeFile?: string },
  root: string | undefined,
  io: CliIo,
): Promise<number> {
  if (opts.runtimeFile !== undefined && !opts.dryRun) {
    throw new InputError('--runtime-file plans without a running instance: it needs --dry-run');
  }
  if (opts.dryRun) {
    const plan = await previewAction(action, opts.runtimeFile !== undefined ? { runtimeFile: opts.runtimeFile } : { root: resolveRoot(root) });
    if (opts.json) printJson(io, planJson(plan));
    else io.stdout(renderPlanText(plan));
    return ExitCode.ok;
  }
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error('interrupted (SIGINT)'));
  process.once('SIGINT', onSigint);
  try {
    const outcome = await runAction(action, {
      root: resolveRoot(root),
      signal: controller.signal,
      onProgress: opts.json
        ? undefined
        : (e) => {
            if (e.phase === 'planned') io.stdout(renderPlanText(e.plan));
            if (e.phase === 'waiting') io.stdout(`waiting for ${e.id} to go (up to ${Math.round(e.timeoutMs / 1000)} s)…\n`);
          },
    });
    printOutcome(io, outcome, opts.json === true);
    return outcome.status === 'done' ? ExitCode.ok : ExitCode.failed;
  } catch (error) {
    if (error instanceof ActionFailedError && opts.json) {
      printOutcome(io, error.outcome, true);
    }
    throw error;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
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
      const action: Action = { type: 'unplug-disk', instance: name, device, timeoutMs: seconds(opts.timeout) };
      setExit(await dispatch(action, opts, rootOf(cmd), io));
    },
  );
}
