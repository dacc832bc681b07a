/**
 * Runtime files for the bus and option tests: written as Ganeti writes them and read with the real
 * parser (src/runtime/load.ts), so the tests see what plugboard sees on a node.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRuntimeText } from '../../src/runtime/load.js';
import type { Json, JsonObject, RuntimeFile } from '../../src/runtime/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURE = path.join(here, '..', 'fixtures', 'kvm_runtime.json');

export function fixtureText(): string {
  return readFileSync(FIXTURE, 'utf8');
}

export function fixture(): RuntimeFile {
  return parseRuntimeText(fixtureText(), 'test/fixtures/kvm_runtime.json');
}

/** A UUID whose first three groups make a readable device id: uuid(1) → 00000001-0000-4000-8000-000000000000. */
export function uuid(n: number): string {
  return `${n.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;
}

export const idOf = (kind: 'disk' | 'nic', n: number): string => `${kind}-${n.toString(16).padStart(8, '0')}-0000-4000`;

export interface DiskSpec {
  /** hvinfo; `pci(0xd)` / `scsiAt(2)` helpers, or {} */
  hvinfo: JsonObject;
  uuid?: string;
  devType?: string;
  mode?: string;
  params?: JsonObject;
  link?: string;
  uri?: string | null;
}

export interface NicSpec {
  hvinfo: JsonObject;
  uuid?: string;
  mac?: string;
}

/** PCI hvinfo as Ganeti writes it: {driver, id, bus, addr}. */
export function pci(slot: number, driver: string, id: string): JsonObject {
  return { driver, id, bus: 'pci.0', addr: `0x${slot.toString(16)}` };
}

/** SCSI hvinfo as Ganeti writes it: {driver, id, bus, channel, scsi-id, lun}. */
export function scsiAt(target: number, id: string, driver = 'scsi-hd', lun = 0): JsonObject {
  return { driver, id, bus: 'scsi.0', channel: 0, 'scsi-id': target, lun };
}

export interface RuntimeSpec {
  kvmCmd?: (string | number)[];
  hvparams?: JsonObject;
  disks?: DiskSpec[];
  nics?: NicSpec[];
  instance?: string;
}

export const BASE_KVM_CMD: (string | number)[] = [
  '/usr/bin/kvm',
  '-name',
  'inst1.example.com',
  '-m',
  1024,
  '-device',
  'virtio-balloon',
  '-daemonize',
  '-machine',
  'pc-i440fx-7.2,accel=kvm',
  '-usb',
  '-usbdevice',
  'tablet',
  '-vnc',
  ':5100',
];

/** The document of a runtime file (current format). */
export function runtimeDoc(spec: RuntimeSpec = {}): Json[] {
  const name = spec.instance ?? 'inst1.example.com';
  const disks = (spec.disks ?? []).map((d, i) => {
    const disk: JsonObject = {
      dev_type: d.devType ?? 'plain',
      iv_name: `disk/${i}`,
      logical_id: ['xenvg', `${d.uuid ?? uuid(0x100 + i)}.disk${i}`],
      mode: d.mode ?? 'rw',
      name: `disk${i}`,
      params: d.params ?? { stripes: 1 },
      hvinfo: d.hvinfo,
      size: 1024,
      uuid: d.uuid ?? uuid(0x100 + i),
    };
    return [disk, d.link ?? `/var/run/ganeti/instance-disks/${name}:${i}`, d.uri ?? null] as Json;
  });
  const nics = (spec.nics ?? []).map((n, i) => {
    const nic: JsonObject = {
      mac: n.mac ?? `aa:00:00:00:00:${i.toString(16).padStart(2, '0')}`,
      nicparams: { link: 'br0', mode: 'bridged' },
      hvinfo: n.hvinfo,
      uuid: n.uuid ?? uuid(0x200 + i),
    };
    return nic;
  });
  const hvparams: JsonObject = {
    boot_order: 'disk',
    disk_cache: 'default',
    disk_type: 'paravirtual',
    kernel_path: '',
    kvm_pci_reservations: 12,
    nic_type: 'paravirtual',
    scsi_controller_type: 'lsi',
    vhost_net: false,
    ...(spec.hvparams ?? {}),
  };
  return [spec.kvmCmd ?? BASE_KVM_CMD, nics, hvparams, disks];
}

export function runtimeText(spec: RuntimeSpec = {}): string {
  return JSON.stringify(runtimeDoc(spec));
}

/** A RuntimeFile read by the real parser from the document `spec` describes. */
export function runtime(spec: RuntimeSpec = {}): RuntimeFile {
  return parseRuntimeText(runtimeText(spec), 'conf/inst1.example.com.runtime', spec.instance ?? 'inst1.example.com');
}

/**
 * A RuntimeFile with values the parser would refuse (an out-of-range addr, a reservation count
 * beyond 32…): the bus model must still report them rather than trust the parser.
 */
export function unchecked(rf: RuntimeFile, change: (rf: RuntimeFile) => RuntimeFile): RuntimeFile {
  return change(structuredClone({ ...rf, raw: rf.raw }) as RuntimeFile);
}

/** `kvm_cmd` of `-nodefaults` + the given devices, machine pc. */
export function nodefaults(...devices: string[]): (string | number)[] {
  return ['/usr/bin/kvm', '-nodefaults', '-machine', 'pc', ...devices.flatMap((d) => ['-device', d])];
}
