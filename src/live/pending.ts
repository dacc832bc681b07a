/**
 * PCI unplugs the guest has not acknowledged yet. QEMU 7.2 has no flag for them: a second
 * `device_del` answers `Device X is already in the process of unplug`, but on a device that is NOT
 * pending it starts an unplug, so it must never be used as a probe. Instead plugboard records an
 * unplug whose wait timed out in `<root>/plugboard/NAME.pending.json` (`[{id, since, kind}]`),
 * and prunes the record once QEMU no longer has the device.
 *
 * Writes are atomic (runtime/write's writeRuntimeFileAtomic: temp file in the same directory, fsync,
 * rename, fsync of the directory), so a reader sees the old or the new list, never half of one.
 */
import { closeSync, constants as fsConstants, openSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { zod } from '../runtime/lazy-zod.js';
import { InputError, messageOf } from '../errors.js';
import { checkQemuId } from '../runtime/ids.js';
import { checkRootTree, validateInstanceName } from '../runtime/root.js';
import { writeRuntimeFileAtomic } from '../runtime/write.js';
import { formatPath, plugboardErrorMap } from '../runtime/issues.js';
import type { LiveState } from './probe.js';

export interface PendingUnplug {
  /** Device id, e.g. `disk-9f5c5bd4-6f60-480b`. */
  id: string;
  /** When the unplug was requested (ISO 8601, UTC). */
  since: string;
  kind: 'disk' | 'nic';
}

/** The plugboard-owned directory under the root (`<root>/plugboard`). */
export const PENDING_DIR = 'plugboard';

/** The record schema, built on first use (zod is loaded only when a pending file exists). */
function buildPendingSchema(z: typeof import('zod').z) {
  return z.array(
    z.object({
      id: z.string().refine((id) => checkQemuId(id) === null, { message: 'not a QEMU device id' }),
      since: z.iso.datetime({ offset: true }),
      kind: z.enum(['disk', 'nic']),
    }),
  );
}
let pendingSchema: ReturnType<typeof buildPendingSchema> | undefined;

/** `<root>/plugboard/NAME.pending.json`. */
export function pendingFilePath(root: string, instance: string): string {
  validateInstanceName(instance);
  return path.join(root, PENDING_DIR, `${instance}.pending.json`);
}

/** Parses the text of a pending file; `file` names it in errors. */
export function parsePendingText(text: string, file: string): PendingUnplug[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not JSON (${messageOf(err)}); delete it if QEMU has no pending unplug`, {
      cause: err,
    });
  }
  pendingSchema ??= buildPendingSchema(zod());
  const r = pendingSchema.safeParse(value, { reportInput: true, error: plugboardErrorMap });
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const where = formatPath(i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)));
      return `${file}: ${where ? `${where}: ` : ''}${i.message}`;
    });
    throw new InputError(lines.join('\n'));
  }
  return r.data;
}

/** The pending directory and file must be no links and writable by nobody else (checkRootTree). */
function pendingTree(instance: string) {
  return { dirs: [PENDING_DIR], files: [path.join(PENDING_DIR, `${instance}.pending.json`)] };
}

/** The pending unplugs recorded for an instance ([] when there is no file). */
export async function readPending(root: string, instance: string): Promise<PendingUnplug[]> {
  const file = pendingFilePath(root, instance);
  await checkRootTree(root, pendingTree(instance));
  let text: string;
  try {
    // Blocking: a missing or small file on the runtime tmpfs, read on every unplug.
    const fd = openSync(file, fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0));
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  return parsePendingText(text, file);
}

/** Writes the list atomically (runtime/write's temp+fsync+rename); an empty list removes the file. */
async function writePending(root: string, instance: string, records: PendingUnplug[]): Promise<void> {
  const file = pendingFilePath(root, instance);
  await checkRootTree(root, pendingTree(instance));
  if (records.length === 0) {
    await fs.rm(file, { force: true });
    return;
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  // Made just now, or there already: check again (it may have appeared as a link meanwhile).
  await checkRootTree(root, pendingTree(instance));
  await writeRuntimeFileAtomic(file, `${JSON.stringify(records, null, 2)}\n`);
}

/**
 * Records that the unplug of `id` was requested and not acknowledged. An existing record of the
 * same id keeps its original `since`. Returns the new list.
 */
export async function recordPendingUnplug(
  root: string,
  instance: string,
  unplug: { id: string; kind: 'disk' | 'nic'; since?: Date },
): Promise<PendingUnplug[]> {
  const problem = checkQemuId(unplug.id);
  if (problem) throw new InputError(problem);
  const records = await readPending(root, instance);
  if (records.some((r) => r.id === unplug.id)) return records;
  const next = [...records, { id: unplug.id, since: (unplug.since ?? new Date()).toISOString(), kind: unplug.kind }];
  await writePending(root, instance, next);
  return next;
}

/** Drops the record of `id` (the unplug completed, or the device was re-added). Returns the new list. */
export async function clearPendingUnplug(root: string, instance: string, id: string): Promise<PendingUnplug[]> {
  const records = await readPending(root, instance);
  const next = records.filter((r) => r.id !== id);
  if (next.length !== records.length) await writePending(root, instance, next);
  return next;
}

/** Splits records into those whose device QEMU still has (still pending) and those it no longer has. */
export function splitPending(
  records: readonly PendingUnplug[],
  live: LiveState,
): { pending: PendingUnplug[]; completed: PendingUnplug[] } {
  const present = new Set(live.peripherals.map((p) => p.id));
  return {
    pending: records.filter((r) => present.has(r.id)),
    completed: records.filter((r) => !present.has(r.id)),
  };
}

/**
 * Reads the records and drops those whose device QEMU no longer has (the guest acknowledged the
 * unplug, or the instance was restarted). Only the dropped ids are removed, from a fresh read just
 * before the write, so a record added meanwhile by another plugboard is kept. Returns what was
 * kept and what was dropped (the drift then reports a runtime entry of a dropped device as
 * `missing-from-qemu`).
 */
export async function prunePending(
  root: string,
  instance: string,
  live: LiveState,
): Promise<{ pending: PendingUnplug[]; completed: PendingUnplug[] }> {
  const split = splitPending(await readPending(root, instance), live);
  if (split.completed.length === 0) return split;
  const drop = new Set(split.completed.map((r) => r.id));
  const fresh = await readPending(root, instance);
  const next = fresh.filter((r) => !drop.has(r.id));
  await writePending(root, instance, next);
  return { pending: next, completed: split.completed };
}
