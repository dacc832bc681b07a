/**
 * The cluster list (the instance list's toggle, `plugboard list --cluster`): every instance of the
 * Ganeti cluster with its primary node and status, from one bulk RAPI answer, and where to open it:
 * here when this node is its primary, else on its primary node. Pure.
 */
import type { GanetiInstance } from '../ganeti/view.js';

export interface ClusterRow {
  instance: string;
  primaryNode: string;
  secondaryNodes: string[];
  status: string;
  diskTemplate: string;
  disks: number;
  nics: number;
  /** This node is its primary: its maps open here. */
  here: boolean;
  /** Where to open it, in words: `here: plugboard show NAME --live` / `on NODE: ssh NODE plugboard show NAME --live`. */
  open: string;
}

export function clusterRows(all: readonly GanetiInstance[], nodeName: string | undefined): ClusterRow[] {
  return [...all]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((v) => {
      const here = nodeName !== undefined && v.primaryNode === nodeName;
      return {
        instance: v.name,
        primaryNode: v.primaryNode,
        secondaryNodes: v.secondaryNodes,
        status: v.status,
        diskTemplate: v.diskTemplate,
        disks: v.disks.length,
        nics: v.nics.length,
        here,
        open: here ? `here: plugboard show ${v.name} --live` : `on ${v.primaryNode}: ssh ${v.primaryNode} plugboard show ${v.name} --live`,
      };
    });
}
