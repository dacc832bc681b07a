/**
 * `plugboard downgrade` on a running instance (a sandbox instance: a real QEMU 7.2 started from a
 * runtime file as Ganeti 3.0 writes it), and plugboard itself afterwards:
 * - the file is downgraded under the running QEMU, which notices nothing (QEMU never reads it);
 * - a QEMU started from the downgraded file (as Ganeti starts a migration target) receives the
 *   running instance by live migration: the slots are right, the ids do not matter to a migration;
 * - what the operator loses, for plugboard: it reads the downgraded file with the derived ids, so it
 *   refuses to unplug the devices on the running QEMU (removing the entry would drop a device QEMU
 *   has) until the instance runs from the file; on the migrated QEMU the unplug finds them.
 * Ganeti 2.15's own code on the same scenario: downgrade-ganeti215.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createRoot, createSandboxInstance } from '../../src/demo/sandbox.js';
import { probeLive } from '../../src/live/probe.js';
import { launchFromRuntime, launchInstance } from '../../src/qemu/instance.js';
import type { QemuHandle } from '../../src/qemu/launch.js';
import { withQmp } from '../../src/qmp/client.js';
import { planDowngrade } from '../../src/runtime/downgrade.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import { qmpSocketPath, runtimeFilePath } from '../../src/runtime/root.js';
import { requireQemu } from '../helpers/qemu.js';
import { migrateLive } from '../helpers/migrate.js';

requireQemu();

const qemus: QemuHandle[] = [];
let work = '';
afterEach(async () => {
  await Promise.all(qemus.splice(0).map((q) => q.stop()));
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env: {} });
  return { code, out, err };
}

describe('downgrade of a running instance', () => {
  it('downgraded under the running QEMU; plugboard refuses to unplug by the derived id there; a target started from the file receives the instance, and there the unplug finds it', async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-dgrun-'));
    const root = path.join(work, 'node1');
    const name = 'dgrun';
    await createSandboxInstance(root, { name, disks: 2, nics: 1 });
    const source = await launchInstance(root, name, { startTimeoutMs: 20_000 });
    qemus.push(source);
    await withQmp(source.qmpSocket, {}, (q) => q.execute('cont'));
    const file = runtimeFilePath(root, name);
    const original = fs.readFileSync(file, 'utf8');
    const plan = planDowngrade(original, file, name);
    if (plan.status !== 'downgrade') throw new Error('the sandbox file does not downgrade');
    const disk0 = plan.devices.find((d) => d.path === 'disks[0][0]')!;

    const r = await cli('--root', root, 'downgrade', name);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(new RegExp(`^downgraded ${name} \\(running\\)`));
    expect(fs.readFileSync(file, 'utf8')).toBe(plan.text);
    expect(fs.readFileSync(`${file}.pre-downgrade`, 'utf8')).toBe(original);
    const before = await withQmp(source.qmpSocket, {}, (q) => probeLive(q));
    expect(before.peripherals.map((p) => p.id)).toContain(disk0.id);

    // plugboard on the running QEMU: the file says hotdisk-…, QEMU has disk-… at that slot.
    const refused = await cli('--root', root, 'unplug', 'disk', name, disk0.uuid!);
    expect(refused.code).toBe(1);
    expect(refused.err.trimEnd().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^plugboard: .*QEMU has no ${disk0.oldId}, but has ${disk0.id} at pci\\.0 slot 0x${disk0.slot!.toString(16)}, where ${name}'s runtime file places ${disk0.oldId}`)),
    ]);
    expect(fs.readFileSync(file, 'utf8')).toBe(plan.text);
    const after = await withQmp(source.qmpSocket, {}, (q) => probeLive(q));
    expect(after.peripherals.map((p) => p.id)).toEqual(before.peripherals.map((p) => p.id));

    // A target on "another node" started from the downgraded file (kvm_cmd paths moved to its root).
    const node2 = path.join(work, 'node2');
    await createRoot(node2);
    const doc = JSON.parse(plan.text) as [unknown[], ...unknown[]];
    doc[0] = doc[0].map((a) => (typeof a === 'string' ? a.replaceAll(root, node2) : a));
    const text2 = `${JSON.stringify(doc)}\n`;
    fs.writeFileSync(runtimeFilePath(node2, name), text2, { mode: 0o600 });
    const target = await launchFromRuntime(parseRuntimeText(text2, runtimeFilePath(node2, name), name), qmpSocketPath(node2, name), {
      incoming: 'defer',
      startTimeoutMs: 20_000,
    });
    qemus.push(target);
    const final = await migrateLive(source.qmpSocket, target.qmpSocket, node2);
    expect(final).toMatchObject({ status: 'completed' });
    const there = await withQmp(target.qmpSocket, {}, (q) => probeLive(q));
    expect(there.pci.filter((f) => f.qdevId.startsWith('hot')).map((f) => [f.qdevId, f.slot])).toEqual(
      expect.arrayContaining(plan.devices.map((d) => [d.oldId, d.slot])),
    );

    // On the migrated QEMU, plugboard's unplug of the same disk finds it by the file's id.
    const dry = await cli('--root', node2, 'unplug', 'disk', name, disk0.uuid!, '--dry-run', '--json');
    expect(dry.err).toBe('');
    expect(dry.code).toBe(0);
    const p = JSON.parse(dry.out) as { qmp: { execute: string; arguments: { id: string } }[] };
    expect(p.qmp[0]).toEqual({ execute: 'device_del', arguments: { id: disk0.oldId } });
  }, 120_000);
});
