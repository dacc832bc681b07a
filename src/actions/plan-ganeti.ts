/**
 * The Ganeti request planner (pure): an operator's action → the exact RAPI request that does it,
 * `{method, path, body}`, with one line saying what it does, the way the QMP planner lists commands.
 * The preview shows the request as `PUT /2/instances/NAME/modify {"disks":[["add",-1,{"size":32}]],
 * "hotplug":true}`; nothing is sent here.
 *
 * Every device change is one `OpInstanceSetParams` job (`PUT /2/instances/NAME/modify`), with
 * `"hotplug": true` when the instance runs (a change on a stopped instance takes effect at its next
 * start; asking for hotplug there fails with `OpPrereqError … wrong_state`). Disks and NICs may be
 * changed in the same job. Changes use Ganeti's three-item form `[op, identifier, params]`:
 * `["add", -1, {…}]` appends, `["remove", ID, {}]` takes an index, a name or a UUID. An hvparams
 * change (the what-if screen's `gnt-instance modify -H …`) is `{"hvparams": {…}}` and always takes
 * effect at the next start.
 *
 * Values are checked the way Ganeti would refuse them, so a bad one is a one-line InputError before
 * any request: sizes are whole MiB ≥ 1 (`32`, `32M`, `1G`, `1.5G`, `2T` are accepted and converted),
 * MACs are unicast `xx:xx:xx:xx:xx:xx` (or left to Ganeti, which generates one with the cluster's
 * prefix, unique in the cluster), links are interface names, names are printable.
 */
import { InputError } from '../errors.js';
import { instanceNameProblem } from '../runtime/root.js';

export type DiskMode = 'rw' | 'ro';
export type NicMode = 'bridged' | 'routed' | 'openvswitch';

/** A disk to add. `params` are the template's own (e.g. `vg`, `metavg` for plain/drbd, `provider` and any key for ext, `spindles`). */
export interface DiskAddSpec {
  /** MiB, or a size with a unit (`32M`, `1G`). */
  size: number | string;
  name?: string | undefined;
  mode?: DiskMode | undefined;
  params?: Record<string, string | number> | undefined;
}

export interface NicAddSpec {
  /** A unicast MAC, or undefined / `generate` to let Ganeti generate one (with the cluster's prefix, unique in the cluster). */
  mac?: string | undefined;
  /** The bridge (bridged), routing table (routed) or switch (openvswitch); Ganeti's default when neither this nor `network` is given. */
  link?: string | undefined;
  /** A Ganeti network (name or UUID): the NIC takes its mode and link from it. */
  network?: string | undefined;
  name?: string | undefined;
  mode?: NicMode | undefined;
  ip?: string | undefined;
  vlan?: string | undefined;
}

/** A device Ganeti knows, by its index (`disk/1`), name (`data1`) or UUID. */
export type DeviceRef = number | string;

export type GanetiAction =
  | { kind: 'disk-add'; instance: string; disk: DiskAddSpec }
  | { kind: 'disk-remove'; instance: string; disk: DeviceRef }
  | { kind: 'nic-add'; instance: string; nic: NicAddSpec }
  | { kind: 'nic-remove'; instance: string; nic: DeviceRef }
  /** Several device changes in one job (e.g. a disk and a NIC). */
  | { kind: 'devices'; instance: string; disks: DiskChange[]; nics: NicChange[] }
  /** The what-if screen's `-H` line. */
  | { kind: 'hvparams'; instance: string; hvparams: Record<string, string | number | boolean> };

export type DiskChange = { op: 'add'; disk: DiskAddSpec } | { op: 'remove'; disk: DeviceRef };
export type NicChange = { op: 'add'; nic: NicAddSpec } | { op: 'remove'; nic: DeviceRef };

export interface GanetiRequest {
  method: 'PUT';
  path: string;
  body: Record<string, unknown>;
}

export interface GanetiPlan {
  instance: string;
  request: GanetiRequest;
  /** One line: `hot-add disk (32 MiB, name data1) to inst1.example.com through Ganeti`. */
  description: string;
  /** One line per change, in the request's order. */
  steps: string[];
  /** The request line as the preview shows it. */
  requestLine: string;
  /** `now` (hotplug) or `next-start`. */
  effect: 'now' | 'next-start';
  notes: string[];
}

export interface PlanOptions {
  /** Does the instance run? Device changes then carry `"hotplug": true`. */
  running: boolean;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HV_KEY = /^[a-z][a-z0-9_]{0,63}$/;
const PARAM_KEY = /^[a-z][a-z0-9_-]{0,63}$/;
/** Ganeti's per-disk parameters that are not the template's own (they have their own fields here). */
const RESERVED_DISK_PARAMS = new Set(['size', 'name', 'mode', 'adopt', 'dev_type', 'uuid']);
const UNITS: Record<string, number> = { '': 1, m: 1, g: 1024, t: 1024 * 1024 };

/** `32` / `32M` / `1G` / `1.5g` / `2T` → MiB (whole, ≥ 1). */
export function parseSizeMiB(value: number | string, what = 'size'): number {
  let mib: number;
  if (typeof value === 'number') mib = value;
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([mgt]?)(?:i?b)?\s*$/i.exec(value);
    if (!m) throw new InputError(`${what} ${JSON.stringify(value.slice(0, 30))} is not a size (e.g. 512M, 10G; plain numbers are MiB)`);
    mib = Number(m[1]) * (UNITS[(m[2] as string).toLowerCase()] as number);
  }
  if (!Number.isFinite(mib) || mib < 1) throw new InputError(`${what} must be at least 1 MiB (got ${String(value)})`);
  if (!Number.isInteger(mib)) throw new InputError(`${what} ${String(value)} is not a whole number of MiB (${mib})`);
  if (mib > 1024 * 1024 * 1024) throw new InputError(`${what} ${String(value)} is more than 1 EiB`);
  return mib;
}

function printable(value: string, what: string, max = 128): string {
  // eslint-disable-next-line no-control-regex
  if (value === '' || value.length > max || /[\u0000-\u001f\u007f-\u009f]/.test(value)) {
    throw new InputError(`${what} must be 1–${max} printable characters`);
  }
  return value;
}

/** Ganeti refuses device names that look like an index (`0`, `12`), since `disk/NAME` would be ambiguous. */
function deviceName(value: string, what: string): string {
  printable(value, what, 64);
  if (/^\d+$/.test(value)) throw new InputError(`${what} ${JSON.stringify(value)} looks like an index; Ganeti needs a name that is not a number`);
  return value;
}

function deviceRef(ref: DeviceRef, what: string): number | string {
  if (typeof ref === 'number') {
    if (!Number.isSafeInteger(ref) || ref < 0) throw new InputError(`${what} index ${ref} is not a non-negative integer`);
    return ref;
  }
  if (/^\d+$/.test(ref)) return Number(ref);
  if (UUID.test(ref.toLowerCase())) return ref.toLowerCase();
  return deviceName(ref, what);
}

export function checkMac(mac: string): string {
  const m = mac.toLowerCase();
  if (!MAC.test(m)) throw new InputError(`MAC ${JSON.stringify(mac.slice(0, 30))} is not six hex pairs separated by ':' (e.g. aa:00:00:12:34:56)`);
  if ((parseInt(m.slice(0, 2), 16) & 1) === 1) throw new InputError(`MAC ${m} is a multicast address (odd first octet); a NIC needs a unicast one`);
  return m;
}

function diskAddParams(spec: DiskAddSpec): Record<string, unknown> {
  const p: Record<string, unknown> = { size: parseSizeMiB(spec.size, 'disk size') };
  if (spec.name !== undefined) p['name'] = deviceName(spec.name, 'disk name');
  if (spec.mode !== undefined) {
    if (spec.mode !== 'rw' && spec.mode !== 'ro') throw new InputError(`disk mode ${JSON.stringify(spec.mode)} is not rw or ro`);
    p['mode'] = spec.mode;
  }
  for (const [k, v] of Object.entries(spec.params ?? {})) {
    if (!PARAM_KEY.test(k)) throw new InputError(`disk parameter ${JSON.stringify(k.slice(0, 30))} is not a parameter name`);
    if (RESERVED_DISK_PARAMS.has(k)) throw new InputError(`disk parameter ${k} is set by its own option, not as a template parameter`);
    p[k] = k === 'spindles' ? Number(v) : typeof v === 'number' ? v : printable(v, `disk parameter ${k}`, 256);
  }
  return p;
}

function nicAddParams(spec: NicAddSpec): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (spec.mac !== undefined && spec.mac !== 'generate' && spec.mac !== 'auto') p['mac'] = checkMac(spec.mac);
  if (spec.link !== undefined && spec.network !== undefined) throw new InputError('give a link or a network for the NIC, not both (a Ganeti network brings its own link)');
  if (spec.link !== undefined) {
    if (!IFNAME.test(spec.link)) throw new InputError(`link ${JSON.stringify(spec.link.slice(0, 30))} is not an interface name (at most 15 letters, digits, '_', '.', ':', '-')`);
    p['link'] = spec.link;
  }
  if (spec.network !== undefined) p['network'] = printable(spec.network, 'network', 64);
  if (spec.mode !== undefined) {
    if (!['bridged', 'routed', 'openvswitch'].includes(spec.mode)) throw new InputError(`NIC mode ${JSON.stringify(spec.mode)} is not bridged, routed or openvswitch`);
    if (spec.network !== undefined) throw new InputError('a NIC in a Ganeti network takes its mode from the network; do not give one');
    p['mode'] = spec.mode;
  }
  if (spec.name !== undefined) p['name'] = deviceName(spec.name, 'NIC name');
  if (spec.ip !== undefined) p['ip'] = printable(spec.ip, 'IP', 64);
  if (spec.vlan !== undefined) p['vlan'] = printable(spec.vlan, 'VLAN', 64);
  return p;
}

function describeDiskAdd(p: Record<string, unknown>): string {
  const extras = Object.entries(p)
    .filter(([k]) => k !== 'size')
    .map(([k, v]) => `${k} ${String(v)}`);
  return `disk of ${String(p['size'])} MiB${extras.length ? `, ${extras.join(', ')}` : ''}`;
}

function describeNicAdd(p: Record<string, unknown>): string {
  const parts = [
    p['mac'] !== undefined ? `MAC ${String(p['mac'])}` : 'MAC generated by Ganeti',
    p['network'] !== undefined ? `network ${String(p['network'])}` : p['link'] !== undefined ? `link ${String(p['link'])}` : "the cluster's default link",
    ...(['mode', 'name', 'ip', 'vlan'] as const).filter((k) => p[k] !== undefined).map((k) => `${k} ${String(p[k])}`),
  ];
  return `NIC (${parts.join(', ')})`;
}

function refText(kind: 'disk' | 'nic', ref: number | string): string {
  return typeof ref === 'number' ? (kind === 'disk' ? `disk/${ref}` : `nic.${ref}`) : `${kind === 'disk' ? 'disk' : 'NIC'} ${ref}`;
}

/** `PUT /2/instances/NAME/modify {"disks":…}`: the preview's request line. */
export function formatRequest(r: GanetiRequest): string {
  return `${r.method} ${r.path} ${JSON.stringify(r.body)}`;
}

/** Plans `action` (see the module comment). Throws InputError for a value Ganeti would refuse. */
export function planGanetiRequest(action: GanetiAction, options: PlanOptions): GanetiPlan {
  const problem = instanceNameProblem(action.instance);
  if (problem) throw new InputError(problem);
  const instance = action.instance;
  const path = `/2/instances/${encodeURIComponent(instance)}/modify`;
  const notes: string[] = [];

  if (action.kind === 'hvparams') {
    const entries = Object.entries(action.hvparams);
    if (entries.length === 0) throw new InputError('no hypervisor parameter to change');
    const hvparams: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      if (!HV_KEY.test(k)) throw new InputError(`hypervisor parameter ${JSON.stringify(k.slice(0, 30))} is not a parameter name`);
      if (typeof v === 'string') printable(v, `hypervisor parameter ${k}`, 1024);
      hvparams[k] = v;
    }
    const request: GanetiRequest = { method: 'PUT', path, body: { hvparams } };
    const line = entries.map(([k, v]) => `${k}=${String(v)}`).join(',');
    if (options.running) notes.push(`takes effect when ${instance} next starts (gnt-instance reboot ${instance}); the running QEMU keeps its devices where they are`);
    return {
      instance,
      request,
      description: `change hypervisor parameters of ${instance} through Ganeti: ${line} (gnt-instance modify -H ${line} ${instance})`,
      steps: entries.map(([k, v]) => `hv/${k} = ${String(v)}`),
      requestLine: formatRequest(request),
      effect: 'next-start',
      notes,
    };
  }

  let disks: DiskChange[] = [];
  let nics: NicChange[] = [];
  switch (action.kind) {
    case 'disk-add':
      disks = [{ op: 'add', disk: action.disk }];
      break;
    case 'disk-remove':
      disks = [{ op: 'remove', disk: action.disk }];
      break;
    case 'nic-add':
      nics = [{ op: 'add', nic: action.nic }];
      break;
    case 'nic-remove':
      nics = [{ op: 'remove', nic: action.nic }];
      break;
    case 'devices':
      disks = action.disks;
      nics = action.nics;
      break;
    default: {
      const never: never = action;
      throw new InputError(`unknown Ganeti action ${JSON.stringify(never)}`);
    }
  }
  if (disks.length + nics.length === 0) throw new InputError('no device to change');
  const hot = options.running;
  const verbAdd = hot ? 'hot-add' : 'add';
  const verbRemove = hot ? 'hot-remove' : 'remove';
  const steps: string[] = [];
  const diskOps: unknown[] = [];
  const nicOps: unknown[] = [];
  for (const c of disks) {
    if (c.op === 'add') {
      const p = diskAddParams(c.disk);
      diskOps.push(['add', -1, p]);
      steps.push(`${verbAdd} ${describeDiskAdd(p)}`);
    } else {
      const ref = deviceRef(c.disk, 'disk');
      diskOps.push(['remove', ref, {}]);
      steps.push(`${verbRemove} ${refText('disk', ref)} (Ganeti deletes its data)`);
    }
  }
  for (const c of nics) {
    if (c.op === 'add') {
      const p = nicAddParams(c.nic);
      nicOps.push(['add', -1, p]);
      steps.push(`${verbAdd} ${describeNicAdd(p)}`);
    } else {
      const ref = deviceRef(c.nic, 'NIC');
      nicOps.push(['remove', ref, {}]);
      steps.push(`${verbRemove} ${refText('nic', ref)}`);
    }
  }
  const body: Record<string, unknown> = {};
  if (diskOps.length > 0) body['disks'] = diskOps;
  if (nicOps.length > 0) body['nics'] = nicOps;
  if (hot) body['hotplug'] = true;
  const request: GanetiRequest = { method: 'PUT', path, body };
  if (hot) {
    if (nics.some((c) => c.op === 'remove')) {
      notes.push('a NIC unplug needs the guest to acknowledge it; if it does not, Ganeti still drops the NIC from its configuration and reports hotplug:failed (the node keeps it)');
    }
  } else notes.push(`${instance} is not running: the change is made in Ganeti's configuration and takes effect at its next start`);
  return {
    instance,
    request,
    description: `${steps.join('; ')} ${hot ? 'on' : 'of'} ${instance} through Ganeti (one job)`,
    steps,
    requestLine: formatRequest(request),
    effect: hot ? 'now' : 'next-start',
    notes,
  };
}
