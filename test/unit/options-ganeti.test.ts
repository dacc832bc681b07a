import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeFileError } from '../../src/errors.js';
import {
  aioCacheParameters,
  deviceOptions,
  diskOptions,
  hvinfoDeviceString,
  nicOptions,
  startArgv,
  symbolicTapFds,
  tapNetdev,
  toArgv,
  upgradedKvmCmd,
  userNetdev,
  type DeviceOptionsConfig,
} from '../../src/qemu/options.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import type { Json } from '../../src/runtime/types.js';
import { ganetiAvailable, ganetiDeviceOptions, GanetiRaisedError } from '../helpers/ganeti.js';
import { BASE_KVM_CMD, FIXTURE, fixture, idOf, pci, runtime, runtimeDoc, runtimeText, scsiAt, uuid, type RuntimeSpec } from './bus-helpers.js';

const VBLK = 'virtio-blk-pci';
const VNET = 'virtio-net-pci';
const sym = (): DeviceOptionsConfig => ({ tapFds: symbolicTapFds() });

describe('deviceOptions: the fixture, exactly as Ganeti 3.0 starts it', () => {
  it('gives the NIC options then -boot c and -device/-drive per disk, character for character', () => {
    expect(toArgv(deviceOptions(fixture(), sym()))).toEqual([
      '-netdev',
      'type=tap,id=nic-003fc157-66a8-4e6d,fd=TAPFD0',
      '-device',
      'virtio-net-pci,id=nic-003fc157-66a8-4e6d,bus=pci.0,addr=0x8,netdev=nic-003fc157-66a8-4e6d,mac=aa:00:00:bf:2f:16',
      '-boot',
      'c',
      '-device',
      'virtio-blk-pci,id=disk-7c079136-2573-4112,bus=pci.0,addr=0x9,drive=disk-7c079136-2573-4112',
      '-drive',
      'file=/var/run/ganeti/instance-disks/xen-test-inst2:0,format=raw,if=none,aio=threads,id=disk-7c079136-2573-4112,auto-read-only=off',
      '-device',
      'virtio-blk-pci,id=disk-9f5c5bd4-6f60-480b,bus=pci.0,addr=0xa,drive=disk-9f5c5bd4-6f60-480b',
      '-drive',
      'file=/var/run/ganeti/instance-disks/xen-test-inst2:1,format=raw,if=none,aio=threads,id=disk-9f5c5bd4-6f60-480b,auto-read-only=off',
    ]);
  });

  it('tags every option with its device in the structured form', () => {
    const opts = deviceOptions(fixture(), sym());
    expect(opts[0]).toEqual({ option: '-netdev', value: 'type=tap,id=nic-003fc157-66a8-4e6d,fd=TAPFD0', device: { kind: 'nic', index: 0, id: 'nic-003fc157-66a8-4e6d' } });
    expect(opts[2]).toEqual({ option: '-boot', value: 'c' });
    expect(opts[5]!.device).toEqual({ kind: 'disk', index: 1, id: 'disk-9f5c5bd4-6f60-480b' });
  });

  it('numbers tap fds from 3 by default (a deterministic stand-in for the fds Ganeti opens)', () => {
    expect(nicOptions(fixture())[0]!.value).toBe('type=tap,id=nic-003fc157-66a8-4e6d,fd=3');
  });

  it('offers other netdevs for a QEMU plugboard starts itself (user networking, a named tap)', () => {
    expect(nicOptions(fixture(), { netdevFor: userNetdev })[0]!.value).toBe('user,id=nic-003fc157-66a8-4e6d');
    expect(nicOptions(fixture(), { netdevFor: tapNetdev(() => 'pbtap0') })[0]!.value).toBe(
      'tap,id=nic-003fc157-66a8-4e6d,ifname=pbtap0,script=no,downscript=no',
    );
  });
});

describe('deviceOptions: Ganeti 3.0 rules', () => {
  it('writes hvinfo keys in the file\'s order (an upgraded legacy device has driver, id, addr, bus)', () => {
    const doc = runtimeDoc({ nics: [{ hvinfo: {} }] }) as [Json[], Record<string, Json>[], Json, Json[]];
    delete doc[1][0]!.hvinfo;
    doc[1][0]!.pci = 5;
    const rf = parseRuntimeText(JSON.stringify(doc), 'conf/x.runtime');
    const dev = nicOptions(rf, sym())[1]!.value;
    expect(dev).toBe('virtio-net-pci,id=hotnic-00000200-pci-5,addr=0x5,bus=pci.0,netdev=hotnic-00000200-pci-5,mac=aa:00:00:00:00:00');
  });

  it('writes SCSI hvinfo as driver,id,bus,channel,scsi-id,lun', () => {
    expect(hvinfoDeviceString(scsiAt(2, 'disk-a'))).toBe('scsi-hd,id=disk-a,bus=scsi.0,channel=0,scsi-id=2,lun=0');
  });

  it('derives aio/cache like _GenerateDiskAioCacheParameters', () => {
    expect(aioCacheParameters(undefined, 'default', 'plain')).toBe(',aio=threads');
    expect(aioCacheParameters('threads', 'writeback', 'plain')).toBe(',aio=threads,cache=writeback');
    expect(aioCacheParameters('native', 'writeback', 'plain')).toBe(',aio=native,cache=none');
    expect(aioCacheParameters('threads', 'writeback', 'blockdev')).toBe(',aio=threads,cache=none');
    expect(aioCacheParameters('threads', 'writeback', 'rbd')).toBe(',aio=threads,cache=writeback');
    expect(aioCacheParameters('', 'default', 'sharedfile')).toBe(',aio=threads,cache=none');
  });

  it('passes -net none when there are no NICs, and -device MODEL without addr for a NIC without hvinfo', () => {
    expect(toArgv(nicOptions(runtime()))).toEqual(['-net', 'none']);
    const rf = runtime({ hvparams: { nic_type: 'e1000' }, nics: [{ hvinfo: {}, mac: 'aa:00:00:00:00:07' }] });
    expect(toArgv(nicOptions(rf, sym()))).toEqual(['-netdev', 'type=tap,id=netdev0,fd=TAPFD0', '-device', 'e1000,netdev=netdev0,mac=aa:00:00:00:00:07']);
  });

  it('adds vhost and multiqueue like _GetNetworkDeviceFeatures', () => {
    const rf = runtime({ hvparams: { vhost_net: true, virtio_net_queues: 2 }, nics: [{ hvinfo: pci(0xd, VNET, idOf('nic', 1)) }] });
    expect(toArgv(nicOptions(rf, sym()))).toEqual([
      '-netdev',
      `type=tap,id=${idOf('nic', 1)},fds=TAPFD0:TAPFD1,vhostfds=VHOSTFD0:VHOSTFD1,vhost=on`,
      '-device',
      `virtio-net-pci,id=${idOf('nic', 1)},bus=pci.0,addr=0xd,netdev=${idOf('nic', 1)},mac=aa:00:00:00:00:00,mq=on,vectors=6`,
    ]);
  });

  it('starts legacy disk types as -drive if=TYPE with no id and no -device', () => {
    const rf = runtime({ hvparams: { disk_type: 'ide' }, disks: [{ hvinfo: pci(0xc, 'ide', idOf('disk', 1)) }] });
    expect(toArgv(diskOptions(rf))).toEqual(['-boot', 'c', '-drive', 'file=/var/run/ganeti/instance-disks/inst1.example.com:0,format=raw,if=ide,aio=threads,auto-read-only=off']);
  });

  it('uses the URI of a userspace-access disk, the symlink otherwise; no -boot c with a kernel_path', () => {
    const rf = runtime({
      hvparams: { kernel_path: '/boot/vmlinuz' },
      disks: [
        { hvinfo: pci(0xc, VBLK, idOf('disk', 1)), params: { access: 'userspace' }, uri: 'rbd:pool/img-1' },
        { hvinfo: pci(0xd, VBLK, idOf('disk', 2)), uuid: uuid(2), uri: 'rbd:pool/img-2' },
      ],
    });
    const drives = diskOptions(rf).filter((o) => o.option === '-drive').map((o) => o.value);
    expect(drives[0]).toMatch(/^file=rbd:pool\/img-1,format=raw,if=none,/);
    expect(drives[1]).toMatch(/^file=\/var\/run\/ganeti\/instance-disks\/inst1\.example\.com:1,/);
    expect(diskOptions(rf).some((o) => o.option === '-boot')).toBe(false);
  });

  it('refuses read-only disks and disks without hvinfo, as Ganeti does, naming where', () => {
    const ro = runtime({ disks: [{ hvinfo: pci(0xc, VBLK, idOf('disk', 1)), mode: 'ro' }] });
    expect(() => diskOptions(ro)).toThrow(RuntimeFileError);
    expect(() => diskOptions(ro)).toThrow(
      'conf/inst1.example.com.runtime: disks[0][0].mode: disk/0 is read-only (ro): Ganeti refuses to start KVM instances with read-only disks',
    );
    const bare = runtime({ disks: [{ hvinfo: {} }] });
    expect(() => diskOptions(bare)).toThrow('disks[0][0].hvinfo: disk/0 has no hvinfo id');
  });

  it('offers the -blockdev form (newer Ganeti, and plugboard\'s blockdev-add)', () => {
    const rf = runtime({
      hvparams: { disk_cache: 'none', disk_discard: 'unmap', disk_aio: 'native' },
      disks: [{ hvinfo: pci(0xc, VBLK, idOf('disk', 1)) }, { hvinfo: pci(0xd, VBLK, idOf('disk', 2)), uuid: uuid(2), devType: 'file' }],
    });
    expect(toArgv(diskOptions(rf, { blockdev: true }))).toEqual([
      '-device',
      `virtio-blk-pci,id=${idOf('disk', 1)},bus=pci.0,addr=0xc,drive=${idOf('disk', 1)},write-cache=on,bootindex=1`,
      '-blockdev',
      `driver=raw,node-name=${idOf('disk', 1)},discard=unmap,cache.direct=on,cache.no-flush=off,file.driver=host_device,file.filename=/var/run/ganeti/instance-disks/inst1.example.com:0,file.aio=native,auto-read-only=off`,
      '-device',
      `virtio-blk-pci,id=${idOf('disk', 2)},bus=pci.0,addr=0xd,drive=${idOf('disk', 2)},write-cache=on`,
      '-blockdev',
      `driver=raw,node-name=${idOf('disk', 2)},discard=unmap,cache.direct=on,cache.no-flush=off,file.driver=file,file.filename=/var/run/ganeti/instance-disks/inst1.example.com:1,file.aio=native,auto-read-only=off`,
    ]);
    const wt = runtime({ hvparams: { disk_cache: 'writethrough' }, disks: [{ hvinfo: pci(0xc, VBLK, idOf('disk', 1)) }] });
    const [dev, blk] = diskOptions(wt, { blockdev: true, fileDriverFor: () => 'file' });
    expect(dev!.value).toContain('write-cache=off');
    expect(blk!.value).toBe(
      `driver=raw,node-name=${idOf('disk', 1)},cache.direct=off,cache.no-flush=off,file.driver=file,file.filename=/var/run/ganeti/instance-disks/inst1.example.com:0,file.aio=threads,auto-read-only=off`,
    );
  });

  it('upgrades kvm_cmd like _UpgradeSerializedRuntime before starting (-balloon, -localtime, -vnc tls)', () => {
    expect(upgradedKvmCmd(['/usr/bin/kvm', '-localtime', '-balloon', 'virtio,addr=0x5', '-m', 64, '-vnc', ':1,tls,x509verify=/pki'])).toEqual([
      '/usr/bin/kvm',
      '-rtc',
      'base=localtime',
      '-device',
      'virtio-balloon,addr=0x5',
      '-m',
      '64',
      '-object',
      'tls-creds-x509,id=vnctls0,endpoint=server,dir=/pki,verify-peer=yes',
      '-vnc',
      ':1,tls-creds=vnctls0',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Against Ganeti 3.0's own _ExecuteKVMRuntime (test/compat/ganeti_runtime.py device-options).

describe.skipIf(!ganetiAvailable())('deviceOptions: identical to Ganeti 3.0\'s _ExecuteKVMRuntime', () => {
  // Made when the suite runs (a skipped suite's body still runs at collection, its hooks do not).
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pb-options-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const file = (text: string): string => {
    const p = path.join(dir, `i${n++}.runtime`);
    writeFileSync(p, text);
    return p;
  };
  const qmpOf = (name: string) => [
    `unix:/var/run/ganeti/kvm-hypervisor/ctrl/${name}.qmp,server,nowait`,
    `unix:/var/run/ganeti/kvm-hypervisor/ctrl/${name}.kvmd,server,nowait`,
  ];

  const cases: [string, RuntimeSpec][] = [
    ['SCSI disks on lsi, vhost multiqueue NICs, writeback cache, unmap', {
      kvmCmd: [...BASE_KVM_CMD, '-device', 'lsi,id=scsi'],
      hvparams: { disk_type: 'scsi-hd', disk_cache: 'writeback', disk_discard: 'unmap', vhost_net: true, virtio_net_queues: 3 },
      disks: [
        { hvinfo: scsiAt(0, idOf('disk', 1)), uuid: uuid(1) },
        { hvinfo: scsiAt(1, idOf('disk', 2), 'scsi-block'), uuid: uuid(2), devType: 'blockdev' },
      ],
      nics: [{ hvinfo: pci(0xc, VNET, idOf('nic', 1)) }, { hvinfo: pci(0xd, VNET, idOf('nic', 2)), uuid: uuid(0x300) }],
    }],
    ['aio native, a userspace rbd disk, kernel boot, e1000 NIC without hvinfo', {
      hvparams: { disk_aio: 'native', kernel_path: '/boot/vmlinuz', nic_type: 'e1000' },
      disks: [{ hvinfo: pci(0xc, VBLK, idOf('disk', 1)), params: { access: 'userspace' }, uri: 'rbd:pool/img', devType: 'rbd' }],
      nics: [{ hvinfo: {} }],
    }],
    ['legacy disk_type ide, no NICs', {
      hvparams: { disk_type: 'ide' },
      disks: [{ hvinfo: pci(0xc, 'ide', idOf('disk', 1)) }, { hvinfo: pci(0xd, 'ide', idOf('disk', 2)), uuid: uuid(2) }],
    }],
  ];

  it('the fixture', () => {
    const g = ganetiDeviceOptions(FIXTURE);
    const rf = fixture();
    expect([...toArgv(nicOptions(rf, sym())), ...toArgv(diskOptions(rf, sym()))]).toEqual([...g.nics, ...g.disks]);
    expect(startArgv(rf, sym(), { qmp: qmpOf('xen-test-inst2') })).toEqual(g.argv.map(String));
  });

  for (const [name, spec] of cases) {
    it(name, () => {
      const text = runtimeText(spec);
      const g = ganetiDeviceOptions(file(text));
      const rf = runtime(spec);
      expect(toArgv(nicOptions(rf, sym()))).toEqual(g.nics);
      expect(toArgv(diskOptions(rf, sym()))).toEqual(g.disks);
      expect(startArgv(rf, sym(), { qmp: qmpOf('inst1.example.com') })).toEqual(g.argv.map(String));
    });
  }

  it('a read-only disk: Ganeti raises, plugboard refuses', () => {
    const spec: RuntimeSpec = { disks: [{ hvinfo: pci(0xc, VBLK, idOf('disk', 1)), mode: 'ro' }] };
    expect(() => ganetiDeviceOptions(file(runtimeText(spec)))).toThrow(GanetiRaisedError);
    expect(() => diskOptions(runtime(spec))).toThrow(RuntimeFileError);
  });
});
