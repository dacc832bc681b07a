/**
 * Ganeti's view of an instance, from RAPI's answers (pure; no I/O).
 *
 * `GET /2/instances/NAME` (and each item of `/2/instances?bulk=1`) gives the devices as parallel
 * lists (`disk.uuids`, `disk.sizes`, `disk.names`, `nic.uuids`, `nic.macs`, …) in Ganeti's order:
 * position N is Ganeti's `disk/N` / `nic.N`. It does not give a disk's access mode or its own
 * template (Ganeti 3.0 has no such query field); `GET /2/instances/NAME/info?static=1` (a job) does,
 * and `withStaticInfo` adds them.
 */
import type { RapiInstance, RapiInstanceInfo } from './schemas.js';

export interface GanetiDisk {
  /** Ganeti's index: this is `disk/N`. */
  index: number;
  uuid: string;
  name: string | null;
  /** MiB. */
  size: number;
  spindles: number | null;
  /** `rw`/`ro`, from the static info only. */
  mode: string | undefined;
  /** The disk's template (`file`, `plain`, `drbd`, …): the disk's own `dev_type` when known, else the instance's template. */
  template: string;
  /** Where the data is, for file-based disks (`logical_id[1]`), from the static info only. */
  path: string | undefined;
}

export interface GanetiNic {
  /** Ganeti's index: this is `nic.N`. */
  index: number;
  uuid: string;
  name: string | null;
  mac: string;
  ip: string | null;
  /** `bridged`, `routed`, `openvswitch`. */
  mode: string;
  /** The bridge (bridged), routing table (routed) or switch (openvswitch). */
  link: string;
  /** The network's UUID when the NIC is in a Ganeti network. */
  network: string | null;
  networkName: string | null;
  /** From the static info only. */
  vlan: string | undefined;
}

export interface GanetiInstance {
  name: string;
  uuid: string | undefined;
  /** Ganeti's combined status: `running`, `ADMIN_down`, `ERROR_down`, `ERROR_up`, `ERROR_nodedown`, `ERROR_nodeoffline`, `ADMIN_offline`, `USER_down`, `ERROR_wrongnode`. */
  status: string;
  /** Whether the hypervisor reports it running (null: the node did not answer). */
  operState: boolean | null;
  /** `up`, `down`, `offline`. */
  adminState: string;
  primaryNode: string;
  secondaryNodes: string[];
  diskTemplate: string;
  os: string | null;
  disks: GanetiDisk[];
  nics: GanetiNic[];
  /** The instance's hvparams (cluster defaults filled in). */
  hvparams: Record<string, unknown>;
  /** Only those set on the instance itself. */
  customHvparams: Record<string, unknown>;
  tags: string[];
  /** Ganeti's serial number of the instance's configuration (changes with every modify). */
  serialNo: number | undefined;
}

/** Ganeti's view from `GET /2/instances/NAME` or one item of the bulk list. */
export function ganetiInstanceOf(a: RapiInstance): GanetiInstance {
  const disks: GanetiDisk[] = a['disk.uuids'].map((uuid, i) => ({
    index: i,
    uuid,
    name: a['disk.names'][i] ?? null,
    size: a['disk.sizes'][i] ?? 0,
    spindles: a['disk.spindles']?.[i] ?? null,
    mode: undefined,
    template: a.disk_template,
    path: undefined,
  }));
  const nics: GanetiNic[] = a['nic.uuids'].map((uuid, i) => ({
    index: i,
    uuid,
    name: a['nic.names'][i] ?? null,
    mac: a['nic.macs'][i] ?? '',
    ip: a['nic.ips'][i] ?? null,
    mode: a['nic.modes'][i] ?? '',
    link: a['nic.links'][i] ?? '',
    network: a['nic.networks'][i] ?? null,
    networkName: a['nic.networks.names']?.[i] ?? null,
    vlan: undefined,
  }));
  return {
    name: a.name,
    uuid: a.uuid,
    status: a.status,
    operState: a.oper_state,
    adminState: a.admin_state,
    primaryNode: a.pnode,
    secondaryNodes: a.snodes,
    diskTemplate: a.disk_template,
    os: a.os ?? null,
    disks,
    nics,
    hvparams: a.hvparams,
    customHvparams: a.custom_hvparams ?? {},
    tags: a.tags ?? [],
    serialNo: a.serial_no,
  };
}

/**
 * Adds what only the static info job knows (disk mode, the disk's own template and path, NIC vlan),
 * matched by UUID. Devices the info does not list are left as they are.
 */
export function withStaticInfo(view: GanetiInstance, info: RapiInstanceInfo[string]): GanetiInstance {
  const disks = new Map(info.disks.map((d) => [d.uuid, d]));
  const nics = new Map(info.nics.map((n) => [n[1], n]));
  return {
    ...view,
    disks: view.disks.map((d) => {
      const s = disks.get(d.uuid);
      if (!s) return d;
      const lid = Array.isArray(s.logical_id) ? s.logical_id : [];
      const path = (s.dev_type === 'file' || s.dev_type === 'sharedfile' || s.dev_type === 'gluster') && typeof lid[1] === 'string' ? lid[1] : undefined;
      return { ...d, mode: s.mode ?? d.mode, template: s.dev_type ?? d.template, path };
    }),
    nics: view.nics.map((n) => {
      const s = nics.get(n.uuid);
      const vlan = s?.[6];
      return typeof vlan === 'string' ? { ...n, vlan } : n;
    }),
  };
}

/** Is the instance meant to run and running, as Ganeti sees it? */
export function isRunning(v: GanetiInstance): boolean {
  return v.status === 'running' || v.status === 'ERROR_up' || v.operState === true;
}

/** `disk/1 (data1)`, `nic.0 aa:00:00:12:34:56 (eth0)`: how Ganeti's CLI names a device. */
export function ganetiLabel(d: GanetiDisk | GanetiNic): string {
  if ('mac' in d) return `nic.${d.index} ${d.mac}${d.name ? ` (${d.name})` : ''}`;
  return `disk/${d.index}${d.name ? ` (${d.name})` : ''}`;
}
