/**
 * Live migration after a NIC hot-add (the NIC case of migration-real.test.ts, same method): a
 * sandbox instance gets a virtio-net-pci or e1000 NIC hot-added through plugboard onto a real
 * bridge. A target started from the runtime file saved BEFORE the hot-add refuses the instance
 * (`failed`; for a NIC QEMU stops at the RAM of its option ROM: `Unknown ramblock
 * "0000:00:0e.0/virtio-net-pci.rom", cannot accept migration` on its stderr); a target started from the
 * REWRITTEN file receives it (`completed`) and has the NIC at the same slot with the same MAC.
 * `plugboard check` (checkMigration) predicts both from the runtime file alone. When the source
 * QEMU then goes, as after a real migration, its tap goes with it: nothing is left on the bridge.
 *
 * Targets are plugboard's own launcher (our children, TCG, paused, `-incoming defer`). Their NIC 0
 * is on QEMU's user network like the source's; the hot-added NIC gets a tap as Ganeti's target
 * would (a tap QEMU creates by name, `vnet_hdr` on exactly when Ganeti's would be: paravirtual and
 * hvparams vnet_hdr). The netdev matters: virtio-net's state carries vnet_hdr, and a target whose
 * netdev lacks it refuses the instance (`virtio-net: saved image requires vnet_hdr=on`, measured).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runAction } from '../../src/usecases/run-action.js';
import { tapNameFor } from '../../src/actions/plan-nic.js';
import { createRoot } from '../../src/demo/sandbox.js';
import { probeLive } from '../../src/live/probe.js';
import { launchFromRuntime } from '../../src/qemu/instance.js';
import { userNetdev } from '../../src/qemu/options.js';
import type { RuntimeNic } from '../../src/runtime/types.js';
import type { QemuHandle } from '../../src/qemu/launch.js';
import { checkMigration } from '../../src/usecases/check/run.js';
import { withQmp } from '../../src/qmp/client.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import { bridgePorts, createBridge, linkExists, requireNetAdmin, useNetCleanup } from '../helpers/net.js';
import { startSandbox, useSandboxCleanup, type TestSandbox } from '../helpers/sandbox.js';
import { waitFor, within } from '../helpers/wait.js';

requireNetAdmin();
useSandboxCleanup();
useNetCleanup();

const targets: QemuHandle[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((q) => q.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Target {
  qemu: QemuHandle;
  dir: string;
  qmpSocket: string;
}

type NetdevFor = (nic: RuntimeNic, seq: number, netdevId: string) => string;

/**
 * As Ganeti's target would start the NICs: NIC 0 as the source's (user network), the others on a
 * tap (created by this QEMU, gone with it) with vnet_hdr as Ganeti's _GetNetworkDeviceFeatures
 * gives it: on for a paravirtual instance with hvparams vnet_hdr, else off.
 */
const ganetiLikeNetdev =
  (paravirtualVnetHdr: boolean): NetdevFor =>
  (nic, seq, netdevId) =>
    seq === 0
      ? userNetdev(nic, seq, netdevId)
      : `tap,id=${netdevId},ifname=tap.pbt.${randomBytes(3).toString('hex')}${seq},script=no,downscript=no,vnet_hdr=${paravirtualVnetHdr ? 'on' : 'off'}`;

/** A migration target on "another node", started from `runtimeText` with its kvm_cmd paths moved to its own root. */
async function startTarget(sb: TestSandbox, runtimeText: string, netdevFor: NetdevFor = userNetdev): Promise<Target> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-mignic-'));
  dirs.push(dir);
  await createRoot(dir);
  const doc = JSON.parse(runtimeText) as [unknown[], ...unknown[]];
  doc[0] = doc[0].map((a) => (typeof a === 'string' ? a.replaceAll(sb.root, dir) : a));
  const rf = parseRuntimeText(JSON.stringify(doc), path.join(dir, 'conf', `${sb.name}.runtime`), sb.name);
  const qmpSocket = path.join(dir, 'qmp.sock');
  const qemu = await launchFromRuntime(rf, qmpSocket, {
    incoming: 'defer',
    logFile: path.join(dir, 'qemu.log'),
    startTimeoutMs: 20_000,
    deviceConfig: { netdevFor },
  });
  targets.push(qemu);
  return { qemu, dir, qmpSocket };
}

const RETURN_PATH = [{ capability: 'return-path', state: true }];

/** Migrates over a Unix socket (return-path on both sides) and waits, with a deadline, for the outcome. */
async function migrate(sb: TestSandbox, target: Target): Promise<{ status: string; ms: number }> {
  const uri = `unix:${path.join(target.dir, 'migrate.sock')}`;
  await withQmp(target.qmpSocket, {}, async (t) => {
    await t.execute('migrate-set-capabilities', { capabilities: RETURN_PATH });
    await t.execute('migrate-incoming', { uri });
  });
  return sb.qmp(async (s) => {
    await s.execute('migrate-set-capabilities', { capabilities: RETURN_PATH });
    const t0 = performance.now();
    await s.execute('migrate', { uri });
    const final = await waitFor(
      async () => {
        const r = await s.execute<{ status?: string }>('query-migrate');
        return r.status === 'completed' || r.status === 'failed' ? r : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 5, what: 'the migration to complete or fail' },
    );
    return { status: final.status!, ms: Math.round(performance.now() - t0) };
  });
}

const macOf = (net: string, id: string): string | undefined => new RegExp(`${id}: index=0,type=nic,model=[^,]+,macaddr=([0-9a-f:]+)`).exec(net)?.[1];

describe.each([
  ['paravirtual', 'virtio-net-pci'],
  ['e1000', 'e1000'],
])('live migration after a hot-added %s NIC', (nicType, driver) => {
  it(`fails to a target from the stale runtime file, completes to one from the rewritten file (the ${driver} at the same slot, same MAC; a virtio NIC needs vnet_hdr as Ganeti passes it); check predicts both; the source's tap goes with the source`, async () => {
    const br = createBridge();
    const name = `mig-nic-${nicType.slice(0, 4)}`;
    const sb = await startSandbox({ name, nicType, disks: 1, nics: 1 });
    const stale = sb.runtimeText();

    const added = await runAction({ type: 'hot-add-nic', instance: name, link: br }, { root: sb.root });
    expect(added.status).toBe('done');
    const id = added.plan.device.id;
    const tap = tapNameFor(added.plan.device.uuid);
    const rewritten = sb.runtimeText();
    expect(rewritten).toContain(id);
    expect(bridgePorts(br)).toEqual([tap]);
    // Ganeti migrates running instances (QEMU refuses a second migrate from a source paused by a failed one).
    await sb.qmp((q) => q.execute('cont'));

    // The check, from the file alone.
    writeFileSync(sb.runtimeFile, stale);
    const staleCheck = await checkMigration(sb.root, name);
    expect(staleCheck.layoutOk).toBe(false);
    expect(staleCheck.differences.map((d) => [d.code, d.what])).toEqual([['missing-from-target', id]]);
    writeFileSync(sb.runtimeFile, rewritten);
    const goodCheck = await checkMigration(sb.root, name);
    expect(goodCheck.differences).toEqual([]);
    expect(goodCheck.ok).toBe(true);

    // Stale target: QEMU refuses the instance and exits. For a NIC it fails already on the RAM of
    // the NIC's option ROM (measured), before any device section: the ROM's ramblock is unknown.
    const bad = await startTarget(sb, stale);
    expect((await migrate(sb, bad)).status).toBe('failed');
    await within(bad.qemu.exited, 10_000, 'the stale target to exit');
    expect(bad.qemu.stderrTail()).toContain(`Unknown ramblock "0000:00:0e.0/${driver}.rom", cannot accept migration`);
    expect(await sb.qmp((s) => s.execute('query-status'))).toMatchObject({ status: 'running' });

    const rf = await sb.load();
    const vnetHdr = rf.hvparams.nic_type === 'paravirtual' && rf.hvparamsRaw['vnet_hdr'] !== false;
    if (driver === 'virtio-net-pci') {
      // The rewritten file, but the hot-added NIC on a netdev without vnet_hdr: refused.
      const noVnetHdr = await startTarget(sb, rewritten);
      expect((await migrate(sb, noVnetHdr)).status).toBe('failed');
      await within(noVnetHdr.qemu.exited, 10_000, 'the target without vnet_hdr to exit');
      expect(noVnetHdr.qemu.stderrTail()).toContain('virtio-net: saved image requires vnet_hdr=on');
    }

    // Rewritten target, NICs as Ganeti would start them: completed; the NIC where the source has it, same MAC.
    const good = await startTarget(sb, rewritten, ganetiLikeNetdev(vnetHdr));
    const done = await migrate(sb, good);
    expect(done.status, good.qemu.stderrTail()).toBe('completed');
    console.log(`migration with a hot-added ${driver}: ${done.ms} ms`);
    const [src, dst] = await Promise.all([sb.probe(), withQmp(good.qmpSocket, {}, (q) => probeLive(q))]);
    const slotOf = (s: typeof src) => s.pci.find((f) => f.qdevId === id)?.slot;
    // disk 0 at 0xc, NIC 0 at 0xd: the hot-added NIC at 0xe.
    expect(slotOf(dst)).toBe(0xe);
    expect(slotOf(dst)).toBe(slotOf(src));
    expect(dst.peripherals).toContainEqual({ id, driver });
    const [srcNet, dstNet] = await Promise.all([
      sb.qmp((q) => q.hmp('info network', { expect: 'text' })),
      withQmp(good.qmpSocket, {}, (q) => q.hmp('info network', { expect: 'text' })),
    ]);
    expect(macOf(dstNet, id)).toBe(macOf(srcNet, id));
    expect(macOf(dstNet, id)).toBe((await sb.load()).nics[1]!.mac);

    // After a migration Ganeti stops the source: its tap (QEMU's, not persistent) goes with it.
    await sb.stop();
    expect(linkExists(tap)).toBe(false);
    expect(bridgePorts(br)).toEqual([]);
    expect(readFileSync(path.join(good.dir, 'qemu.log'), { encoding: 'utf8', flag: 'a+' })).not.toContain('Unknown savevm section');
  });
});
