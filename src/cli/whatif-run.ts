/** What `plugboard whatif` runs (see whatif.ts), loaded when it runs. */
import { ExitCode, InputError, InterruptedError } from '../errors.js';
import { allocate } from '../bus/allocate.js';
import { resolveRoot } from '../runtime/root.js';
import { currentParams, hvparamsOf, whatIf, type WhatIfParams } from '../tui/whatif.js';
import { runGanetiAction } from '../usecases/run-ganeti.js';
import { ganetiSourceFor } from './ganeti-node.js';
import { ganetiOutcomeJson, progressLine, renderGanetiOutcome, renderGanetiPlan } from '../usecases/ganeti-text.js';
import { type CliIo, printJson } from './io.js';
import { jobTimeoutMs } from './options.js';
import { renderShowText, showJson } from './show.js';
import { openRuntime } from './target.js';
import type { RapiFlags } from './ganeti-options.js';

export interface WhatIfOptions extends RapiFlags {
  diskType?: string;
  scsiControllerType?: string;
  kvmPciReservations?: string;
  submit?: boolean;
  json?: boolean;
  runtimeFile?: string;
  jobTimeout: string;
}

function paramsOf(current: WhatIfParams, opts: WhatIfOptions): WhatIfParams {
  let reservations = current.reservations;
  if (opts.kvmPciReservations !== undefined) {
    const n = Number(opts.kvmPciReservations);
    if (!/^\d+$/.test(opts.kvmPciReservations.trim()) || n > 32) throw new InputError(`--kvm-pci-reservations ${opts.kvmPciReservations}: expected 0–32`);
    reservations = n;
  }
  return { diskType: opts.diskType ?? current.diskType, scsiControllerType: opts.scsiControllerType ?? current.scsiControllerType, reservations };
}

export async function runWhatIf(name: string | undefined, opts: WhatIfOptions, rootOpt: string | undefined, io: CliIo): Promise<number> {
  const rf = await openRuntime(name, { root: rootOpt, runtimeFile: opts.runtimeFile });
  const r = whatIf(rf, paramsOf(currentParams(rf), opts));
  const hv = hvparamsOf(r);
  if (!opts.submit) {
    const show = r.rf && r.model ? showJson(r.rf, r.model, { disk: allocate(r.model, r.rf, { kind: 'disk' }), nic: allocate(r.model, r.rf, { kind: 'nic' }) }) : null;
    if (opts.json) {
      printJson(io, { instance: rf.instance, changes: r.changes, command: r.command, error: r.error, notes: r.notes, hvparams: hv, atNextStart: show, options: r.options });
      return r.error ? ExitCode.failed : ExitCode.ok;
    }
    const lines = [
      `what if ${rf.instance} started with ${r.changes.length > 0 ? r.changes.join(', ') : 'its own parameters'}`,
      r.command ? `  ${r.command}` : '  (no change from the instance’s parameters)',
      '  takes effect at the next start only (gnt-instance shutdown + startup, or reboot --type=full); the running QEMU keeps its devices',
      ...(r.error ? [`✗ Ganeti would not start it so: ${r.error}`] : []),
      ...r.notes.map((n) => `note: ${n}`),
      '',
    ];
    io.stdout(`${lines.join('\n')}\n`);
    if (show) {
      io.stdout(renderShowText(show));
      io.stdout(`\ndevice options it would start with:\n${r.options.map((o) => `  ${o.option} ${o.value}`).join('\n')}\n`);
    }
    return r.error ? ExitCode.failed : ExitCode.ok;
  }
  // --submit: the -H change as a Ganeti job, against Ganeti's configuration (which a change not yet
  // started may have set apart from the runtime file).
  if (r.error) throw new InputError(`--submit: Ganeti would not start ${rf.instance} with ${r.changes.join(', ')}: ${r.error}`);
  const root = resolveRoot(rootOpt);
  const source = await ganetiSourceFor(root, opts, io);
  if (source === null) throw new InputError(`--submit sends the change to Ganeti: the root ${root} is not a Ganeti node's; run the line yourself on the master: ${r.command ?? ''}`);
  // What differs from the runtime file or from Ganeti's configuration; the plan keeps what differs from Ganeti's.
  const sent = { ...hvparamsOf(r), ...hvparamsOf(r, (await source.instance(rf.instance)).hvparams) };
  if (Object.keys(sent).length === 0) throw new InputError(`--submit: nothing to change: these are ${rf.instance}'s values, in the runtime file and in Ganeti's configuration`);
  const controller = new AbortController();
  const onSigint = () => controller.abort(new InterruptedError('interrupted (SIGINT)'));
  process.on('SIGINT', onSigint);
  try {
    const outcome = await runGanetiAction(
      { kind: 'hvparams', instance: rf.instance, hvparams: sent },
      {
        root,
        source,
        signal: controller.signal,
        jobTimeoutMs: jobTimeoutMs(opts.jobTimeout),
        onProgress: (e) => {
          if (e.phase === 'planned' && !opts.json) io.stdout(renderGanetiPlan(e.plan, source.clusterName));
          const line = progressLine(e);
          if (line !== undefined) io.stderr(`plugboard: ${line}\n`);
        },
      },
    );
    if (opts.json) printJson(io, ganetiOutcomeJson(outcome));
    else io.stdout(renderGanetiOutcome(outcome));
    return ExitCode.ok;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
