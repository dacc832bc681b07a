/**
 * `plugboard downgrade` against Ganeti 2.15's own code, the last Ganeti before hvinfo, which the
 * downgraded file is for (test/compat/ganeti215_runtime.py, Python 2.7, on the tree
 * test/compat/ganeti215/make-tree.sh builds; skipped, saying why, where there is none: nothing on a
 * fresh machine can fetch Ganeti 2.15 or a Python 2).
 *
 * - Ganeti 2.15 refuses the current form outright (objects.NIC has no hvinfo slot) and loads the
 *   downgraded file, every device with exactly the keys it had, named with the ids plugboard says.
 * - The migration target Ganeti 2.15 would start from it has every device at the address, with
 *   the driver, Ganeti 3.0 starts it with from the original.
 * - On a running QEMU (a sandbox instance, Ganeti 3.0's ids): after `plugboard downgrade NAME`,
 *   Ganeti 2.15's own hot-unplug (its QMP client, over the real socket) does not find the devices —
 *   what the operator loses; a QEMU started with Ganeti 2.15's own command line for that file
 *   receives the running instance by live migration, and there Ganeti 2.15 finds them.
 */
import fs, { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createSandboxInstance } from '../../src/demo/sandbox.js';
import { withoutOptions } from '../../src/qemu/argv.js';
import { launchInstance } from '../../src/qemu/instance.js';
import { launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { withQmp } from '../../src/qmp/client.js';
import { planDowngrade } from '../../src/runtime/downgrade.js';
import { qmpSocketPath, runtimeFilePath } from '../../src/runtime/root.js';
import type { Json, JsonObject } from '../../src/runtime/types.js';
import { ganetiAvailable, ganetiDeviceOptions } from '../helpers/ganeti.js';
import { ganeti215HotDel, ganeti215Load, Ganeti215RaisedError, ganeti215Start, ganeti215Unavailable } from '../helpers/ganeti215.js';
import { requireQemu } from '../helpers/qemu.js';
import { migrateLive } from '../helpers/migrate.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures');
type Doc = [Json[], JsonObject[], JsonObject, [JsonObject, string, string | null][]];
const fixture = JSON.parse(readFileSync(path.join(FIXTURES, 'kvm_runtime.json'), 'utf8')) as Doc;
const unavailable = ganeti215Unavailable() ?? (ganetiAvailable() ? null : 'no Ganeti 3.0 tree (test/setup/prepare.sh)');

/** `-device DRIVER,k=v,…` entries of a command line: {driver, id, addr}, in order. */
function devices(argv: readonly Json[]): { driver: string; id: string; addr: string }[] {
  const out: { driver: string; id: string; addr: string }[] = [];
  argv.forEach((a, i) => {
    if (a !== '-device') return;
    const [driver, ...props] = String(argv[i + 1]).split(',');
    const p = Object.fromEntries(props.map((x) => x.split('=') as [string, string]));
    if (p['addr'] !== undefined) out.push({ driver: driver!, id: p['id'] ?? '', addr: p['addr'] });
  });
  return out;
}

function downgraded(text: string) {
  const p = planDowngrade(text, 'x.runtime');
  if (p.status !== 'downgrade') throw new Error(`expected a downgrade: ${JSON.stringify(p)}`);
  return p;
}

const uuidFor = (n: number) => `${(0x30000000 + n).toString(16)}-aaaa-4bbb-8ccc-${(n + 1).toString(16).padStart(12, '0')}`;

describe.skipIf(unavailable !== null)(`the downgraded file in Ganeti 2.15${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let dir = '';
  let n = 0;
  const write = (text: string): string => {
    const file = path.join(dir, `g${n++}.runtime`);
    fs.writeFileSync(file, text);
    return file;
  };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugboard-ganeti215-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('Ganeti 2.15 cannot load the current form at all, and loads the downgraded one: same devices, same keys, the ids plugboard names', () => {
    const original = JSON.stringify(fixture);
    expect(() => ganeti215Load(write(original))).toThrow(/Ganeti 2\.15 raised TypeError for 'load .*': Object NIC doesn't support the parameter 'hvinfo'$/);
    const d = downgraded(original);
    const g = ganeti215Load(write(d.text));
    const doc = JSON.parse(d.text) as Doc;
    expect(g.nics).toEqual(doc[1]);
    expect(g.disks).toEqual(doc[3]);
    expect([...g.ids.nics, ...g.ids.disks]).toEqual(d.devices.map((x) => x.oldId));
  });

  it('the migration target Ganeti 2.15 starts from the downgraded file has each device where Ganeti 3.0 starts it from the original', () => {
    const file = write(JSON.stringify(fixture));
    const d = downgraded(JSON.stringify(fixture));
    const theirs = devices(ganeti215Start(write(d.text)));
    const before = ganetiDeviceOptions(file);
    const ours = devices([...before.nics, ...before.disks]);
    expect(theirs.map((x) => [x.driver, x.addr])).toEqual(ours.map((x) => [x.driver, x.addr]));
    expect(theirs.map((x) => x.id)).toEqual(d.devices.map((x) => x.oldId));
  });

  it('generated files (NIC and disk types, slots, floats, Ganeti-only disk keys): Ganeti 2.15 loads them and places every device as Ganeti 3.0 did', () => {
    fc.assert(
      fc.property(
        fc.record({
          nicType: fc.constantFrom('paravirtual', 'e1000', 'rtl8139', 'i82551'),
          diskType: fc.constantFrom('paravirtual', 'ide'),
          slots: fc.uniqueArray(fc.integer({ min: 3, max: 31 }), { minLength: 1, maxLength: 7 }),
          nicCount: fc.integer({ min: 0, max: 3 }),
          extra: fc.dictionary(fc.constantFrom('serial_no', 'ctime', 'mtime', 'spindles', 'nodes'), fc.oneof(fc.integer({ min: 0 }), fc.double({ min: 1e9, max: 2e9, noNaN: true }))),
        }),
        (v) => {
          const doc = structuredClone(fixture);
          doc[2]['nic_type'] = v.nicType;
          doc[2]['disk_type'] = v.diskType;
          const nicSlots = v.slots.slice(0, Math.min(v.nicCount, v.slots.length));
          const diskSlots = v.slots.slice(nicSlots.length);
          doc[1] = nicSlots.map((slot, i) => {
            const uuid = uuidFor(100 + i);
            return { ...structuredClone(fixture[1][0]!), uuid, mac: `aa:00:00:00:02:0${i}`, hvinfo: { driver: v.nicType === 'paravirtual' ? 'virtio-net-pci' : v.nicType, id: `nic-${uuid.slice(0, 18)}`, bus: 'pci.0', addr: `0x${slot.toString(16)}` } };
          });
          doc[3] = diskSlots.map((slot, i) => {
            const uuid = uuidFor(i);
            const disk: JsonObject = { ...structuredClone(fixture[3][0]![0]), uuid, ...(v.extra['nodes'] !== undefined ? { ...v.extra, nodes: ['node1.example.com'] } : v.extra) };
            disk['hvinfo'] = { driver: v.diskType === 'paravirtual' ? 'virtio-blk-pci' : 'ide', id: `disk-${uuid.slice(0, 18)}`, bus: 'pci.0', addr: `0x${slot.toString(16)}` };
            return [disk, `/var/run/ganeti/instance-disks/x:${i}`, null];
          });
          const original = JSON.stringify(doc);
          const d = downgraded(original);
          const g = ganeti215Load(write(d.text));
          const out = JSON.parse(d.text) as Doc;
          expect(g.nics).toEqual(out[1]);
          expect(g.disks).toEqual(out[3]);
          expect([...g.ids.nics, ...g.ids.disks]).toEqual(d.devices.map((x) => x.oldId));
          const before = ganetiDeviceOptions(write(original));
          expect(devices(ganeti215Start(write(d.text))).map((x) => [x.driver, x.addr])).toEqual(devices([...before.nics, ...before.disks]).map((x) => [x.driver, x.addr]));
        },
      ),
      { numRuns: 4, seed: 20261203 },
    );
  }, 180_000);
});

describe.skipIf(unavailable !== null)(`a running instance downgraded, then Ganeti 2.15 on it${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let work = '';
  const qemus: QemuHandle[] = [];
  beforeAll(() => {
    requireQemu();
  });
  afterEach(async () => {
    await Promise.all(qemus.splice(0).map((q) => q.stop()));
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('Ganeti 2.15\'s hot-unplug misses the devices until the instance migrates to a QEMU started from the downgraded file with 2.15\'s own command line', async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-dg215-'));
    const root = path.join(work, 'node1');
    const name = 'dg215';
    await createSandboxInstance(root, { name, disks: 2, nics: 1 });
    const source = await launchInstance(root, name, { startTimeoutMs: 20_000 });
    qemus.push(source);
    await withQmp(source.qmpSocket, {}, (q) => q.execute('cont'));
    const file = runtimeFilePath(root, name);
    const original = readFileSync(file, 'utf8');

    // The downgrade of a running instance, through the CLI.
    let out = '';
    let err = '';
    const code = await main(['--root', root, 'downgrade', name], { stdout: (t) => void (out += t), stderr: (t) => void (err += t), env: {} });
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(out).toMatch(new RegExp(`^downgraded ${name} \\(running\\)`));
    const text = readFileSync(file, 'utf8');
    const plan = downgraded(original);
    expect(text).toBe(plan.text);

    // Ganeti 2.15 on the running QEMU: its hot-unplug asks for hotdisk-…, QEMU has disk-….
    let missed: unknown;
    try {
      ganeti215HotDel(file, 'disk', 0, qmpSocketPath(root, name));
    } catch (e) {
      missed = e;
    }
    expect(missed).toBeInstanceOf(Ganeti215RaisedError);
    expect((missed as Ganeti215RaisedError).ganetiMessage).toMatch(new RegExp(`Device '${plan.devices[1]!.oldId}' not found`));

    // A migration target on "another node", started with Ganeti 2.15's own command line for the
    // downgraded file: kept as 2.15 builds it but for what only a real node has (tap fds → user
    // netdevs with the same ids, its /var/run/ganeti sockets and the source's paths → the
    // target's, -incoming defer instead of TCP, no -daemonize: the launcher adds its QMP socket).
    const targetDir = path.join(work, 'node2');
    fs.mkdirSync(path.join(targetDir, 'ctrl'), { recursive: true });
    fs.mkdirSync(path.join(targetDir, 'pid'), { recursive: true });
    const argv = ganeti215Start(file).map(String);
    let args = withoutOptions(argv, ['daemonize', 'S']).slice(1);
    args = args.flatMap((a, i) => {
      if (a === '-qmp' || args[i - 1] === '-qmp') return [];
      if (args[i - 1] === '-incoming') return ['defer'];
      if (args[i - 1] === '-netdev') return [a.replace(/^type=tap,id=([^,]+),fd=TAPFD\d+$/, 'type=user,id=$1')];
      return [a.replaceAll(path.join(root, 'ctrl'), path.join(targetDir, 'ctrl')).replaceAll(path.join(root, 'pid'), path.join(targetDir, 'pid'))];
    });
    expect(args.filter((a) => a.includes('TAPFD') || a.includes('/var/run/ganeti'))).toEqual([]);
    const target = await launchQemu({ qmpSocket: path.join(targetDir, 'ctrl', `${name}.qmp`), argv: args, memoryMb: 64, startTimeoutMs: 20_000 });
    qemus.push(target);
    const status = await migrateLive(source.qmpSocket, target.qmpSocket, targetDir);
    expect(status).toMatchObject({ status: 'completed' });

    // On the target, Ganeti 2.15 finds the device by the id it derives: device_del is accepted.
    expect(ganeti215HotDel(file, 'disk', 0, target.qmpSocket)).toBe(plan.devices[1]!.oldId);
  }, 120_000);
});
