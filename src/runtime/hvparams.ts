/**
 * The hypervisor parameters plugboard reads from a runtime file: their value sets, defaults, and
 * the QEMU drivers they imply. Value sets are Ganeti 3.0's (`HT_KVM_VALID_*`), plus `dc390` as a
 * SCSI controller (QEMU has it, Ganeti 3.0 does not offer it: docs/qemu-ganeti-facts.md, "Device ids and
 * parameters").
 */

import { zod } from './lazy-zod.js';
import type { InputIssue } from '../errors.js';
import { describeValue, plugboardErrorMap, zodIssuesToInputIssues } from './issues.js';
import type { Json, JsonObject, KnownHvparams } from './types.js';

export const DISK_TYPES = [
  'paravirtual',
  'ide',
  'scsi',
  'sd',
  'mtd',
  'pflash',
  'scsi-hd',
  'scsi-block',
  'scsi-generic',
  'scsi-cd',
] as const;
export type DiskType = (typeof DISK_TYPES)[number];

export const NIC_TYPES = [
  'paravirtual',
  'e1000',
  'rtl8139',
  'ne2k_pci',
  'ne2k_isa',
  'i82551',
  'i82557b',
  'i82559er',
  'pcnet',
] as const;
export type NicType = (typeof NIC_TYPES)[number];

export const SCSI_CONTROLLER_TYPES = ['lsi', 'megasas', 'virtio-scsi-pci', 'dc390'] as const;
export type ScsiControllerType = (typeof SCSI_CONTROLLER_TYPES)[number];

/** Disk types whose devices sit on `scsi.0` behind the SCSI controller (Ganeti `HT_SCSI_DEVICE_TYPES`). */
export const SCSI_DISK_TYPES: readonly DiskType[] = ['scsi-hd', 'scsi-block', 'scsi-generic', 'scsi-cd'];

/** Ganeti `_HOTPLUGGABLE_DEVICE_TYPES[disk]`. */
export const HOTPLUGGABLE_DISK_TYPES: readonly DiskType[] = [
  'paravirtual',
  'scsi-hd',
  'scsi-block',
  'scsi-generic',
  'scsi-cd',
];

/** Ganeti `_HOTPLUGGABLE_DEVICE_TYPES[nic]`: every NIC type but `ne2k_isa` (an ISA device). */
export const HOTPLUGGABLE_NIC_TYPES: readonly NicType[] = NIC_TYPES.filter((t) => t !== 'ne2k_isa');

/** Number of slots on `pci.0` (Ganeti `QEMU_PCI_SLOTS`). */
export const PCI_SLOTS = 32;

export const HVPARAM_DEFAULTS = {
  disk_type: 'paravirtual',
  nic_type: 'paravirtual',
  scsi_controller_type: 'lsi',
  /** Ganeti `QEMU_DEFAULT_PCI_RESERVATIONS`. */
  kvm_pci_reservations: 12,
} as const;

/** Ganeti `_DEVICE_DRIVER[disk]`: `paravirtual` → `virtio-blk-pci`, otherwise the type itself. */
export function diskDriver(diskType: string): string {
  return diskType === 'paravirtual' ? 'virtio-blk-pci' : diskType;
}

/** Ganeti `_DEVICE_DRIVER[nic]`: `paravirtual` → `virtio-net-pci`, otherwise the type itself. */
export function nicDriver(nicType: string): string {
  return nicType === 'paravirtual' ? 'virtio-net-pci' : nicType;
}

/** Disks of this type go on `scsi.0` (Ganeti `_DEVICE_BUS[disk]`); all others on `pci.0`. */
export function isScsiDiskType(diskType: string): boolean {
  return (SCSI_DISK_TYPES as readonly string[]).includes(diskType);
}

export function isHotpluggableDiskType(diskType: string): boolean {
  return (HOTPLUGGABLE_DISK_TYPES as readonly string[]).includes(diskType);
}

export function isHotpluggableNicType(nicType: string): boolean {
  return (HOTPLUGGABLE_NIC_TYPES as readonly string[]).includes(nicType);
}

/**
 * The checks of the hvparams plugboard reads, as a zod schema, built on first use (lazy-zod.ts):
 * quickKnownHvparams accepts well-formed hvparams without it.
 */
function buildKnownHvparamsSchema() {
  const z = zod();
  /** Optional string hvparam: a string, or null/absent (→ undefined). */
  const optString = z.string().nullable().optional();
  /** Optional boolean hvparam: a boolean, or null/absent (→ false). */
  const optBool = z.boolean().nullable().optional();
  const reservations = z
    .int({
      error: (iss) => `expected an integer from 0 to ${PCI_SLOTS}, got ${describeValue(iss.input)}`,
    })
    .min(0)
    .max(PCI_SLOTS);
  return z.looseObject({
    disk_type: z.enum(DISK_TYPES).optional(),
    nic_type: z.enum(NIC_TYPES).optional(),
    scsi_controller_type: z.enum(SCSI_CONTROLLER_TYPES).optional(),
    kvm_pci_reservations: reservations.optional(),
    disk_cache: optString,
    disk_aio: optString,
    disk_discard: optString,
    kvm_path: optString,
    machine_version: optString,
    kvm_extra: optString,
    security_model: optString,
    security_domain: optString,
    use_chroot: optBool,
    vhost_net: optBool,
  });
}

let knownSchema: ReturnType<typeof buildKnownHvparamsSchema> | undefined;

/** The zod schema of the hvparams plugboard reads (built on first use). */
export function knownHvparamsSchema(): ReturnType<typeof buildKnownHvparamsSchema> {
  knownSchema ??= buildKnownHvparamsSchema();
  return knownSchema;
}

const OPT_STRING_KEYS = [
  'disk_cache',
  'disk_aio',
  'disk_discard',
  'kvm_path',
  'machine_version',
  'kvm_extra',
  'security_model',
  'security_domain',
] as const;

const isOneOf = (set: readonly string[], v: unknown): boolean => v === undefined || (typeof v === 'string' && set.includes(v));

/**
 * The schema's checks without zod: true only when the schema finds nothing (a well-formed file).
 * At least as strict as the schema (test/unit/quick-checks.test.ts); keep them in step.
 */
export function quickKnownHvparams(raw: JsonObject): boolean {
  const r = raw['kvm_pci_reservations'];
  return (
    isOneOf(DISK_TYPES, raw['disk_type']) &&
    isOneOf(NIC_TYPES, raw['nic_type']) &&
    isOneOf(SCSI_CONTROLLER_TYPES, raw['scsi_controller_type']) &&
    (r === undefined || (Number.isSafeInteger(r) && (r as number) >= 0 && (r as number) <= PCI_SLOTS)) &&
    OPT_STRING_KEYS.every((k) => {
      const v = raw[k];
      return v === undefined || v === null || typeof v === 'string';
    }) &&
    ['use_chroot', 'vhost_net'].every((k) => {
      const v = raw[k];
      return v === undefined || v === null || typeof v === 'boolean';
    })
  );
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * The typed view of the hvparams plugboard uses. Missing keys take their defaults (older files lack
 * `scsi_controller_type` and `kvm_pci_reservations`). A value of the wrong type or outside its set
 * is an issue at `hvparams.<key>`; the returned view then holds the default for that key.
 */
export function readKnownHvparams(raw: JsonObject): { hvparams: KnownHvparams; issues: InputIssue[] } {
  let issues: InputIssue[] = [];
  let bad = new Set<string>();
  if (!quickKnownHvparams(raw)) {
    const r = knownHvparamsSchema().safeParse(raw, { reportInput: true, error: plugboardErrorMap });
    issues = r.success ? [] : zodIssuesToInputIssues(r.error.issues, 'hvparams');
    bad = new Set(r.success ? [] : r.error.issues.map((i) => String(i.path[0])));
  }
  const get = (key: string): Json | undefined => (bad.has(key) || !Object.hasOwn(raw, key) ? undefined : raw[key]);
  const getString = (key: string, dflt: string): string => {
    const v = get(key);
    return typeof v === 'string' ? v : dflt;
  };
  const res = get('kvm_pci_reservations');
  const hvparams: KnownHvparams = {
    disk_type: getString('disk_type', HVPARAM_DEFAULTS.disk_type),
    nic_type: getString('nic_type', HVPARAM_DEFAULTS.nic_type),
    scsi_controller_type: getString('scsi_controller_type', HVPARAM_DEFAULTS.scsi_controller_type),
    kvm_pci_reservations: typeof res === 'number' ? res : HVPARAM_DEFAULTS.kvm_pci_reservations,
    disk_cache: str(get('disk_cache')),
    disk_aio: str(get('disk_aio')),
    disk_discard: str(get('disk_discard')),
    kvm_path: str(get('kvm_path')),
    machine_version: str(get('machine_version')),
    kvm_extra: str(get('kvm_extra')),
    use_chroot: get('use_chroot') === true,
    vhost_net: get('vhost_net') === true,
    security_model: str(get('security_model')),
    security_domain: str(get('security_domain')),
  };
  return { hvparams, issues };
}
