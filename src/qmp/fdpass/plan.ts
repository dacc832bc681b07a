/**
 * File-descriptor passing as plan steps: what a planner emits for a QEMU that cannot open a disk
 * or create a tap itself (`-runas`, `-chroot`), pure functions of their inputs. The executor runs
 * them through `runFdStep` (./run.ts); the preview shows them like any other step (`describeFdStep`).
 *
 * Disk (Ganeti's `_AddFd` + `HotAddDisk`; device id D, fdset N chosen from `query-fdsets`):
 *   host   fd-open-disk  open the path as root (O_RDWR[|O_DIRECT]), held by the helper as D
 *   QMP    add-fd {fdset-id: N, opaque: "plugboard:D"}      + D's descriptor (SCM_RIGHTS)
 *   HMP    drive_add dummy file.driver=host_device,file.filename=/dev/fdset/N,…   (or)
 *   QMP    blockdev-add {driver: raw, node-name: D, file: {driver, filename: /dev/fdset/N}}
 *   QMP    remove-fd {fdset-id: N}     QEMU's drive holds its own duplicate now; the set goes with it
 *   QMP    device_add {…, drive: D}
 * NIC (Ganeti's `OpenTap` + `HotAddNic`; device id I, tap T):
 *   host   fd-create-tap  TUNSETIFF T (vnet_hdr, multiqueue as the instance), /dev/vhost-net if vhost
 *   host   tap-configure  (plan-nic's: MAC, up, MTU, bridge — what kvm-ifup does)
 *   QMP    getfd {fdname: "I-0"}      + the tap's descriptor     (one per queue: I-0, I-1…)
 *   QMP    getfd {fdname: "I-vhost-0"} + a vhost descriptor      (when vhost)
 *   QMP    netdev_add {type: tap, id: I, fds: "I-0[:I-1…]"[, vhost: true, vhostfds: "I-vhost-0…"]}
 *   QMP    device_add {…, netdev: I, mac[, romfile: "" chrooted]}
 * Undo: `remove-fd {fdset-id}` / `closefd {fdname}` (QEMU keeps an unused named descriptor for as
 * long as it runs, across connections), `fd-drop` for what the helper still holds. "Not found"
 * means already gone (the drive or netdev took it): not a failure.
 *
 * The runtime file records the path as the operator gave it (and QEMU's devices as usual), never a
 * descriptor or an fdset: a migration target is started from the path by Ganeti.
 */

/** A QMP command (the same shape as actions/types.ts QmpCommand). */
export interface FdQmpCommand {
  execute: string;
  arguments?: Record<string, unknown>;
}

/** Host work the descriptor helper does (the same shape as actions/types.ts HostCommand). */
export type FdHostCommand =
  | { host: 'fd-open-disk'; detail: FdOpenDiskDetail }
  | { host: 'fd-create-tap'; detail: FdCreateTapDetail }
  | { host: 'fd-drop'; detail: { handle: string } }
  | { host: 'fd-check-user'; detail: FdCheckUserDetail };

/** The host commands of file-descriptor passing (`host` of FdHostCommand). */
const FD_HOST_COMMANDS: readonly string[] = ['fd-open-disk', 'fd-create-tap', 'fd-drop', 'fd-check-user'];

/** Whether `c` is a host command of file-descriptor passing (run by the descriptor helper). */
export function isFdHostCommand(c: { host: string } | { execute: string }): c is FdHostCommand {
  return 'host' in c && FD_HOST_COMMANDS.includes(c.host);
}

// Type aliases, not interfaces: a detail must fit HostCommand's `Record<string, unknown>`.
export type FdOpenDiskDetail = {
  /** The helper's name for the descriptor: the device id. */
  handle: string;
  /** The path as the operator gave it (what the runtime file records). */
  typed: string;
  /** It resolved to this at planning; this is what is opened (O_NOFOLLOW). */
  path: string;
  kind: 'block' | 'file' | 'char';
  /** O_DIRECT: the instance's disks bypass the host cache (cache=none, aio=native). */
  direct: boolean;
  /** Device and inode seen at planning: the opened file must be that one. */
  dev: number;
  ino: number;
};

export type FdCreateTapDetail = {
  /** The helper's name for the descriptors: the device id (`I.tap.0`, `I.vhost.0`…). */
  handle: string;
  tap: string;
  vnetHdr: boolean;
  queues: number;
  vhost: boolean;
};

/**
 * Before the first descriptor goes to a `-runas` QEMU: the QEMU of `instance` (its pid from
 * `pid/NAME` under the root) runs as a user that exists, `securityDomain` for security_model=user.
 */
export type FdCheckUserDetail = {
  instance: string;
  securityModel: string;
  securityDomain?: string;
};

/** A step that needs the helper: a host step of its own, or a QMP command it writes with a descriptor. */
export interface FdPlanStep {
  purpose: string;
  command: FdQmpCommand | FdHostCommand;
  /** For a QMP command: the helper writes it, with the descriptor held as `handle` attached. */
  passFd?: { handle: string; what: string };
  /** `gone-ok`: QEMU answering "not found" means already done (remove-fd after the drive took the fd). */
  check?: { kind: 'gone-ok' };
  undo?: (FdQmpCommand | FdHostCommand)[];
}

export const FDSET_PREFIX = '/dev/fdset/';

/** `/dev/fdset/N` → N; anything else → undefined. */
export function fdsetOf(file: string | undefined): number | undefined {
  if (file === undefined || !file.startsWith(FDSET_PREFIX)) return undefined;
  const rest = file.slice(FDSET_PREFIX.length);
  return /^(0|[1-9]\d{0,9})$/.test(rest) ? Number(rest) : undefined;
}

/** One entry of `query-fdsets`. */
export interface FdsetInfo {
  id: number;
  fds: { fd: number; opaque?: string }[];
}

/** `query-fdsets`'s answer, checked (QEMU is not trusted: anything odd is left out). */
export function parseFdsets(reply: unknown): FdsetInfo[] {
  if (!Array.isArray(reply)) return [];
  const out: FdsetInfo[] = [];
  for (const s of reply) {
    if (typeof s !== 'object' || s === null) continue;
    const id = (s as Record<string, unknown>)['fdset-id'];
    const fds = (s as Record<string, unknown>)['fds'];
    if (typeof id !== 'number' || !Number.isInteger(id) || !Array.isArray(fds)) continue;
    out.push({
      id,
      fds: fds.flatMap((f: unknown) => {
        if (typeof f !== 'object' || f === null) return [];
        const fd = (f as Record<string, unknown>)['fd'];
        const opaque = (f as Record<string, unknown>)['opaque'];
        return typeof fd === 'number' ? [{ fd, ...(typeof opaque === 'string' ? { opaque } : {}) }] : [];
      }),
    });
  }
  return out;
}

/**
 * The fdset a hot-add uses: the lowest id QEMU has not (as QEMU itself picks one). Chosen at
 * planning so the plan names it (`drive_add …/dev/fdset/N`, undo `remove-fd N`) and a lost reply
 * to `add-fd` still leaves a known set to remove. Nothing else adds fdsets while plugboard holds
 * the instance's QMP socket (Ganeti adds them over the same socket).
 */
export function chooseFdset(fdsets: readonly FdsetInfo[]): number {
  const used = new Set(fdsets.map((s) => s.id));
  let id = 0;
  while (used.has(id)) id++;
  return id;
}

/** The `opaque` tag of plugboard's fdsets (shown by `query-fdsets`): which device an fdset is for. */
export function fdsetTag(deviceId: string): string {
  return `plugboard:${deviceId}`;
}

/**
 * Whether a hot-add must pass descriptors, and why (for the plan's note):
 * - QEMU runs as another user (`security_model` user or pool: `-runas`) or chrooted (`use_chroot`):
 *   it cannot open a host path or `/dev/net/tun`;
 * - for disks, also when the instance's own disks are fdset-backed (their `query-block` file is
 *   `/dev/fdset/N`: hot-added by Ganeti, which passes every kernelspace disk), so the new disk
 *   matches them.
 * Otherwise QEMU opens the path itself, as before.
 */
export function fdPassingReason(
  hv: { use_chroot: boolean; security_model: string | undefined; security_domain?: string | undefined },
  kind: 'disk' | 'nic',
  liveFiles: readonly (string | undefined)[] = [],
): string | undefined {
  if (hv.use_chroot) return 'QEMU runs chrooted (use_chroot=true)';
  if (hv.security_model === 'user' || hv.security_model === 'pool') {
    return `QEMU runs as another user (security_model=${hv.security_model}${hv.security_domain ? `, ${hv.security_domain}` : ''})`;
  }
  if (kind === 'disk') {
    const fdset = liveFiles.find((f) => fdsetOf(f) !== undefined);
    if (fdset !== undefined) return `the instance's disks are fdset-backed (${fdset}), as Ganeti hot-adds them`;
  }
  return undefined;
}

/**
 * For a `-runas` QEMU (security_model user or pool): the step that checks, before any descriptor
 * is opened, that QEMU runs as a user that exists (and is security_domain for `user`). None for
 * other models (a chrooted QEMU runs as root).
 */
export function qemuUserCheckStep(
  instance: string,
  hv: { security_model: string | undefined; security_domain?: string | undefined },
): FdPlanStep | undefined {
  const model = hv.security_model;
  if (model !== 'user' && model !== 'pool') return undefined;
  const domain = model === 'user' && hv.security_domain ? hv.security_domain : undefined;
  return {
    purpose: `pass nothing to a QEMU whose -runas user is not ${domain ?? 'a user of the pool'} or no longer exists`,
    command: { host: 'fd-check-user', detail: { instance, securityModel: model, ...(domain !== undefined ? { securityDomain: domain } : {}) } },
  };
}

/** Ganeti's rule (`GetCacheSettings`, `_GenerateDiskAioCacheParameters`): O_DIRECT for cache=none or aio=native. */
export function needsDirect(hv: { disk_cache?: string | undefined; disk_aio?: string | undefined }): boolean {
  return hv.disk_cache === 'none' || hv.disk_aio === 'native';
}

export interface DiskFdInput {
  /** Device id = node name = drive id. */
  id: string;
  fdset: number;
  open: Omit<FdOpenDiskDetail, 'handle'>;
  backend: 'drive' | 'blockdev';
  /**
   * For `drive`: the `drive_add` options after the file (`,if=none,id=D,format=raw,…`, as plan-disk
   * builds them); for `blockdev`: the `blockdev-add` arguments without `file.filename`.
   */
  driveOptions?: string;
  blockdev?: Record<string, unknown>;
}

/**
 * The steps that create a disk's backend from a passed descriptor, up to (not including) its
 * `device_add`, which the planner appends as today.
 */
export function diskFdSteps(input: DiskFdInput): FdPlanStep[] {
  const { id, fdset, open } = input;
  const filename = `${FDSET_PREFIX}${fdset}`;
  const protocol = open.kind === 'file' ? 'file' : 'host_device';
  const steps: FdPlanStep[] = [
    {
      purpose: `open ${open.path} as root${open.direct ? ' (O_DIRECT)' : ''} for QEMU${open.typed !== open.path ? ` (${open.typed} → ${open.path})` : ''}`,
      command: { host: 'fd-open-disk', detail: { handle: id, ...open } },
      undo: [{ host: 'fd-drop', detail: { handle: id } }],
    },
    {
      purpose: `pass the descriptor of ${open.path} to QEMU as fdset ${fdset}`,
      command: { execute: 'add-fd', arguments: { 'fdset-id': fdset, opaque: fdsetTag(id) } },
      passFd: { handle: id, what: `descriptor of ${open.path}` },
      undo: [{ execute: 'remove-fd', arguments: { 'fdset-id': fdset } }],
    },
  ];
  if (input.backend === 'drive') {
    // `file=/dev/fdset/N` alone makes QEMU 7.2 pick the `file` driver (it cannot stat the name) and
    // refuse a block device ("'file' driver requires '/dev/fdset/0' to be a regular file", measured).
    const file = protocol === 'file' ? `file=${filename}` : `file.driver=host_device,file.filename=${filename}`;
    steps.push({
      purpose: `create the drive ${id} on fdset ${fdset}`,
      command: { execute: 'human-monitor-command', arguments: { 'command-line': `drive_add dummy ${file}${input.driveOptions ?? `,if=none,id=${id},format=raw`}` } },
      undo: [{ execute: 'human-monitor-command', arguments: { 'command-line': `drive_del ${id}` } }],
    });
  } else {
    const args = { ...(input.blockdev ?? { driver: 'raw', 'node-name': id }) };
    const fileArg = typeof args['file'] === 'object' && args['file'] !== null ? (args['file'] as Record<string, unknown>) : {};
    args['file'] = { ...fileArg, driver: protocol, filename };
    steps.push({
      purpose: `create the block node ${id} on fdset ${fdset}`,
      command: { execute: 'blockdev-add', arguments: args },
      undo: [{ execute: 'blockdev-del', arguments: { 'node-name': id } }],
    });
  }
  steps.push({
    purpose: `release fdset ${fdset} (QEMU's drive holds its own descriptor; the set goes with the drive)`,
    command: { execute: 'remove-fd', arguments: { 'fdset-id': fdset } },
    check: { kind: 'gone-ok' },
  });
  return steps;
}

export interface NicFdInput {
  /** Device id = netdev id; fdnames are `ID-N` and `ID-vhost-N`, as Ganeti names them. */
  id: string;
  tap: string;
  vnetHdr: boolean;
  queues: number;
  vhost: boolean;
}

/** Ganeti's fdnames of a NIC's descriptors (`HotAddNic`): `ID-0…`, `ID-vhost-0…`. */
export function nicFdnames(id: string, queues: number, vhost: boolean): { fds: string[]; vhostfds: string[] } {
  const q = [...Array(queues).keys()];
  return { fds: q.map((i) => `${id}-${i}`), vhostfds: vhost ? q.map((i) => `${id}-vhost-${i}`) : [] };
}

/** The step that creates the tap (before plan-nic's tap-configure). */
export function tapCreateStep(input: NicFdInput): FdPlanStep {
  return {
    purpose: `create tap ${input.tap} as root${input.vnetHdr ? ' (vnet_hdr)' : ''}${input.queues > 1 ? `, ${input.queues} queues` : ''}${input.vhost ? ', with vhost-net' : ''}`,
    command: { host: 'fd-create-tap', detail: { handle: input.id, tap: input.tap, vnetHdr: input.vnetHdr, queues: input.queues, vhost: input.vhost } },
    undo: [{ host: 'fd-drop', detail: { handle: input.id } }],
  };
}

/**
 * The `getfd` steps and the `netdev_add` that takes them (after tap-configure, before device_add).
 * `netdevExtra` goes into netdev_add as is (nothing else is needed for fds: QEMU reads vnet_hdr
 * from the descriptor).
 */
export function nicFdSteps(input: NicFdInput, netdevExtra: Record<string, unknown> = {}): FdPlanStep[] {
  const { id, tap } = input;
  const names = nicFdnames(id, input.queues, input.vhost);
  const steps: FdPlanStep[] = [];
  names.fds.forEach((fdname, i) =>
    steps.push({
      purpose: `pass tap ${tap}${input.queues > 1 ? ` queue ${i}` : ''} to QEMU as ${fdname}`,
      command: { execute: 'getfd', arguments: { fdname } },
      passFd: { handle: `${id}.tap.${i}`, what: `descriptor of tap ${tap}${input.queues > 1 ? ` queue ${i}` : ''}` },
      undo: [{ execute: 'closefd', arguments: { fdname } }],
    }),
  );
  names.vhostfds.forEach((fdname, i) =>
    steps.push({
      purpose: `pass a /dev/vhost-net descriptor to QEMU as ${fdname}`,
      command: { execute: 'getfd', arguments: { fdname } },
      passFd: { handle: `${id}.vhost.${i}`, what: 'descriptor of /dev/vhost-net' },
      undo: [{ execute: 'closefd', arguments: { fdname } }],
    }),
  );
  const netdev: Record<string, unknown> = { type: 'tap', id, fds: names.fds.join(':'), ...netdevExtra };
  if (input.vhost) {
    netdev['vhost'] = true;
    netdev['vhostfds'] = names.vhostfds.join(':');
  }
  steps.push({
    purpose: `create the netdev ${id} on tap ${tap}`,
    command: { execute: 'netdev_add', arguments: netdev },
    undo: [{ execute: 'netdev_del', arguments: { id } }],
  });
  return steps;
}

/**
 * After a disk's unplug: release its fdset (`remove-fd`). Usually the set went with the drive's
 * descriptor ("not found": fine); it is still there after a hot-add whose `remove-fd` never ran
 * (Ganeti's is best-effort) or on a paused QEMU 7.2, which closes removed descriptors only while
 * running. `file` is the backend's `query-block` file; with `fdsets` (`query-fdsets`, when read),
 * only a set QEMU lists.
 */
export function unplugFdsetStep(file: string | undefined, fdsets?: readonly FdsetInfo[]): FdPlanStep | undefined {
  const n = fdsetOf(file);
  if (n === undefined || (fdsets !== undefined && !fdsets.some((s) => s.id === n))) return undefined;
  return {
    purpose: `release fdset ${n}, which backed the disk`,
    command: { execute: 'remove-fd', arguments: { 'fdset-id': n } },
    check: { kind: 'gone-ok' },
  };
}

/** The preview's line for a step (the QMP ones as the executor's describeCommand prints them). */
export function describeFdCommand(c: FdQmpCommand | FdHostCommand, passFd?: FdPlanStep['passFd']): string {
  if ('execute' in c) {
    const text =
      c.execute === 'human-monitor-command' ? `HMP ${String(c.arguments?.['command-line'])}` : `${c.execute} ${JSON.stringify(c.arguments ?? {})}`;
    return passFd ? `${text}${passFdText(passFd)}` : text;
  }
  return `host: ${describeFdHost(c)}`;
}

/** What a plan line adds for a command that carries a descriptor. */
export function passFdText(passFd: NonNullable<FdPlanStep['passFd']>): string {
  return ` + ${passFd.what} (SCM_RIGHTS)`;
}

/** A descriptor host step in words (without the `host: ` of a plan line). */
export function describeFdHost(c: FdHostCommand): string {
  switch (c.host) {
    case 'fd-open-disk': {
      const d = c.detail;
      return `open ${d.path} (${d.kind === 'block' ? 'block device' : d.kind === 'char' ? 'character device' : 'regular file'}) read-write${d.direct ? ', O_DIRECT' : ''} as root${d.typed !== d.path ? ` (${d.typed} → ${d.path})` : ''}`;
    }
    case 'fd-create-tap': {
      const d = c.detail;
      return `create tap ${d.tap} as root (IFF_TAP|IFF_NO_PI${d.vnetHdr ? '|IFF_VNET_HDR' : ''}${d.queues > 1 ? `|IFF_MULTI_QUEUE, ${d.queues} queues` : ''}${d.vhost ? '; /dev/vhost-net' : ''})`;
    }
    case 'fd-drop':
      return `close plugboard's descriptors ${c.detail.handle}`;
    case 'fd-check-user': {
      const d = c.detail;
      return `check QEMU's user: ${d.instance}'s QEMU (pid/${d.instance}) runs as ${d.securityDomain ?? 'a user of the uid pool'}, which exists (security_model=${d.securityModel})`;
    }
    default: {
      const never: never = c;
      return String(never);
    }
  }
}
