/**
 * The options that say how to reach Ganeti's RAPI (on the commands that ask Ganeti: list, show,
 * check, hotplug, unplug, whatif), `--via`, and the Ganeti source a command reads through. The
 * environment and /etc/plugboard/rapi.conf are read by src/ganeti/settings.ts (README: "Reaching
 * Ganeti's RAPI"). Only a root that is Ganeti's own KVM directory on a Ganeti node asks Ganeti
 * (src/ganeti/node.ts); `--root /tmp/…` never does. Light: every command line loads it (the Ganeti
 * source itself is made by ganeti-node.ts, loaded when a command runs).
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import type { Via } from '../usecases/via.js';
import { Option } from './commander.js';

export interface RapiFlags {
  rapi?: string;
  rapiCert?: string;
  rapiInsecure?: boolean;
  rapiConfig?: string;
  node?: string;
}

/** Adds --rapi, --rapi-cert, --rapi-insecure, --rapi-config and --node to `cmd`. */
export function rapiOptions(cmd: Command): Command {
  return cmd
    .option('--rapi <url>', "Ganeti's RAPI: https://HOST[:PORT] (default: PLUGBOARD_RAPI, /etc/plugboard/rapi.conf, else found from ssconf)")
    .option('--rapi-cert <file>', "the RAPI certificate to pin (default: /var/lib/ganeti/rapi.pem when the node has it)")
    .option('--rapi-insecure', "talk to RAPI without checking its certificate (only when the node has none and you know the network)")
    .option('--rapi-config <file>', 'the RAPI config file (default /etc/plugboard/rapi.conf; mode 600 when it holds the password)')
    .option('--node <name>', "this node's name in the cluster, when the host name does not tell (default: PLUGBOARD_NODE)");
}

/** Adds --via and --job-timeout. */
export function viaOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--via <way>', 'ganeti: a Ganeti job (the default for an instance Ganeti manages); qmp: directly over QMP, behind Ganeti\'s back').choices(['ganeti', 'qmp']),
    )
    .option('--job-timeout <seconds>', 'through Ganeti: how long to follow the job (it goes on after that; its id is said)', '300');
}

export function viaOf(value: string | undefined): Via | undefined {
  if (value === undefined) return undefined;
  if (value === 'ganeti' || value === 'qmp') return value;
  throw new InputError(`--via ${value}: expected ganeti or qmp`);
}
