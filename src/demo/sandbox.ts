/**
 * A sandbox node: a root laid out as Ganeti's (`conf/`, `ctrl/`, `pid/`, `nic/`) with runtime files
 * written the way Ganeti 3.0 writes them, and raw disk images, for the demo and the tests.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dumpJson } from '../runtime/json.js';
import { deviceId } from '../runtime/ids.js';
import { diskDriver, isScsiDiskType, nicDriver } from '../runtime/hvparams.js';
import { pidFilePath, runtimeFilePath } from '../runtime/root.js';
import type { Json, JsonObject } from '../runtime/types.js';
import { findQemu } from '../qemu/binary.js';

export interface SandboxInstanceSpec {
  name: string;
  diskType?: string;
  nicType?: string;
  scsiControllerType?: string;
  /** Default 12. */
  reservations?: number;
  disks?: number;
  nics?: number;
  /**
   * A pre-2.16 runtime file: `pci` slots instead of hvinfo, NICs without uuid, no
   * scsi_controller_type/kvm_pci_reservations in hvparams (paravirtual only).
   */
  legacy?: boolean;
  /** Size of each disk image in MiB (default 8, sparse). */
  diskSizeMb?: number;
  /** Memory (MiB) in kvm_cmd (default 64). */
  memoryMb?: number;
  /** Boot this kernel/initrd (kvm_cmd `-kernel/-initrd/-append`, as Ganeti does with kernel_path). */
  kernel?: { kernel: string; initrd: string; append: string; serial?: string };
  /** Extra kvm_cmd arguments (e.g. `-nodefaults`). */
  extraKvmCmd?: string[];
  /** hvparams to set over the defaults (e.g. `security_model`, `use_chroot`). */
  hvparams?: JsonObject;
}

/** hvparams of a Ganeti 3.0 instance (the shape of `test/fixtures/kvm_runtime.json`'s). */
export function baseHvparams(qemu: string): JsonObject {
  return {
    acpi: true, boot_order: 'disk', cdrom2_image_path: '', cdrom_disk_type: '', cdrom_image_path: '',
    cpu_cores: 0, cpu_mask: 'all', cpu_sockets: 0, cpu_threads: 0, cpu_type: '', disk_aio: 'threads',
    disk_cache: 'default', disk_discard: 'ignore', disk_type: 'paravirtual', floppy_image_path: '',
    initrd_path: '', kernel_args: 'ro', kernel_path: '', keymap: '', kvm_extra: '', kvm_flag: '',
    kvm_path: qemu, kvm_pci_reservations: 12, machine_version: '', mem_path: '', migration_bandwidth: 32,
    migration_downtime: 30, migration_mode: 'live', migration_port: 8102, nic_type: 'paravirtual',
    reboot_behavior: 'reboot', root_path: '/dev/vda1', scsi_controller_type: 'lsi', security_domain: '',
    security_model: 'none', serial_console: true, serial_speed: 38400, soundhw: '', spice_bind: '',
    usb_devices: '', usb_mouse: '', use_chroot: false, use_localtime: false, vga: '', vhost_net: false,
    virtio_net_queues: 1, vnc_bind_address: '', vnc_password_file: '', vnet_hdr: true,
  };
}

export interface SandboxInstance {
  name: string;
  runtimeFile: string;
  diskImages: string[];
}

/** Creates the root's directories (idempotent). */
export async function createRoot(root: string): Promise<void> {
  for (const d of ['conf', 'ctrl', 'pid', 'nic', 'disks']) await mkdir(path.join(root, d), { recursive: true, mode: 0o755 });
}

/** A sparse raw image of `sizeMb` MiB. */
export async function createDiskImage(file: string, sizeMb: number): Promise<void> {
  const fh = await open(file, 'wx', 0o600);
  try {
    await fh.truncate(sizeMb * 1024 * 1024);
  } finally {
    await fh.close();
  }
}

/** Writes `conf/NAME.runtime` (and the disk images) for one instance. */
export async function createSandboxInstance(root: string, spec: SandboxInstanceSpec, qemu = findQemu()): Promise<SandboxInstance> {
  await createRoot(root);
  const diskType = spec.diskType ?? 'paravirtual';
  const nicType = spec.nicType ?? 'paravirtual';
  const controller = spec.scsiControllerType ?? 'lsi';
  const reservations = spec.reservations ?? 12;
  const scsi = isScsiDiskType(diskType);
  const kvmCmd: Json[] = [qemu, '-name', spec.name, '-m', spec.memoryMb ?? 64, '-smp', '1', '-pidfile', pidFilePath(root, spec.name)];
  if (spec.kernel) {
    kvmCmd.push('-kernel', spec.kernel.kernel, '-initrd', spec.kernel.initrd, '-append', spec.kernel.append);
  }
  if (scsi) kvmCmd.push('-device', `${controller},id=scsi`);
  kvmCmd.push('-device', 'virtio-balloon', '-daemonize', '-machine', 'pc');
  kvmCmd.push('-monitor', `unix:${path.join(root, 'ctrl', `${spec.name}.monitor`)},server,nowait`);
  kvmCmd.push('-serial', spec.kernel?.serial ?? 'none', '-display', 'none', ...(spec.extraKvmCmd ?? []));

  const hvparams = baseHvparams(qemu);
  hvparams.disk_type = diskType;
  hvparams.nic_type = nicType;
  hvparams.scsi_controller_type = controller;
  hvparams.kvm_pci_reservations = reservations;
  if (spec.kernel) {
    hvparams.kernel_path = spec.kernel.kernel;
    hvparams.initrd_path = spec.kernel.initrd;
  }
  Object.assign(hvparams, spec.hvparams);
  if (spec.legacy) {
    delete hvparams.scsi_controller_type;
    delete hvparams.kvm_pci_reservations;
  }

  let nextSlot = reservations;
  let nextTarget = 0;
  const images: string[] = [];
  const disks: Json[] = [];
  for (let i = 0; i < (spec.disks ?? 0); i++) {
    const uuid = randomUUID();
    const image = path.join(root, 'disks', `${spec.name}-disk${i}.img`);
    await createDiskImage(image, spec.diskSizeMb ?? 8);
    images.push(image);
    const disk: JsonObject = {
      dev_type: 'plain',
      logical_id: ['xenvg', `${uuid}.disk${i}`],
      iv_name: `disk/${i}`,
      mode: 'rw',
      name: `disk${i}`,
      params: { stripes: 1 },
      size: spec.diskSizeMb ?? 8,
      uuid,
    };
    if (spec.legacy) disk.pci = nextSlot++;
    else if (scsi) {
      disk.hvinfo = { driver: diskDriver(diskType), id: deviceId('disk', uuid), bus: 'scsi.0', channel: 0, 'scsi-id': nextTarget++, lun: 0 };
    } else {
      disk.hvinfo = { driver: diskDriver(diskType), id: deviceId('disk', uuid), bus: 'pci.0', addr: `0x${(nextSlot++).toString(16)}` };
    }
    disks.push([disk, image, null]);
  }
  const nics: Json[] = [];
  for (let i = 0; i < (spec.nics ?? 0); i++) {
    const uuid = randomUUID();
    const nic: JsonObject = {
      mac: `aa:00:00:${randomByte()}:${randomByte()}:${randomByte()}`,
      nicparams: { link: 'br0', mode: 'bridged', vlan: '' },
    };
    if (spec.legacy) nic.pci = nextSlot++;
    else {
      nic.hvinfo = { driver: nicDriver(nicType), id: deviceId('nic', uuid), bus: 'pci.0', addr: `0x${(nextSlot++).toString(16)}` };
      nic.uuid = uuid;
    }
    nics.push(nic);
  }
  const doc: Json = spec.legacy && disks.length === 0 ? [kvmCmd, nics, hvparams] : [kvmCmd, nics, hvparams, disks];
  const file = runtimeFilePath(root, spec.name);
  await writeFile(file, dumpJson(doc), { mode: 0o600 });
  return { name: spec.name, runtimeFile: file, diskImages: images };
}

function randomByte(): string {
  return Math.floor(Math.random() * 256)
    .toString(16)
    .padStart(2, '0');
}
