/**
 * `plugboard list`: every instance under the root, one row each. Loaded only when `list` runs
 * (see commands.ts): the CLI imports what a command needs when that command runs.
 */
import { ExitCode, firstLineOf } from '../errors.js';
import { buildBusModel } from '../bus/model.js';
import { instanceStatusSync, listInstances, runtimeFilePath } from '../runtime/root.js';
import { parseRuntimeText, readRuntimeTextSync } from '../runtime/load.js';
import { type CliIo, printJson } from './io.js';
import { ganetiDataDirOf } from '../ganeti/ssconf.js';
import type { RuntimeFile } from '../runtime/types.js';
import type { RapiFlags } from './ganeti-options.js';
import type { ListGaneti } from './list-ganeti.js';
import { formatTable } from './table.js';
import { GANETI_MARK_SYMBOL, GANETI_MARK_TITLE } from '../usecases/ganeti-text.js';

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
      /** On a Ganeti node: Ganeti's marks of the instance (the runtime file against Ganeti's configuration). */
      ganeti?: ListGaneti;
    }
  | { instance: string; status: string; error: string };



/**
 * The rows of `list`, in instance-name order. The files are read one after the other with blocking
 * calls: on a tmpfs each read is a few system calls of microseconds, where the asynchronous API
 * cost a thread-pool round per step (open, fstat, read, close) — most of `list`'s time with 200
 * instances.
 */
export async function listRows(root: string, files?: Map<string, RuntimeFile>): Promise<ListRow[]> {
  const names = await listInstances(root);
  return names.map((name): ListRow => {
    const status = instanceStatusSync(root, name);
    try {
      const file = runtimeFilePath(root, name);
      const rf = parseRuntimeText(readRuntimeTextSync(file, { noFollow: true }), file, name);
      const model = buildBusModel(rf);
      files?.set(name, rf);
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
export async function runList(root: string, json: boolean, io: CliIo, flags: RapiFlags = {}): Promise<number> {
  const files = new Map<string, RuntimeFile>();
  const rows = await listRows(root, files);
  // On a Ganeti node: Ganeti's marks (one bulk request; the runtime files against Ganeti's configuration).
  const ganeti = ganetiDataDirOf(root) !== null ? await (await import('./list-ganeti.js')).ganetiColumn(root, flags, io, files) : null;
  if (ganeti) {
    for (const r of rows) {
      if ('error' in r) continue;
      const g = ganeti.rows.get(r.instance);
      if (g) r.ganeti = g;
    }
    if (ganeti.problem) io.stderr(`plugboard: ${ganeti.problem}\n`);
  }
  const code = rows.some((r) => 'error' in r) ? ExitCode.failed : ExitCode.ok;
  if (json) {
    printJson(io, rows);
    return code;
  }
  if (rows.length === 0) {
    io.stdout(`no instances under ${root} (conf/*.runtime)\n`);
    return code;
  }
  const header = ['INSTANCE', 'STATUS', 'DISK_TYPE', 'NIC_TYPE', 'CONTROLLER', 'DISKS', 'NICS', 'PROBLEMS', ...(ganeti ? ['GANETI'] : [])];
  const table = rows.map((r) =>
    'error' in r
      ? [r.instance, r.status, `unreadable: ${r.error}`]
      : [r.instance, r.status, r.disk_type, r.nic_type, r.controller ?? '-', String(r.disks), String(r.nics), String(r.problems), ...(ganeti ? [ganetiCell(r.ganeti)] : [])],
  );
  io.stdout(formatTable([header, ...table]));
  if (ganeti && rows.some((r) => !('error' in r) && r.ganeti && 'marks' in r.ganeti && r.ganeti.marks > 0)) {
    io.stdout(`${GANETI_MARK_SYMBOL['not-in-ganeti']} ${GANETI_MARK_TITLE['not-in-ganeti']} · ${GANETI_MARK_SYMBOL['not-on-node']} ${GANETI_MARK_TITLE['not-on-node']} (plugboard show NAME --live says what each means and what to do)\n`);
  }
  return code;
}

function ganetiCell(g: ListGaneti | undefined): string {
  if (!g) return '?';
  if ('error' in g) return '? (not asked)';
  if ('known' in g) return 'not Ganeti\'s';
  if (g.marks === 0) return 'ok';
  return [g.notInGaneti > 0 ? `${GANETI_MARK_SYMBOL['not-in-ganeti']}${g.notInGaneti}` : '', g.notOnNode > 0 ? `${GANETI_MARK_SYMBOL['not-on-node']}${g.notOnNode}` : ''].filter(Boolean).join(' ');
}

/** `list --cluster`: every instance of the cluster, from RAPI. */
export async function runClusterList(root: string, flags: RapiFlags, json: boolean, io: CliIo): Promise<number> {
  return (await import('./list-ganeti.js')).runClusterList(root, flags, json, io);
}

export { formatTable } from './table.js';
