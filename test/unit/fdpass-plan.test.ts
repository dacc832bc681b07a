/**
 * The plan steps of file-descriptor passing (src/qmp/fdpass/plan.ts): exactly Ganeti's names and
 * order, the fdset chosen at planning, the preview's words; and the helper's source as it ships.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { FD_HELPER_SOURCE } from '../../src/qmp/fdpass/helper-source.js';
import {
  chooseFdset,
  describeFdCommand,
  diskFdSteps,
  fdPassingReason,
  fdsetOf,
  needsDirect,
  nicFdSteps,
  nicFdnames,
  parseFdsets,
  tapCreateStep,
  unplugFdsetStep,
} from '../../src/qmp/fdpass/plan.js';

const open = { typed: '/var/run/ganeti/instance-disks/web1:2', path: '/dev/drbd7', kind: 'block' as const, direct: true, dev: 5, ino: 77 };

describe('disk steps', () => {
  it('drive_add: open, add-fd into the planned set, the drive on host_device /dev/fdset/N, remove-fd; undo for each', () => {
    const steps = diskFdSteps({ id: 'disk-9e7c85f6-b6e5-4243', fdset: 2, backend: 'drive', open, driveOptions: ',if=none,id=disk-9e7c85f6-b6e5-4243,format=raw,auto-read-only=off,aio=threads,cache=none' });
    expect(steps.map((s) => s.command)).toEqual([
      { host: 'fd-open-disk', detail: { handle: 'disk-9e7c85f6-b6e5-4243', ...open } },
      { execute: 'add-fd', arguments: { 'fdset-id': 2, opaque: 'plugboard:disk-9e7c85f6-b6e5-4243' } },
      {
        execute: 'human-monitor-command',
        arguments: {
          'command-line':
            'drive_add dummy file.driver=host_device,file.filename=/dev/fdset/2,if=none,id=disk-9e7c85f6-b6e5-4243,format=raw,auto-read-only=off,aio=threads,cache=none',
        },
      },
      { execute: 'remove-fd', arguments: { 'fdset-id': 2 } },
    ]);
    expect(steps.map((s) => s.passFd?.handle)).toEqual([undefined, 'disk-9e7c85f6-b6e5-4243', undefined, undefined]);
    expect(steps.map((s) => s.undo)).toEqual([
      [{ host: 'fd-drop', detail: { handle: 'disk-9e7c85f6-b6e5-4243' } }],
      [{ execute: 'remove-fd', arguments: { 'fdset-id': 2 } }],
      [{ execute: 'human-monitor-command', arguments: { 'command-line': 'drive_del disk-9e7c85f6-b6e5-4243' } }],
      undefined,
    ]);
    expect(steps[3]!.check).toEqual({ kind: 'gone-ok' });
  });

  it('a regular file keeps Ganeti 3.0\'s file=/dev/fdset/N; blockdev-add gets the protocol driver and filename', () => {
    const file = { ...open, path: '/srv/img.raw', typed: '/srv/img.raw', kind: 'file' as const, direct: false };
    expect(diskFdSteps({ id: 'd', fdset: 0, backend: 'drive', open: file })[2]!.command).toEqual({
      execute: 'human-monitor-command',
      arguments: { 'command-line': 'drive_add dummy file=/dev/fdset/0,if=none,id=d,format=raw' },
    });
    const bd = diskFdSteps({
      id: 'd',
      fdset: 5,
      backend: 'blockdev',
      open,
      blockdev: { driver: 'raw', 'node-name': 'd', cache: { direct: true, 'no-flush': false }, file: { driver: 'host_device', filename: '/dev/drbd7', aio: 'native' } },
    });
    expect(bd[2]!.command).toEqual({
      execute: 'blockdev-add',
      arguments: { driver: 'raw', 'node-name': 'd', cache: { direct: true, 'no-flush': false }, file: { driver: 'host_device', filename: '/dev/fdset/5', aio: 'native' } },
    });
    expect(bd[2]!.undo).toEqual([{ execute: 'blockdev-del', arguments: { 'node-name': 'd' } }]);
  });

  it('the fdset is the lowest id QEMU has not; query-fdsets is read as data', () => {
    expect(chooseFdset([])).toBe(0);
    expect(chooseFdset(parseFdsets([{ 'fdset-id': 0, fds: [] }, { 'fdset-id': 1, fds: [{ fd: 30, opaque: 'x' }] }, { 'fdset-id': 3, fds: [] }]))).toBe(2);
    expect(parseFdsets([{ 'fdset-id': 1, fds: [{ fd: 30, opaque: 'x' }, { fd: 'no' }] }, { 'fdset-id': 'x' }, null, 7])).toEqual([{ id: 1, fds: [{ fd: 30, opaque: 'x' }] }]);
    expect(parseFdsets({ not: 'a list' })).toEqual([]);
  });

  it('/dev/fdset/N is read strictly', () => {
    expect(fdsetOf('/dev/fdset/0')).toBe(0);
    expect(fdsetOf('/dev/fdset/12')).toBe(12);
    for (const f of ['/dev/fdset/', '/dev/fdset/01', '/dev/fdset/1/x', '/dev/fdset/-1', '/dev/loop0', undefined]) expect(fdsetOf(f)).toBeUndefined();
  });

  it('after an unplug, the backing fdset is removed only if QEMU still lists it', () => {
    expect(unplugFdsetStep('/dev/fdset/4', [{ id: 4, fds: [{ fd: 31 }] }])?.command).toEqual({ execute: 'remove-fd', arguments: { 'fdset-id': 4 } });
    expect(unplugFdsetStep('/dev/fdset/4', [])).toBeUndefined();
    expect(unplugFdsetStep('/dev/loop0', [{ id: 0, fds: [] }])).toBeUndefined();
  });

  it('O_DIRECT as Ganeti: cache=none or aio=native', () => {
    expect(needsDirect({ disk_cache: 'none' })).toBe(true);
    expect(needsDirect({ disk_aio: 'native', disk_cache: 'default' })).toBe(true);
    expect(needsDirect({ disk_cache: 'writeback', disk_aio: 'threads' })).toBe(false);
    expect(needsDirect({})).toBe(false);
  });
});

describe('NIC steps', () => {
  it('one queue, no vhost: create the tap, getfd ID-0, netdev_add fds=ID-0', () => {
    const nic = { id: 'nic-5ee6daab-fe5c-4331', tap: 'tap.pb.5ee6daab', vnetHdr: true, queues: 1, vhost: false };
    expect(tapCreateStep(nic).command).toEqual({ host: 'fd-create-tap', detail: { handle: nic.id, tap: nic.tap, vnetHdr: true, queues: 1, vhost: false } });
    const steps = nicFdSteps(nic);
    expect(steps.map((s) => [s.command, s.passFd?.handle, s.undo])).toEqual([
      [{ execute: 'getfd', arguments: { fdname: 'nic-5ee6daab-fe5c-4331-0' } }, 'nic-5ee6daab-fe5c-4331.tap.0', [{ execute: 'closefd', arguments: { fdname: 'nic-5ee6daab-fe5c-4331-0' } }]],
      [{ execute: 'netdev_add', arguments: { type: 'tap', id: nic.id, fds: 'nic-5ee6daab-fe5c-4331-0' } }, undefined, [{ execute: 'netdev_del', arguments: { id: nic.id } }]],
    ]);
  });

  it('vhost with two queues: Ganeti\'s fdnames ID-0, ID-1, ID-vhost-0, ID-vhost-1, in its order', () => {
    expect(nicFdnames('nic-a', 2, true)).toEqual({ fds: ['nic-a-0', 'nic-a-1'], vhostfds: ['nic-a-vhost-0', 'nic-a-vhost-1'] });
    const steps = nicFdSteps({ id: 'nic-a', tap: 't', vnetHdr: true, queues: 2, vhost: true });
    expect(steps.map((s) => s.passFd?.handle)).toEqual(['nic-a.tap.0', 'nic-a.tap.1', 'nic-a.vhost.0', 'nic-a.vhost.1', undefined]);
    expect(steps[4]!.command).toEqual({ execute: 'netdev_add', arguments: { type: 'tap', id: 'nic-a', fds: 'nic-a-0:nic-a-1', vhost: true, vhostfds: 'nic-a-vhost-0:nic-a-vhost-1' } });
  });
});

describe('when descriptors are passed', () => {
  const plain = { use_chroot: false, security_model: 'none' };
  it('-runas and -chroot always; disks also when the instance\'s disks are fdset-backed; otherwise not', () => {
    expect(fdPassingReason({ ...plain, use_chroot: true }, 'nic')).toBe('QEMU runs chrooted (use_chroot=true)');
    expect(fdPassingReason({ ...plain, security_model: 'user', security_domain: 'kvm1' }, 'disk')).toBe('QEMU runs as another user (security_model=user, kvm1)');
    expect(fdPassingReason({ ...plain, security_model: 'pool' }, 'disk')).toBe('QEMU runs as another user (security_model=pool)');
    expect(fdPassingReason(plain, 'disk', ['/dev/drbd1', '/dev/fdset/3'])).toBe("the instance's disks are fdset-backed (/dev/fdset/3), as Ganeti hot-adds them");
    expect(fdPassingReason(plain, 'nic', ['/dev/fdset/3'])).toBeUndefined();
    expect(fdPassingReason(plain, 'disk', ['/dev/drbd1', undefined])).toBeUndefined();
  });
});

describe('the preview', () => {
  it('shows the descriptor steps like any QMP command, with what rides along', () => {
    const steps = diskFdSteps({ id: 'disk-1', fdset: 2, backend: 'drive', open });
    expect(steps.map((s) => describeFdCommand(s.command, s.passFd))).toEqual([
      'host: open /dev/drbd7 (block device) read-write, O_DIRECT as root (/var/run/ganeti/instance-disks/web1:2 → /dev/drbd7)',
      'add-fd {"fdset-id":2,"opaque":"plugboard:disk-1"} + descriptor of /dev/drbd7 (SCM_RIGHTS)',
      'HMP drive_add dummy file.driver=host_device,file.filename=/dev/fdset/2,if=none,id=disk-1,format=raw',
      'remove-fd {"fdset-id":2}',
    ]);
    const nic = { id: 'nic-1', tap: 'tap.pb.1', vnetHdr: true, queues: 2, vhost: true };
    expect(describeFdCommand(tapCreateStep(nic).command)).toBe('host: create tap tap.pb.1 as root (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR|IFF_MULTI_QUEUE, 2 queues; /dev/vhost-net)');
    const [g] = nicFdSteps(nic);
    expect(describeFdCommand(g!.command, g!.passFd)).toBe('getfd {"fdname":"nic-1-0"} + descriptor of tap tap.pb.1 queue 0 (SCM_RIGHTS)');
    expect(describeFdCommand({ host: 'fd-drop', detail: { handle: 'nic-1' } })).toBe("host: close plugboard's descriptors nic-1");
  });
});

describe('the helper source', () => {
  it('is valid Python for /usr/bin/python3 -I -S and answers ping without a QMP socket on fd 3', () => {
    const r = spawnSync('/usr/bin/python3', ['-I', '-S', '-c', FD_HELPER_SOURCE], { input: '1 ping\n2 nope\n3 drop x\n', encoding: 'utf8', env: {} });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^1 ok \d+$/);
    expect(lines[1]).toBe(`2 err NOOP ${Buffer.from('nope').toString('hex')}`);
    expect(lines[2]).toBe('3 ok 0');
  });

  it('carries no template-literal escapes that would change it (no backquote, no ${)', () => {
    expect(FD_HELPER_SOURCE).not.toMatch(/`|\$\{/);
    expect(FD_HELPER_SOURCE).toContain('IFF_TUN_EXCL = 0x8000');
  });
});

describe('the helper source in the bundle', () => {
  it('survives esbuild with the bundle\'s options (minified whitespace and syntax) byte for byte', async () => {
    const { build } = await import('esbuild');
    const out = await build({
      entryPoints: [new URL('../../src/qmp/fdpass/helper-source.ts', import.meta.url).pathname],
      bundle: true,
      write: false,
      format: 'esm',
      target: 'node20',
      platform: 'node',
      minifyWhitespace: true,
      minifySyntax: true,
    });
    const code = out.outputFiles[0]!.text;
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as { FD_HELPER_SOURCE: string };
    expect(mod.FD_HELPER_SOURCE).toBe(FD_HELPER_SOURCE);
  });
});
