/**
 * What `plugboard check` runs, loaded only when it runs (the migration check starts a QEMU and
 * pulls in the QMP client and the probe): see check.ts for the command.
 */
import { ExitCode, InterruptedError } from '../errors.js';
import { MigrationCheckError } from '../usecases/check/error.js';
import { checkMigration, type MigrationCheckResult } from '../usecases/check/run.js';
import { runtimeFilePath } from '../runtime/root.js';
import { type CliIo, printJson } from './io.js';
import { renderDrift } from './live-run.js';

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

/** Runs the check of `name` and prints it; returns the exit code (0 only when both parts match). */
export async function runCheck(root: string, name: string, timeoutMs: number, json: boolean, io: CliIo): Promise<number> {
  const controller = new AbortController();
  const onSigint = () => controller.abort(new InterruptedError('interrupted (SIGINT)'));
  process.once('SIGINT', onSigint);
  try {
    const result = await checkMigration(root, name, { timeoutMs, signal: controller.signal });
    if (json) printJson(io, checkJson(result));
    else io.stdout(renderCheckText(result, runtimeFilePath(root, name)));
    return result.ok ? ExitCode.ok : ExitCode.failed;
  } catch (error) {
    if (error instanceof MigrationCheckError && error.log) {
      const tail = error.log.trimEnd().split('\n').slice(-20);
      for (const line of tail) io.stderr(`plugboard: qemu: ${line}\n`);
    }
    throw error;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
