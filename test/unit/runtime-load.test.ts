import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RuntimeFileError } from '../../src/errors.js';
import { isUuid } from '../../src/runtime/ids.js';
import { dumpJson, parseJson } from '../../src/runtime/json.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import { serializeRuntime } from '../../src/runtime/serialize.js';
import type { Json, JsonObject, RuntimeFile } from '../../src/runtime/types.js';

const FIX = new URL('../fixtures/', import.meta.url);
const read = (rel: string): string => readFileSync(new URL(rel, FIX), 'utf8');
const SRC = 'conf/web1.runtime';

/** The message of the RuntimeFileError that parsing `text` throws. */
function errorOf(text: string, source = SRC): string {
  try {
    parseRuntimeText(text, source);
  } catch (err) {
    expect(err).toBeInstanceOf(RuntimeFileError);
    return (err as RuntimeFileError).message;
  }
  throw new Error('parsed without error');
}

function setOwn(o: JsonObject, k: string, v: Json): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

/** A current-format document built around Ganeti's serialized NIC and disk pieces. */
function docAround(nics: Json[], disks: Json[], hvparams: JsonObject = { disk_type: 'paravirtual', nic_type: 'paravirtual' }): Json[] {
  return [['/usr/bin/kvm', '-name', 'test2', '-m', 1024], nics, hvparams, disks];
}

describe('fixtures load', () => {
  // Ganeti's runtime-file fixture plus every file under fixtures/runtime/ (serialized_nics/disks are
  // pieces, built into files below).
  const all = [
    'kvm_runtime.json',
    ...readdirSync(new URL('runtime/', FIX)).filter((f) => f.endsWith('.runtime') || f.endsWith('.json')).map((f) => `runtime/${f}`),
  ];

  it.each(all)('%s loads as a runtime file', (f) => {
    const rf = parseRuntimeText(read(f), f);
    expect(rf.raw).toHaveLength(4);
    for (const d of [...rf.nics, ...rf.disks]) expect(d.hvinfo).toBeTypeOf('object');
  });

  it('kvm_runtime.json: views read the NIC, the disks and the hvparams', () => {
    const rf = parseRuntimeText(read('kvm_runtime.json'), 'test/fixtures/kvm_runtime.json');
    expect(rf.instance).toBe('xen-test-inst2'); // from -name: the file name is not NAME.runtime
    expect(rf.format).toBe('current');
    expect(rf.upgrades).toEqual([]);
    expect(rf.kvmCmd.slice(0, 5)).toEqual(['/usr/bin/kvm', '-name', 'xen-test-inst2', '-m', 1024]);
    expect(rf.nics).toHaveLength(1);
    expect(rf.nics[0]).toMatchObject({
      index: 0,
      uuid: '003fc157-66a8-4e6d-8b7e-ec4f69751396',
      mac: 'aa:00:00:bf:2f:16',
      mode: 'bridged',
      link: 'br0',
      name: undefined,
      hvinfo: { driver: 'virtio-net-pci', id: 'nic-003fc157-66a8-4e6d', bus: 'pci.0', addr: '0x8' },
    });
    expect(rf.disks.map((d) => [d.index, d.uuid, d.size, d.ivName, d.name, d.devType, d.link, d.uri, (d.hvinfo as { addr: string }).addr])).toEqual([
      [0, '7c079136-2573-4112-82d0-0d3d2aa90d8f', 1024, 'disk/0', 'disk0', 'lvm', '/var/run/ganeti/instance-disks/xen-test-inst2:0', 'rbd://123451214123/', '0x9'],
      [1, '9f5c5bd4-6f60-480b-acdc-9bb1a4b7df79', 512, 'disk/1', 'disk1', 'lvm', '/var/run/ganeti/instance-disks/xen-test-inst2:1', null, '0xa'],
    ]);
    // Older files lack these two: defaults apply.
    expect(rf.hvparams).toMatchObject({ disk_type: 'paravirtual', nic_type: 'paravirtual', scsi_controller_type: 'lsi', kvm_pci_reservations: 12, disk_cache: 'default', kvm_path: '/usr/bin/kvm', use_chroot: false, vhost_net: false });
    expect(rf.hvparamsRaw).toBe(rf.raw[2]);
  });

  it('scsi-current.runtime: SCSI hvinfo and the controller hvparams', () => {
    const rf = parseRuntimeText(read('runtime/scsi-current.runtime'), '/x/conf/web3.runtime');
    expect(rf.instance).toBe('web3');
    expect(rf.hvparams).toMatchObject({ disk_type: 'scsi-hd', scsi_controller_type: 'virtio-scsi-pci', disk_aio: 'native', disk_discard: 'unmap', vhost_net: true });
    expect(rf.disks.map((d) => d.hvinfo)).toEqual([
      { driver: 'scsi-hd', id: 'disk-8db0f07a-f486-481e', bus: 'scsi.0', channel: 0, 'scsi-id': 0, lun: 0 },
      { driver: 'scsi-hd', id: 'disk-ee2c4570-165b-4abb', bus: 'scsi.0', channel: 0, 'scsi-id': 1, lun: 0 },
    ]);
    expect(rf.nics[0]!.name).toBeUndefined(); // "name": null
  });

  it("runtime files built around Ganeti's serialized NICs and disks load, with every key kept", () => {
    const nics = parseJson(read('serialized_nics.json')) as Json[];
    const disks = parseJson(read('serialized_disks.json')) as Json[];
    const rf = parseRuntimeText(JSON.stringify(docAround(nics, disks)), 'conf/test2.runtime');
    expect(rf.nics[0]).toMatchObject({ uuid: '4564e5d5-8df4-40ec-8dee-b5b0d6067495', mac: 'aa:00:00:f6:4d:b4', link: 'gnt-br0', mode: 'bridged' });
    expect(rf.disks[0]).toMatchObject({ uuid: '8db0f07a-f486-481e-b254-4c90123f61f9', devType: 'drbd', size: 10240, link: '/var/run/ganeti/instance-disks/test2:0', uri: null });
    expect(rf.raw[1]).toEqual(nics);
    expect(rf.raw[3]).toEqual(disks);
    // netinfo, children, ctime floats… are written back as they were read.
    const again = parseRuntimeText(serializeRuntime(rf), 'conf/test2.runtime');
    expect(again.raw).toEqual(rf.raw);
    expect(serializeRuntime(again)).toBe(serializeRuntime(rf));
    expect(serializeRuntime(rf)).toContain('"ctime": 1721112669.1474214');
  });

  it('the instance name comes from NAME.runtime, else from -name, else what the caller says first', () => {
    const text = read('kvm_runtime.json');
    expect(parseRuntimeText(text, '/var/run/ganeti/kvm-hypervisor/conf/db7.example.com.runtime').instance).toBe('db7.example.com');
    expect(parseRuntimeText(text, 'copy.json').instance).toBe('xen-test-inst2');
    expect(parseRuntimeText(text, 'conf/db7.runtime', 'explicit').instance).toBe('explicit');
    const guest = JSON.stringify(docAround([], [])).replace('"test2"', '"guest=web9,debug-threads=on"');
    expect(parseRuntimeText(guest, 'stdin').instance).toBe('web9');
  });
});

describe('round trip', () => {
  it('kvm_runtime.json: parse → serialize → parse gives the same document, and serializing is stable', () => {
    const rf = parseRuntimeText(read('kvm_runtime.json'), SRC);
    const text = serializeRuntime(rf);
    const rf2 = parseRuntimeText(text, SRC);
    expect(rf2.raw).toEqual(rf.raw);
    expect(serializeRuntime(rf2)).toBe(text);
    expect(text.endsWith(']]]\n')).toBe(true);
    expect(text.split('\n')).toHaveLength(2);
  });

  it('keeps kvm_cmd spellings as stored (-balloon virtio, -localtime), numbers as numbers', () => {
    const rf = parseRuntimeText(read('runtime/legacy-3-items.runtime'), 'conf/old1.example.com.runtime');
    expect(rf.kvmCmd).toContain('-localtime');
    expect(rf.kvmCmd.slice(rf.kvmCmd.indexOf('-balloon'), rf.kvmCmd.indexOf('-balloon') + 2)).toEqual(['-balloon', 'virtio']);
    expect(rf.kvmCmd[rf.kvmCmd.indexOf('-m') + 1]).toBe(512);
  });

  const known = new Set(['mac', 'uuid', 'hvinfo', 'nicparams', 'name', 'size', 'iv_name', 'dev_type', 'pci']);
  const knownHv = new Set(['disk_type', 'nic_type', 'scsi_controller_type', 'kvm_pci_reservations', 'disk_cache', 'disk_aio', 'disk_discard', 'kvm_path', 'machine_version', 'kvm_extra', 'security_model', 'security_domain', 'use_chroot', 'vhost_net']);
  const extraKeys = (skip: Set<string>) =>
    fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 8 }).filter((k) => !skip.has(k)), fc.jsonValue({ stringUnit: 'binary', maxDepth: 2 })), { maxLength: 5 });

  it('keeps arbitrary extra keys and values in NICs, disks and hvparams exactly (value, type, order)', () => {
    const base = parseJson(read('kvm_runtime.json')) as [Json[], JsonObject[], JsonObject, [JsonObject, string, string | null][]];
    fc.assert(
      fc.property(extraKeys(known), extraKeys(known), extraKeys(knownHv), (nicExtra, diskExtra, hvExtra) => {
        const doc = JSON.parse(JSON.stringify(base)) as typeof base;
        for (const [k, v] of nicExtra) setOwn(doc[1][0]!, k, v as Json);
        for (const [k, v] of diskExtra) setOwn(doc[3][1]![0], k, v as Json);
        for (const [k, v] of hvExtra) setOwn(doc[2], k, v as Json);
        const text = JSON.stringify(doc);
        const want = JSON.parse(text) as Json; // as the text says (JSON.stringify writes -0 as 0)
        const rf = parseRuntimeText(text, SRC);
        expect(rf.raw).toEqual(want);
        expect(JSON.stringify(rf.raw)).toBe(text); // same key order
        const out = serializeRuntime(rf);
        const rf2 = parseRuntimeText(out, SRC);
        expect(rf2.raw).toEqual(want);
        expect(JSON.stringify(rf2.raw)).toBe(text);
        expect(serializeRuntime(rf2)).toBe(out);
      }),
      { numRuns: 200 },
    );
  });

  it('never throws anything but RuntimeFileError, whatever the text', () => {
    const valid = read('runtime/legacy-pci.runtime');
    const mutated = fc
      .tuple(fc.nat({ max: valid.length }), fc.nat({ max: 40 }), fc.string({ unit: 'binary', maxLength: 6 }))
      .map(([pos, del, ins]) => valid.slice(0, pos) + ins + valid.slice(pos + del));
    const shaped = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify([v, v, v, v].slice(0, 3 + (JSON.stringify(v).length % 2))));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), mutated, shaped), (text) => {
        try {
          parseRuntimeText(text, SRC);
        } catch (err) {
          expect(err).toBeInstanceOf(RuntimeFileError);
          expect((err as Error).message.startsWith(`${SRC}: `)).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('the document is frozen: a view cannot be changed behind the file', () => {
    const rf = parseRuntimeText(read('kvm_runtime.json'), SRC);
    expect(Object.isFrozen(rf.raw)).toBe(true);
    expect(Object.isFrozen(rf.raw[3][0]![0].hvinfo)).toBe(true);
    expect(() => {
      (rf.nics[0]!.raw as JsonObject).mac = 'x';
    }).toThrow(TypeError);
  });
});

describe('legacy runtime files upgrade exactly as Ganeti 3.0 _UpgradeSerializedRuntime', () => {
  // *.ganeti-upgraded.json: Ganeti 3.0's _UpgradeSerializedRuntime run on the fixture with
  // utils.NewUUID returning aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee, dumped by serializer.DumpJson,
  // kvm_cmd put back as stored (see test/fixtures/runtime/README.md).
  const FIXED = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

  function masked(rf: RuntimeFile): string {
    let text = serializeRuntime(rf);
    for (const u of rf.upgrades) {
      const m = /gave it ([0-9a-f-]+)$/.exec(u.message);
      if (!m) continue;
      const uuid = m[1]!;
      expect(isUuid(uuid)).toBe(true);
      text = text.replaceAll(uuid, FIXED).replaceAll(`hotnic-${uuid.split('-')[0]}-`, `hotnic-${FIXED.split('-')[0]}-`);
    }
    return text;
  }

  it('3 items, NIC without uuid, NIC with a pci slot, NIC without either (legacy-3-items)', () => {
    const rf = parseRuntimeText(read('runtime/legacy-3-items.runtime'), 'conf/old1.example.com.runtime');
    expect(rf.format).toBe('legacy-3-items');
    expect(rf.disks).toEqual([]);
    expect(masked(rf)).toBe(read('runtime/legacy-3-items.ganeti-upgraded.json'));
    expect(rf.nics[0]!.hvinfo).toEqual({ driver: 'virtio-net-pci', id: `hotnic-${rf.nics[0]!.uuid.split('-')[0]}-pci-6`, addr: '0x6', bus: 'pci.0' });
    expect(Object.keys(rf.nics[0]!.hvinfo)).toEqual(['driver', 'id', 'addr', 'bus']);
    expect(rf.nics[1]!.hvinfo).toEqual({});
    expect(rf.nics[0]!.uuid).not.toBe(rf.nics[1]!.uuid);
    expect(rf.upgrades.map((u) => u.path)).toEqual(['', 'nics[0].uuid', 'nics[0].pci', 'nics[1].uuid', 'nics[1].hvinfo']);
    expect(rf.upgrades[2]!.message).toBe(
      `legacy PCI slot 6 turned into hvinfo (driver virtio-net-pci, id hotnic-${rf.nics[0]!.uuid.split('-')[0]}-pci-6, bus pci.0, addr 0x6)`,
    );
  });

  it('pci slots on disks and NICs, driver from nic_type e1000, hvinfo already present keeps its pci key (legacy-pci)', () => {
    const rf = parseRuntimeText(read('runtime/legacy-pci.runtime'), 'conf/old2.runtime');
    expect(rf.format).toBe('current');
    expect(masked(rf)).toBe(read('runtime/legacy-pci.ganeti-upgraded.json'));
    expect(rf.disks[0]!.hvinfo).toEqual({ driver: 'virtio-blk-pci', id: 'hotdisk-9e7c85f6-pci-5', addr: '0x5', bus: 'pci.0' });
    expect(rf.nics[1]!.hvinfo).toMatchObject({ driver: 'e1000', addr: '0x10' });
    expect(rf.disks[1]!.hvinfo).toEqual({});
    expect('pci' in rf.disks[0]!.raw).toBe(false);
    expect(rf.disks[2]!.raw.pci).toBe(5);
    expect(rf.upgrades.map((u) => u.path)).toEqual(['nics[0].pci', 'nics[1].uuid', 'nics[1].pci', 'disks[0][0].pci', 'disks[1][0].hvinfo']);
  });

  it('upgrading does not touch the text it was given and an upgraded file then loads as current', () => {
    const rf = parseRuntimeText(read('runtime/legacy-pci.runtime'), 'conf/old2.runtime');
    const again = parseRuntimeText(serializeRuntime(rf), 'conf/old2.runtime');
    expect(again.upgrades).toEqual([]);
    expect(again.raw).toEqual(rf.raw);
  });
});

describe('errors: one line per problem, with the JSON path', () => {
  const base = (): Json[] => parseJson(read('kvm_runtime.json')) as Json[];
  const withChange = (f: (d: any) => void): string => {
    const d = JSON.parse(JSON.stringify(base()));
    f(d);
    return JSON.stringify(d);
  };

  it('bad PCI addr', () => {
    expect(errorOf(withChange((d) => (d[3][1][0].hvinfo.addr = '13')))).toBe(
      'conf/web1.runtime: disks[1][0].hvinfo.addr: expected hex string like "0xd", got "13"',
    );
    expect(errorOf(withChange((d) => (d[1][0].hvinfo.addr = '0x20')))).toBe(
      'conf/web1.runtime: nics[0].hvinfo.addr: slot 0x20 is outside the PCI bus (0x0-0x1f)',
    );
    expect(errorOf(withChange((d) => (d[1][0].hvinfo.addr = 13)))).toBe(
      'conf/web1.runtime: nics[0].hvinfo.addr: expected hex string like "0xd", got 13',
    );
  });

  it('wrong types and missing keys', () => {
    expect(errorOf(withChange((d) => (d[1][0].mac = 5)))).toBe('conf/web1.runtime: nics[0].mac: expected a string, got 5');
    expect(errorOf(withChange((d) => delete d[3][0][0].uuid))).toBe('conf/web1.runtime: disks[0][0].uuid: missing, expected a string');
    expect(errorOf(withChange((d) => (d[0][4] = true)))).toBe('conf/web1.runtime: kvm_cmd[4]: expected a string or a number, got true');
    expect(errorOf(withChange((d) => (d[2] = [])))).toBe('conf/web1.runtime: hvparams: expected an object, got an array of 0 items');
    expect(errorOf(withChange((d) => (d[3][0] = [d[3][0][0], d[3][0][1]])))).toBe(
      'conf/web1.runtime: disks[0]: expected [disk, link, uri], got an array of 2 items',
    );
    expect(errorOf(withChange((d) => (d[1][0].hvinfo = { driver: 'virtio-net-pci', id: 'n', bus: 'pci.0' })))).toBe(
      'conf/web1.runtime: nics[0].hvinfo.addr: missing, expected hex string like "0xd"',
    );
  });

  it('bad SCSI hvinfo', () => {
    const text = read('runtime/scsi-current.runtime').replace('"scsi-id": 1', '"scsi-id": -1').replace('"lun": 0}}, "/var/run/ganeti/instance-disks/web3:0"', '"lun": "0"}}, "/var/run/ganeti/instance-disks/web3:0"');
    expect(errorOf(text)).toBe(
      [
        'conf/web1.runtime: disks[0][0].hvinfo.lun: expected a non-negative integer, got "0"',
        'conf/web1.runtime: disks[1][0].hvinfo.scsi-id: expected a non-negative integer, got -1',
      ].join('\n'),
    );
  });

  it('truncated JSON', () => {
    expect(errorOf('[["/usr/bin/kvm", "-m", 1024], [')).toBe('conf/web1.runtime: invalid JSON at line 1, column 33: unexpected end of input');
    const t = read('kvm_runtime.json');
    expect(errorOf(t.slice(0, t.indexOf('"nicparams"') + 5))).toBe('conf/web1.runtime: invalid JSON at line 30, column 7: unterminated string');
  });

  it('not a 4- (or 3-) item array', () => {
    expect(errorOf('[[], []]')).toBe(
      'conf/web1.runtime: expected a JSON array [kvm_cmd, nics, hvparams, disks] (4 items, 3 in old files), got an array of 2 items',
    );
    expect(errorOf('{"kvm_cmd": []}')).toBe('conf/web1.runtime: expected a JSON array [kvm_cmd, nics, hvparams, disks], got an object');
    expect(errorOf('')).toBe('conf/web1.runtime: invalid JSON at line 1, column 1: unexpected end of input');
  });

  it('hvparam out of its set', () => {
    expect(errorOf(withChange((d) => (d[2].scsi_controller_type = 'buslogic')))).toBe(
      'conf/web1.runtime: hvparams.scsi_controller_type: expected one of lsi, megasas, virtio-scsi-pci, dc390; got "buslogic"',
    );
    expect(errorOf(withChange((d) => (d[2].kvm_pci_reservations = 33)))).toBe(
      'conf/web1.runtime: hvparams.kvm_pci_reservations: expected an integer from 0 to 32, got 33',
    );
  });

  it('bad legacy pci slot', () => {
    expect(errorOf(withChange((d) => { delete d[1][0].hvinfo; d[1][0].pci = 32; }))).toBe(
      'conf/web1.runtime: nics[0].pci: expected a PCI slot number from 0 to 31, got 32',
    );
  });

  it('collects every problem, in document order', () => {
    const text = withChange((d) => {
      d[3][1][0].hvinfo.addr = 'x';
      d[2].disk_type = 'virtio';
      d[1][0].mac = null;
      d[0].push({});
    });
    expect(errorOf(text).split('\n')).toEqual([
      'conf/web1.runtime: kvm_cmd[23]: expected a string or a number, got an object',
      'conf/web1.runtime: nics[0].mac: expected a string, got null',
      'conf/web1.runtime: hvparams.disk_type: expected one of paravirtual, ide, scsi, sd, mtd, pflash, scsi-hd, scsi-block, scsi-generic, scsi-cd; got "virtio"',
      'conf/web1.runtime: disks[1][0].hvinfo.addr: expected hex string like "0xd", got "x"',
    ]);
    try {
      parseRuntimeText(text, SRC);
    } catch (err) {
      expect((err as RuntimeFileError).issues).toHaveLength(4);
      expect((err as RuntimeFileError).issues[3]).toEqual({ path: 'disks[1][0].hvinfo.addr', message: 'expected hex string like "0xd", got "x"' });
    }
  });

  it('odd keys are quoted in paths', () => {
    expect(errorOf(withChange((d) => (d[1][0].hvinfo = { driver: 'e1000', id: 'n', bus: 'pci.0', addr: '0x5', lun: 0 })))).toBe(
      'conf/web1.runtime: nics[0].hvinfo: has both addr (PCI) and channel/scsi-id/lun (SCSI); a device sits on one bus',
    );
  });

  it('a BOM is read like simplejson reads it, and not written back', () => {
    const rf = parseRuntimeText(`\ufeff${read('runtime/scsi-current.ganeti-dump.json')}`, SRC);
    expect(serializeRuntime(rf)).toBe(read('runtime/scsi-current.ganeti-dump.json'));
  });

  it('dumpJson of the raw document equals serializeRuntime without the newline', () => {
    const rf = parseRuntimeText(read('kvm_runtime.json'), SRC);
    expect(`${dumpJson(rf.raw as unknown as Json)}\n`).toBe(serializeRuntime(rf));
  });
});
