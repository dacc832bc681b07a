/**
 * What `plugboard downgrade` runs and prints (see downgrade.ts for the command): loaded only when
 * it runs.
 *
 * Text: what changed on stdout, one block per instance; what could not be done on stderr, one
 * `plugboard: cannot downgrade NAME: …` line per reason; with more than one instance a last line
 * on stdout counts them. Exit: the highest of the instances' codes (0 done or nothing to do under
 * --all; 1 refused, already in the old form when named, or failed; 2 a file plugboard cannot read).
 */
import { ExitCode, InterruptedError } from '../errors.js';
import { downgradeInstances, type InstanceDowngrade } from '../usecases/downgrade.js';
import { type CliIo, printJson } from './io.js';

/**
 * plugboard reads the old form as Ganeti 3.0 does and writes what it changes in the hvinfo form: a
 * hot-add or unplug by plugboard on a downgraded file makes it unreadable for Ganeti 2.15 again.
 */
export const OWN_WRITES_NOTE =
  'note: plugboard hotplug and unplug write the runtime file back in the hvinfo form, which Ganeti before 2.16 cannot load: ' +
  'do not use them on this node while it runs such a Ganeti';

const hex2 = (slot: number): string => `0x${slot.toString(16).padStart(2, '0')}`;

function stateOf(r: InstanceDowngrade): string {
  return r.running ? 'running' : 'stopped: Ganeti rewrites this file when it starts the instance';
}

/** The block of one downgraded (or, with --dry-run, downgradable) instance. */
export function renderDowngraded(r: InstanceDowngrade): string {
  const dry = r.status === 'would-downgrade';
  const lines = [
    `${dry ? 'would downgrade' : 'downgraded'} ${r.instance} (${stateOf(r)}): ${r.runtimeFile}`,
    `  backup: ${r.backup}${r.backupState === 'kept' || r.backupState === 'would-keep' ? ' (already there, identical: kept)' : dry ? ' (would be written)' : ''}`,
  ];
  const pathWidth = Math.max(...r.devices.map((d) => d.path.length));
  const idWidth = Math.max(...r.devices.map((d) => (d.id ?? '-').length));
  for (const d of r.devices) {
    const where = d.slot === null ? 'no slot (hvinfo {}): hvinfo removed' : `pci.0 slot ${hex2(d.slot)} → "pci": ${d.slot}`;
    const id = d.idKept ? '' : `  (Ganeti 2.15 calls it ${d.oldId})`;
    lines.push(`  ${d.path.padEnd(pathWidth)}  ${(d.id ?? '-').padEnd(idWidth)}  ${d.driver ?? '-'}  ${where}${id}`);
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  if (r.loss) lines.push(`  loses: ${r.loss}`);
  return `${lines.join('\n')}\n`;
}

/** stderr lines of an instance that was not downgraded (exit code not 0). */
function problemLines(r: InstanceDowngrade): string[] {
  const head = `plugboard: cannot downgrade ${r.instance}: `;
  if (r.status === 'refused') return r.reasons.map((x) => `${head}${x.path ? `${x.path}: ` : ''}${x.message}`);
  if (r.status === 'already-old') return [`plugboard: ${r.instance}: ${r.message ?? ''}`];
  return [`${head}${r.message ?? ''}`];
}

export function summaryLine(results: readonly InstanceDowngrade[], dryRun: boolean): string {
  const count = (s: InstanceDowngrade['status']) => results.filter((r) => r.status === s);
  const done = count(dryRun ? 'would-downgrade' : 'downgraded');
  const already = count('already-old');
  const refused = count('refused');
  const failed = count('failed');
  const names = (rs: InstanceDowngrade[]) => (rs.length ? ` (${rs.map((r) => r.instance).join(', ')})` : '');
  const parts = [
    `${done.length} ${dryRun ? 'would be downgraded' : 'downgraded'}`,
    `${already.length} already in the old form`,
    `${refused.length} refused${names(refused)}`,
    `${failed.length} failed${names(failed)}`,
  ];
  let tail = '';
  if (refused.length + failed.length > 0) {
    tail = dryRun
      ? ' — the refused and failed ones would stay unchanged'
      : ' — the refused and failed ones are unchanged: deal with them (see above) and run again; files already downgraded are left alone';
  }
  return `${dryRun ? 'dry run, nothing written: ' : ''}${results.length} instance${results.length === 1 ? '' : 's'}: ${parts.join(', ')}${tail}\n`;
}

export async function runDowngrade(
  root: string,
  instances: readonly string[] | 'all',
  opts: { dryRun: boolean; json: boolean },
  io: CliIo,
): Promise<number> {
  const controller = new AbortController();
  // Ctrl-C: the instance being rewritten is finished (each is atomic), the others are not started.
  const onSigint = () => controller.abort(new InterruptedError('interrupted (SIGINT)'));
  process.on('SIGINT', onSigint);
  let results: InstanceDowngrade[];
  try {
    results = await downgradeInstances({ root, instances, dryRun: opts.dryRun, signal: controller.signal });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const exitCode = results.reduce<number>((max, r) => Math.max(max, r.exitCode), ExitCode.ok);
  if (opts.json) {
    const n = (s: InstanceDowngrade['status']) => results.filter((r) => r.status === s).length;
    printJson(io, {
      root,
      dryRun: opts.dryRun,
      instances: results,
      summary: {
        downgraded: n('downgraded'),
        wouldDowngrade: n('would-downgrade'),
        alreadyOld: n('already-old'),
        refused: n('refused'),
        failed: n('failed'),
      },
      notes: results.some((r) => r.status === 'downgraded' || r.status === 'would-downgrade') ? [OWN_WRITES_NOTE.replace(/^note: /, '')] : [],
      exitCode,
    });
    return exitCode;
  }
  if (results.length === 0) {
    io.stdout(`no instances under ${root} (conf/*.runtime): nothing to downgrade\n`);
    return exitCode;
  }
  for (const r of results) {
    if (r.status === 'downgraded' || r.status === 'would-downgrade') io.stdout(renderDowngraded(r));
    else if (r.exitCode === ExitCode.ok) io.stdout(`unchanged ${r.instance}: ${r.message ?? ''}\n`);
    else for (const line of problemLines(r)) io.stderr(`${line}\n`);
  }
  if (results.some((r) => r.status === 'downgraded' || r.status === 'would-downgrade')) io.stdout(`${OWN_WRITES_NOTE}\n`);
  if (results.length > 1 || instances === 'all') io.stdout(summaryLine(results, opts.dryRun));
  else if (opts.dryRun && results[0]!.status === 'would-downgrade') io.stdout('dry run: nothing written\n');
  return exitCode;
}
