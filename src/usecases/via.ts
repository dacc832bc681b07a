/**
 * Which way a change goes: through Ganeti (a RAPI job: the second executor, run-ganeti.ts) or
 * directly over QMP (run-action.ts). The rule:
 *
 * - A root that is not Ganeti's, or a machine that is not a Ganeti node (src/ganeti/node.ts): QMP,
 *   as always. Sandboxes (`--root /tmp/…`, PLUGBOARD_ROOT) never ask Ganeti.
 * - On a Ganeti node, through Ganeti is the default for an instance Ganeti knows. When Ganeti cannot
 *   be asked (RAPI not set up, down) or does not know the instance, plugboard refuses instead of
 *   going behind Ganeti's back, and says how to go on: set RAPI up, or `--via qmp`.
 * - `--via qmp` (the wizard's "directly over QMP") is always possible; on an instance Ganeti manages
 *   it comes with the warning of what Ganeti will not know.
 * - `--via ganeti` where the root is not a Ganeti node's is refused (bad input).
 */
import { InputError } from '../errors.js';
import { RapiNotFoundError } from '../ganeti/errors.js';
import type { GanetiInstance } from '../ganeti/view.js';
import type { GanetiSource } from './ganeti-source.js';
import { CHANGE_READ, refOf } from './run-ganeti.js';

export type Via = 'ganeti' | 'qmp';

export const VIAS: readonly Via[] = ['ganeti', 'qmp'];

export interface ViaChoice {
  via: Via;
  /** Ganeti's view of the instance, when it was read. */
  view: GanetiInstance | null;
  /** What Ganeti will not know (a direct change on an instance Ganeti manages), else null. */
  warning: string | null;
}

/** What a direct (QMP) change means on an instance Ganeti manages, one line per kind of change. */
export function directWarning(instance: string, cluster: string, change: 'add-disk' | 'add-nic' | 'remove-disk' | 'remove-nic'): string {
  switch (change) {
    case 'add-disk':
      return `${instance} is managed by Ganeti (cluster ${cluster}) and this disk goes in over QMP: Ganeti will not know it — it vanishes from the guest at the next restart, is not replicated, does not follow a failover or migration, and gnt-cluster verify does not see it (plugboard marks it: not in Ganeti's configuration)`;
    case 'add-nic':
      return `${instance} is managed by Ganeti (cluster ${cluster}) and this NIC goes in over QMP: Ganeti will not know it — it vanishes at the next restart, does not follow a failover or migration, and Ganeti may give its MAC to another NIC (plugboard marks it: not in Ganeti's configuration)`;
    case 'remove-disk':
    case 'remove-nic':
      return `${instance} is managed by Ganeti (cluster ${cluster}) and this ${change === 'remove-disk' ? 'disk' : 'NIC'} goes out over QMP only: if Ganeti's configuration has it, it stays there — plugboard marks it in Ganeti's configuration but not on the node, and Ganeti puts it back at the next start`;
    default: {
      const never: never = change;
      return String(never);
    }
  }
}

/**
 * Decides the way for a change to `instance` (see the module comment). `source` is null when the
 * root is not a Ganeti node's. Throws InputError / RapiSetupError / RapiError for a refusal.
 */
export async function chooseVia(
  instance: string,
  explicit: Via | undefined,
  source: GanetiSource | null,
  change: 'add-disk' | 'add-nic' | 'remove-disk' | 'remove-nic',
  signal?: AbortSignal,
  /** For a removal: the device, so that the warning can say whether Ganeti has it. */
  device?: string,
): Promise<ViaChoice> {
  if (source === null) {
    if (explicit === 'ganeti') {
      throw new InputError(`--via ganeti: the root is not a Ganeti node's (no Ganeti KVM directory with ssconf beside it); plugboard changes its instances over QMP`);
    }
    return { via: 'qmp', view: null, warning: null };
  }
  const cluster = source.clusterName;
  if (explicit === 'qmp') {
    // Best effort: the warning is said whenever Ganeti knows the instance (or cannot be asked).
    let view: GanetiInstance | null = null;
    let known = true;
    if (source.problem === null) {
      try {
        view = await source.instance(instance, signal);
      } catch (error) {
        if (error instanceof RapiNotFoundError) known = false;
      }
    }
    if (view && device !== undefined && (change === 'remove-disk' || change === 'remove-nic')) {
      let ganetis = true;
      try {
        refOf(change === 'remove-disk' ? 'disk' : 'nic', device, view, null);
      } catch {
        ganetis = false;
      }
      if (!ganetis) return { via: 'qmp', view, warning: null };
    }
    return { via: 'qmp', view, warning: known ? directWarning(instance, cluster, change) : null };
  }
  const hint = `or pass --via qmp to change it over QMP behind Ganeti's back (Ganeti will not know)`;
  if (source.node.problem) {
    throw new InputError(
      `this is a node of Ganeti cluster ${cluster}: plugboard changes instances through Ganeti by default, but cannot reach its RAPI: ${source.node.problem.message}; ${hint}`,
      { cause: source.node.problem },
    );
  }
  let view: GanetiInstance;
  try {
    view = await source.instance(instance, signal, CHANGE_READ);
  } catch (error) {
    if (error instanceof RapiNotFoundError) {
      throw new InputError(`Ganeti (cluster ${cluster}) has no instance ${instance}: plugboard changes only Ganeti's instances through Ganeti; for an instance Ganeti does not manage pass --via qmp`, {
        cause: error,
      });
    }
    throw error;
  }
  return { via: 'ganeti', view, warning: null };
}
