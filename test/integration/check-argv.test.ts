/**
 * The check QEMU's command line: what buildCheckArgv makes of a Ganeti 3.0 runtime file (pure part),
 * and that QEMU 7.2 really starts from it, beside the instance, with every medium on null-co and
 * none of the instance's files created (real QEMU part).
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RefusedError } from '../../src/errors.js';
import { createSandboxInstance } from '../../src/demo/sandbox.js';
import { launchInstance } from '../../src/qemu/instance.js';
import { launchQemu, type QemuHandle } from '../../src/qemu/launch.js';
import { buildCheckArgv, requestedAccel } from '../../src/usecases/check/argv.js';
import { checkMigration } from '../../src/usecases/check/run.js';
import { withQmp } from '../../src/qmp/client.js';
import { loadRuntimeFile, parseRuntimeText } from '../../src/runtime/load.js';
import { runtimeFilePath } from '../../src/runtime/root.js';
import type { RuntimeFile } from '../../src/runtime/types.js';
import { requireQemu } from '../helpers/qemu.js';

const FIXTURE = new URL('../fixtures/kvm_runtime.json', import.meta.url);

/** A runtime file: the fixture's NICs/hvparams/disks with this kvm_cmd. */
async function withKvmCmd(kvmCmd: (string | number)[], patch: (doc: unknown[]) => void = () => {}): Promise<RuntimeFile> {
  const { readFile } = await import('node:fs/promises');
  const doc = JSON.parse(await readFile(FIXTURE, 'utf8')) as unknown[];
  doc[0] = kvmCmd;
  patch(doc);
  return parseRuntimeText(JSON.stringify(doc), 'conf/xen-test-inst2.runtime', 'xen-test-inst2');
}

const noFiles = async () => undefined;
const R = '/var/run/ganeti/kvm-hypervisor';

/** Pairs of (option, value) for easy assertions. */
function pairs(argv: readonly string[]): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (['-usb', '-no-acpi', '-no-reboot', '-nodefaults'].includes(a)) out.push([a, undefined]);
    else {
      out.push([a, next]);
      i++;
    }
  }
  return out;
}

describe('buildCheckArgv (what the check QEMU is started with)', () => {
  it("drops the instance's pid file, monitor, QMP, log, VNC, -daemonize, -name, -m; serial sockets become null", async () => {
    const rf = await withKvmCmd([
      '/usr/bin/kvm', '-name', 'xen-test-inst2', '-m', 1024, '-smp', '2', '-pidfile', `${R}/pid/xen-test-inst2`,
      '-device', 'virtio-balloon', '-daemonize', '-D', '/var/log/ganeti/kvm/xen-test-inst2.log', '-machine', 'pc-i440fx-7.2,accel=kvm',
      '-monitor', `unix:${R}/ctrl/xen-test-inst2.monitor,server,nowait`,
      '-serial', `unix:${R}/ctrl/xen-test-inst2.serial,server,nowait`, '-serial', 'none',
      '-usb', '-usbdevice', 'tablet', '-vnc', ':5100', '-qmp', `unix:${R}/ctrl/x.qmp,server,nowait`,
      '-spice', 'addr=0.0.0.0,port=11000', '-S', '-uuid', '0bd2e6b0-0000-4000-8000-000000000000',
    ]);
    const c = await buildCheckArgv(rf, { kvmUsable: false, fileSize: noFiles });
    const text = c.argv.join(' ');
    for (const gone of ['-pidfile', '-daemonize', '-monitor', '-qmp', '-D', '-vnc', '-spice', '-name', '-m', '-S', R]) {
      expect(c.argv.includes(gone) || text.includes(R)).toBe(false);
    }
    expect(pairs(c.argv)).toEqual(
      expect.arrayContaining([
        ['-smp', '2'],
        ['-machine', 'pc-i440fx-7.2'],
        ['-serial', 'null'],
        ['-serial', 'none'],
        ['-usbdevice', 'tablet'],
        ['-uuid', '0bd2e6b0-0000-4000-8000-000000000000'],
        ['-device', 'virtio-balloon'],
        ['-incoming', 'defer'],
      ]),
    );
    expect(c.memoryMb).toBe(64);
    expect(c.keepsMemory).toBe(false);
    // /usr/bin/kvm with accel=kvm asks for KVM; without a usable /dev/kvm the check runs on TCG.
    expect(c.accel).toBe('tcg');
    expect(c.notes.join('\n')).toContain('not usable here');
  });

  it('puts the disks on null-co with the same ids, and the NICs on user netdevs (the fixture: an rbd URI, a symlink)', async () => {
    const rf = await withKvmCmd(['/usr/bin/kvm', '-m', 1024]);
    const c = await buildCheckArgv(rf, { kvmUsable: false, fileSize: async (f) => (f.endsWith(':1') ? 512 * 1024 * 1024 : undefined) });
    const p = pairs(c.argv);
    expect(p).toContainEqual(['-netdev', 'user,id=nic-003fc157-66a8-4e6d']);
    expect(p).toContainEqual(['-device', 'virtio-net-pci,id=nic-003fc157-66a8-4e6d,bus=pci.0,addr=0x8,netdev=nic-003fc157-66a8-4e6d,mac=aa:00:00:bf:2f:16']);
    expect(p).toContainEqual(['-device', 'virtio-blk-pci,id=disk-7c079136-2573-4112,bus=pci.0,addr=0x9,drive=disk-7c079136-2573-4112']);
    expect(p).toContainEqual(['-drive', 'if=none,id=disk-7c079136-2573-4112,driver=null-co,read-zeroes=on']);
    expect(p).toContainEqual(['-drive', `if=none,id=disk-9f5c5bd4-6f60-480b,driver=null-co,read-zeroes=on,size=${512 * 1024 * 1024}`]);
    expect(c.argv.join(' ')).not.toContain('instance-disks');
    expect(c.argv.join(' ')).not.toContain('tap');
  });

  it('cdrom, floppy, -hda and -blockdev media become null-co; an empty cdrom stays empty; chardevs become null with the same id', async () => {
    const rf = await withKvmCmd([
      '/usr/bin/qemu-system-x86_64', '-drive', 'file=/srv/iso/debian.iso,media=cdrom,format=raw,if=ide', '-drive', 'file=,media=cdrom,if=ide,index=3',
      '-drive', 'file=/srv/fd.img,format=raw,media=disk,if=floppy', '-hdb', '/srv/old.img',
      '-blockdev', 'driver=raw,node-name=extra0,file.driver=file,file.filename=/srv/x.img',
      '-blockdev', '{"driver":"qcow2","node-name":"extra1","file":{"driver":"file","filename":"/srv/y.qcow2"}}',
      '-chardev', 'socket,path=/run/x.qga,server=on,wait=off,id=qga0', '-chardev', 'spicevmc,id=spicechannel0,name=vdagent',
      '-chardev', 'socket,id=mon0,host=0.0.0.0,port=4444,server=on,mux=on',
      '-parallel', 'file:/tmp/lp', '-pflash', '/usr/share/OVMF/OVMF_VARS.fd',
    ]);
    const c = await buildCheckArgv(rf, { kvmUsable: false, fileSize: async (f) => (f.includes('OVMF') ? 131072 : undefined) });
    const p = pairs(c.argv);
    expect(p).toEqual(
      expect.arrayContaining([
        ['-drive', 'media=cdrom,if=ide,driver=null-co,read-zeroes=on'],
        ['-drive', 'media=cdrom,if=ide,index=3'],
        ['-drive', 'media=disk,if=floppy,driver=null-co,read-zeroes=on'],
        ['-drive', 'if=ide,index=1,media=disk,driver=null-co,read-zeroes=on'],
        ['-drive', 'if=pflash,driver=null-co,read-zeroes=on,size=131072'],
        ['-blockdev', 'driver=null-co,node-name=extra0,read-zeroes=on'],
        ['-blockdev', '{"driver":"null-co","read-zeroes":true,"node-name":"extra1"}'],
        ['-chardev', 'null,id=qga0'],
        ['-chardev', 'null,id=spicechannel0'],
        ['-chardev', 'null,id=mon0,mux=on'],
        ['-parallel', 'null'],
      ]),
    );
    expect(c.argv.join(' ')).not.toMatch(/\/srv|\/run\/x|4444|OVMF|\/tmp\/lp/);
  });

  it('networks from kvm_extra: taps, sockets and host forwarding become plain user networking', async () => {
    const rf = await withKvmCmd([
      '/usr/bin/qemu-system-x86_64', '-netdev', 'tap,id=x0,ifname=tap9,script=/etc/qemu-ifup', '-device', 'e1000,netdev=x0',
      '-netdev', '{"type":"socket","id":"x1","listen":":1234"}', '-net', 'user,hostfwd=tcp::2222-:22,id=u0', '-net', 'nic,model=rtl8139',
      '-nic', 'tap,ifname=tap8,model=virtio,mac=52:54:00:00:00:01',
    ]);
    const p = pairs((await buildCheckArgv(rf, { kvmUsable: false, fileSize: noFiles })).argv);
    expect(p).toEqual(
      expect.arrayContaining([
        ['-netdev', 'user,id=x0'],
        ['-device', 'e1000,netdev=x0'],
        ['-netdev', 'user,id=x1'],
        ['-net', 'user,id=u0'],
        ['-net', 'nic,model=rtl8139'],
        ['-nic', 'user,model=virtio,mac=52:54:00:00:00:01'],
      ]),
    );
  });

  it('accelerator: KVM only when asked for and usable; -cpu host becomes max on TCG; accel keys never reach kvm_cmd', async () => {
    expect(requestedAccel(['/usr/bin/kvm'])).toBe('kvm');
    expect(requestedAccel(['/usr/bin/qemu-system-x86_64'])).toBe('tcg');
    expect(requestedAccel(['/usr/bin/qemu-system-x86_64', '-enable-kvm'])).toBe('kvm');
    expect(requestedAccel(['/usr/bin/kvm', '-machine', 'pc,accel=tcg'])).toBe('tcg');
    expect(requestedAccel(['/usr/bin/qemu-system-x86_64', '-accel', 'kvm'])).toBe('kvm');
    const rf = await withKvmCmd(['/usr/bin/qemu-system-x86_64', '-enable-kvm', '-machine', 'pc,accel=kvm:tcg', '-accel', 'kvm', '-cpu', 'host,+vmx']);
    const tcg = await buildCheckArgv(rf, { kvmUsable: false, fileSize: noFiles });
    expect(tcg.accel).toBe('tcg');
    expect(pairs(tcg.argv)).toEqual(expect.arrayContaining([['-machine', 'pc'], ['-cpu', 'max,+vmx']]));
    expect(tcg.argv).not.toContain('-enable-kvm');
    expect(tcg.argv).not.toContain('-accel');
    const kvm = await buildCheckArgv(rf, { kvmUsable: true, fileSize: noFiles });
    expect(kvm.accel).toBe('kvm');
    expect(pairs(kvm.argv)).toContainEqual(['-cpu', 'host,+vmx']);
    expect((await buildCheckArgv(rf, { accel: 'tcg', kvmUsable: true, fileSize: noFiles })).accel).toBe('tcg');
  });

  it('memory: 64 MiB, unless NUMA or memory backends need the real size; file backends become RAM backends', async () => {
    const plain = await buildCheckArgv(await withKvmCmd(['/usr/bin/qemu-system-x86_64', '-m', 4096, '-mem-path', '/dev/hugepages', '-mem-prealloc']), {
      kvmUsable: false,
      fileSize: noFiles,
    });
    expect(plain.keepsMemory).toBe(false);
    expect(plain.argv).not.toContain('-m');
    expect(plain.argv).not.toContain('-mem-path');
    expect(plain.argv).not.toContain('-mem-prealloc');
    const numa = await buildCheckArgv(
      await withKvmCmd([
        '/usr/bin/qemu-system-x86_64', '-m', 4096, '-object', 'memory-backend-file,id=m0,size=4G,mem-path=/dev/hugepages,share=on,prealloc=on',
        '-numa', 'node,memdev=m0', '-overcommit', 'mem-lock=on',
      ]),
      { kvmUsable: false, fileSize: noFiles },
    );
    expect(numa.keepsMemory).toBe(true);
    expect(pairs(numa.argv)).toEqual(expect.arrayContaining([['-m', '4096'], ['-object', 'memory-backend-ram,id=m0,size=4G'], ['-numa', 'node,memdev=m0']]));
    expect(numa.argv).not.toContain('-overcommit');
  });

  it('scsi-block / scsi-generic disks: started as scsi-hd at the same place, noted and remembered for the comparison', async () => {
    const rf = await withKvmCmd(['/usr/bin/qemu-system-x86_64', '-device', 'lsi,id=scsi'], (doc) => {
      const h = doc[2] as Record<string, unknown>;
      h.disk_type = 'scsi-block';
      const disks = doc[3] as [Record<string, unknown>, string, null][];
      disks.forEach((d, i) => {
        d[0].hvinfo = { driver: 'scsi-block', id: `disk-0000000${i}-0000-4000`, bus: 'scsi.0', channel: 0, 'scsi-id': i, lun: 0 };
      });
    });
    const c = await buildCheckArgv(rf, { kvmUsable: false, fileSize: noFiles });
    expect(pairs(c.argv)).toContainEqual(['-device', 'scsi-hd,id=disk-00000000-0000-4000,bus=scsi.0,channel=0,scsi-id=0,lun=0,drive=disk-00000000-0000-4000']);
    expect(c.substituted).toEqual({ 'disk-00000000-0000-4000': 'scsi-block', 'disk-00000001-0000-4000': 'scsi-block' });
    expect(c.notes.join('\n')).toContain('disk-00000000-0000-4000 is a scsi-block');
  });

  it.each([
    [['-device', 'vfio-pci,host=0000:3b:00.0,id=gpu0'], /-device vfio-pci \(gpu0\) takes a host device/],
    [['-device', '{"driver":"vhost-vsock-pci","guest-cid":3}'], /-device vhost-vsock-pci takes a host device/],
    [['-device', 'usb-host,hostbus=1,hostaddr=2'], /usb-host/],
    [['-readconfig', '/etc/qemu/extra.cfg'], /-readconfig \/etc\/qemu\/extra.cfg, which reads devices from a file/],
    [['-set', 'drive.d0.file=/x'], /-set/],
    [['-tpmdev', 'passthrough,id=tpm0,path=/dev/tpm0'], /-tpmdev/],
    [['-add-fd', 'fd=3,set=1'], /-add-fd/],
  ])('refuses %j: nothing a second QEMU must not take', async (extra, message) => {
    const rf = await withKvmCmd(['/usr/bin/qemu-system-x86_64', ...extra]);
    const err = await buildCheckArgv(rf, { kvmUsable: false, fileSize: noFiles }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RefusedError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
  });
});

describe('a Ganeti 3.0-like command line on real QEMU', () => {
  requireQemu();
  let root: string;
  const handles: QemuHandle[] = [];
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'pb-check-argv-'));
  });
  afterEach(async () => {
    await Promise.all(handles.splice(0).map((h) => h.stop()));
    rmSync(root, { recursive: true, force: true });
  });

  it('the check QEMU starts with every medium on null-co, creates none of the instance\'s files, and matches the instance', async () => {
    const file = (name: string, size: number) => {
      const p = path.join(root, name);
      writeFileSync(p, '');
      truncateSync(p, size);
      return p;
    };
    const iso = file('debian.iso', 4 << 20);
    const floppy = file('floppy.img', 1474560);
    mkdirSync(path.join(root, 'log'));
    const extra = [
      '-drive', `file=${iso},media=cdrom,format=raw,if=ide`,
      '-drive', `file=${floppy},format=raw,media=disk,if=floppy`,
      '-D', path.join(root, 'log', 'gnt1.log'),
      '-usb', '-usbdevice', 'tablet',
      '-chardev', `socket,path=${path.join(root, 'ctrl', 'gnt1.qga')},server=on,wait=off,id=qga0`,
      '-device', 'virtio-serial,id=qga0',
      '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0',
      '-vnc', `unix:${path.join(root, 'ctrl', 'gnt1.vnc')}`,
      '-uuid', '7e1c0b5e-1111-4222-8333-944455556666',
      '-rtc', 'base=localtime',
    ];
    await createSandboxInstance(root, { name: 'gnt1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 2, nics: 2, extraKvmCmd: extra });
    const rf = await loadRuntimeFile(runtimeFilePath(root, 'gnt1'), { instance: 'gnt1' });
    const check = await buildCheckArgv(rf, { accel: 'tcg' });

    // Started alone first: nothing of the instance may appear under the root.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-check-q-'));
    try {
      const q = await launchQemu({ binary: check.binary, qmpSocket: path.join(dir, 'q.sock'), argv: check.argv, memoryMb: 64, startTimeoutMs: 20_000 });
      handles.push(q);
      const blocks = await withQmp(q.qmpSocket, {}, (qmp) =>
        qmp.execute<{ device: string; inserted?: { drv: string; file: string } }[]>('query-block'),
      );
      const media = blocks.filter((b) => b.inserted);
      expect(media.length).toBe(4); // cdrom, floppy, two disks
      for (const b of media) {
        expect(b.inserted!.drv).toBe('null-co');
        expect(b.inserted!.file).not.toContain(root);
      }
      expect(readdirSync(path.join(root, 'ctrl'))).toEqual([]);
      expect(readdirSync(path.join(root, 'pid'))).toEqual([]);
      expect(readdirSync(path.join(root, 'log'))).toEqual([]);
      await q.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // And beside the instance, the layouts match (cdrom, floppy, USB tablet, virtio-serial, serial ports…).
    handles.push(await launchInstance(root, 'gnt1', { startTimeoutMs: 20_000 }));
    const r = await checkMigration(root, 'gnt1', { accel: 'tcg' });
    expect(r.differences).toEqual([]);
    expect(r.ok).toBe(true);
  });
});
