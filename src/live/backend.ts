/**
 * How an instance's disks are backed in QEMU, from `query-block` (docs/qemu-ganeti-facts.md,
 * "Backends: drives and block nodes"):
 * - a named drive (`device: "ID"`): Ganeti 3.0's `-drive …,if=none,id=ID` at start and HMP
 *   `drive_add` for hot-add. It goes away with its device.
 * - a block node (`device: ""`, `inserted.node-name`): `-blockdev` / `blockdev-add`. It stays after
 *   its device is gone and must be removed with `blockdev-del` once `DEVICE_DELETED` arrived.
 */
import type { RuntimeFile } from '../runtime/types.js';
import type { LiveBlock, LiveState, QmpExecutor } from './probe.js';

export type DetectedBackendStyle = 'drive' | 'blockdev' | 'unknown';

export type LiveBackend =
  /** Named drive: removed with its device; nothing to delete afterwards. */
  | { kind: 'drive'; drive: string; file: string | undefined }
  /** Block node: `blockdev-del {node-name}` after the device is gone. */
  | { kind: 'blockdev'; nodeName: string; file: string | undefined };

/** The query-block entry attached to device `deviceId` (by `qdev`; a named drive also by its name). */
function blockOf(live: LiveState, deviceId: string): LiveBlock | undefined {
  return live.blocks.find((b) => b.deviceId === deviceId) ?? live.blocks.find((b) => b.device === deviceId && b.deviceId === undefined);
}

/**
 * How the instance's own disks (the runtime file's, by hvinfo id) were created, so a hot-add can
 * create its backend the same way. 'unknown' when QEMU has none of them attached. When they differ
 * (someone mixed the two), the style of the first disk of the file that QEMU has wins: disk 0 is
 * created at start, so it shows how this QEMU was started.
 */
export function detectBackendStyle(live: LiveState, rf: RuntimeFile): DetectedBackendStyle {
  for (const d of rf.disks) {
    const id = 'id' in d.hvinfo && typeof d.hvinfo.id === 'string' ? d.hvinfo.id : undefined;
    if (id === undefined) continue;
    const b = blockOf(live, id);
    if (b) return b.style;
  }
  return 'unknown';
}

/**
 * The backend of device `deviceId`, for an unplug: a block node to `blockdev-del` after the device
 * is gone, or a named drive (removed with the device). Undefined when QEMU reports no backend for
 * it (a NIC, an empty CD drive, a device QEMU does not have).
 */
export function backendOf(live: LiveState, deviceId: string): LiveBackend | undefined {
  const b = blockOf(live, deviceId);
  if (!b) return undefined;
  if (b.style === 'drive') return { kind: 'drive', drive: b.device, file: b.file };
  if (b.nodeName === undefined) return undefined;
  return { kind: 'blockdev', nodeName: b.nodeName, file: b.file };
}

/** Names of the block nodes QEMU has (`query-named-block-nodes`, flat: also the protocol nodes). */
export async function namedBlockNodes(qmp: QmpExecutor, opts: { signal?: AbortSignal | undefined } = {}): Promise<string[]> {
  const nodes = await qmp.execute<unknown>('query-named-block-nodes', { flat: true }, opts.signal ? { signal: opts.signal } : {});
  if (!Array.isArray(nodes)) return [];
  return nodes.flatMap((n: unknown) => {
    const name = typeof n === 'object' && n !== null ? (n as Record<string, unknown>)['node-name'] : undefined;
    return typeof name === 'string' ? [name] : [];
  });
}
