/**
 * The Ganeti source a command reads through (usecases/ganeti-source.ts), made from the root and the
 * RAPI flags: null when the root is not a Ganeti node's. Loaded when a command runs.
 */
import { ganetiDataDirOf } from '../ganeti/ssconf.js';
import { findGanetiNode, type RapiOptions } from '../ganeti/node.js';
import { GanetiSource, type GanetiSourceOptions } from '../usecases/ganeti-source.js';
import type { RapiFlags } from './ganeti-options.js';
import type { CliIo } from './io.js';

export function rapiOptionsOf(flags: RapiFlags, io: CliIo): RapiOptions {
  return {
    url: flags.rapi,
    certFile: flags.rapiCert,
    insecure: flags.rapiInsecure,
    configFile: flags.rapiConfig,
    nodeName: flags.node,
    env: io.env,
  };
}

/** Ganeti's side for `root`, or null when the root is not a Ganeti node's. */
export async function ganetiSourceFor(root: string, flags: RapiFlags, io: CliIo, options: GanetiSourceOptions = {}): Promise<GanetiSource | null> {
  if (ganetiDataDirOf(root) === null) return null;
  const node = await findGanetiNode(root, rapiOptionsOf(flags, io));
  return node ? new GanetiSource(node, options) : null;
}
