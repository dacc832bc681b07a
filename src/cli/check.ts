/**
 * `plugboard check NAME [--json] [--timeout S]`: is the instance ready to migrate?
 *
 * Two answers in one: the drift (the runtime file against the running QEMU, as `show --live`
 * reports it) and the migration dry-run (a paused QEMU started from the runtime file, beside the
 * instance and touching nothing of it, has the same devices at the same places: see
 * src/qemu/migration-check.ts). Exit 0 only when both match, 1 when either does not (or the check
 * could not run), 2 for bad input.
 */
import type { Command } from 'commander';
import { ExitCode, InputError } from '../errors.js';
import { checkMigration, MigrationCheckError, type MigrationCheckResult } from '../qemu/migration-check.js';
import { resolveRoot, runtimeFilePath, validateInstanceName } from '../runtime/root.js';
import { type CliIo, printJson } from './io.js';
import { renderDrift } from './live-commands.js';

const DEFAULT_TIMEOUT_S = 30;

function timeoutMsOf(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 3600) {
    throw new InputError(`--timeout ${value}: expected seconds, more than 0 and at most 3600`);
  }
  return Math.round(n * 1000);
}

/** The text report. */
export function renderCheckText(r: MigrationCheckResult, runtimeFile: string): string {
  const lines: string[] = [`check ${r.instance}  (${runtimeFile})`];
  let text = `${lines.join('\n')}\n${renderDrift(r.drift)}`;
  const c = r.compared;
  const what = `${c.pciFunctions} PCI functions, ${c.scsiDevices} SCSI devices, ${c.devicesWithId} devices with id`;
  if (r.layoutOk) {
    text += `\nmigration dry-run: a QEMU started from the runtime file has the same devices at the same places (${what} compared; ${r.durationMs} ms)\n`;
  } else {
    text += `\nmigration dry-run (${r.differences.length} difference${r.differences.length === 1 ? '' : 's'}; ${what} compared; ${r.durationMs} ms):\n`;
    text += r.differences.map((d) => `  ! ${d.code}: ${d.message}\n`).join('');
  }
  if (r.notes.length > 0) text += r.notes.map((n) => `  note: ${n}\n`).join('');
  text += r.ok
    ? '\nok: a migration target started from the runtime file would match the running instance\n'
    : `\nNOT OK: ${[!r.drift.ok ? 'the runtime file does not match QEMU' : '', !r.layoutOk ? 'a QEMU started from the runtime file has another device layout' : ''].filter(Boolean).join('; ')} — a migration would fail\n`;
  return text;
}

export function checkJson(r: MigrationCheckResult): unknown {
  return {
    instance: r.instance,
    ok: r.ok,
    drift: r.drift,
    migration: {
      ok: r.layoutOk,
      differences: r.differences,
      compared: r.compared,
      notes: r.notes,
      accel: r.accel,
      durationMs: r.durationMs,
      timings: r.timings,
      commandLine: r.commandLine,
    },
  };
}

export function registerCheckCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('check')
    .description(
      'is the instance ready to migrate? compares the runtime file with the running QEMU (drift), then starts a paused QEMU from the runtime file beside it (touching none of its disks, sockets or files) and compares the device layouts',
    )
    .argument('<name>', 'instance name')
    .option('--json', 'print JSON')
    .option('--timeout <seconds>', 'give up after this long', String(DEFAULT_TIMEOUT_S))
    .action(async (name: string, opts: { json?: boolean; timeout: string }, cmd: Command) => {
      validateInstanceName(name);
      const timeoutMs = timeoutMsOf(opts.timeout);
      const root = resolveRoot(cmd.optsWithGlobals().root as string | undefined);
      const controller = new AbortController();
      const onSigint = () => controller.abort(new Error('interrupted (SIGINT)'));
      process.once('SIGINT', onSigint);
      try {
        const result = await checkMigration(root, name, { timeoutMs, signal: controller.signal });
        if (opts.json) printJson(io, checkJson(result));
        else io.stdout(renderCheckText(result, runtimeFilePath(root, name)));
        setExit(result.ok ? ExitCode.ok : ExitCode.failed);
      } catch (error) {
        if (error instanceof MigrationCheckError && error.log) {
          const tail = error.log.trimEnd().split('\n').slice(-20);
          for (const line of tail) io.stderr(`plugboard: qemu: ${line}\n`);
        }
        throw error;
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });
}
