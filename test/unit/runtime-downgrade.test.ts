/**
 * The pure downgrade (src/runtime/downgrade.ts): a runtime file back to the pre-hvinfo form.
 * Against Ganeti's own loaders in test/integration/downgrade-ganeti.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { RuntimeFileError } from '../../src/errors.js';
import { lossOf, OLD_DISK_KEYS, OLD_NIC_KEYS, planDowngrade } from '../../src/runtime/downgrade.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import type { Json, JsonObject } from '../../src/runtime/types.js';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures');
const read = (rel: string): string => readFileSync(path.join(FIXTURES, rel), 'utf8');
/** The fixture as Ganeti 3.0's serializer.DumpJson writes it (one line): a file as found on a node. */
const GANETI_TEXT = read('runtime/kvm_runtime.ganeti-dump.json');

type Doc = [Json[], JsonObject[], JsonObject, [JsonObject, string, string | null][]];
const docOf = (text: string): Doc => JSON.parse(text) as Doc;

function plan(text: string) {
  return planDowngrade(text, 'conf/web1.runtime', 'web1');
}

function downgraded(text: string) {
  const p = plan(text);
  if (p.status !== 'downgrade') throw new Error(`expected a downgrade, got ${JSON.stringify(p)}`);
  return p;
}

function refusedLines(text: string): string[] {
  const p = plan(text);
  if (p.status !== 'refused') throw new Error(`expected a refusal, got ${p.status}`);
  return p.reasons.map((r) => `${r.path}: ${r.message}`);
}

/** The fixture with its devices changed by `edit` (JSON.stringify; pretty form does not matter). */
function variant(edit: (doc: Doc) => void): string {
  const doc = docOf(GANETI_TEXT);
  edit(doc);
  return JSON.stringify(doc);
}

describe('downgrade: what changes', () => {
  it('a file Ganeti 3.0 wrote changes only where each "hvinfo": {…} becomes "pci": N (byte for byte elsewhere)', () => {
    const p = downgraded(GANETI_TEXT);
    const expected = GANETI_TEXT.replace(/"hvinfo": \{"driver": "[^"]+", "id": "[^"]+", "bus": "pci\.0", "addr": "0x([0-9a-f]+)"\}/g, (_m, hex: string) => `"pci": ${parseInt(hex, 16)}`);
    expect(expected).not.toBe(GANETI_TEXT);
    expect(p.text).toBe(expected);
    expect(p.text).not.toContain('hvinfo');
  });

  it('each PCI device gets its slot from hvinfo.addr; the report names QEMU\'s id and the one Ganeti 2.15 derives', () => {
    const p = downgraded(GANETI_TEXT);
    expect(p.devices).toEqual([
      { kind: 'nic', path: 'nics[0]', uuid: '003fc157-66a8-4e6d-8b7e-ec4f69751396', driver: 'virtio-net-pci', id: 'nic-003fc157-66a8-4e6d', slot: 8, oldId: 'hotnic-003fc157-pci-8', idKept: false },
      { kind: 'disk', path: 'disks[0][0]', uuid: '7c079136-2573-4112-82d0-0d3d2aa90d8f', driver: 'virtio-blk-pci', id: 'disk-7c079136-2573-4112', slot: 9, oldId: 'hotdisk-7c079136-pci-9', idKept: false },
      { kind: 'disk', path: 'disks[1][0]', uuid: '9f5c5bd4-6f60-480b-acdc-9bb1a4b7df79', driver: 'virtio-blk-pci', id: 'disk-9f5c5bd4-6f60-480b', slot: 10, oldId: 'hotdisk-9f5c5bd4-pci-10', idKept: false },
    ]);
    const doc = docOf(p.text);
    expect(doc[1][0]!['pci']).toBe(8);
    expect(doc[3].map((e) => e[0]['pci'])).toEqual([9, 10]);
    const loss = lossOf(p.devices)!;
    expect(loss).toContain('nic-003fc157-66a8-4e6d, disk-7c079136-2573-4112, disk-9f5c5bd4-6f60-480b');
    expect(loss).toContain('hotnic-003fc157-pci-8, hotdisk-7c079136-pci-9, hotdisk-9f5c5bd4-pci-10');
    expect(loss).toMatch(/until the instance is restarted or migrated/);
  });

  it('pci takes hvinfo\'s place in the object; every other key, uuid included, keeps its value and order', () => {
    const before = docOf(GANETI_TEXT);
    const after = docOf(downgraded(GANETI_TEXT).text);
    const swap = (o: JsonObject) => Object.keys(o).map((k) => (k === 'hvinfo' ? 'pci' : k));
    expect(Object.keys(after[1][0]!)).toEqual(swap(before[1][0]!));
    expect(Object.keys(after[3][0]![0])).toEqual(swap(before[3][0]![0]));
    const strip = (o: JsonObject) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'hvinfo' && k !== 'pci'));
    expect(after[1].map(strip)).toEqual(before[1].map(strip));
    expect(after[3].map((e) => [strip(e[0]), e[1], e[2]])).toEqual(before[3].map((e) => [strip(e[0]), e[1], e[2]]));
    expect(after[0]).toEqual(before[0]);
    expect(after[2]).toEqual(before[2]);
  });

  it('numbers keep the form they were written in (floats stay floats, big ints exact)', () => {
    const text = GANETI_TEXT.replace('"size": 1024,', '"size": 1024.0, "ctime": 1721112669.1474178, "serial_no": 12345678901234567890,');
    expect(text).not.toBe(GANETI_TEXT);
    const out = downgraded(text).text;
    expect(out).toContain('"size": 1024.0, "ctime": 1721112669.1474178, "serial_no": 12345678901234567890,');
  });

  it('plugboard reads the downgraded file back (as Ganeti 3.0 upgrades it) with every device at the same slot, driver and uuid', () => {
    const before = parseRuntimeText(GANETI_TEXT, 'a');
    const after = parseRuntimeText(downgraded(GANETI_TEXT).text, 'b');
    const place = (rf: typeof before) => [...rf.nics, ...rf.disks].map((d) => ({ uuid: d.uuid, driver: (d.hvinfo as JsonObject)['driver'], addr: (d.hvinfo as JsonObject)['addr'] }));
    expect(place(after)).toEqual(place(before));
    expect(after.disks.map((d) => (d.hvinfo as JsonObject)['id'])).toEqual(['hotdisk-7c079136-pci-9', 'hotdisk-9f5c5bd4-pci-10']);
  });

  it('a device whose id is already the derived one (it came from the old form) loses nothing', () => {
    const text = variant((doc) => {
      (doc[3][0]![0]['hvinfo'] as JsonObject)['id'] = 'hotdisk-7c079136-pci-9';
      doc[1][0]!['hvinfo'] = { driver: 'virtio-net-pci', id: 'hotnic-003fc157-pci-8', bus: 'pci.0', addr: '0x8' };
    });
    const p = downgraded(text);
    expect(p.devices.map((d) => d.idKept)).toEqual([true, true, false]);
    expect(lossOf(p.devices)).toContain('disk-9f5c5bd4-6f60-480b');
    expect(lossOf(p.devices)).not.toContain('hotdisk-7c079136');
    expect(lossOf(p.devices.slice(0, 2))).toBeNull();
  });

  it('hvinfo {} (a device not on an explicit bus) is removed and no slot is written, with a note', () => {
    const text = variant((doc) => {
      doc[2]['nic_type'] = 'ne2k_isa';
      doc[1][0]!['hvinfo'] = {};
    });
    const p = downgraded(text);
    const nic = docOf(p.text)[1][0]!;
    expect(Object.hasOwn(nic, 'hvinfo')).toBe(false);
    expect(Object.hasOwn(nic, 'pci')).toBe(false);
    expect(p.devices[0]).toMatchObject({ path: 'nics[0]', slot: null, id: null, idKept: true });
    expect(p.notes.join('\n')).toMatch(/nics\[0\]: hvinfo was \{\}/);
  });

  it('a device with a stale legacy pci beside hvinfo gets hvinfo\'s slot (as Ganeti 3.0 uses hvinfo), with a note', () => {
    const p = downgraded(read('runtime/legacy-pci.runtime'));
    expect(p.devices.map((d) => [d.path, d.slot])).toEqual([['disks[2][0]', 13]]);
    const doc = docOf(p.text);
    expect(doc[3][2]![0]['pci']).toBe(13);
    expect(Object.keys(doc[3][2]![0]).filter((k) => k === 'pci')).toHaveLength(1);
    expect(p.notes.join('\n')).toMatch(/disks\[2\]\[0\]: also held a stale "pci": 5 .*replaced by 13/);
    // The legacy parts stay as they were: Ganeti 2.15 reads them itself (the NIC without uuid gets one there).
    expect(doc[1][1]).toEqual({ mac: 'aa:00:00:44:55:67', nicparams: { link: 'br0', mode: 'routed' }, pci: 16 });
    expect(doc[3][1]![0]).not.toHaveProperty('pci');
  });

  it('disk_type a 2.15 Ganeti does not know, on an instance without disks: downgraded, with a note', () => {
    const text = variant((doc) => {
      doc[2]['disk_type'] = 'scsi-hd';
      doc[3] = [];
    });
    const p = downgraded(text);
    expect(p.notes.join('\n')).toMatch(/disk_type scsi-hd came with Ganeti 2\.16/);
  });

  it('a file with a BOM, duplicate keys or odd spacing is written in Ganeti\'s one-line form', () => {
    const text = `\ufeff${variant(() => undefined).replace('"mac":', '"mac": "x", "mac":')}`;
    const p = downgraded(text);
    expect(p.text.charCodeAt(0)).toBe('['.charCodeAt(0));
    expect(p.text.match(/"mac"/g)).toHaveLength(1);
    expect(p.text.split('\n')).toHaveLength(2);
  });
});

describe('downgrade: what cannot be', () => {
  it('SCSI disks are refused, one reason per disk naming it, its target and why', () => {
    const lines = refusedLines(read('runtime/scsi-current.runtime'));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^disks\[0\]\[0\]: disk-8db0f07a-f486-481e \(scsi-hd\) is a SCSI disk at scsi\.0 target 0: the pre-hvinfo form holds only a PCI slot/);
    expect(lines[0]).toContain('no SCSI device model');
    expect(lines[1]).toMatch(/^disks\[1\]\[0\]: disk-ee2c4570-165b-4abb \(scsi-hd\) is a SCSI disk at scsi\.0 target 1/);
  });

  it('a device off pci.0 is refused', () => {
    const lines = refusedLines(variant((doc) => ((doc[1][0]!['hvinfo'] as JsonObject)['bus'] = 'pcie.0')));
    expect(lines).toEqual([expect.stringMatching(/^nics\[0\]: nic-003fc157-66a8-4e6d \(virtio-net-pci\) is on bus "pcie\.0": the pre-hvinfo form holds only a slot on pci\.0$/)]);
  });

  it('a driver the instance\'s type does not imply (a device hot-added with another type) is refused', () => {
    const lines = refusedLines(variant((doc) => ((doc[1][0]!['hvinfo'] as JsonObject)['driver'] = 'e1000')));
    expect(lines).toEqual([expect.stringMatching(/^nics\[0\]: nic-003fc157-66a8-4e6d \(e1000\): the instance's nic_type is paravirtual, which makes a NIC virtio-net-pci; .*would start this one as virtio-net-pci$/)]);
    const disk = refusedLines(variant((doc) => (doc[2]['disk_type'] = 'ide')));
    expect(disk).toHaveLength(2);
    expect(disk[0]).toMatch(/^disks\[0\]\[0\]: disk-7c079136-2573-4112 \(virtio-blk-pci\): the instance's disk_type is ide, which makes a disk ide/);
  });

  it('disks on an instance whose disk_type Ganeti 2.15 does not know (a hand-made file: scsi-hd disks on pci.0) are refused', () => {
    const lines = refusedLines(
      variant((doc) => {
        doc[2]['disk_type'] = 'scsi-hd';
        for (const e of doc[3]) (e[0]['hvinfo'] as JsonObject)['driver'] = 'scsi-hd';
      }),
    );
    expect(lines).toEqual([expect.stringMatching(/^hvparams\.disk_type: scsi-hd came with Ganeti 2\.16: Ganeti 2\.15 would start these disks as -drive if=scsi-hd/)]);
  });

  it('hvinfo keys beyond driver/id/bus/addr are refused', () => {
    const lines = refusedLines(variant((doc) => ((doc[1][0]!['hvinfo'] as JsonObject)['netdev'] = 'nd0')));
    expect(lines).toEqual([expect.stringMatching(/^nics\[0\]: .* has hvinfo netdev="nd0": the pre-hvinfo form cannot hold it/)]);
  });

  it('keys Ganeti 2.15\'s objects do not have (also in disk children) are refused: 2.15 would not load the file', () => {
    const lines = refusedLines(
      variant((doc) => {
        doc[1][0]!['vlan_id'] = 5;
        doc[3][0]![0]['children'] = [{ dev_type: 'plain', size: 1, hvinfo: {} }];
      }),
    );
    expect(lines).toEqual([
      expect.stringMatching(/^nics\[0\]\.vlan_id: Ganeti 2\.15's objects\.NIC has no slot "vlan_id": .*TypeError: Object NIC doesn't support the parameter 'vlan_id'/),
      expect.stringMatching(/^disks\[0\]\[0\]\.children\[0\]\.hvinfo: Ganeti 2\.15's objects\.Disk has no slot "hvinfo"/),
    ]);
  });

  it('the old slot lists are Ganeti 3.0\'s minus hvinfo (what 3.0 writes, 2.15 loads)', () => {
    expect(OLD_NIC_KEYS).not.toContain('hvinfo');
    expect(OLD_DISK_KEYS).not.toContain('hvinfo');
    expect(OLD_NIC_KEYS).toContain('pci');
    expect(OLD_DISK_KEYS).toEqual(expect.arrayContaining(['nodes', 'forthcoming', 'serial_no', 'ctime', 'mtime', 'dynamic_params']));
  });

  it('a refusal lists every device that cannot go, and nothing else', () => {
    const text = variant((doc) => {
      (doc[1][0]!['hvinfo'] as JsonObject)['bus'] = 'pci.1';
      (doc[3][1]![0]['hvinfo'] as JsonObject)['driver'] = 'scsi-hd';
    });
    expect(refusedLines(text).map((l) => l.split(':')[0])).toEqual(['nics[0]', 'disks[1][0]']);
  });

  it('a file already in the old form: nothing to do, said so', () => {
    for (const f of ['runtime/legacy-3-items.runtime']) {
      const p = plan(read(f));
      expect(p).toEqual({ status: 'already-old', message: expect.stringMatching(/^already in the pre-hvinfo form \(no NIC or disk has hvinfo\): nothing to downgrade/) });
    }
    const downgradedOnce = downgraded(GANETI_TEXT).text;
    expect(plan(downgradedOnce).status).toBe('already-old');
    const empty = variant((doc) => {
      doc[1] = [];
      doc[3] = [];
    });
    expect(plan(empty)).toMatchObject({ status: 'already-old', message: expect.stringContaining('it has no NICs or disks') });
  });

  it('a file plugboard cannot read throws RuntimeFileError naming the file and the JSON path', () => {
    expect(() => plan('[1, 2')).toThrow(RuntimeFileError);
    expect(() => plan(variant((doc) => ((doc[3][0]![0]['hvinfo'] as JsonObject)['addr'] = 'ten')))).toThrow(/conf\/web1\.runtime: disks\[0\]\[0\]\.hvinfo\.addr: expected hex string/);
  });

  it('every hostile-corpus file either plans (and the result reads back) or fails with a RuntimeFileError', () => {
    const dir = path.resolve(import.meta.dirname, '..', 'hostile', 'runtime');
    let planned = 0;
    for (const name of readdirSync(dir)) {
      const bytes = readFileSync(path.join(dir, name));
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
      } catch {
        continue;
      }
      let p;
      try {
        p = planDowngrade(text, name);
      } catch (err) {
        expect(err, name).toBeInstanceOf(RuntimeFileError);
        continue;
      }
      planned++;
      if (p.status === 'downgrade') {
        expect(p.text, name).not.toMatch(/"hvinfo"/);
        expect(() => parseRuntimeText(p.text, name), name).not.toThrow();
        expect(plan(p.text).status, name).toBe('already-old');
      }
    }
    expect(planned).toBeGreaterThan(10);
  });
});
