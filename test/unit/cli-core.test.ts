/**
 * The read-only CLI (list, show, cmdline) run in-process through `main()`: output a script can
 * rely on, exit codes 0/1/2, and one-line errors that name the file and the JSON path.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { versionLine } from '../../src/cli/install.js';
import type { ShowJson } from '../../src/cli/show.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'kvm_runtime.json');

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env: {} });
  return { code, out, err };
}

describe('plugboard show / list / cmdline', () => {
  let root = '';
  beforeAll(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'plugboard-cli-'));
    mkdirSync(path.join(root, 'conf'));
    writeFileSync(path.join(root, 'conf', 'xen-test-inst2.runtime'), readFileSync(FIXTURE));
    const bad = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    bad[3][1][0].hvinfo.addr = 'ten';
    writeFileSync(path.join(root, 'conf', 'broken.runtime'), JSON.stringify(bad));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('show --runtime-file prints a readable map: NIC at 0x08, disks at 0x09 and 0x0a, next hot-add at 0x0c', async () => {
    const r = await run('show', '--runtime-file', FIXTURE);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/0x08\s+used\s+nic\s+nic-003fc157-66a8-4e6d\s+virtio-net-pci/);
    expect(r.out).toMatch(/0x09\s+used\s+disk\s+disk-7c079136-2573-4112\s+virtio-blk-pci/);
    expect(r.out).toMatch(/0x0a\s+used\s+disk\s+disk-9f5c5bd4-6f60-480b\s+virtio-blk-pci/);
    expect(r.out).toContain('next hot-add: disk → pci.0 slot 0xc · nic → pci.0 slot 0xc');
    expect(r.out).toContain('in-reserved-range');
  });

  it('show --json has the documented shape: 32 slots, hvparams with defaults, next, problems', async () => {
    const r = await run('show', '--runtime-file', FIXTURE, '--json');
    expect(r.code).toBe(0);
    const show = JSON.parse(r.out) as ShowJson;
    expect(show.instance).toBe('xen-test-inst2');
    expect(show.hvparams).toEqual({ disk_type: 'paravirtual', nic_type: 'paravirtual', scsi_controller_type: 'lsi', kvm_pci_reservations: 12 });
    expect(show.pci.slots).toHaveLength(32);
    expect(show.pci.slots[8]).toMatchObject({ slot: 8, state: 'used', device: { id: 'nic-003fc157-66a8-4e6d', kind: 'nic', uuid: '003fc157-66a8-4e6d-8b7e-ec4f69751396' } });
    expect(show.pci.slots[0]!.state).toBe('qemu');
    expect(show.pci.slots[12]!.state).toBe('free');
    expect(show.scsi).toBeNull();
    expect(show.next).toEqual({ disk: { bus: 'pci.0', addr: '0xc' }, nic: { bus: 'pci.0', addr: '0xc' } });
    expect(show.problems.map((p) => p.code)).toEqual(['in-reserved-range', 'in-reserved-range', 'in-reserved-range']);
  });

  it('show NAME reads conf/NAME.runtime under --root', async () => {
    const r = await run('--root', root, 'show', 'xen-test-inst2', '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as ShowJson).source).toContain('xen-test-inst2.runtime');
  });

  it('a bad runtime file: exit 2, one line naming the file and the JSON path, nothing on stdout', async () => {
    const r = await run('--root', root, 'show', 'broken');
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/broken\.runtime: disks\[1\]\[0\]\.hvinfo\.addr: .*hex/);
  });

  it('instance names are checked before they are joined into paths', async () => {
    const r = await run('--root', root, 'show', '../etc/passwd');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/instance name/);
  });

  it('list shows every instance, an unreadable one with its reason, and exits 1 because of it', async () => {
    const r = await run('--root', root, 'list', '--json');
    expect(r.code).toBe(1);
    const rows = JSON.parse(r.out) as Record<string, unknown>[];
    expect(rows.map((x) => x['instance'])).toEqual(['broken', 'xen-test-inst2']);
    expect(rows[0]!['error']).toMatch(/hvinfo\.addr/);
    expect(rows[1]).toMatchObject({ status: 'stopped', disk_type: 'paravirtual', disks: 2, nics: 1, controller: null, problems: 3 });
    const text = await run('--root', root, 'list');
    expect(text.code).toBe(1);
    expect(text.out).toMatch(/xen-test-inst2\s+stopped\s+paravirtual\s+paravirtual\s+-\s+2\s+1\s+3/);
  });

  it('list on a root without conf/ says how to point plugboard at the right one', async () => {
    const r = await run('--root', path.join(root, 'nope'), 'list');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--root|PLUGBOARD_ROOT/);
  });

  it('cmdline prints the per-device options Ganeti adds at start', async () => {
    const r = await run('cmdline', '--runtime-file', FIXTURE);
    expect(r.code).toBe(0);
    expect(r.out).toContain('-device virtio-blk-pci,id=disk-7c079136-2573-4112,bus=pci.0,addr=0x9,drive=disk-7c079136-2573-4112');
    expect(r.out).toContain('-netdev type=tap,id=nic-003fc157-66a8-4e6d,fd=');
    const json = JSON.parse((await run('cmdline', '--runtime-file', FIXTURE, '--json')).out) as { option: string; value: string }[];
    expect(json.filter((o) => o.option === '-drive')).toHaveLength(2);
  });

  it('bad usage exits 2', async () => {
    expect((await run('frobnicate')).code).toBe(2);
    expect((await run('show')).code).toBe(2);
    expect((await run('show', 'x', '--runtime-file', FIXTURE)).code).toBe(2);
  });
});

describe('plugboard --version', () => {
  it("prints package.json's version and exits 0, also after --root; never opens the view", async () => {
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    for (const argv of [['--version'], ['-V'], ['--root', '/nonexistent', '--version']]) {
      const r = await run(...argv);
      // The sources run here unbundled: no build recorded a commit.
      expect(r).toEqual({ code: 0, out: `plugboard ${pkg.version} (unbundled sources: no build recorded a commit)\n`, err: '' });
    }
  });

  it('names the commit a build recorded, and a tree with uncommitted changes', () => {
    const build = { version: '1.2.3', commit: '0123456789abcdef0123456789abcdef01234567', dirty: false, executable: true };
    expect(versionLine(build)).toBe('plugboard 1.2.3 (commit 0123456789ab)');
    expect(versionLine({ ...build, dirty: true })).toBe('plugboard 1.2.3 (commit 0123456789ab with uncommitted changes)');
    expect(versionLine({ ...build, commit: 'unknown' })).toBe('plugboard 1.2.3 (commit unknown: not built from a git checkout)');
  });
});
