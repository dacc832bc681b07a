/**
 * Ganeti's simple-store files on a node: `/var/lib/ganeti/ssconf_*`, one value (or one per line)
 * each, written by the master to every node. They tell plugboard whether this machine is a Ganeti
 * node, which cluster it belongs to and which node is the master, without asking anyone.
 *
 * What Ganeti 3.0.2 writes (read on the real cluster): `ssconf_cluster_name` (`cluster.example.com`),
 * `ssconf_master_node` (`node1.example.com`), `ssconf_master_ip` (`198.51.100.100`),
 * `ssconf_node_list` (one node per line), `ssconf_node_primary_ips` (`node1.example.com 198.51.100.10`
 * per line), `ssconf_online_nodes`, `ssconf_release_version` (`3.0.2`), `ssconf_hypervisor_list`
 * (`kvm`), `ssconf_instance_list` (empty when there is no instance), and many more plugboard does not
 * read. All are mode 0444 root:root.
 *
 * The files are data: every value is checked (a host name, an address, a version) before use, and
 * one that is not is named with its file and refused.
 */
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { RapiSetupError } from './errors.js';

/** Where Ganeti keeps its data on every node (`pathutils.DATA_DIR`). */
export const GANETI_DATA_DIR = '/var/lib/ganeti';

/**
 * Ganeti's data directory (ssconf) for a KVM root that is Ganeti's: `<L>/run/ganeti/kvm-hypervisor`
 * → `<L>/lib/ganeti` (Ganeti's RUN_DIR and DATA_DIR share their localstatedir; `/run/…`, Debian's
 * /var/run, → `/var/lib/ganeti`); null for any other root (a sandbox). See src/ganeti/node.ts.
 */
export function ganetiDataDirOf(root: string): string | null {
  const r = path.resolve(root).replace(/\/+$/, '');
  const m = /^(.*)\/run\/ganeti\/kvm-hypervisor$/.exec(r);
  if (!m) return null;
  const prefix = m[1] as string;
  return `${prefix === '' ? '/var' : prefix}/lib/ganeti`;
}

/** The largest ssconf file read (a big cluster's node list is well under this). */
const MAX_SSCONF_BYTES = 1 << 20;

export interface Ssconf {
  /** The directory the files were read from. */
  dir: string;
  clusterName: string;
  masterNode: string;
  /** The cluster's master IP (where RAPI normally answers), when the file is there. */
  masterIp: string | undefined;
  /** Every node of the cluster. */
  nodes: string[];
  /** Node → primary IP. */
  primaryIps: Map<string, string>;
  /** Ganeti's version, e.g. `3.0.2`. */
  releaseVersion: string | undefined;
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/;
const VERSION = /^\d+(?:\.\d+){1,3}(?:[~+-][A-Za-z0-9.~+-]*)?$/;

/** Is `name` a DNS host name (what Ganeti accepts for nodes and clusters)? */
export function isHostName(name: string): boolean {
  return HOST_NAME.test(name);
}

function isIp(s: string): boolean {
  return IPV4.test(s) || (s.includes(':') && IPV6.test(s));
}

/** A short, printable rendering of a bad value for messages (the file's bytes are not trusted). */
function shown(value: string): string {
  const s = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  return JSON.stringify(s);
}

async function readSsconfFile(dir: string, key: string): Promise<string | undefined> {
  const file = path.join(dir, `ssconf_${key}`);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new RapiSetupError(`${file}: cannot read it (${code ?? String(err)})`, { cause: err });
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new RapiSetupError(`${file}: not a regular file`);
    if (st.size > MAX_SSCONF_BYTES) throw new RapiSetupError(`${file}: ${st.size} bytes, more than an ssconf file holds`);
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

function single(dir: string, key: string, text: string, check: (v: string) => boolean, what: string): string {
  const ls = lines(text);
  const file = path.join(dir, `ssconf_${key}`);
  if (ls.length !== 1) throw new RapiSetupError(`${file}: expected one ${what}, found ${ls.length} lines`);
  const v = ls[0] as string;
  if (!check(v)) throw new RapiSetupError(`${file}: ${shown(v)} is not a ${what}`);
  return v;
}

/**
 * Reads the ssconf files plugboard uses. Returns null when `dir` has no `ssconf_cluster_name`: this
 * machine is not (or no longer) a Ganeti node. Throws RapiSetupError, naming the file, for a value
 * that is not what Ganeti writes.
 */
export async function readSsconf(dir: string = GANETI_DATA_DIR): Promise<Ssconf | null> {
  const [clusterText, masterText, masterIpText, nodesText, ipsText, versionText] = await Promise.all([
    readSsconfFile(dir, 'cluster_name'),
    readSsconfFile(dir, 'master_node'),
    readSsconfFile(dir, 'master_ip'),
    readSsconfFile(dir, 'node_list'),
    readSsconfFile(dir, 'node_primary_ips'),
    readSsconfFile(dir, 'release_version'),
  ]);
  if (clusterText === undefined) return null;
  const clusterName = single(dir, 'cluster_name', clusterText, isHostName, 'host name');
  if (masterText === undefined) throw new RapiSetupError(`${path.join(dir, 'ssconf_master_node')}: missing (the node has ssconf_cluster_name but no master)`);
  const masterNode = single(dir, 'master_node', masterText, isHostName, 'host name');
  const masterIp = masterIpText === undefined ? undefined : single(dir, 'master_ip', masterIpText, isIp, 'IP address');
  const nodes = nodesText === undefined ? [] : lines(nodesText);
  for (const n of nodes) {
    if (!isHostName(n)) throw new RapiSetupError(`${path.join(dir, 'ssconf_node_list')}: ${shown(n)} is not a host name`);
  }
  const primaryIps = new Map<string, string>();
  for (const l of ipsText === undefined ? [] : lines(ipsText)) {
    const [node, ip, ...rest] = l.split(/\s+/);
    if (node === undefined || ip === undefined || rest.length > 0 || !isHostName(node) || !isIp(ip)) {
      throw new RapiSetupError(`${path.join(dir, 'ssconf_node_primary_ips')}: ${shown(l)} is not "NODE IP"`);
    }
    primaryIps.set(node, ip);
  }
  const releaseVersion =
    versionText === undefined ? undefined : single(dir, 'release_version', versionText, (v) => VERSION.test(v), 'version');
  return { dir, clusterName, masterNode, masterIp, nodes, primaryIps, releaseVersion };
}

/**
 * This node's name in the cluster. Ganeti names a node by its FQDN (`socket.getfqdn()`); plugboard
 * takes the explicit name when given, else the machine's host name when the node list has it (as is,
 * or as the first label of a listed name). Undefined when neither fits: the caller then says so
 * instead of guessing (which instances are "here" depends on it).
 */
export function localNodeName(ssconf: Ssconf, explicit?: string, machineHostname: string = hostname()): string | undefined {
  if (explicit !== undefined) {
    if (!isHostName(explicit)) throw new RapiSetupError(`node name ${shown(explicit)} is not a host name`);
    if (ssconf.nodes.length > 0 && !ssconf.nodes.includes(explicit)) {
      throw new RapiSetupError(`node ${explicit} is not in cluster ${ssconf.clusterName} (nodes: ${ssconf.nodes.join(', ')})`);
    }
    return explicit;
  }
  if (ssconf.nodes.includes(machineHostname)) return machineHostname;
  const short = machineHostname.split('.')[0];
  const matches = ssconf.nodes.filter((n) => n.split('.')[0] === short);
  return matches.length === 1 ? matches[0] : undefined;
}
