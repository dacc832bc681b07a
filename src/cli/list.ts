/**
 * `plugboard list`: every instance under the root, one row each. Loaded only when `list` runs
 * (see commands.ts): the CLI imports what a command needs when that command runs.
 */
import { ExitCode, firstLineOf } from '../errors.js';
import { buildBusModel } from '../bus/model.js';
import { instanceStatusSync, listInstances, runtimeFilePath } from '../runtime/root.js';
import { parseRuntimeText, readRuntimeTextSync } from '../runtime/load.js';
import { type CliIo, printJson } from './io.js';

export type ListRow =
  | {
      instance: string;
      status: string;
      disk_type: string;
      nic_type: string;
      scsi_controller_type: string;
      controller: string | null;
      disks: number;
      nics: number;
      problems: number;
    }
  | { instance: string; status: string; error: string };

/**
 * The rows of `list`, in instance-name order. The files are read one after the other with blocking
 * calls: on a tmpfs each read is a few system calls of microseconds, where the asynchronous API
 * cost a thread-pool round per step (open, fstat, read, close) — most of `list`'s time with 200
 * instances.
 */
export async function listRows(root: string): Promise<ListRow[]> {
  const names = await listInstances(root);
  return names.map((name): ListRow => {
    const status = instanceStatusSync(root, name);
    try {
      const file = runtimeFilePath(root, name);
      const rf = parseRuntimeText(readRuntimeTextSync(file, { noFollow: true }), file, name);
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
      return { instance: name, status, error: firstLineOf(error) };
    }
  });
}

/** Prints the list; returns the exit code (1 when a runtime file is unreadable). */
export async function runList(root: string, json: boolean, io: CliIo): Promise<number> {
  const rows = await listRows(root);
  const code = rows.some((r) => 'error' in r) ? ExitCode.failed : ExitCode.ok;
  if (json) {
    printJson(io, rows);
    return code;
  }
  if (rows.length === 0) {
    io.stdout(`no instances under ${root} (conf/*.runtime)\n`);
    return code;
  }
  const header = ['INSTANCE', 'STATUS', 'DISK_TYPE', 'NIC_TYPE', 'CONTROLLER', 'DISKS', 'NICS', 'PROBLEMS'];
  const table = rows.map((r) =>
    'error' in r
      ? [r.instance, r.status, `unreadable: ${r.error}`]
      : [r.instance, r.status, r.disk_type, r.nic_type, r.controller ?? '-', String(r.disks), String(r.nics), String(r.problems)],
  );
  io.stdout(formatTable([header, ...table]));
  return code;
}

export function formatTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
