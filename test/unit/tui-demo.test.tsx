/**
 * The demo's sandbox without QEMU (the real QEMUs are driven by the e2e test): the instances that
 * cover the cases, the spare disks, the read-only explanation, and stop() removing everything.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_INSTANCES, findGuestAssets, startDemo } from '../../src/cli/demo.js';
import { InstanceService } from '../../src/tui/service.js';

describe('plugboard demo without QEMU', () => {
  it('writes instances for every case, says how to install QEMU, runs read-only, and stop() removes the sandbox', async () => {
    const demo = await startDemo({ qemu: false });
    try {
      expect(readdirSync(path.join(demo.root, 'conf')).sort()).toEqual(DEMO_INSTANCES.map((d) => `${d.spec.name}.runtime`).sort());
      expect(demo.qemu).toBeNull();
      expect(demo.readOnly).toContain('apt-get install qemu-system-x86');
      expect(demo.banner.join('\n')).toContain('read-only');
      expect(demo.running()).toEqual([]);
      expect(demo.spareDisks).toHaveLength(4);
      for (const f of demo.spareDisks) expect(existsSync(f)).toBe(true);

      const service = new InstanceService({ root: demo.root });
      await service.refreshList();
      const rows = service.getList().instances;
      const by = (n: string) => rows.find((r) => r.name === n)!;
      expect(by('web1')).toMatchObject({ phase: 'loaded', diskType: 'paravirtual', controller: null });
      expect(by('db1')).toMatchObject({ diskType: 'scsi-hd', controller: 'lsi' });
      expect(by('store1')).toMatchObject({ controller: 'virtio-scsi-pci' });
      expect(by('store1').disks).toBeGreaterThanOrEqual(8);
      expect(by('raid1')).toMatchObject({ controller: 'megasas' });
      expect(by('old1').legacy).toBe(true);
      expect(rows.every((r) => r.status === 'stopped' && r.phase === 'loaded' && r.problems === 0)).toBe(true);
      expect(demo.notes.get('db1')!.join(' ')).toContain('QEMU is not installed');
    } finally {
      await demo.stop();
    }
    expect(existsSync(demo.root)).toBe(false);
    await demo.stop(); // idempotent
  });

  it('finds the cached test guest only when its build finished (the stamp is there)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-guest-'));
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'vmlinuz'), 'k');
      writeFileSync(path.join(dir, 'initramfs.cpio.gz'), 'i');
      expect(findGuestAssets({ PLUGBOARD_GUEST_DIR: dir })).toBeNull();
      writeFileSync(path.join(dir, '.stamp'), 'done');
      expect(findGuestAssets({ PLUGBOARD_GUEST_DIR: dir })).toEqual({ kernel: path.join(dir, 'vmlinuz'), initrd: path.join(dir, 'initramfs.cpio.gz') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
