/**
 * `plugboard downgrade` against Ganeti 3.0's own code (test/compat/ganeti_runtime.py on the tree
 * prepare.sh extracts): the downgraded file loads in Ganeti 3.0 with every device back at the same
 * slot with the same driver, uuid and every other key — only the ids become the ones Ganeti derives
 * from the old form (`hotdisk-<uuid>-pci-<slot>`) — Ganeti 3.0 would start a migration target with
 * the same devices at the same addresses, and its next hot-add goes where it went before.
 * Against Ganeti 2.15's loader: downgrade-ganeti215.test.ts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DowngradedDevice, planDowngrade } from '../../src/runtime/downgrade.js';
import type { Json, JsonObject } from '../../src/runtime/types.js';
import { ganetiAvailable, ganetiDeviceOptions, ganetiHotAdd, ganetiLoad, ganetiNextSlot, type GanetiRuntime } from '../helpers/ganeti.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures');
const FIXTURE = path.join(FIXTURES, 'kvm_runtime.json');
const mustRun = process.env['CI'] === 'true';
type Doc = [Json[], JsonObject[], JsonObject, [JsonObject, string, string | null][]];
const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Doc;
// Ganeti 3.0's disk hot-add raises KeyError on a runtime without disk_aio or disk_discard (FACTS.md): as on a node.
fixture[2]['disk_aio'] = 'threads';
fixture[2]['disk_discard'] = 'ignore';

function downgrade(text: string): { text: string; devices: DowngradedDevice[] } {
  const p = planDowngrade(text, 'test.runtime');
  if (p.status !== 'downgrade') throw new Error(`expected a downgrade: ${JSON.stringify(p)}`);
  return p;
}

/** Ganeti's load of the original with each downgraded device's id replaced by the id Ganeti derives from the old form. */
function withOldIds(g: GanetiRuntime, devices: readonly DowngradedDevice[]): GanetiRuntime {
  const out = structuredClone(g);
  for (const d of devices) {
    const m = /^(nics)\[(\d+)\]$|^(disks)\[(\d+)\]\[0\]$/.exec(d.path)!;
    const dev = m[1] ? out.nics[Number(m[2])]! : out.disks[Number(m[4])]![0];
    const h = dev['hvinfo'] as JsonObject;
    if (d.slot !== null) h['id'] = d.oldId;
    // A stale legacy `pci` beside hvinfo (Ganeti 3.0 keeps it) is gone: the downgrade wrote hvinfo's
    // slot there, and Ganeti's upgrade turns that into hvinfo and drops it.
    delete dev['pci'];
  }
  return out;
}

/** Device options with QEMU's ids replaced by the derived ones (the only difference expected). */
function renameIds(args: Json[] | string[], devices: readonly DowngradedDevice[]): string[] {
  return args.map((a) => {
    let s = String(a);
    for (const d of devices) if (d.id && d.oldId && !d.idKept) s = s.split(d.id).join(d.oldId);
    return s;
  });
}
/**
 * Tap fds as placeholders, and the properties of each `-device`/`-drive` value sorted: Ganeti 3.0's
 * upgrade of the old form builds hvinfo as {driver, id, addr, bus}, so its `-device` lists addr
 * before bus (the same device for QEMU).
 */
const normalize = (args: string[]) =>
  args.map((a) => {
    const s = a.replace(/(vhost)?fds?=[A-Z0-9:]+/g, '$1fd=FD');
    const [head, ...props] = s.split(',');
    return props.length > 0 && props.every((p) => p.includes('=')) ? [head, ...props.sort()].join(',') : s;
  });

const uuidFor = (n: number) => `${(0x20000000 + n).toString(16)}-aaaa-4bbb-8ccc-${(n + 1).toString(16).padStart(12, '0')}`;

interface Variant {
  reservations: number;
  nicType: 'paravirtual' | 'e1000' | 'rtl8139';
  diskType: 'paravirtual' | 'ide';
  diskSlots: number[];
  nicSlots: number[];
  extra: Record<string, Json>;
}

function variantDoc(v: Variant): Doc {
  const doc = structuredClone(fixture);
  doc[2]['kvm_pci_reservations'] = v.reservations;
  doc[2]['nic_type'] = v.nicType;
  doc[2]['disk_type'] = v.diskType;
  doc[2]['disk_aio'] = 'threads';
  const template = fixture[3][0]!;
  doc[3] = v.diskSlots.map((slot, i) => {
    const uuid = uuidFor(i);
    const disk: JsonObject = { ...structuredClone(template[0]), uuid, iv_name: `disk/${i}`, ...v.extra };
    delete disk['hvinfo'];
    disk['hvinfo'] = { driver: v.diskType === 'paravirtual' ? 'virtio-blk-pci' : v.diskType, id: `disk-${uuid.split('-').slice(0, 3).join('-')}`, bus: 'pci.0', addr: `0x${slot.toString(16)}` };
    return [disk, `/var/run/ganeti/instance-disks/inst:${i}`, null];
  });
  doc[1] = v.nicSlots.map((slot, i) => {
    const uuid = uuidFor(100 + i);
    return {
      ...structuredClone(fixture[1][0]!),
      mac: `aa:00:00:00:01:${i.toString(16).padStart(2, '0')}`,
      uuid,
      hvinfo: { driver: v.nicType === 'paravirtual' ? 'virtio-net-pci' : v.nicType, id: `nic-${uuid.split('-').slice(0, 3).join('-')}`, bus: 'pci.0', addr: `0x${slot.toString(16)}` },
    };
  });
  return doc;
}

const variantArb: fc.Arbitrary<Variant> = fc
  .record({
    reservations: fc.integer({ min: 3, max: 20 }),
    nicType: fc.constantFrom('paravirtual' as const, 'e1000' as const, 'rtl8139' as const),
    diskType: fc.constantFrom('paravirtual' as const, 'ide' as const),
    slots: fc.uniqueArray(fc.integer({ min: 3, max: 31 }), { minLength: 1, maxLength: 8 }),
    nicCount: fc.integer({ min: 0, max: 3 }),
    extra: fc.dictionary(fc.constantFrom('serial_no', 'ctime', 'mtime', 'spindles'), fc.oneof(fc.integer({ min: 0 }), fc.double({ min: 1e9, max: 2e9, noNaN: true }))),
  })
  .map(({ slots, nicCount, ...rest }) => {
    const nicSlots = slots.slice(0, Math.min(nicCount, slots.length));
    return { ...rest, nicSlots, diskSlots: slots.slice(nicSlots.length) };
  });

describe.skipIf(!ganetiAvailable() && !mustRun)('downgrade round-trips through Ganeti 3.0', () => {
  let dir = '';
  let n = 0;
  const write = (text: string): string => {
    const file = path.join(dir, `d${n++}.runtime`);
    fs.writeFileSync(file, text);
    return file;
  };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugboard-downgrade-compat-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a file Ganeti 3.0 itself wrote (after its own hot-add): downgraded byte for byte but for hvinfo → pci; Ganeti loads it back at the same slots', () => {
    // Ganeti 3.0's HotAddDevice on the fixture: the runtime file exactly as Ganeti writes it.
    const written = ganetiHotAdd(write(JSON.stringify(fixture)), 'disk').runtime_text;
    expect(written).toMatch(/"hvinfo": \{"driver": "virtio-blk-pci", "id": "disk-00000000-1111-4222", "bus": "pci.0", "addr": "0xc"\}/);
    const original = write(written);
    const d = downgrade(written);
    const expected = written.replace(/"hvinfo": \{"driver": "[^"]+", "id": "[^"]+", "bus": "pci\.0", "addr": "0x([0-9a-f]+)"\}/g, (_m, hex: string) => `"pci": ${parseInt(hex, 16)}`);
    expect(d.text).toBe(expected);
    expect(d.devices.map((x) => [x.path, x.slot, x.oldId])).toEqual([
      ['nics[0]', 8, 'hotnic-003fc157-pci-8'],
      ['disks[0][0]', 9, 'hotdisk-7c079136-pci-9'],
      ['disks[1][0]', 10, 'hotdisk-9f5c5bd4-pci-10'],
      ['disks[2][0]', 12, 'hotdisk-00000000-pci-12'],
    ]);
    const downgraded = write(d.text);
    // Everything Ganeti reads back is what it read from the original, except the ids.
    expect(ganetiLoad(downgraded)).toEqual(withOldIds(ganetiLoad(original), d.devices));
    // The migration target Ganeti 3.0 would start from it: the same devices at the same addresses.
    const before = ganetiDeviceOptions(original);
    const after = ganetiDeviceOptions(downgraded);
    expect(normalize(renameIds(after.argv, []))).toEqual(normalize(renameIds(before.argv, d.devices)));
    expect(after.disks.join(' ')).toContain('-device virtio-blk-pci,id=hotdisk-00000000-pci-12,addr=0xc,bus=pci.0,drive=hotdisk-00000000-pci-12');
    // And Ganeti's next hot-add goes where it would have gone.
    for (const kind of ['disk', 'nic'] as const) {
      expect(ganetiNextSlot(downgraded, kind, uuidFor(500))).toEqual({ ...ganetiNextSlot(original, kind, uuidFor(500)) });
    }
  });

  it('Ganeti 3.0 hot-adds to a downgraded file and writes it back in its own form, the old devices at their slots', () => {
    const d = downgrade(JSON.stringify(fixture));
    const g = ganetiHotAdd(write(d.text), 'nic', { uuid: uuidFor(700) });
    expect(g.hvinfo).toMatchObject({ bus: 'pci.0', addr: '0xc' });
    expect(g.runtime[1].map((x) => (x['hvinfo'] as JsonObject)['id'])).toEqual(['hotnic-003fc157-pci-8', `nic-${uuidFor(700).split('-').slice(0, 3).join('-')}`]);
    expect(g.runtime[3].map((e) => (e[0]['hvinfo'] as JsonObject)['addr'])).toEqual(['0x9', '0xa']);
  });

  it('generated files (NIC and disk types, slots, Ganeti-only disk keys, floats): load, device options and next slot survive the round trip', () => {
    fc.assert(
      fc.property(variantArb, (v) => {
        const text = JSON.stringify(variantDoc(v));
        const original = write(text);
        const d = downgrade(text);
        const downgraded = write(d.text);
        expect(ganetiLoad(downgraded)).toEqual(withOldIds(ganetiLoad(original), d.devices));
        const before = ganetiDeviceOptions(original);
        const after = ganetiDeviceOptions(downgraded);
        expect(normalize(renameIds(after.argv, []))).toEqual(normalize(renameIds(before.argv, d.devices)));
        expect(ganetiNextSlot(downgraded, 'nic')).toEqual(ganetiNextSlot(original, 'nic'));
      }),
      { numRuns: 4, seed: 20261202 },
    );
  }, 180_000);

  it('a legacy file with a device in the current form: only that device changes; Ganeti loads both alike', () => {
    const legacy = path.join(FIXTURES, 'runtime', 'legacy-pci.runtime');
    const d = downgrade(fs.readFileSync(legacy, 'utf8'));
    expect(d.devices.map((x) => x.path)).toEqual(['disks[2][0]']);
    const strip = (g: GanetiRuntime) => {
      // The NIC without uuid gets a fresh random one at every load (Ganeti's utils.NewUUID).
      const out = structuredClone(g);
      delete out.nics[1]!['uuid'];
      delete (out.nics[1]!['hvinfo'] as JsonObject)['id'];
      return out;
    };
    expect(strip(ganetiLoad(write(d.text)))).toEqual(strip(withOldIds(ganetiLoad(legacy), d.devices)));
  });
});
