import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RapiSetupError } from '../../src/ganeti/errors.js';
import {
  RapiCredentials,
  parseRapiUrl,
  readPinnedCertificate,
  resolveRapiSettings,
  type RapiSettingsInput,
} from '../../src/ganeti/settings.js';
import { localNodeName, readSsconf, type Ssconf } from '../../src/ganeti/ssconf.js';

const TLS = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'ganeti-rapi', 'tls');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pb-ganeti-settings-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** ssconf files as Ganeti 3.0.2 wrote them on the test cluster (values and trailing newlines). */
function writeSsconf(d: string, over: Record<string, string> = {}): void {
  const files: Record<string, string> = {
    cluster_name: 'cluster.example.com\n',
    master_node: 'node1.example.com\n',
    master_ip: '198.51.100.100\n',
    node_list: 'node1.example.com\nnode2.example.com\n',
    node_primary_ips: 'node1.example.com 198.51.100.10\nnode2.example.com 198.51.100.11\n',
    release_version: '3.0.2\n',
    ...over,
  };
  for (const [k, v] of Object.entries(files)) writeFileSync(path.join(d, `ssconf_${k}`), v);
}

const SS: Ssconf = {
  dir: '/var/lib/ganeti',
  clusterName: 'cluster.example.com',
  masterNode: 'node1.example.com',
  masterIp: '198.51.100.100',
  nodes: ['node1.example.com', 'node2.example.com'],
  primaryIps: new Map(),
  releaseVersion: '3.0.2',
};

function input(over: Partial<RapiSettingsInput> = {}): RapiSettingsInput {
  return {
    ssconf: SS,
    env: {},
    defaultConfigFile: path.join(dir, 'absent.conf'),
    defaultCertFile: path.join(TLS, 'a-with-key.pem'),
    nodeName: 'node2.example.com',
    ...over,
  };
}

describe('ssconf', () => {
  it('reads what Ganeti writes', async () => {
    writeSsconf(dir);
    const ss = await readSsconf(dir);
    expect(ss).toMatchObject({
      clusterName: 'cluster.example.com',
      masterNode: 'node1.example.com',
      masterIp: '198.51.100.100',
      nodes: ['node1.example.com', 'node2.example.com'],
      releaseVersion: '3.0.2',
    });
    expect(ss?.primaryIps.get('node2.example.com')).toBe('198.51.100.11');
  });

  it('says "not a Ganeti node" (null) without ssconf_cluster_name', async () => {
    expect(await readSsconf(dir)).toBeNull();
    expect(await readSsconf(path.join(dir, 'nope'))).toBeNull();
  });

  it('refuses a value that is not what Ganeti writes, naming the file', async () => {
    writeSsconf(dir, { master_node: 'node1.example.com\x1b[31m\n' });
    await expect(readSsconf(dir)).rejects.toThrow(`${dir}/ssconf_master_node: "node1.example.com\\u001b[31m" is not a host name`);
    writeSsconf(dir, { master_node: 'a.example.com\nb.example.com\n' });
    await expect(readSsconf(dir)).rejects.toThrow('ssconf_master_node: expected one host name, found 2 lines');
    writeSsconf(dir, { node_primary_ips: 'node1.example.com\n' });
    await expect(readSsconf(dir)).rejects.toThrow('ssconf_node_primary_ips: "node1.example.com" is not "NODE IP"');
  });

  it('finds this node by the machine host name, its first label, or an explicit name', () => {
    expect(localNodeName(SS, undefined, 'node2.example.com')).toBe('node2.example.com');
    expect(localNodeName(SS, undefined, 'node2')).toBe('node2.example.com');
    expect(localNodeName(SS, undefined, 'vm')).toBeUndefined();
    expect(localNodeName(SS, 'node1.example.com', 'vm')).toBe('node1.example.com');
    expect(() => localNodeName(SS, 'node9.example.com', 'vm')).toThrow('node node9.example.com is not in cluster cluster.example.com');
  });
});

describe('RAPI settings', () => {
  it('defaults to the cluster name on port 5080 from ssconf, and to localhost on the master', async () => {
    const s = await resolveRapiSettings(input());
    expect(s.url.href).toBe('https://cluster.example.com:5080/');
    expect(s.from.url).toBe('ssconf (cluster cluster.example.com, master node1.example.com)');
    expect(s.node).toBe('node2.example.com');
    const m = await resolveRapiSettings(input({ nodeName: 'node1.example.com' }));
    expect(m.url.href).toBe('https://localhost:5080/');
    const e = await resolveRapiSettings(input({ nodeName: undefined, env: { PLUGBOARD_NODE: 'node1.example.com' } }));
    expect([e.node, e.url.href]).toEqual(['node1.example.com', 'https://localhost:5080/']);
    await expect(resolveRapiSettings(input({ nodeName: undefined, env: { PLUGBOARD_NODE: 'node7.example.com' } }))).rejects.toThrow(
      'node node7.example.com is not in cluster cluster.example.com (nodes: node1.example.com, node2.example.com)',
    );
    expect(s.credentials).toBeNull();
    expect(s.tls).toMatchObject({ kind: 'pinned', subject: 'CN=ganeti.example.com' });
  });

  it('takes --rapi over the environment over the config file', async () => {
    const conf = path.join(dir, 'rapi.conf');
    writeFileSync(conf, 'url = https://from-file.example.com:5081\n', { mode: 0o600 });
    const env = { PLUGBOARD_RAPI: 'from-env.example.com' };
    expect((await resolveRapiSettings(input({ configFile: conf }))).url.href).toBe('https://from-file.example.com:5081/');
    expect((await resolveRapiSettings(input({ configFile: conf, env }))).url.href).toBe('https://from-env.example.com:5080/');
    const s = await resolveRapiSettings(input({ configFile: conf, env, url: 'https://[::1]:6000' }));
    expect(s.url.href).toBe('https://[::1]:6000/');
    expect(s.from.url).toBe('--rapi');
  });

  it('is not a Ganeti node and has no endpoint: one line saying how to give one', async () => {
    await expect(resolveRapiSettings(input({ ssconf: null }))).rejects.toThrow(
      /^no RAPI endpoint: this machine is not a Ganeti node \(no \/var\/lib\/ganeti\/ssconf_cluster_name\); pass --rapi URL, set PLUGBOARD_RAPI/,
    );
  });

  it('refuses URLs that would leak or mislead', () => {
    expect(parseRapiUrl('https://h:443', 'x').port).toBe('');
    expect(parseRapiUrl('h', 'x').href).toBe('https://h:5080/');
    expect(() => parseRapiUrl('http://h:5080', '--rapi')).toThrow('--rapi: RAPI is spoken over https only (got http://…; the password would travel in clear)');
    expect(() => parseRapiUrl('https://plug:secret@h:5080', '--rapi')).toThrow('--rapi: the URL holds credentials');
    expect(() => parseRapiUrl('https://plug:secret@h:5080', '--rapi')).not.toThrow(/secret/);
    expect(() => parseRapiUrl('https://h:5080/2/info', '--rapi')).toThrow('expected https://HOST[:PORT] without a path');
    expect(() => parseRapiUrl('https://h:99999', '--rapi')).toThrow('is not a URL');
  });

  it('reads credentials from the environment (both or neither)', async () => {
    const s = await resolveRapiSettings(input({ env: { PLUGBOARD_RAPI_USER: 'plug', PLUGBOARD_RAPI_PASSWORD: 'secret' } }));
    expect(s.credentials?.user).toBe('plug');
    expect(s.credentials?.authorization()).toBe(`Basic ${Buffer.from('plug:secret').toString('base64')}`);
    await expect(resolveRapiSettings(input({ env: { PLUGBOARD_RAPI_PASSWORD: 'secret' } }))).rejects.toThrow(
      'PLUGBOARD_RAPI_PASSWORD is set but PLUGBOARD_RAPI_USER is not: set both, or neither',
    );
  });

  it('never shows the password: String, JSON, util.inspect, the settings object', async () => {
    const s = await resolveRapiSettings(input({ env: { PLUGBOARD_RAPI_USER: 'plug', PLUGBOARD_RAPI_PASSWORD: 'hunter2-secret' } }));
    const c = s.credentials as RapiCredentials;
    for (const shown of [String(c), JSON.stringify(c), inspect(c), inspect(s, { depth: 5 }), JSON.stringify(s)]) {
      expect(shown).not.toContain('hunter2');
    }
    expect(JSON.stringify(c)).toBe('{"user":"plug","password":"(hidden)"}');
  });

  describe('the config file', () => {
    const conf = () => path.join(dir, 'rapi.conf');
    const write = (text: string, mode: number) => {
      writeFileSync(conf(), text);
      chmodSync(conf(), mode);
    };

    it('mode 600 with user and password: read', async () => {
      write('# plugboard\nurl = https://cluster.example.com:5080\nuser = plug\npassword = "se cret"\n', 0o600);
      const s = await resolveRapiSettings(input({ configFile: conf() }));
      expect(s.credentials?.authorization()).toBe(`Basic ${Buffer.from('plug:se cret').toString('base64')}`);
      expect(s.from.credentials).toBe(conf());
    });

    it('refuses a group- or world-readable file that holds the password, with the chmod that fixes it', async () => {
      write('user = plug\npassword = secret\n', 0o640);
      await expect(resolveRapiSettings(input({ configFile: conf() }))).rejects.toThrow(
        `${conf()}: holds the RAPI password but is readable by its group (mode 0640): chmod 600 ${conf()}`,
      );
      write('user = plug\npassword = secret\n', 0o604);
      const err = await resolveRapiSettings(input({ configFile: conf() })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RapiSetupError);
      expect((err as Error).message).toBe(`${conf()}: holds the RAPI password but is readable by everyone (mode 0604): chmod 600 ${conf()}`);
      expect((err as Error).message).not.toContain('secret');
    });

    it('lets a file without a password be world-readable, but nobody else may write it', async () => {
      write('url = https://h:5080\n', 0o644);
      expect((await resolveRapiSettings(input({ configFile: conf() }))).url.host).toBe('h:5080');
      write('url = https://h:5080\n', 0o664);
      await expect(resolveRapiSettings(input({ configFile: conf() }))).rejects.toThrow(
        `${conf()}: writable by its group (mode 0664); others could point plugboard at another server: chmod go-w ${conf()}`,
      );
    });

    it('refuses a file owned by another user', async () => {
      write('url = https://h:5080\n', 0o600);
      chownSync(conf(), 4242, 4242);
      await expect(resolveRapiSettings(input({ configFile: conf(), uid: 0 }))).rejects.toThrow(`${conf()}: owned by uid 4242, not by root or you (uid 0)`);
    });

    it('names the line of a bad key; an explicit file must exist; the default one may be absent', async () => {
      write('url = https://h\npasword = x\n', 0o600);
      await expect(resolveRapiSettings(input({ configFile: conf() }))).rejects.toThrow(`${conf()}:2: unknown key "pasword" (known: url, socket, user, password, cert)`);
      await expect(resolveRapiSettings(input({ configFile: path.join(dir, 'none.conf') }))).rejects.toThrow(
        `${dir}/none.conf: cannot read the RAPI config file (ENOENT)`,
      );
      await expect(resolveRapiSettings(input({ env: { PLUGBOARD_RAPI_CONFIG: path.join(dir, 'none.conf') } }))).rejects.toThrow('ENOENT');
      expect((await resolveRapiSettings(input())).from.credentials).toBe('none');
    });
  });

  describe('the certificate', () => {
    it('keeps only the CERTIFICATE block of rapi.pem (the private key is not kept)', async () => {
      const t = await readPinnedCertificate(path.join(TLS, 'a-with-key.pem'), 'x');
      expect(t.certPem).toBe(readFileSync(path.join(TLS, 'a.crt'), 'utf8'));
      expect(JSON.stringify(t)).not.toContain('PRIVATE KEY');
      expect(t.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    });

    it('refuses to go on without a certificate unless the operator says --rapi-insecure', async () => {
      const none = path.join(dir, 'rapi.pem');
      await expect(resolveRapiSettings(input({ defaultCertFile: none }))).rejects.toThrow(
        `no certificate to check RAPI's against: ${none} is not on this node; copy the cluster's RAPI certificate`,
      );
      const s = await resolveRapiSettings(input({ defaultCertFile: none, insecure: true }));
      expect(s.tls).toEqual({ kind: 'insecure' });
      expect(s.from.tls).toBe('--rapi-insecure');
    });

    it('refuses a file without a certificate, or with several', async () => {
      await expect(resolveRapiSettings(input({ certFile: path.join(TLS, 'a.key') }))).rejects.toThrow('holds no PEM certificate');
      const two = path.join(dir, 'two.pem');
      writeFileSync(two, readFileSync(path.join(TLS, 'a.crt'), 'utf8') + readFileSync(path.join(TLS, 'b.crt'), 'utf8'));
      await expect(resolveRapiSettings(input({ certFile: two }))).rejects.toThrow('holds 2 certificates');
      await expect(resolveRapiSettings(input({ certFile: path.join(dir, 'x.pem') }))).rejects.toThrow(`--rapi-cert: cannot read the RAPI certificate ${dir}/x.pem (ENOENT)`);
    });
  });
});
