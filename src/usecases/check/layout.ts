/**
 * What the migration check compares of one QEMU: its layout — probeLive's state (the devices with
 * an id, the SCSI addresses, the drivers), the whole PCI tree (behind bridges too) and the devices
 * without id. QEMU's replies are checked (zod, built on first use) like the probe's.
 */
import type { z } from 'zod';
import { zod } from '../../runtime/lazy-zod.js';
import { isPciDriver } from '../../bus/controllers.js';
import { probeLive, type LiveState, type QmpExecutor } from '../../live/probe.js';
import { MigrationCheckError } from './error.js';

export interface PciHop {
  /** Root bus number for the first hop (0 = `pci.0`); later hops are behind bridges. */
  bus?: number;
  slot: number;
  function: number;
}

export interface PciFunctionInfo {
  /** From the root bus down: the root bus number in the first hop, then slot/function per bus. */
  path: PciHop[];
  /** `0:0d.0`, `0:1e.0/01.2`: equal keys are the same place. */
  key: string;
  qdevId: string;
  /** QOM type: of devices with an id, and of those without one on pci.0 that `-device` created. */
  driver: string | undefined;
  vendorId: number;
  deviceId: number;
  classCode: number;
  classDesc: string | undefined;
}

/** What the comparison reads of one QEMU. */
export interface Layout {
  state: LiveState;
  /** Every PCI function, behind bridges too (LiveState.pci is pci.0 only). */
  pci: PciFunctionInfo[];
  /** QOM types of the devices without id (`/machine/peripheral-anon`). */
  anonymous: string[];
}

interface RawPciDevice {
  bus: number;
  slot: number;
  function: number;
  qdev_id: string;
  class_info: { class: number; desc?: string | undefined };
  id: { vendor: number; device: number };
  pci_bridge?: { devices?: RawPciDevice[] | undefined } | undefined;
}

function buildSchemas(z: typeof import('zod').z) {
  const uint = z.int().min(0);
  const rawPciDevice: z.ZodType<RawPciDevice> = z.lazy(() =>
    z.object({
      bus: uint,
      slot: uint.max(31),
      function: uint.max(7),
      qdev_id: z.string(),
      class_info: z.object({ class: uint, desc: z.string().optional() }),
      id: z.object({ vendor: uint, device: uint }),
      pci_bridge: z.object({ devices: z.array(rawPciDevice).optional() }).optional(),
    }),
  );
  return {
    queryPci: z.array(z.object({ bus: uint, devices: z.array(rawPciDevice) })),
    qomList: z.array(z.object({ name: z.string(), type: z.string() })),
  };
}

let built: ReturnType<typeof buildSchemas> | undefined;
/** The reply schemas, built on first use (runtime/lazy-zod.ts: one copy of zod in the process). */
function schemas(): ReturnType<typeof buildSchemas> {
  built ??= buildSchemas(zod());
  return built;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

export function pciKey(path: readonly PciHop[]): string {
  return path.map((h, i) => `${i === 0 ? `${h.bus ?? 0}:` : ''}${hex2(h.slot)}.${h.function}`).join('/');
}

/** `slot 0xd`, `slot 0xd function 1`, `slot 0x1e → slot 0x1`, `PCI bus 1 slot 0x3`. */
export function formatPciPath(path: readonly PciHop[]): string {
  return path
    .map((h, i) => {
      const root = i === 0 && (h.bus ?? 0) !== 0 ? `PCI bus ${h.bus} ` : '';
      return `${root}slot 0x${h.slot.toString(16)}${h.function !== 0 ? ` function ${h.function}` : ''}`;
    })
    .join(' → ');
}

/** Flattens `query-pci` (all root buses, recursively behind bridges). */
export function flattenQueryPci(reply: unknown, driverOf: ReadonlyMap<string, string> = new Map()): PciFunctionInfo[] {
  const r = schemas().queryPci.safeParse(reply);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new MigrationCheckError(`QEMU's reply to query-pci is not what plugboard expects: ${first ? `${first.path.join('.')}: ${first.message}` : 'unreadable'}`);
  }
  const out: PciFunctionInfo[] = [];
  const walk = (devices: readonly RawPciDevice[], parent: PciHop[], rootBus: number) => {
    for (const d of devices) {
      const hop: PciHop = parent.length === 0 ? { bus: rootBus, slot: d.slot, function: d.function } : { slot: d.slot, function: d.function };
      const path = [...parent, hop];
      out.push({
        path,
        key: pciKey(path),
        qdevId: d.qdev_id,
        driver: d.qdev_id === '' ? undefined : driverOf.get(d.qdev_id),
        vendorId: d.id.vendor,
        deviceId: d.id.device,
        classCode: d.class_info.class,
        classDesc: d.class_info.desc,
      });
      if (d.pci_bridge?.devices) walk(d.pci_bridge.devices, path, rootBus);
    }
  };
  for (const root of r.data) walk(root.devices, [], root.bus);
  return out;
}

/** Reads a QEMU's layout: probeLive (SCSI addresses, drivers) plus the whole PCI tree and the devices without id. */
export async function probeLayout(qmp: QmpExecutor, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Layout> {
  const call = { ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}), ...(options.signal ? { signal: options.signal } : {}) };
  const [state, queryPci, anonRaw] = await Promise.all([
    probeLive(qmp, call),
    qmp.execute('query-pci', undefined, call),
    qmp.execute('qom-list', { path: '/machine/peripheral-anon' }, call).catch((err: unknown) => {
      // No device without id was ever created: QEMU has no such container.
      if (err instanceof Error && 'errorClass' in err && (err as { errorClass: string }).errorClass === 'DeviceNotFound') return [];
      throw err;
    }),
  ]);
  const driverOf = new Map(state.peripherals.map((p) => [p.id, p.driver]));
  const anonList = schemas().qomList.safeParse(anonRaw);
  if (!anonList.success) throw new MigrationCheckError(`QEMU's reply to qom-list /machine/peripheral-anon is not what plugboard expects`);
  const anon = anonList.data.flatMap((p) => {
    const m = /^child<(.+)>$/.exec(p.type);
    return m ? [{ name: p.name, type: m[1]! }] : [];
  });
  const pci = flattenQueryPci(queryPci, driverOf);

  // Name the PCI devices without id on pci.0 (`-device virtio-balloon`): their devfn is `addr`.
  const typeAt = new Map<string, string>();
  await Promise.all(
    anon
      .filter((a) => isPciDriver(a.type))
      .map(async (a) => {
        const at = `/machine/peripheral-anon/${a.name}`;
        try {
          const [bus, devfn] = await Promise.all([
            qmp.execute('qom-get', { path: at, property: 'parent_bus' }, call),
            qmp.execute('qom-get', { path: at, property: 'addr' }, call),
          ]);
          if (typeof bus === 'string' && /\/pci\.0$/.test(bus) && typeof devfn === 'number') {
            typeAt.set(pciKey([{ bus: 0, slot: devfn >> 3, function: devfn & 7 }]), a.type);
          }
        } catch {
          // not a PCI device after all (no `addr`), or gone: it keeps its class description
        }
      }),
  );
  for (const f of pci) if (f.qdevId === '' && typeAt.has(f.key)) f.driver = typeAt.get(f.key);
  return { state, pci, anonymous: anon.map((a) => a.type) };
}
