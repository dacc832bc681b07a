/**
 * The model of a Ganeti KVM runtime file (`conf/NAME.runtime`): `[kvm_cmd, nics, hvparams, disks]`.
 *
 * The document is kept as the JSON value that was read (`raw`), so that every key plugboard does not
 * model (hvparams, nicparams, netinfo, disk children…) is written back exactly. The typed views below
 * (`nics`, `disks`, `hvparams`) are read from it; changes are made by producing a new document.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const PCI_BUS = 'pci.0';
export const SCSI_BUS = 'scsi.0';

/** hvinfo of a device on `pci.0`: `{driver, id, bus: "pci.0", addr: "0xN"}`. */
export interface PciHvinfo {
  driver: string;
  id: string;
  bus: string;
  /** Hex string as Ganeti writes it (`"0xd"`). */
  addr: string;
}

/** hvinfo of a device on `scsi.0`: `{driver, id, bus: "scsi.0", channel: 0, "scsi-id": N, lun: 0}`. */
export interface ScsiHvinfo {
  driver: string;
  id: string;
  bus: string;
  channel: number;
  'scsi-id': number;
  lun: number;
}

/** `{}` for devices not on an explicit bus (legacy ide, `-drive if=scsi`, ne2k_isa…). */
export type EmptyHvinfo = Record<string, never>;

export type Hvinfo = PciHvinfo | ScsiHvinfo | EmptyHvinfo;

export type DeviceKind = 'disk' | 'nic';

/** A NIC entry of the runtime file. `raw` is the object as stored (after any legacy upgrade). */
export interface RuntimeNic {
  index: number;
  uuid: string;
  mac: string;
  /** nicparams.mode / link (bridged + bridge name, routed, openvswitch). */
  mode: string | undefined;
  link: string | undefined;
  name: string | undefined;
  hvinfo: Hvinfo;
  raw: JsonObject;
}

/** A disk entry `[disk, link, uri]` of the runtime file. */
export interface RuntimeDisk {
  index: number;
  uuid: string;
  /** Disk size in MiB. */
  size: number | undefined;
  ivName: string | undefined;
  name: string | undefined;
  devType: string | undefined;
  /** The disk symlink path (`/var/run/ganeti/instance-disks/NAME:IDX`). */
  link: string;
  /** Userspace URI or null. */
  uri: string | null;
  hvinfo: Hvinfo;
  raw: JsonObject;
}

/** The hvparams plugboard uses, with defaults applied for keys older files miss. */
export interface KnownHvparams {
  disk_type: string;
  nic_type: string;
  scsi_controller_type: string;
  kvm_pci_reservations: number;
  disk_cache: string | undefined;
  disk_aio: string | undefined;
  disk_discard: string | undefined;
  kvm_path: string | undefined;
  machine_version: string | undefined;
  kvm_extra: string | undefined;
  use_chroot: boolean;
  vhost_net: boolean;
  /** Set when the instance runs as another user (`security_model` user/pool). */
  security_model: string | undefined;
  security_domain: string | undefined;
}

/** What happened to an old file while loading it (shown to the operator, never silently). */
export interface Upgrade {
  path: string;
  message: string;
}

export type RuntimeFormat = 'current' | 'legacy-3-items';

export interface RuntimeFile {
  /** Where it was read from (for messages), e.g. `conf/web1.runtime` or an absolute path. */
  source: string;
  /** Instance name, from the file name or from `-name` in kvm_cmd. */
  instance: string;
  format: RuntimeFormat;
  kvmCmd: (string | number)[];
  nics: RuntimeNic[];
  disks: RuntimeDisk[];
  /** hvparams exactly as stored. */
  hvparamsRaw: JsonObject;
  /** Typed view with defaults applied. */
  hvparams: KnownHvparams;
  /** Legacy upgrades applied while loading (empty for a current file). */
  upgrades: Upgrade[];
  /** The whole document as it will be written: `[kvm_cmd, nics, hvparams, disks]` (always 4 items). */
  raw: [Json[], JsonObject[], JsonObject, [JsonObject, string, string | null][]];
}
