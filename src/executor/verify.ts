/**
 * Checking what QEMU did and waiting for it: whether a hot-added device is where it was planned
 * (a targeted check, not a full probe), whether a device is still there, and the wait after a
 * `device_del` until it is gone. Every wait has a deadline and ends early on its signal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpCommandError } from '../qmp/errors.js';
import type { EventMark, QmpClient } from '../qmp/client.js';
import type { Plan } from '../actions/types.js';

/**
 * How long QEMU may take to close the backend of a device that just left it (it does so when it
 * finalizes the device, ~55 ms after: docs/qemu-ganeti-facts.md, "Unplug"): the wait for
 * DEVICE_DELETED before an unplug's cleanup, and a hot-add's wait for a just-unplugged image.
 */
export const BACKEND_RELEASE_TIMEOUT_MS = 2_000;

/** Waits `ms`, or less when `signal` aborts (never rejects). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, undefined, signal ? { signal } : undefined).catch(() => undefined);
}

/** Whether QEMU lists device `id` at the planned address; null when it does, else what is wrong. */
export async function verifyPresent(qmp: QmpClient, plan: Plan, opts: { signal?: AbortSignal | undefined }): Promise<string | null> {
  const v = plan.verify;
  if (v.kind !== 'present') return null;
  const call = { signal: opts.signal };
  if (v.allocation.bus === 'pci.0') {
    const pci = await qmp.execute<{ bus: number; devices: { slot: number; function: number; qdev_id: string }[] }[]>(
      'query-pci',
      undefined,
      call,
    );
    const want = Number.parseInt(v.allocation.addr, 16);
    const found = pci.flatMap((b) => (b.bus === 0 ? b.devices : [])).find((d) => d.qdev_id === v.id);
    if (!found) return `QEMU does not list ${v.id} on pci.0 after device_add`;
    if (found.slot !== want) return `QEMU put ${v.id} at slot 0x${found.slot.toString(16)}, not ${v.allocation.addr}`;
    return null;
  }
  const base = `/machine/peripheral/${v.id}`;
  try {
    // device_add named bus scsi.0, so QEMU put it there or refused: the target is what to check.
    const scsiId = await qmp.execute<number>('qom-get', { path: base, property: 'scsi-id' }, call);
    if (scsiId !== v.allocation['scsi-id']) return `QEMU put ${v.id} at target ${scsiId}, not ${v.allocation['scsi-id']}`;
    return null;
  } catch (error) {
    if (error instanceof QmpCommandError) return `QEMU does not list ${v.id} after device_add (${error.desc})`;
    throw error;
  }
}

/** Whether QEMU lists a device `id` (`qom-list /machine/peripheral`). */
export async function isPresent(qmp: QmpClient, id: string, opts: { signal?: AbortSignal | undefined }): Promise<boolean> {
  const list = await qmp.execute<{ name: string; type: string }[]>('qom-list', { path: '/machine/peripheral' }, {
    signal: opts.signal,
  });
  return list.some((p) => p.name === id && p.type.startsWith('child<'));
}

/**
 * After `device_del`: the device is gone as soon as QEMU no longer lists it in `/machine/peripheral`
 * or DEVICE_DELETED for it arrives, whichever comes first. On SCSI the event trails the removal by
 * ~55 ms (QEMU finalizes the device after an RCU grace period: docs/qemu-ganeti-facts.md,
 * "Unplug"): the operator does not wait for it.
 * What that window still holds — the backend, closed at finalize — is dealt with where it matters:
 * `blockdev-del` retries while the node is "in use", and a hot-add of the same path waits for the
 * old backend to be released (see waitForReleasedBackend in usecases/run-action.ts). Polls with a
 * short, growing interval, woken early by the event; `firstPoll` is a qom-list already sent right
 * behind the `device_del` (a SCSI device is usually gone by then: no round trip of its own).
 * Returns false when the device is still there at the deadline (a PCI unplug the guest has not
 * acknowledged).
 */
export async function waitGone(
  qmp: QmpClient,
  id: string,
  since: EventMark,
  timeoutMs: number,
  opts: { signal?: AbortSignal | undefined },
  firstPoll?: Promise<boolean>,
): Promise<boolean> {
  // The usual SCSI case: the qom-list sent right behind the device_del already shows the device
  // gone. Answer at once, without an event waiter and its abort plumbing (the `since` mark keeps
  // a DEVICE_DELETED that arrived meanwhile for the loop below).
  let present = firstPoll === undefined ? undefined : await firstPoll;
  if (present === false) return true;
  const deadline = Date.now() + timeoutMs;
  let eventSeen = false;
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const event = qmp
    .waitForEvent((e) => e.event === 'DEVICE_DELETED' && e.data['device'] === id, {
      since,
      timeoutMs,
      signal: ac.signal,
      what: `DEVICE_DELETED for ${id}`,
    })
    .then(
      () => {
        eventSeen = true;
      },
      () => undefined,
    );
  try {
    let interval = 1;
    for (;;) {
      if (eventSeen) return true;
      if (!(present ?? (await isPresent(qmp, id, {})))) return true;
      present = undefined;
      const left = deadline - Date.now();
      if (left <= 0 || opts.signal?.aborted) return false;
      await Promise.race([event, delay(Math.min(interval, left), ac.signal)]);
      interval = Math.min(interval * 2, 100);
    }
  } finally {
    ac.abort();
    opts.signal?.removeEventListener('abort', onAbort);
    await event;
  }
}
