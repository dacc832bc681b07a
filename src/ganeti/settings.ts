/**
 * How plugboard reaches Ganeti's remote API (RAPI) from a node: the endpoint, the credentials and
 * the certificate the server must present. Everything is resolved here, before any request, and a
 * wrong setting is one line naming the setting, the file or the variable, and the fix.
 *
 * Sources, first one wins:
 *
 * | what | flag (phase 2 CLI) | environment | config file key | default |
 * | --- | --- | --- | --- | --- |
 * | endpoint | `--rapi URL` | `PLUGBOARD_RAPI` | `url` | `https://localhost:5080` on the master node, else `https://<cluster name>:5080` (ssconf) |
 * | Unix socket to connect through | — | `PLUGBOARD_RAPI_SOCKET` | `socket` | none (TCP to the endpoint) |
 * | user + password | — | `PLUGBOARD_RAPI_USER` + `PLUGBOARD_RAPI_PASSWORD` | `user`, `password` | none (RAPI then answers 401 to what needs them) |
 * | certificate | `--rapi-cert FILE` | `PLUGBOARD_RAPI_CERT` | `cert` | `/var/lib/ganeti/rapi.pem` when it exists |
 * | skip the certificate check | `--rapi-insecure` | — | — | off |
 * | the config file itself | `--rapi-config FILE` | `PLUGBOARD_RAPI_CONFIG` | — | `/etc/plugboard/rapi.conf` (optional) |
 * | this node's name in the cluster | `--node NAME` | `PLUGBOARD_NODE` | — | the host name, when ssconf_node_list has it (or its first label) |
 *
 * The config file is `key = value` lines (`#` comments). When it holds a password it must be readable
 * by its owner alone (root or the user running plugboard): a group- or world-readable one is refused
 * with the `chmod` that fixes it; one that others can write is refused in every case (they could
 * point plugboard at another server). The password is never printed, logged or put into an error:
 * `RapiCredentials` hides it from `String()`, `JSON.stringify` and `util.inspect`.
 *
 * TLS: Ganeti's RAPI certificate is self-signed (Ganeti 3.0.2 makes `CN = ganeti.example.com`, no
 * extensions, 5 years) and kept with its private key in `/var/lib/ganeti/rapi.pem` on the master
 * candidates. A host-name check means nothing for it, so plugboard pins it: the server must present
 * exactly that certificate (the DER bytes compared; also trusted as the only CA, so that Node checks
 * its dates). Only the CERTIFICATE block of the file is kept; the key is never used. Without a
 * certificate plugboard refuses to connect unless the operator passes the insecure flag.
 */
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { isIP } from 'node:net';
import { RapiSetupError } from './errors.js';
import { GANETI_DATA_DIR, localNodeName, type Ssconf } from './ssconf.js';
import { hasUnsafe } from '../text/terminal.js';

export const RAPI_CONFIG_FILE = '/etc/plugboard/rapi.conf';
export const RAPI_CERT_FILE = path.join(GANETI_DATA_DIR, 'rapi.pem');
/** Ganeti's RAPI port (`constants.DEFAULT_RAPI_PORT`). */
export const RAPI_PORT = 5080;

export const RAPI_ENV = {
  url: 'PLUGBOARD_RAPI',
  socket: 'PLUGBOARD_RAPI_SOCKET',
  user: 'PLUGBOARD_RAPI_USER',
  password: 'PLUGBOARD_RAPI_PASSWORD',
  cert: 'PLUGBOARD_RAPI_CERT',
  config: 'PLUGBOARD_RAPI_CONFIG',
  /** This node's name in the cluster, when the host name does not tell (see ssconf.ts localNodeName). */
  node: 'PLUGBOARD_NODE',
} as const;

const CONFIG_KEYS = ['url', 'socket', 'user', 'password', 'cert'] as const;
type ConfigKey = (typeof CONFIG_KEYS)[number];
const MAX_CONFIG_BYTES = 64 * 1024;
const MAX_CERT_BYTES = 1 << 20;

/** A RAPI user and password. The password cannot be printed by accident. */
export class RapiCredentials {
  readonly #password: string;
  constructor(
    readonly user: string,
    password: string,
  ) {
    this.#password = password;
  }
  /** `Basic base64(user:password)`, for the request header only. */
  authorization(): string {
    return `Basic ${Buffer.from(`${this.user}:${this.#password}`, 'utf8').toString('base64')}`;
  }
  toString(): string {
    return `RAPI user ${this.user}`;
  }
  toJSON(): { user: string; password: string } {
    return { user: this.user, password: '(hidden)' };
  }
  [inspect.custom](): string {
    return `RapiCredentials { user: ${JSON.stringify(this.user)}, password: (hidden) }`;
  }
}

export type RapiTls =
  /** The server must present exactly this certificate. */
  | { kind: 'pinned'; certFile: string; certPem: string; der: Buffer; fingerprint256: string; subject: string; validTo: string }
  /** No check at all (the operator asked for it). */
  | { kind: 'insecure' };

export interface RapiSettings {
  /** `https://host:port/`: never holds credentials. */
  url: URL;
  /** Connect through this Unix socket instead of TCP to the URL's host (a relay); the URL still names the server. */
  socketPath: string | undefined;
  credentials: RapiCredentials | null;
  tls: RapiTls;
  /** This node's name in the cluster (`--node`, PLUGBOARD_NODE, or the host name found in ssconf); undefined when unknown or not a Ganeti node. */
  node: string | undefined;
  /** Where each setting came from, for messages: `--rapi`, `PLUGBOARD_RAPI`, `/etc/plugboard/rapi.conf`, `ssconf (master node)`. */
  from: { url: string; credentials: string; tls: string };
}

export interface RapiSettingsInput {
  /** `--rapi URL` */
  url?: string | undefined;
  /** `--rapi-cert FILE` */
  certFile?: string | undefined;
  /** `--rapi-insecure` */
  insecure?: boolean | undefined;
  /** `--rapi-config FILE` (an explicit file must exist). */
  configFile?: string | undefined;
  /** `--node NAME` (else PLUGBOARD_NODE): this node's name in the cluster when the host name does not tell. */
  nodeName?: string | undefined;
  /** The environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** ssconf as read from this node (null: not a Ganeti node). */
  ssconf: Ssconf | null;
  /** The user whose files are trusted besides root (default: the running user). */
  uid?: number;
  /** Where the default certificate is looked for (default /var/lib/ganeti/rapi.pem). */
  defaultCertFile?: string;
  /** Where the default config file is looked for (default /etc/plugboard/rapi.conf). */
  defaultConfigFile?: string;
}

interface ConfigFile {
  file: string;
  values: Partial<Record<ConfigKey, string>>;
}

/** Resolves the RAPI settings (see the module comment). Reads files; sends nothing. */
export async function resolveRapiSettings(input: RapiSettingsInput): Promise<RapiSettings> {
  const env = input.env ?? process.env;
  const uid = input.uid ?? process.getuid?.() ?? 0;
  const envValue = (key: keyof typeof RAPI_ENV): string | undefined => {
    const v = env[RAPI_ENV[key]];
    return v === undefined || v === '' ? undefined : v;
  };

  const configPath = input.configFile ?? envValue('config');
  const config = await readConfigFile(configPath ?? input.defaultConfigFile ?? RAPI_CONFIG_FILE, configPath !== undefined, uid);
  const configName = config?.file ?? '';

  const node = input.ssconf === null ? undefined : localNodeName(input.ssconf, input.nodeName ?? envValue('node'));

  // Endpoint.
  let urlText: string;
  let urlFrom: string;
  if (input.url !== undefined) [urlText, urlFrom] = [input.url, '--rapi'];
  else if (envValue('url') !== undefined) [urlText, urlFrom] = [envValue('url') as string, RAPI_ENV.url];
  else if (config?.values.url !== undefined) [urlText, urlFrom] = [config.values.url, `${configName} (url)`];
  else {
    const ss = input.ssconf;
    if (ss === null) {
      throw new RapiSetupError(
        `no RAPI endpoint: this machine is not a Ganeti node (no ${path.join(GANETI_DATA_DIR, 'ssconf_cluster_name')}); ` +
          `pass --rapi URL, set ${RAPI_ENV.url}, or put url = … in ${input.defaultConfigFile ?? RAPI_CONFIG_FILE}`,
      );
    }
    if (node !== undefined && node === ss.masterNode) [urlText, urlFrom] = [`https://localhost:${RAPI_PORT}`, `ssconf (this node, ${node}, is the master)`];
    else [urlText, urlFrom] = [`https://${ss.clusterName}:${RAPI_PORT}`, `ssconf (cluster ${ss.clusterName}, master ${ss.masterNode})`];
  }
  const url = parseRapiUrl(urlText, urlFrom);

  const socketText = envValue('socket') ?? config?.values.socket;
  let socketPath: string | undefined;
  if (socketText !== undefined) {
    const from = envValue('socket') !== undefined ? RAPI_ENV.socket : `${configName} (socket)`;
    if (!path.isAbsolute(socketText) || socketText.includes('\0')) throw new RapiSetupError(`${from}: ${JSON.stringify(socketText)} is not an absolute path`);
    socketPath = socketText;
  }

  // Credentials.
  let credentials: RapiCredentials | null = null;
  let credentialsFrom = 'none';
  const envUser = envValue('user');
  const envPassword = envValue('password');
  if (envUser !== undefined || envPassword !== undefined) {
    if (envUser === undefined || envPassword === undefined) {
      throw new RapiSetupError(`${envUser === undefined ? RAPI_ENV.password : RAPI_ENV.user} is set but ${envUser === undefined ? RAPI_ENV.user : RAPI_ENV.password} is not: set both, or neither`);
    }
    credentials = new RapiCredentials(checkUser(envUser, RAPI_ENV.user), envPassword);
    credentialsFrom = `${RAPI_ENV.user}/${RAPI_ENV.password}`;
  } else if (config?.values.user !== undefined || config?.values.password !== undefined) {
    const { user, password } = config.values;
    if (user === undefined || password === undefined) throw new RapiSetupError(`${configName}: has ${user === undefined ? 'password' : 'user'} but no ${user === undefined ? 'user' : 'password'}`);
    credentials = new RapiCredentials(checkUser(user, `${configName} (user)`), password);
    credentialsFrom = configName;
  }

  // Certificate.
  let tls: RapiTls;
  let tlsFrom: string;
  if (input.insecure === true) {
    tls = { kind: 'insecure' };
    tlsFrom = '--rapi-insecure';
  } else {
    let certFile: string | undefined;
    if (input.certFile !== undefined) [certFile, tlsFrom] = [input.certFile, '--rapi-cert'];
    else if (envValue('cert') !== undefined) [certFile, tlsFrom] = [envValue('cert'), RAPI_ENV.cert];
    else if (config?.values.cert !== undefined) [certFile, tlsFrom] = [config.values.cert, `${configName} (cert)`];
    else {
      const def = input.defaultCertFile ?? RAPI_CERT_FILE;
      certFile = (await exists(def)) ? def : undefined;
      tlsFrom = def;
      if (certFile === undefined) {
        throw new RapiSetupError(
          `no certificate to check RAPI's against: ${def} is not on this node; copy the cluster's RAPI certificate ` +
            `(the CERTIFICATE block of ${RAPI_CERT_FILE} on the master) to a file and pass --rapi-cert FILE, ` +
            `or pass --rapi-insecure to connect without checking`,
        );
      }
    }
    tls = await readPinnedCertificate(certFile as string, tlsFrom);
  }

  return { url, socketPath, credentials, tls, node, from: { url: urlFrom, credentials: credentialsFrom, tls: tlsFrom } };
}

function checkUser(user: string, from: string): string {
  // Ganeti's users file: one word per user; a colon would break Basic auth.
  if (!/^[^\s:]{1,64}$/.test(user) || hasUnsafe(user)) {
    throw new RapiSetupError(`${from}: the RAPI user must be one word without ':' (got ${user.length} characters)`);
  }
  return user;
}

/**
 * `https://host[:port][/]`, `host[:port]` (https assumed). The port defaults to 5080, RAPI's, not
 * 443. Refuses plain http (the password would travel in clear), credentials in the URL, paths,
 * queries and fragments.
 */
export function parseRapiUrl(text: string, from: string): URL {
  const withScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text) ? text : `https://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new RapiSetupError(`${from}: ${JSON.stringify(text.slice(0, 80))} is not a URL (expected https://HOST[:PORT])`);
  }
  if (url.protocol !== 'https:') throw new RapiSetupError(`${from}: RAPI is spoken over https only (got ${url.protocol}//…; the password would travel in clear)`);
  if (url.username !== '' || url.password !== '') {
    throw new RapiSetupError(`${from}: the URL holds credentials; put them in ${RAPI_CONFIG_FILE} (mode 600) or ${RAPI_ENV.user}/${RAPI_ENV.password} instead`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new RapiSetupError(`${from}: expected https://HOST[:PORT] without a path (got ${url.origin}${url.pathname}${url.search ? '?…' : ''})`);
  }
  if (url.port === '' && !/^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:\[[^\]]*\]|[^/]*):\d+/.test(withScheme)) url.port = String(RAPI_PORT);
  return url;
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function readConfigFile(file: string, explicit: boolean, uid: number): Promise<ConfigFile | null> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !explicit) return null;
    throw new RapiSetupError(`${file}: cannot read the RAPI config file (${code ?? String(err)})`, { cause: err });
  }
  let text: string;
  let st: Awaited<ReturnType<fs.FileHandle['stat']>>;
  try {
    st = await handle.stat();
    if (!st.isFile()) throw new RapiSetupError(`${file}: not a regular file`);
    if (st.size > MAX_CONFIG_BYTES) throw new RapiSetupError(`${file}: ${st.size} bytes; a RAPI config file is a few lines`);
    text = await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
  const values: Partial<Record<ConfigKey, string>> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Za-z_]+)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new RapiSetupError(`${file}:${i + 1}: expected "key = value"`);
    const key = (m[1] as string).toLowerCase();
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new RapiSetupError(`${file}:${i + 1}: unknown key ${JSON.stringify(key.slice(0, 30))} (known: ${CONFIG_KEYS.join(', ')})`);
    }
    if (values[key as ConfigKey] !== undefined) throw new RapiSetupError(`${file}:${i + 1}: ${key} given twice`);
    values[key as ConfigKey] = unquote(m[2] as string);
  });

  // Who may read and write it. Checked on the open file, so what was read is what was checked.
  const mode = st.mode & 0o777;
  const octal = mode.toString(8).padStart(4, '0');
  if (st.uid !== 0 && st.uid !== uid) {
    throw new RapiSetupError(`${file}: owned by uid ${st.uid}, not by root or you (uid ${uid}); anyone who owns it decides where plugboard connects: chown root ${file}`);
  }
  if ((mode & 0o022) !== 0) {
    throw new RapiSetupError(`${file}: writable by ${(mode & 0o002) !== 0 ? 'everyone' : 'its group'} (mode ${octal}); others could point plugboard at another server: chmod go-w ${file}`);
  }
  if (values.password !== undefined && (mode & 0o044) !== 0) {
    throw new RapiSetupError(`${file}: holds the RAPI password but is readable by ${(mode & 0o004) !== 0 ? 'everyone' : 'its group'} (mode ${octal}): chmod 600 ${file}`);
  }
  return { file, values };
}

function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith("'") && t.endsWith("'")))) return t.slice(1, -1);
  return t;
}

/** Reads the CERTIFICATE block of a PEM file (which may also hold a private key: it is not kept). */
export async function readPinnedCertificate(certFile: string, from: string): Promise<Extract<RapiTls, { kind: 'pinned' }>> {
  let text: string;
  try {
    const st = await fs.stat(certFile);
    if (!st.isFile()) throw new RapiSetupError(`${from}: ${certFile} is not a regular file`);
    if (st.size > MAX_CERT_BYTES) throw new RapiSetupError(`${from}: ${certFile} is ${st.size} bytes, not a certificate`);
    text = await fs.readFile(certFile, 'utf8');
  } catch (err) {
    if (err instanceof RapiSetupError) throw err;
    throw new RapiSetupError(`${from}: cannot read the RAPI certificate ${certFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];

  if (blocks.length === 0) throw new RapiSetupError(`${from}: ${certFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  if (blocks.length > 1) throw new RapiSetupError(`${from}: ${certFile} holds ${blocks.length} certificates; RAPI's is one self-signed certificate`);
  const certPem = `${blocks[0] as string}\n`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new RapiSetupError(`${from}: ${certFile}: the certificate does not parse (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  return {
    kind: 'pinned',
    certFile,
    certPem,
    der: cert.raw,
    fingerprint256: cert.fingerprint256,
    subject: cert.subject.replace(/\n/g, ', '),
    validTo: cert.validTo,
  };
}

/** `node1.example.com` → servername for SNI; undefined for an IP address (Node refuses those). */
export function serverNameOf(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) === 0 ? host : undefined;
}
