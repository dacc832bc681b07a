/**
 * Ganeti's part of `plugboard list` (the marks column) and `plugboard list --cluster` (every instance
 * of the cluster, from RAPI): loaded only on a Ganeti node.
 */
import { ExitCode, firstLineOf, InputError } from '../errors.js';
import { compareWithGaneti } from '../ganeti/compare.js';
import type { GanetiInstance } from '../ganeti/view.js';
import { clusterRows } from '../tui/cluster.js';
import type { RuntimeFile } from '../runtime/types.js';
import { resolveRoot } from '../runtime/root.js';
import type { RapiFlags } from './ganeti-options.js';
import { ganetiSourceFor } from './ganeti-node.js';
import { type CliIo, printJson } from './io.js';
import { formatTable } from './table.js';

/** A row's Ganeti column in `list`. */
export type ListGaneti =
  | { marks: number; notInGaneti: number; notOnNode: number; status: string; primaryNode: string }
  | { known: false }
  | { error: string };

/** The Ganeti column of every row (the runtime files against one bulk answer), or the one-line problem. */
export async function ganetiColumn(root: string, flags: RapiFlags, io: CliIo, files: Map<string, RuntimeFile>): Promise<{ rows: Map<string, ListGaneti>; problem: string | null } | null> {
  const source = await ganetiSourceFor(root, flags, io);
  if (!source) return null;
  const rows = new Map<string, ListGaneti>();
  let all: GanetiInstance[];
  try {
    all = await source.instances();
  } catch (error) {
    const message = `Ganeti not asked: ${firstLineOf(error)}`;
    for (const name of files.keys()) rows.set(name, { error: message });
    return { rows, problem: `${message} (the GANETI column is unknown)` };
  }
  const byName = new Map(all.map((v) => [v.name, v]));
  for (const [name, rf] of files) {
    const v = byName.get(name);
    if (!v) {
      rows.set(name, { known: false });
      continue;
    }
    const c = compareWithGaneti({ runtime: rf, nodeName: source.nodeName }, v);
    const count = (code: string) => c.marks.filter((m) => m.code === code).length;
    rows.set(name, { marks: c.marks.length, notInGaneti: count('not-in-ganeti'), notOnNode: count('not-on-node'), status: v.status, primaryNode: v.primaryNode });
  }
  return { rows, problem: null };
}

export async function runClusterList(rootOpt: string, flags: RapiFlags, json: boolean, io: CliIo): Promise<number> {
  const root = resolveRoot(rootOpt);
  const source = await ganetiSourceFor(root, flags, io);
  if (!source) throw new InputError(`--cluster lists a Ganeti cluster's instances: the root ${root} is not a Ganeti node's (no Ganeti KVM directory with ssconf beside it)`);
  const rows = clusterRows(await source.instances(), source.nodeName);
  if (json) {
    printJson(io, { cluster: source.clusterName, thisNode: source.nodeName ?? null, instances: rows });
    return ExitCode.ok;
  }
  io.stdout(`cluster ${source.clusterName} · ${rows.length} instance${rows.length === 1 ? '' : 's'} · this node: ${source.nodeName ?? 'unknown (pass --node NAME)'}\n`);
  if (rows.length === 0) return ExitCode.ok;
  io.stdout(
    formatTable([
      ['INSTANCE', 'PRIMARY NODE', 'STATUS', 'TEMPLATE', 'DISKS', 'NICS', 'OPEN'],
      ...rows.map((r) => [r.instance, r.primaryNode, r.status, r.diskTemplate, String(r.disks), String(r.nics), r.open]),
    ]),
  );
  return ExitCode.ok;
}
