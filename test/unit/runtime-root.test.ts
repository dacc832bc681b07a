import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError, NotFoundError } from '../../src/errors.js';
import { DEFAULT_ROOT, instancePaths, instancePid, instanceStatus, listInstances, nicFilePath, resolveRoot, runtimeFilePath, validateInstanceName } from '../../src/runtime/root.js';

let root: string;
const children: ChildProcess[] = [];
const servers: Server[] = [];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'plugboard-root-'));
});
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  rmSync(root, { recursive: true, force: true });
});

/** A live process whose command line carries `-name NAME`, like Ganeti's QEMU. */
function fakeQemu(name: string): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)', '--', '-name', name], { stdio: 'ignore' });
  children.push(c);
  return c;
}

async function listen(path: string): Promise<void> {
  const s = createServer();
  servers.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(path, resolve);
  });
}

/** A pid that surely is not running: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => c.once('exit', r));
  return c.pid!;
}

describe('resolveRoot', () => {
  const saved = process.env.PLUGBOARD_ROOT;
  afterEach(() => {
    if (saved === undefined) delete process.env.PLUGBOARD_ROOT;
    else process.env.PLUGBOARD_ROOT = saved;
  });

  it('prefers --root, then PLUGBOARD_ROOT, then the Ganeti default; always absolute', () => {
    delete process.env.PLUGBOARD_ROOT;
    expect(resolveRoot()).toBe(DEFAULT_ROOT);
    expect(DEFAULT_ROOT).toBe('/var/run/ganeti/kvm-hypervisor');
    process.env.PLUGBOARD_ROOT = '/srv/kvm';
    expect(resolveRoot()).toBe('/srv/kvm');
    expect(resolveRoot('/opt/r')).toBe('/opt/r');
    expect(resolveRoot('rel')).toBe(join(process.cwd(), 'rel'));
    process.env.PLUGBOARD_ROOT = '';
    expect(resolveRoot()).toBe(DEFAULT_ROOT);
  });
});

describe('instance names', () => {
  it.each([
    ['../x', `instance name "../x" contains '/'`],
    ['/', `instance name "/" contains '/'`],
    ['a/b', `instance name "a/b" contains '/'`],
    ['a\0b', 'instance name "a\\u0000b" contains a NUL byte'],
    ['..', `instance name ".." has an empty label (leading, trailing or double '.')`],
    ['.hidden', `instance name ".hidden" has an empty label (leading, trailing or double '.')`],
    ['a..b', `instance name "a..b" has an empty label (leading, trailing or double '.')`],
    ['web 1', `instance name "web 1" may only hold letters, digits, '-', '.' and '_'`],
    ['', 'instance name is empty'],
    ['a'.repeat(254), 'instance name is 254 characters long (at most 253)'],
  ])('refuses %j', (name, message) => {
    expect(() => validateInstanceName(name)).toThrow(new InputError(message));
    expect(() => runtimeFilePath('/r', name)).toThrow(InputError);
  });

  it.each(['web1', 'db-7.example.com', 'a_b', 'X1', 'a'.repeat(253)])('accepts %j', (name) => {
    expect(validateInstanceName(name)).toBe(name);
  });
});

describe('paths', () => {
  it('lays out the Ganeti KVM node files', () => {
    expect(instancePaths('/r', 'web1')).toEqual({
      runtime: '/r/conf/web1.runtime',
      qmp: '/r/ctrl/web1.qmp',
      monitor: '/r/ctrl/web1.monitor',
      serial: '/r/ctrl/web1.serial',
      kvmd: '/r/ctrl/web1.kvmd',
      pid: '/r/pid/web1',
      nicDir: '/r/nic/web1',
    });
    expect(nicFilePath('/r', 'web1', 2)).toBe('/r/nic/web1/2');
    expect(() => nicFilePath('/r', 'web1', -1)).toThrow(InputError);
  });
});

describe('listInstances', () => {
  it('lists conf/*.runtime names, sorted, skipping other files and bad names', async () => {
    mkdirSync(join(root, 'conf'));
    for (const f of ['web2.runtime', 'db1.runtime', 'web10.runtime', 'notes.txt', '.web1.runtime.plugboard-abc.tmp', 'bad name.runtime']) {
      writeFileSync(join(root, 'conf', f), '');
    }
    expect(await listInstances(root)).toEqual(['db1', 'web10', 'web2']);
  });

  it('tells what to do when the root or its conf directory is missing', async () => {
    const missing = join(root, 'nope');
    await expect(listInstances(missing)).rejects.toThrow(
      new NotFoundError(`${missing} does not exist: is this a Ganeti KVM node? point plugboard at the right directory with --root DIR or PLUGBOARD_ROOT=DIR (now ${missing})`),
    );
    await expect(listInstances(root)).rejects.toThrow(
      `no conf directory in ${root}: it does not look like a Ganeti KVM node's runtime directory; point plugboard at the right directory with --root DIR or PLUGBOARD_ROOT=DIR (now ${root})`,
    );
  });
});

describe('instanceStatus', () => {
  beforeEach(() => {
    for (const d of ['pid', 'ctrl', 'conf']) mkdirSync(join(root, d));
  });

  it('is running when the pid file names a live QEMU of this instance and the QMP socket exists', async () => {
    const q = fakeQemu('web1');
    writeFileSync(join(root, 'pid', 'web1'), `${q.pid}\n`);
    await listen(join(root, 'ctrl', 'web1.qmp'));
    expect(await instancePid(root, 'web1')).toBe(q.pid);
    expect(await instanceStatus(root, 'web1')).toBe('running');
  });

  it('is stopped without the QMP socket', async () => {
    const q = fakeQemu('web1');
    writeFileSync(join(root, 'pid', 'web1'), `${q.pid}\n`);
    expect(await instanceStatus(root, 'web1')).toBe('stopped');
  });

  it('is stopped when the pid is dead, or belongs to another instance (a reused pid), or the pid file is junk', async () => {
    await listen(join(root, 'ctrl', 'web1.qmp'));
    writeFileSync(join(root, 'pid', 'web1'), `${await deadPid()}\n`);
    expect(await instanceStatus(root, 'web1')).toBe('stopped');
    const other = fakeQemu('web2');
    writeFileSync(join(root, 'pid', 'web1'), `${other.pid}\n`);
    expect(await instanceStatus(root, 'web1')).toBe('stopped');
    writeFileSync(join(root, 'pid', 'web1'), 'garbage\n');
    expect(await instanceStatus(root, 'web1')).toBe('stopped');
    expect(await instanceStatus(root, 'nopidfile')).toBe('stopped');
  });
});
