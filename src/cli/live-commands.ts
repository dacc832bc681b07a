/**
 * The commands that talk to a running QEMU or to Ganeti: show --live, hotplug, unplug, whatif (and
 * check, in check.ts). Only their definitions live here; what they run is in live-run.ts and
 * ganeti-run.ts, imported when a command runs. On a Ganeti node a change goes through Ganeti by
 * default (usecases/via.ts); `--via qmp` is plugboard's own QMP path.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { Option } from './commander.js';
import type { DiskAddSpec, DiskChange, NicAddSpec, NicChange } from '../actions/plan-ganeti.js';
import { InputError } from '../errors.js';
import type { ChangeOptions, ChangeRequest } from './ganeti-run.js';
import { rapiOptions, viaOf, viaOptions, type RapiFlags } from './ganeti-options.js';
import type { CliIo } from './io.js';
import { jobTimeoutMs, timeoutMs } from './options.js';
import { registerWhatIfCommand } from './whatif.js';

/** `show --live` (see live-run.ts). */
export async function showLive(root: string, name: string, json: boolean, io: CliIo): Promise<number> {
  return (await import('./live-run.js')).showLive(root, name, json, io);
}

/** Runs (or plans) a change the way it goes on this node: through Ganeti or over QMP (see ganeti-run.ts). */
async function runChangeLazily(req: ChangeRequest, opts: ChangeOptions, root: string | undefined, io: CliIo): Promise<number> {
  return (await import('./ganeti-run.js')).runChange(req, opts, root, io);
}

export function registerLiveCommands(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const rootOf = (cmd: Command): string | undefined => cmd.optsWithGlobals().root as string | undefined;
  const common = (c: Command) =>
    rapiOptions(
      viaOptions(
        c
          .option('--dry-run', 'print the plan (QMP commands, runtime-file change, rollback; through Ganeti: the exact RAPI request) and change nothing')
          .option('--json', 'print JSON')
          .option('--runtime-file <file>', 'with --dry-run: plan against this runtime file, no running instance needed (over QMP)'),
      ),
    );
  const change = (req: ChangeRequest, opts: LiveOpts, cmd: Command) => runChangeLazily(req, changeOptions(opts), rootOf(cmd), io);

  /** `hotplug devices`, `unplug devices`: several disks and NICs in one Ganeti job (there is no QMP path for these). */
  const devices = (
    parent: Command,
    description: string,
    disk: [flags: string, help: string],
    nic: [flags: string, help: string],
    changes: (opts: { disk: string[]; nic: string[] }) => { disks: DiskChange[]; nics: NicChange[] },
  ) =>
    common(
      parent
        .command('devices')
        .description(description)
        .argument('<name>', 'instance name')
        .option(disk[0], disk[1], collect, [])
        .option(nic[0], nic[1], collect, []),
    ).action(async (name: string, opts: LiveOpts & { disk: string[]; nic: string[] }, cmd: Command) => {
      const req: ChangeRequest = { instance: name, kind: 'devices', qmpOnly: [], ganetiOnly: [], qmp: null, ganeti: () => ({ kind: 'devices', instance: name, ...changes(opts) }) };
      setExit(await change(req, opts, cmd));
    });

  /** `unplug disk`, `unplug nic`: one device, through Ganeti or over QMP. */
  const unplugOne = (parent: Command, kind: 'disk' | 'nic', description: string, deviceHelp: string, timeoutHelp: string) =>
    common(
      parent
        .command(kind)
        .description(description)
        .argument('<name>', 'instance name')
        .argument('<device>', deviceHelp)
        .option('--timeout <seconds>', timeoutHelp, '10'),
    ).action(async (name: string, device: string, opts: LiveOpts & { timeout: string }, cmd: Command) => {
      const req: ChangeRequest = {
        instance: name,
        kind: kind === 'disk' ? 'remove-disk' : 'remove-nic',
        device,
        qmpOnly: [],
        ganetiOnly: [],
        qmp: () => ({ type: kind === 'disk' ? 'unplug-disk' : 'unplug-nic', instance: name, device, timeoutMs: timeoutMs(opts.timeout) }),
        ganeti: () => (kind === 'disk' ? { kind: 'disk-remove', instance: name, disk: device } : { kind: 'nic-remove', instance: name, nic: device }),
      };
      setExit(await change(req, opts, cmd));
    });

  const hotplug = program
    .command('hotplug')
    .description("hot-add a device to a running instance (on a Ganeti node through a Ganeti job by default; --via qmp for plugboard's own QMP path)");
  common(
    hotplug
      .command('disk')
      .description('hot-add a disk: through Ganeti, a new disk of --size; over QMP, the disk at --path (virtio-blk-pci on pci.0, or scsi-hd/scsi-block/scsi-generic/scsi-cd on scsi.0)')
      .argument('<name>', 'instance name')
      .option('--path <path>', 'over QMP: host path of the disk (block device or raw file)')
      .option('--disk-type <type>', "over QMP: disk_type to use (default: the instance's)")
      .option('--uuid <uuid>', 'over QMP: UUID of the new disk (default: a fresh one)')
      .addOption(new Option('--backend <style>', "over QMP: how to create the backend (default: as the instance's own disks)").choices(['drive', 'blockdev']))
      .option('--size <size>', 'through Ganeti: size of the new disk (512M, 10G; a plain number is MiB)')
      .option('--name <name>', "through Ganeti: the disk's name (disk/N (NAME) in Ganeti's view)")
      .addOption(new Option('--mode <mode>', 'through Ganeti: access mode').choices(['rw', 'ro']))
      .option('--param <key=value>', "through Ganeti: a parameter of the disk template (e.g. vg=xenvg, spindles=1, provider=…); repeatable", collect, []),
  ).action(async (name: string, opts: LiveOpts & DiskOpts, cmd: Command) => {
    const qmpOnly = given(opts, { path: '--path', diskType: '--disk-type', uuid: '--uuid', backend: '--backend' });
    const ganetiOnly = given(opts, { size: '--size', name: '--name', mode: '--mode', param: '--param' });
    const req: ChangeRequest = {
      instance: name,
      kind: 'add-disk',
      qmpOnly,
      ganetiOnly,
      qmp: () => {
        if (opts.path === undefined) throw new InputError("hotplug disk over QMP needs --path (the disk's host path)");
        return {
          type: 'hot-add-disk',
          instance: name,
          path: path.resolve(opts.path),
          ...(opts.diskType !== undefined ? { diskType: opts.diskType } : {}),
          ...(opts.uuid !== undefined ? { uuid: opts.uuid } : {}),
          ...(opts.backend !== undefined ? { backend: opts.backend } : {}),
        };
      },
      ganeti: () => {
        if (opts.size === undefined) throw new InputError('hotplug disk through Ganeti needs --size (Ganeti creates the disk: e.g. --size 1G)');
        return { kind: 'disk-add', instance: name, disk: { size: opts.size, name: opts.name, mode: opts.mode, params: keyValues(opts.param ?? [], '--param') } };
      },
    };
    setExit(await change(req, opts, cmd));
  });

  common(
    hotplug
      .command('nic')
      .description('hot-add a NIC: through Ganeti (MAC, link or network, name), or over QMP (QEMU creates its tap, plugboard puts it on the bridge and records it in nic/NAME/SEQ)')
      .argument('<name>', 'instance name')
      .option('--mac <mac>', "MAC address (default: generated: through Ganeti with the cluster's prefix, unique in the cluster; over QMP aa:00:00:… or the prefix of the instance's NICs)")
      .option('--link <link>', "the bridge (bridged), routing table (routed) or switch (default: through Ganeti the cluster's, over QMP the bridge of the instance's first NIC)")
      .option('--network <network>', 'through Ganeti: a Ganeti network (it brings its mode and link)')
      .option('--name <name>', "through Ganeti: the NIC's name")
      .addOption(new Option('--mode <mode>', 'through Ganeti: the NIC mode').choices(['bridged', 'routed', 'openvswitch']))
      .option('--nic-type <type>', "over QMP: nic_type to use (default: the instance's)")
      .option('--uuid <uuid>', 'over QMP: UUID of the new NIC (default: a fresh one)'),
  ).action(async (name: string, opts: LiveOpts & NicOpts, cmd: Command) => {
    const qmpOnly = given(opts, { nicType: '--nic-type', uuid: '--uuid' });
    const ganetiOnly = given(opts, { network: '--network', name: '--name', mode: '--mode' });
    const req: ChangeRequest = {
      instance: name,
      kind: 'add-nic',
      qmpOnly,
      ganetiOnly,
      qmp: () => ({
        type: 'hot-add-nic',
        instance: name,
        ...(opts.mac !== undefined ? { mac: opts.mac } : {}),
        ...(opts.nicType !== undefined ? { nicType: opts.nicType } : {}),
        ...(opts.link !== undefined ? { link: opts.link } : {}),
        ...(opts.uuid !== undefined ? { uuid: opts.uuid } : {}),
      }),
      ganeti: () => ({ kind: 'nic-add', instance: name, nic: { mac: opts.mac, link: opts.link, network: opts.network, name: opts.name, mode: opts.mode } }),
    };
    setExit(await change(req, opts, cmd));
  });

  devices(
    hotplug,
    'through Ganeti: hot-add several disks and NICs in one job (--disk size=32M,name=data1 --nic link=br0,name=eth1)',
    ['--disk <spec>', 'a disk: size=SIZE[,name=NAME][,mode=rw|ro][,KEY=VALUE of the template]; repeatable'],
    ['--nic <spec>', 'a NIC: [mac=MAC][,link=LINK|network=NET][,name=NAME][,mode=MODE][,ip=IP][,vlan=VLAN]; repeatable'],
    (opts) => ({ disks: opts.disk.map((spec) => ({ op: 'add', disk: diskSpec(spec) })), nics: opts.nic.map((spec) => ({ op: 'add', nic: nicSpec(spec) })) }),
  );

  const unplug = program
    .command('unplug')
    .description('unplug a device from a running instance (on a Ganeti node through a Ganeti job by default; --via qmp for the node only)');
  unplugOne(
    unplug,
    'disk',
    'unplug a disk: through Ganeti (Ganeti deletes it), or over QMP: device_del, wait until QEMU no longer lists it, remove its backend, rewrite the runtime file',
    "the disk: UUID or device id; through Ganeti also its index (1, disk/1) or name",
    'over QMP: how long to wait for the unplug (PCI needs the guest to acknowledge)',
  );
  unplugOne(
    unplug,
    'nic',
    'unplug a NIC: through Ganeti, or over QMP: device_del, wait until QEMU no longer lists it, netdev_del (the tap goes), remove nic/NAME/SEQ, rewrite the runtime file',
    'the NIC: UUID or device id; through Ganeti also its index (1, nic.1) or name',
    'over QMP: how long to wait for the guest to acknowledge the unplug',
  );
  devices(
    unplug,
    'through Ganeti: unplug several disks and NICs in one job (--disk 1 --nic eth1)',
    ['--disk <device>', 'a disk: index, name, UUID or device id; repeatable'],
    ['--nic <device>', 'a NIC: index, name, UUID or device id; repeatable'],
    (opts) => ({ disks: opts.disk.map((d) => ({ op: 'remove', disk: d })), nics: opts.nic.map((n) => ({ op: 'remove', nic: n })) }),
  );

  registerWhatIfCommand(program, io, setExit);
}

interface LiveOpts extends RapiFlags {
  dryRun?: boolean;
  json?: boolean;
  runtimeFile?: string;
  via?: string;
  jobTimeout: string;
}

interface DiskOpts {
  path?: string;
  diskType?: string;
  uuid?: string;
  backend?: 'drive' | 'blockdev';
  size?: string;
  name?: string;
  mode?: 'rw' | 'ro';
  param?: string[];
}

interface NicOpts {
  mac?: string;
  link?: string;
  network?: string;
  name?: string;
  mode?: 'bridged' | 'routed' | 'openvswitch';
  nicType?: string;
  uuid?: string;
}

function changeOptions(opts: LiveOpts): ChangeOptions {
  const via = viaOf(opts.via);
  return { ...opts, ...(via ? { via } : { via: undefined }), jobTimeoutMs: jobTimeoutMs(opts.jobTimeout) };
}

/** The flags among `names` that were given (a repeatable one counts when it has a value). */
function given<T extends object>(opts: T, names: Partial<Record<keyof T, string>>): string[] {
  return Object.entries(names)
    .filter(([k]) => {
      const v = (opts as Record<string, unknown>)[k];
      return Array.isArray(v) ? v.length > 0 : v !== undefined;
    })
    .map(([, flag]) => flag as string);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `a=1,b=2` → { a: '1', b: '2' } (keys lower-case words). */
export function keyValues(items: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items.flatMap((i) => i.split(','))) {
    if (item.trim() === '') continue;
    const m = /^\s*([a-z][a-z0-9_-]*)\s*=(.*)$/i.exec(item);
    if (!m) throw new InputError(`${what} ${JSON.stringify(item.slice(0, 40))}: expected KEY=VALUE`);
    const key = (m[1] as string).toLowerCase();
    if (key in out) throw new InputError(`${what}: ${key} given twice`);
    out[key] = (m[2] as string).trim();
  }
  return out;
}

/** `size=32M,name=data1,mode=rw,vg=xenvg` → a disk to add. */
export function diskSpec(spec: string): DiskAddSpec {
  const kv = keyValues([spec], '--disk');
  const { size, name, mode, ...params } = kv;
  if (size === undefined) throw new InputError(`--disk ${JSON.stringify(spec.slice(0, 60))}: needs size=SIZE (e.g. size=1G)`);
  if (mode !== undefined && mode !== 'rw' && mode !== 'ro') throw new InputError(`--disk: mode=${mode} is not rw or ro`);
  return { size, name, mode, params };
}

const NIC_KEYS = new Set(['mac', 'link', 'network', 'name', 'mode', 'ip', 'vlan']);

/** `mac=…,link=…,name=…` → a NIC to add. */
export function nicSpec(spec: string): NicAddSpec {
  const kv = keyValues([spec], '--nic');
  for (const k of Object.keys(kv)) if (!NIC_KEYS.has(k)) throw new InputError(`--nic: unknown key ${k} (known: ${[...NIC_KEYS].join(', ')})`);
  const mode = kv['mode'];
  if (mode !== undefined && mode !== 'bridged' && mode !== 'routed' && mode !== 'openvswitch') throw new InputError(`--nic: mode=${mode} is not bridged, routed or openvswitch`);
  return { mac: kv['mac'], link: kv['link'], network: kv['network'], name: kv['name'], mode, ip: kv['ip'], vlan: kv['vlan'] };
}
