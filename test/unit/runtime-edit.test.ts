import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError, RuntimeFileError } from '../../src/errors.js';
import { withDisk, withNic, withoutDisk, withoutNic } from '../../src/runtime/edit.js';
import { dumpJson } from '../../src/runtime/json.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import { serializeRuntime } from '../../src/runtime/serialize.js';
import type { JsonObject } from '../../src/runtime/types.js';

const read = (rel: string): string => readFileSync(new URL(`../fixtures/${rel}`, import.meta.url), 'utf8');
const SRC = 'conf/xen-test-inst2.runtime';

const newDisk: JsonObject = {
  dev_type: 'plain',
  logical_id: ['xenvg', 'c0ffee00-disk2'],
  iv_name: 'disk/2',
  size: 2048,
  mode: 'rw',
  uuid: 'c0ffee00-1111-2222-3333-444455556666',
  hvinfo: { driver: 'virtio-blk-pci', id: 'disk-c0ffee00-1111-2222', bus: 'pci.0', addr: '0xe' },
};
const newNic: JsonObject = {
  mac: 'aa:00:00:00:00:99',
  nicparams: { mode: 'bridged', link: 'br1', vlan: '' },
  uuid: 'beef0000-1111-2222-3333-444455556666',
  hvinfo: { driver: 'virtio-net-pci', id: 'nic-beef0000-1111-2222', bus: 'pci.0', addr: '0xf' },
};

describe('withDisk / withoutDisk', () => {
  it('appends the entry: the file Ganeti wrote changes only by the added entry', () => {
    const text = read('runtime/kvm_runtime.ganeti-dump.json');
    const rf = parseRuntimeText(text, SRC);
    const after = withDisk(rf, { disk: newDisk, link: '/var/run/ganeti/instance-disks/xen-test-inst2:2', uri: null });
    const entry = dumpJson([newDisk, '/var/run/ganeti/instance-disks/xen-test-inst2:2', null]);
    expect(serializeRuntime(after)).toBe(`${text.slice(0, -3)}, ${entry}]]\n`);
    expect(after.disks).toHaveLength(3);
    expect(after.disks[2]).toMatchObject({ index: 2, uuid: newDisk.uuid, size: 2048, link: '/var/run/ganeti/instance-disks/xen-test-inst2:2', uri: null });
    // The original is untouched, and unchanged parts are shared.
    expect(rf.disks).toHaveLength(2);
    expect(serializeRuntime(rf)).toBe(text);
    expect(after.raw[2]).toBe(rf.raw[2]);
    expect(after.raw[3][0]).toBe(rf.raw[3][0]);
  });

  it('removes a disk by uuid or by id, keeping the others in order', () => {
    const text = read('runtime/kvm_runtime.ganeti-dump.json');
    const rf = parseRuntimeText(text, SRC);
    const byUuid = withoutDisk(rf, '7c079136-2573-4112-82d0-0d3d2aa90d8f');
    const byId = withoutDisk(rf, 'disk-7c079136-2573-4112');
    expect(byUuid.disks.map((d) => [d.index, d.uuid])).toEqual([[0, '9f5c5bd4-6f60-480b-acdc-9bb1a4b7df79']]);
    expect(serializeRuntime(byId)).toBe(serializeRuntime(byUuid));
    // add then remove gives the original bytes back
    const roundTrip = withoutDisk(withDisk(rf, { disk: newDisk, link: '/l', uri: null }), newDisk.uuid as string);
    expect(serializeRuntime(roundTrip)).toBe(text);
  });

  it('keeps floats, big ints and key order of untouched entries exactly', () => {
    const text = read('runtime/edge-values.ganeti-dump.json');
    const rf = parseRuntimeText(text, 'conf/edge.runtime');
    const after = withNic(withDisk(rf, { disk: newDisk, link: '/l', uri: null }), newNic);
    const out = serializeRuntime(after);
    expect(out.slice(0, 200)).toBe(text.slice(0, 200));
    expect(out).toContain('"ctime": 1721112669.0, "mtime": 1e+16');
    expect(out).toContain('{"10": 1, "a": 2, "2": 3, "-1": 4, "01": 5}');
    expect(serializeRuntime(withoutNic(withoutDisk(after, newDisk.uuid as string), newNic.uuid as string))).toBe(text);
  });

  it('refuses a duplicate uuid or device id, and an unknown disk', () => {
    const rf = parseRuntimeText(read('kvm_runtime.json'), SRC);
    const dupUuid = { ...newDisk, uuid: '7c079136-2573-4112-82d0-0d3d2aa90d8f' };
    expect(() => withDisk(rf, { disk: dupUuid, link: '/l', uri: null })).toThrow(
      new InputError(`${SRC}: a disk with uuid 7c079136-2573-4112-82d0-0d3d2aa90d8f is already in the runtime file`),
    );
    const dupId = { ...newDisk, hvinfo: { ...(newDisk.hvinfo as JsonObject), id: 'nic-003fc157-66a8-4e6d' } };
    expect(() => withDisk(rf, { disk: dupId, link: '/l', uri: null })).toThrow(
      `${SRC}: a device with id nic-003fc157-66a8-4e6d is already in the runtime file`,
    );
    expect(() => withoutDisk(rf, 'disk-nope')).toThrow(`${SRC}: no disk with uuid or id disk-nope in the runtime file`);
  });

  it('refuses an entry that would make the file invalid, naming the path', () => {
    const rf = parseRuntimeText(read('kvm_runtime.json'), SRC);
    const bad = { ...newDisk, hvinfo: { driver: 'virtio-blk-pci', id: 'disk-x', bus: 'pci.0', addr: '0x40' } };
    expect(() => withDisk(rf, { disk: bad, link: '/l', uri: null })).toThrow(RuntimeFileError);
    expect(() => withDisk(rf, { disk: bad, link: '/l', uri: null })).toThrow(
      `${SRC}: disks[2][0].hvinfo.addr: slot 0x40 is outside the PCI bus (0x0-0x1f)`,
    );
    const noHvinfo: JsonObject = { ...newDisk };
    delete noHvinfo.hvinfo;
    expect(() => withDisk(rf, { disk: noHvinfo, link: '/l', uri: null })).toThrow(`${SRC}: disks[2][0].hvinfo: missing, expected an object`);
  });

  it('copies the caller’s disk object: changing it afterwards does not change the file', () => {
    const rf = parseRuntimeText(read('kvm_runtime.json'), SRC);
    const disk = structuredClone(newDisk);
    const after = withDisk(rf, { disk, link: '/l', uri: null });
    disk.size = 1;
    expect(after.disks[2]!.size).toBe(2048);
  });
});

describe('withNic / withoutNic', () => {
  it('appends and removes NICs; the instance, format and upgrades carry over', () => {
    const rf = parseRuntimeText(read('runtime/legacy-pci.runtime'), 'conf/old2.runtime');
    const after = withNic(rf, newNic);
    expect(after.nics.map((n) => n.uuid)).toEqual([rf.nics[0]!.uuid, rf.nics[1]!.uuid, newNic.uuid]);
    expect(after.nics[2]).toMatchObject({ index: 2, mac: 'aa:00:00:00:00:99', mode: 'bridged', link: 'br1' });
    expect(after.instance).toBe('old2');
    expect(after.upgrades).toBe(rf.upgrades);
    const removed = withoutNic(after, 'hotnic-4564e5d5-pci-7');
    expect(removed.nics.map((n) => n.index)).toEqual([0, 1]);
    expect(removed.nics.map((n) => n.uuid)).toEqual([rf.nics[1]!.uuid, newNic.uuid]);
    expect(() => withNic(after, newNic)).toThrow(`a NIC with uuid ${newNic.uuid as string} is already in the runtime file`);
    expect(() => withoutNic(rf, 'nic-x')).toThrow('conf/old2.runtime: no NIC with uuid or id nic-x in the runtime file');
  });
});
