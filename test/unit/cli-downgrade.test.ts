/**
 * `plugboard downgrade` through `main()` in-process, on temp roots laid out as a node's: what it
 * writes (the downgraded file, the backup with the file's mode and owner), what it prints, its exit
 * codes, and every bad input — one clear line, exit 1 or 2, and the root byte-identical afterwards.
 * Against Ganeti's own loaders and a running QEMU: test/integration/downgrade-*.test.ts.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { planDowngrade } from '../../src/runtime/downgrade.js';
import { acquireInstanceLock } from '../../src/runtime/lock.js';
import { downgradeInstances } from '../../src/usecases/downgrade.js';
import { snapshotTree } from '../hostile/lib.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures', 'runtime');
const WEB = readFileSync(path.join(FIXTURES, 'kvm_runtime.ganeti-dump.json'), 'utf8');
const SCSI = readFileSync(path.join(FIXTURES, 'scsi-current.runtime'), 'utf8');
const OLD = readFileSync(path.join(FIXTURES, 'legacy-3-items.runtime'), 'utf8');
const asRoot = process.getuid?.() === 0;

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A root with `conf/NAME.runtime` for each entry (mode 0600, as Ganeti writes them). */
function makeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'plugboard-downgrade-'));
  roots.push(root);
  mkdirSync(path.join(root, 'conf'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(root, 'conf', `${name}.runtime`), text, { mode: 0o600 });
  return root;
}

async function run(root: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--root', root, ...argv], { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env: {} });
  return { code, out, err };
}

const conf = (root: string, f: string) => path.join(root, 'conf', f);
const errLines = (err: string) => err.trimEnd().split('\n');

describe('plugboard downgrade: what it does', () => {
  it('NAME: the file rewritten to the old form, the backup is the exact bytes it held, with its mode; lock released', async () => {
    const root = makeRoot({ web1: WEB });
    chmodSync(conf(root, 'web1.runtime'), 0o640);
    const r = await run(root, 'downgrade', 'web1');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(conf(root, 'web1.runtime'), 'utf8')).toBe((planDowngrade(WEB, 'x') as { text: string }).text);
    expect(readFileSync(conf(root, 'web1.runtime.pre-downgrade'), 'utf8')).toBe(WEB);
    expect(statSync(conf(root, 'web1.runtime.pre-downgrade')).mode & 0o7777).toBe(0o640);
    expect(statSync(conf(root, 'web1.runtime')).mode & 0o7777).toBe(0o640);
    expect(readdirSync(path.join(root, 'plugboard-lock'))).toEqual([]);
    expect(readdirSync(path.join(root, 'conf')).sort()).toEqual(['web1.runtime', 'web1.runtime.pre-downgrade']);
    expect(r.out).toMatch(/^downgraded web1 \(stopped: .*\): .*conf\/web1\.runtime\n/);
    expect(r.out).toMatch(/nics\[0\] +nic-003fc157-66a8-4e6d +virtio-net-pci +pci\.0 slot 0x08 → "pci": 8 +\(Ganeti 2\.15 calls it hotnic-003fc157-pci-8\)/);
    expect(r.out).toMatch(/loses: QEMU keeps the ids it has .* until the instance is restarted or migrated/);
    expect(r.out).not.toMatch(/summary|instances:/);
    expect(r.out).toMatch(/\nnote: plugboard hotplug and unplug write the runtime file back in the hvinfo form, which Ganeti before 2\.16 cannot load/);
  });

  it.runIf(asRoot)('as root the backup also gets the runtime file\'s owner and group', async () => {
    const root = makeRoot({ web1: WEB });
    chownSync(conf(root, 'web1.runtime'), 4321, 4322);
    expect((await run(root, 'downgrade', 'web1')).code).toBe(0);
    const st = statSync(conf(root, 'web1.runtime.pre-downgrade'));
    expect([st.uid, st.gid]).toEqual([4321, 4322]);
    const rt = statSync(conf(root, 'web1.runtime'));
    expect([rt.uid, rt.gid]).toEqual([4321, 4322]);
  });

  it('--dry-run says what would change and changes nothing (no lock directory, no backup)', async () => {
    const root = makeRoot({ web1: WEB, db1: SCSI });
    const before = snapshotTree(root);
    const r = await run(root, 'downgrade', '--all', '--dry-run');
    expect(snapshotTree(root)).toEqual(before);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^would downgrade web1 /m);
    expect(r.out).toMatch(/backup: .*web1\.runtime\.pre-downgrade \(would be written\)/);
    expect(r.out).toMatch(/^dry run, nothing written: 2 instances: 1 would be downgraded, 0 already in the old form, 1 refused \(db1\), 0 failed/m);
    expect(errLines(r.err)).toHaveLength(2);
    const one = await run(root, 'downgrade', 'web1', '--dry-run');
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/dry run: nothing written\n$/);
    expect(snapshotTree(root)).toEqual(before);
  });

  it('--json: per instance the status, the devices (slot, QEMU id, the id Ganeti 2.15 derives), the loss; a summary and the exit code', async () => {
    const root = makeRoot({ web1: WEB, db1: SCSI, old1: OLD });
    const r = await run(root, 'downgrade', '--all', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ dryRun: false, exitCode: 1, summary: { downgraded: 1, wouldDowngrade: 0, alreadyOld: 1, refused: 1, failed: 0 } });
    expect(j.notes).toEqual([expect.stringMatching(/^plugboard hotplug and unplug write the runtime file back in the hvinfo form/)]);
    expect(j.instances.map((i: { instance: string; status: string; exitCode: number }) => [i.instance, i.status, i.exitCode])).toEqual([
      ['db1', 'refused', 1],
      ['old1', 'already-old', 0],
      ['web1', 'downgraded', 0],
    ]);
    const web = j.instances[2];
    expect(web).toMatchObject({ running: false, backupState: 'created', backup: conf(root, 'web1.runtime.pre-downgrade'), loss: expect.stringContaining('hotdisk-7c079136-pci-9') });
    expect(web.devices[1]).toEqual({ kind: 'disk', path: 'disks[0][0]', uuid: '7c079136-2573-4112-82d0-0d3d2aa90d8f', driver: 'virtio-blk-pci', id: 'disk-7c079136-2573-4112', slot: 9, oldId: 'hotdisk-7c079136-pci-9', idKept: false });
    expect(j.instances[0].reasons).toEqual([
      { path: 'disks[0][0]', message: expect.stringContaining('is a SCSI disk at scsi.0 target 0') },
      { path: 'disks[1][0]', message: expect.stringContaining('is a SCSI disk at scsi.0 target 1') },
    ]);
  });

  it('--all with downgradable and refused instances: the first done, the second unchanged, exit 1 and a summary; run again after the fix: exit 0', async () => {
    const root = makeRoot({ web1: WEB, db1: SCSI, web2: WEB.replace(/xen-test-inst2/g, 'web2') });
    const r = await run(root, 'downgrade', '--all');
    expect(r.code).toBe(1);
    expect(readFileSync(conf(root, 'db1.runtime'), 'utf8')).toBe(SCSI);
    expect(existsSync(conf(root, 'db1.runtime.pre-downgrade'))).toBe(false);
    expect(readFileSync(conf(root, 'web1.runtime'), 'utf8')).not.toContain('hvinfo');
    expect(readFileSync(conf(root, 'web2.runtime'), 'utf8')).not.toContain('hvinfo');
    expect(r.out.trimEnd().split('\n').at(-1)).toBe(
      '3 instances: 2 downgraded, 0 already in the old form, 1 refused (db1), 0 failed — the refused and failed ones are unchanged: deal with them (see above) and run again; files already downgraded are left alone',
    );
    expect(errLines(r.err)).toEqual([
      expect.stringMatching(/^plugboard: cannot downgrade db1: disks\[0\]\[0\]: disk-8db0f07a-f486-481e \(scsi-hd\) is a SCSI disk at scsi\.0 target 0: /),
      expect.stringMatching(/^plugboard: cannot downgrade db1: disks\[1\]\[0\]: /),
    ]);

    const again = await run(root, 'downgrade', '--all');
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/^unchanged web1: already in the pre-hvinfo form/m);
    expect(readFileSync(conf(root, 'web1.runtime.pre-downgrade'), 'utf8')).toBe(WEB);

    unlinkSync(conf(root, 'db1.runtime'));
    const done = await run(root, 'downgrade', '--all');
    expect(done.code).toBe(0);
    expect(done.err).toBe('');
    expect(done.out).toMatch(/2 instances: 0 downgraded, 2 already in the old form, 0 refused, 0 failed\n$/);
  });

  it('--all on a root without instances says so, exit 0', async () => {
    const r = await run(makeRoot({}), 'downgrade', '--all');
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^no instances under .*: nothing to downgrade\n$/);
  });
});

describe('plugboard downgrade: bad input — one line, exit 1 or 2, nothing changed', () => {
  async function expectNothingChanged(root: string, argv: string[], code: 1 | 2, line: RegExp): Promise<void> {
    const before = snapshotTree(root);
    const r = await run(root, ...argv);
    expect({ code: r.code, lines: errLines(r.err) }).toEqual({ code, lines: [expect.stringMatching(line)] });
    expect(r.out).toBe('');
    const after = snapshotTree(root, (rel) => rel === 'plugboard-lock');
    expect(after).toEqual(Object.fromEntries(Object.entries(before).filter(([k]) => k !== 'plugboard-lock')));
    if (existsSync(path.join(root, 'plugboard-lock'))) expect(readdirSync(path.join(root, 'plugboard-lock'))).toEqual([]);
  }

  it('an unknown instance (alone or among good ones): exit 2, nothing done to the others either', async () => {
    const root = makeRoot({ web1: WEB });
    await expectNothingChanged(root, ['downgrade', 'nosuch'], 2, /^plugboard: no runtime file for instance nosuch under .* it is not a Ganeti KVM instance of this node; nothing changed$/);
    await expectNothingChanged(root, ['downgrade', 'web1', 'nosuch', 'nope'], 2, /^plugboard: no runtime file for instances nosuch, nope under /);
  });

  it('bad names, no name, names with --all: exit 2', async () => {
    const root = makeRoot({ web1: WEB });
    await expectNothingChanged(root, ['downgrade', 'web1', '../etc/passwd'], 2, /^plugboard: instance name "\.\.\/etc\/passwd" contains '\/'$/);
    await expectNothingChanged(root, ['downgrade', 'web1', 'a;rm -rf'], 2, /^plugboard: instance name "a;rm -rf" may only hold/);
    await expectNothingChanged(root, ['downgrade', '..'], 2, /^plugboard: instance name "\.\." has an empty label/);
    await expectNothingChanged(root, ['downgrade'], 2, /^plugboard: missing instance NAME \(or --all/);
    await expectNothingChanged(root, ['downgrade', '--all', 'web1'], 2, /^plugboard: give instance NAMEs or --all, not both$/);
  });

  it('a file already in the old form, named: exit 1, said so', async () => {
    await expectNothingChanged(makeRoot({ old1: OLD }), ['downgrade', 'old1'], 1, /^plugboard: old1: already in the pre-hvinfo form \(no NIC or disk has hvinfo\): nothing to downgrade/);
  });

  it('a file that cannot be read: exit 2, the file and the JSON path named', async () => {
    const bad = WEB.replace('"addr": "0x9"', '"addr": "nine"');
    await expectNothingChanged(makeRoot({ web1: bad }), ['downgrade', 'web1'], 2, /^plugboard: cannot downgrade web1: .*conf\/web1\.runtime: disks\[0\]\[0\]\.hvinfo\.addr: expected hex string/);
    const latin1 = makeRoot({});
    writeFileSync(conf(latin1, 'web1.runtime'), Buffer.from(WEB.replace('disk0', 'disk\u00e9'), 'latin1'), { mode: 0o600 });
    await expectNothingChanged(latin1, ['downgrade', 'web1'], 2, /^plugboard: cannot downgrade web1: .*web1\.runtime: not valid UTF-8 text$/);
    const dir = makeRoot({});
    mkdirSync(conf(dir, 'web1.runtime'));
    await expectNothingChanged(dir, ['downgrade', 'web1'], 2, /^plugboard: cannot downgrade web1: refusing to read .*web1\.runtime: it is a directory/);
  });

  it('a SCSI instance named alone: exit 1, one line per SCSI disk', async () => {
    const root = makeRoot({ db1: SCSI });
    const before = snapshotTree(root);
    const r = await run(root, 'downgrade', 'db1');
    expect(r.code).toBe(1);
    expect(errLines(r.err)).toHaveLength(2);
    expect(snapshotTree(root, (rel) => rel.startsWith('plugboard-lock'))).toEqual(before);
  });

  it('the backup path taken by a link (to a victim): refused, the victim and the runtime file untouched', async () => {
    const root = makeRoot({ web1: WEB });
    const victim = path.join(root, 'victim');
    writeFileSync(victim, 'secret\n');
    symlinkSync(victim, conf(root, 'web1.runtime.pre-downgrade'));
    await expectNothingChanged(root, ['downgrade', 'web1'], 1, /^plugboard: cannot downgrade web1: refusing to use .*conf\/web1\.runtime\.pre-downgrade: it is a symbolic link \(to .*victim\)/);
    await expectNothingChanged(root, ['downgrade', 'web1', '--dry-run'], 1, /symbolic link/);
    symlinkSync(path.join(root, 'nowhere'), conf(root, 'dangling.runtime.pre-downgrade'));
    writeFileSync(conf(root, 'dangling.runtime'), WEB);
    await expectNothingChanged(root, ['downgrade', 'dangling'], 1, /pre-downgrade: it is a symbolic link \(to .*nowhere\)/);
    expect(existsSync(path.join(root, 'nowhere'))).toBe(false);
  });

  it('the backup path taken by a directory, or by a different file (an earlier backup): refused, never replaced', async () => {
    const root = makeRoot({ web1: WEB });
    mkdirSync(conf(root, 'web1.runtime.pre-downgrade'));
    await expectNothingChanged(root, ['downgrade', 'web1'], 1, /^plugboard: cannot downgrade web1: .*web1\.runtime\.pre-downgrade is in the way: it is a directory/);
    rmSync(conf(root, 'web1.runtime.pre-downgrade'), { recursive: true });
    writeFileSync(conf(root, 'web1.runtime.pre-downgrade'), 'an older file\n', { mode: 0o600 });
    await expectNothingChanged(root, ['downgrade', 'web1'], 1, /pre-downgrade already exists and differs from the runtime file .* never replaces a backup/);
  });

  it('a backup identical to the file (a run stopped before its rename) is reused', async () => {
    const root = makeRoot({ web1: WEB });
    writeFileSync(conf(root, 'web1.runtime.pre-downgrade'), WEB, { mode: 0o600 });
    const r = await run(root, 'downgrade', 'web1');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/backup: .* \(already there, identical: kept\)/);
    expect(readFileSync(conf(root, 'web1.runtime.pre-downgrade'), 'utf8')).toBe(WEB);
  });

  it('the runtime file a link, conf/ writable by everyone: refused by the root checks', async () => {
    const root = makeRoot({ real: WEB });
    symlinkSync(conf(root, 'real.runtime'), conf(root, 'web1.runtime'));
    await expectNothingChanged(root, ['downgrade', 'web1'], 1, /^plugboard: cannot downgrade web1: refusing to use .*conf\/web1\.runtime: it is a symbolic link/);
    const open = makeRoot({ web1: WEB });
    chmodSync(path.join(open, 'conf'), 0o777);
    await expectNothingChanged(open, ['downgrade', 'web1'], 1, /conf is writable by everyone/);
  });

  it('an instance locked by another plugboard: failed after the lock timeout, naming the holder; nothing changed', async () => {
    const root = makeRoot({ web1: WEB });
    const lock = await acquireInstanceLock(root, 'web1', { timeoutMs: 1000 });
    try {
      const before = snapshotTree(root);
      const [res] = await downgradeInstances({ root, instances: ['web1'], lockTimeoutMs: 150 });
      expect(res).toMatchObject({ status: 'failed', exitCode: 1, message: expect.stringMatching(new RegExp(`^instance web1 is locked by another plugboard, pid ${process.pid} `)) });
      expect(snapshotTree(root)).toEqual(before);
    } finally {
      await lock.release();
    }
  });

  it('an interrupt before an instance leaves it (and the ones after it) unchanged, said so', async () => {
    const root = makeRoot({ web1: WEB, web2: WEB });
    const ac = new AbortController();
    ac.abort();
    const before = snapshotTree(root);
    const res = await downgradeInstances({ root, instances: 'all', signal: ac.signal });
    expect(res.map((r) => [r.status, r.message])).toEqual([
      ['failed', 'interrupted before this instance: its runtime file is unchanged'],
      ['failed', 'interrupted before this instance: its runtime file is unchanged'],
    ]);
    expect(snapshotTree(root)).toEqual(before);
  });
});

describe('plugboard downgrade: a write that fails after the backup was made', () => {
  afterEach(() => {
    vi.doUnmock('../../src/runtime/write.js');
    vi.resetModules();
  });

  it('removes that backup again: the root is as it was, the error said', async () => {
    vi.resetModules();
    vi.doMock('../../src/runtime/write.js', async (orig) => ({
      ...(await orig<typeof import('../../src/runtime/write.js')>()),
      writeRuntimeFileAtomic: async (p: string) => {
        const { RefusedError } = await import('../../src/errors.js');
        throw new RefusedError(`${p} changed since plugboard read it (Ganeti or another tool rewrote it); nothing written, run again`);
      },
    }));
    const { downgradeInstances: fresh } = await import('../../src/usecases/downgrade.js');
    const root = makeRoot({ web1: WEB });
    const before = snapshotTree(root, (rel) => rel.startsWith('plugboard-lock'));
    const [res] = await fresh({ root, instances: ['web1'] });
    expect(res).toMatchObject({ status: 'failed', exitCode: 1, backupState: null, message: expect.stringContaining('changed since plugboard read it') });
    expect(snapshotTree(root, (rel) => rel.startsWith('plugboard-lock'))).toEqual(before);
    expect(existsSync(conf(root, 'web1.runtime.pre-downgrade'))).toBe(false);
  });
});
