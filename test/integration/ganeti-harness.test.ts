/**
 * The Ganeti 3.0 compatibility harness (test/compat/ganeti_runtime.py via test/helpers/ganeti.ts)
 * answers with Ganeti's own code: loading (incl. legacy upgrades), the slot of the next hot-add and
 * the per-device options at start. Comparisons with plugboard's own parser/allocator/options build
 * on these helpers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/runtime/types.js';
import {
  GanetiRaisedError,
  ganetiAvailable,
  ganetiDeviceOptions,
  ganetiHotAdd,
  ganetiLoad,
  ganetiNextSlot,
} from '../helpers/ganeti.js';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'kvm_runtime.json');
const mustRun = process.env['CI'] === 'true';
const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as [unknown[], JsonObject[], JsonObject, [JsonObject, string, string | null][]];
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe.skipIf(!ganetiAvailable() && !mustRun)('Ganeti 3.0 compatibility harness', () => {
  let dir = '';
  /** Writes a variant of the fixture; `change` edits a deep copy. */
  const variant = (name: string, change: (doc: typeof fixture) => unknown): string => {
    const doc = structuredClone(fixture);
    const result = change(doc) ?? doc;
    const file = path.join(dir, `${name}.runtime`);
    fs.writeFileSync(file, JSON.stringify(result));
    return file;
  };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugboard-ganeti-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('load (_AnalyzeSerializedRuntime)', () => {
    it('returns the fixture as 4 parts, with the legacy -balloon rewritten by Ganeti', () => {
      const rt = ganetiLoad(FIXTURE);
      expect(rt.cmd[0]).toBe('/usr/bin/kvm');
      // `-balloon virtio` in the file → `-device virtio-balloon`: proof _UpgradeSerializedRuntime ran.
      expect(rt.cmd).not.toContain('-balloon');
      expect(rt.cmd.join(' ')).toContain('-device virtio-balloon');
      expect(rt.nics).toHaveLength(1);
      expect(rt.nics[0]).toMatchObject({
        mac: 'aa:00:00:bf:2f:16',
        uuid: '003fc157-66a8-4e6d-8b7e-ec4f69751396',
        hvinfo: { driver: 'virtio-net-pci', id: 'nic-003fc157-66a8-4e6d', bus: 'pci.0', addr: '0x8' },
      });
      expect(rt.hvparams).toEqual(fixture[2]);
      expect(rt.disks.map(([d, link, uri]) => [d['uuid'], (d['hvinfo'] as JsonObject)['addr'], link, uri])).toEqual([
        ['7c079136-2573-4112-82d0-0d3d2aa90d8f', '0x9', '/var/run/ganeti/instance-disks/xen-test-inst2:0', 'rbd://123451214123/'],
        ['9f5c5bd4-6f60-480b-acdc-9bb1a4b7df79', '0xa', '/var/run/ganeti/instance-disks/xen-test-inst2:1', null],
      ]);
    });

    it('upgrades a legacy 3-item file: NIC without uuid gets one, its pci slot becomes hvinfo, -localtime is rewritten', () => {
      const file = variant('legacy3', (doc) => {
        const nic = doc[1][0]!;
        delete nic['uuid'];
        delete nic['hvinfo'];
        nic['pci'] = 6;
        doc[0].push('-localtime');
        return doc.slice(0, 3);
      });
      const rt = ganetiLoad(file);
      expect(rt.disks).toEqual([]);
      const nic = rt.nics[0]!;
      expect(nic['uuid']).toMatch(UUID_RE);
      expect(nic).not.toHaveProperty('pci');
      const first = String(nic['uuid']).split('-')[0];
      expect(nic['hvinfo']).toEqual({ driver: 'virtio-net-pci', id: `hotnic-${first}-pci-6`, bus: 'pci.0', addr: '0x6' });
      expect(rt.cmd.slice(-2)).toEqual(['-rtc', 'base=localtime']);
    });

    it('upgrades a legacy disk with a pci slot, its driver taken from disk_type', () => {
      const file = variant('legacy-disk', (doc) => {
        const disk = doc[3][0]![0];
        delete disk['hvinfo'];
        disk['pci'] = 5;
        doc[2]['disk_type'] = 'scsi-hd';
      });
      const [d0, d1] = ganetiLoad(file).disks;
      expect(d0![0]['hvinfo']).toEqual({ driver: 'scsi-hd', id: 'hotdisk-7c079136-pci-5', bus: 'pci.0', addr: '0x5' });
      expect(d1![0]['hvinfo']).toEqual(fixture[3][1]![0]['hvinfo']);
    });

    it('reports what Ganeti raises for a file it cannot load', () => {
      const file = path.join(dir, 'broken.runtime');
      fs.writeFileSync(file, '[["/usr/bin/kvm"], [');
      expect(() => ganetiLoad(file)).toThrow(GanetiRaisedError);
      expect(() => ganetiLoad(file)).toThrow(/JSONDecodeError/);
    });
  });

  describe('next-slot (_GetBusSlots + _GenerateDeviceHVInfo)', () => {
    it('puts the next disk and NIC at 0xc: the 12 default reservations cover the fixture’s 0x8–0xa', () => {
      expect(ganetiNextSlot(FIXTURE, 'disk')).toEqual({
        driver: 'virtio-blk-pci', id: 'disk-00000000-1111-4222', bus: 'pci.0', addr: '0xc',
      });
      expect(ganetiNextSlot(FIXTURE, 'nic', '9e7c85f6-b6e5-4243-b27d-680b78c6d203')).toEqual({
        driver: 'virtio-net-pci', id: 'nic-9e7c85f6-b6e5-4243', bus: 'pci.0', addr: '0xc',
      });
    });

    it('follows kvm_pci_reservations and skips slots taken above it', () => {
      const file = variant('res8', (doc) => {
        doc[2]['kvm_pci_reservations'] = 8;
        // 0x8 (NIC), 0x9, 0xa (disks) taken → 0xb.
      });
      expect(ganetiNextSlot(file, 'disk')).toMatchObject({ addr: '0xb' });
    });

    it('puts a scsi-hd disk on scsi.0 at the first free target', () => {
      const file = variant('scsi', (doc) => {
        doc[2]['disk_type'] = 'scsi-hd';
        doc[3][0]![0]['hvinfo'] = { driver: 'scsi-hd', id: 'disk-7c079136-2573-4112', bus: 'scsi.0', channel: 0, 'scsi-id': 0, lun: 0 };
      });
      expect(ganetiNextSlot(file, 'disk')).toEqual({
        driver: 'scsi-hd', id: 'disk-00000000-1111-4222', bus: 'scsi.0', channel: 0, 'scsi-id': 1, lun: 0,
      });
    });

    it('surfaces Ganeti’s refusal when every PCI slot is reserved', () => {
      const file = variant('full', (doc) => {
        doc[2]['kvm_pci_reservations'] = 32;
      });
      expect(() => ganetiNextSlot(file, 'nic')).toThrow(/GenericError.*All slots occupied/);
    });
  });

  describe('device-options (_ExecuteKVMRuntime with side effects recorded)', () => {
    it('gives -netdev/-device per NIC and -device/-drive per disk for the fixture', () => {
      const o = ganetiDeviceOptions(FIXTURE);
      expect(o.nics).toEqual([
        '-netdev', 'type=tap,id=nic-003fc157-66a8-4e6d,fd=TAPFD0',
        '-device', 'virtio-net-pci,id=nic-003fc157-66a8-4e6d,bus=pci.0,addr=0x8,netdev=nic-003fc157-66a8-4e6d,mac=aa:00:00:bf:2f:16',
      ]);
      expect(o.disks).toEqual([
        '-boot', 'c',
        '-device', 'virtio-blk-pci,id=disk-7c079136-2573-4112,bus=pci.0,addr=0x9,drive=disk-7c079136-2573-4112',
        '-drive', 'file=/var/run/ganeti/instance-disks/xen-test-inst2:0,format=raw,if=none,aio=threads,id=disk-7c079136-2573-4112,auto-read-only=off',
        '-device', 'virtio-blk-pci,id=disk-9f5c5bd4-6f60-480b,bus=pci.0,addr=0xa,drive=disk-9f5c5bd4-6f60-480b',
        '-drive', 'file=/var/run/ganeti/instance-disks/xen-test-inst2:1,format=raw,if=none,aio=threads,id=disk-9f5c5bd4-6f60-480b,auto-read-only=off',
      ]);
      // The whole command: the runtime's kvm_cmd, then what Ganeti appends, paused (-S) for cont.
      expect(o.argv.slice(0, 3)).toEqual(['/usr/bin/kvm', '-name', 'xen-test-inst2']);
      expect(o.argv).toContain('unix:/var/run/ganeti/kvm-hypervisor/ctrl/xen-test-inst2.qmp,server,nowait');
      expect(o.argv.at(-1)).toBe('-S');
    });

    it('applies disk_cache, disk_aio and disk_discard the way Ganeti does', () => {
      const cached = ganetiDeviceOptions(variant('cache', (doc) => {
        doc[2]['disk_cache'] = 'writeback';
        doc[2]['disk_discard'] = 'unmap';
      }));
      expect(cached.disks[5]).toBe(
        'file=/var/run/ganeti/instance-disks/xen-test-inst2:0,format=raw,if=none,aio=threads,cache=writeback,discard=unmap,id=disk-7c079136-2573-4112,auto-read-only=off',
      );
      const native = ganetiDeviceOptions(variant('native', (doc) => {
        doc[2]['disk_aio'] = 'native';
        doc[2]['disk_cache'] = 'writeback';
      }));
      expect(native.disks[5]).toContain(',if=none,aio=native,cache=none,id=');
    });

    it('writes a legacy NIC’s -device in the key order of its upgraded hvinfo (addr before bus)', () => {
      const file = variant('legacy-nic-options', (doc) => {
        const nic = doc[1][0]!;
        delete nic['hvinfo'];
        nic['pci'] = 6;
      });
      const o = ganetiDeviceOptions(file);
      expect(o.nics[3]).toBe(
        'virtio-net-pci,id=hotnic-003fc157-pci-6,addr=0x6,bus=pci.0,netdev=hotnic-003fc157-pci-6,mac=aa:00:00:bf:2f:16',
      );
    });
  });

  describe('hot-add (HotAddDevice against a recording QMP connection)', () => {
    /** The fixture with the keys Ganeti 3.0 itself writes at start (it has them all). */
    const current = () =>
      variant('current', (doc) => {
        doc[2]['disk_aio'] = 'threads';
        doc[2]['disk_discard'] = 'default';
      });

    it('adds a disk the Ganeti 3.0 way: add-fd, HMP drive_add on /dev/fdset, device_add at 0xc, runtime rewritten', () => {
      const r = ganetiHotAdd(current(), 'disk', { uuid: '9e7c85f6-b6e5-4243-b27d-680b78c6d203' });
      const id = 'disk-9e7c85f6-b6e5-4243';
      expect(r.hvinfo).toEqual({ driver: 'virtio-blk-pci', id, bus: 'pci.0', addr: '0xc' });
      expect(r.commands).toEqual([
        { qmp: { execute: 'query-qmp-schema' } },
        { 'send-fds': 1 },
        { qmp: { execute: 'add-fd' } },
        { hmp: `drive_add dummy file=/dev/fdset/0,if=none,id=${id},format=raw,auto-read-only=off,aio=threads` },
        { qmp: { execute: 'remove-fd', arguments: { 'fdset-id': 0 } } },
        { qmp: { execute: 'device_add', arguments: { driver: 'virtio-blk-pci', id, bus: 'pci.0', addr: '0xc', drive: id } } },
        { qmp: { execute: 'query-pci' } },
      ]);
      const disks = r.runtime[3];
      expect(disks).toHaveLength(3);
      expect(disks[2]![0]['hvinfo']).toEqual(r.hvinfo);
      expect(disks[2]![1]).toBe('/var/run/ganeti/instance-disks/xen-test-inst2:2');
      // Ganeti writes back the upgraded command line, as one line of JSON.
      expect(r.runtime[0]).toContain('virtio-balloon');
      expect(r.runtime_text.endsWith(']]\n')).toBe(true);
      expect(r.runtime_text.split('\n')).toHaveLength(2);
    });

    it('adds a NIC the Ganeti 3.0 way: getfd, netdev_add type=tap with fds, device_add', () => {
      const r = ganetiHotAdd(current(), 'nic', { mac: 'aa:00:00:12:34:56' });
      const id = 'nic-00000000-1111-4222';
      expect(r.commands).toEqual([
        { 'send-fds': 1 },
        { qmp: { execute: 'getfd', arguments: { fdname: `${id}-0` } } },
        { qmp: { execute: 'netdev_add', arguments: { type: 'tap', id, fds: `${id}-0` } } },
        {
          qmp: {
            execute: 'device_add',
            arguments: { driver: 'virtio-net-pci', id, bus: 'pci.0', addr: '0xc', netdev: id, mac: 'aa:00:00:12:34:56' },
          },
        },
        { qmp: { execute: 'query-pci' } },
      ]);
      expect(r.runtime[1].map((n) => n['mac'])).toEqual(['aa:00:00:bf:2f:16', 'aa:00:00:12:34:56']);
    });

    it('fails with KeyError on a runtime file without disk_aio (older files, like the fixture)', () => {
      expect(() => ganetiHotAdd(FIXTURE, 'disk')).toThrow(/KeyError.*disk_aio/);
    });
  });
});
