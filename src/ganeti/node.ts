/**
 * Is the root plugboard works on Ganeti's, on a Ganeti node, and how is its RAPI reached?
 *
 * plugboard asks Ganeti only about a root that is Ganeti's own KVM directory: Ganeti keeps it at
 * `<localstatedir>/run/ganeti/kvm-hypervisor` and its ssconf files at
 * `<localstatedir>/lib/ganeti/ssconf_*` (pathutils: RUN_DIR and DATA_DIR; Debian's localstatedir is
 * /var, /var/run being /run). The ssconf directory is found from the root, not from a fixed path:
 *
 * - `--root /tmp/sandbox` (a test's, the demo's, an operator's copy of a node's files) is not
 *   Ganeti's: no ssconf is read, no RAPI asked, everything works as without Ganeti, even on a
 *   machine that is a Ganeti node. A sandbox shaped like a node (`/tmp/x/var/run/ganeti/
 *   kvm-hypervisor` beside `/tmp/x/var/lib/ganeti/ssconf_*`) is a node of that cluster: that is how
 *   the unit tests give the Ganeti path a fake RAPI.
 * - `/var/run/ganeti/kvm-hypervisor` (the default) on a machine whose /var/lib/ganeti has
 *   `ssconf_cluster_name` is a Ganeti node: the maps are compared with Ganeti's configuration and
 *   changes go through Ganeti by default.
 * - Ganeti's directory without ssconf (Ganeti installed, the node not in a cluster, or the KVM
 *   runtime files of a node that left): not a Ganeti node.
 *
 * Whether an instance is one Ganeti manages is RAPI's answer (GET /2/instances/NAME: 404 → it does
 * not know it), not this module's. Reading the settings may fail (no certificate, a credentials file
 * others can read…): that is kept as `problem`, so that a read shows the node's maps with one line
 * saying why Ganeti was not asked, and a change through Ganeti refuses with that line.
 */
import path from 'node:path';
import { firstLineOf } from '../errors.js';
import { RapiSetupError } from './errors.js';
import { RapiClient, type RapiLogRecord } from './rapi.js';
import { RAPI_ENV, resolveRapiSettings, type RapiSettings, type RapiSettingsInput } from './settings.js';
import { ganetiDataDirOf, localNodeName, readSsconf, type Ssconf } from './ssconf.js';

export { ganetiDataDirOf } from './ssconf.js';

/** What the operator passed to reach RAPI (flags; the environment and the config file are read by settings.ts). */
export type RapiOptions = Pick<RapiSettingsInput, 'url' | 'certFile' | 'insecure' | 'configFile' | 'nodeName' | 'env'>;

export interface GanetiNode {
  /** The root this node was found from. */
  root: string;
  /** Ganeti's data directory (ssconf), derived from the root. */
  dataDir: string;
  ssconf: Ssconf;
  /** This node's name in the cluster, when known. */
  nodeName: string | undefined;
  settings: RapiSettings | null;
  /** Why RAPI cannot be asked (settings that do not resolve), one line; null when it can. */
  problem: RapiSetupError | null;
  /** A client for RAPI; throws `problem` when there is one. */
  client(): RapiClient;
}

export interface FindNodeOptions extends RapiOptions {
  /** Requests to RAPI (method, path, status, ms): a RAPI log without secrets. */
  onRequest?: (record: RapiLogRecord) => void;
  /** Per-request timeout of the client (default: the client's). */
  requestTimeoutMs?: number;
  /** The user whose config file is trusted besides root (tests). */
  uid?: number;
}

/**
 * The Ganeti node `root` belongs to, or null when the root is not Ganeti's or this machine is not
 * (no ssconf_cluster_name). An ssconf file that is not what Ganeti writes throws RapiSetupError
 * (naming the file): the machine claims to be a node and cannot be trusted to be one.
 */
export async function findGanetiNode(root: string, options: FindNodeOptions = {}): Promise<GanetiNode | null> {
  const dataDir = ganetiDataDirOf(root);
  if (dataDir === null) return null;
  const ssconf = await readSsconf(dataDir);
  if (ssconf === null) return null;
  let settings: RapiSettings | null = null;
  let problem: RapiSetupError | null = null;
  try {
    settings = await resolveRapiSettings({
      ssconf,
      url: options.url,
      certFile: options.certFile,
      insecure: options.insecure,
      configFile: options.configFile,
      nodeName: options.nodeName,
      ...(options.env ? { env: options.env } : {}),
      ...(options.uid !== undefined ? { uid: options.uid } : {}),
      defaultCertFile: path.join(dataDir, 'rapi.pem'),
    });
  } catch (error) {
    problem = error instanceof RapiSetupError ? error : new RapiSetupError(firstLineOf(error), { cause: error });
  }
  let client: RapiClient | undefined;
  return {
    root,
    dataDir,
    ssconf,
    nodeName: settings?.node ?? safeNodeName(ssconf, options),
    settings,
    problem,
    client() {
      if (problem) throw problem;
      client ??= new RapiClient({
        settings: settings as RapiSettings,
        ...(options.onRequest ? { onRequest: options.onRequest } : {}),
        ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      });
      return client;
    },
  };
}

/** This node's name when the settings did not resolve (they also name it): the explicit one or ssconf's guess. */
function safeNodeName(ssconf: Ssconf, options: RapiOptions): string | undefined {
  const explicit = options.nodeName ?? (options.env ?? process.env)[RAPI_ENV.node];
  try {
    return localNodeName(ssconf, explicit === '' ? undefined : explicit);
  } catch {
    return undefined;
  }
}
