/**
 * MAC addresses of hot-added NICs: validation of a given one and generation of a new one, the way
 * Ganeti writes them (`aa:00:00:bf:2f:16`: six lower-case hex pairs, the cluster's `mac_prefix`,
 * default `aa:00:00`, then three bytes).
 *
 * Ganeti draws the three bytes at random and checks them against the whole cluster's config.
 * plugboard has no view of the cluster: it derives them from the NIC's UUID (so a `--dry-run` and
 * the run that follows with the same `--uuid` — the TUI previews that way — agree on the MAC), and
 * makes them unique within the instance.
 */
import { createHash } from 'node:crypto';
import { InputError, RefusedError } from '../errors.js';
import type { RuntimeFile } from '../runtime/types.js';

/** Ganeti's default `mac_prefix` (`constants.DEFAULT_MAC_PREFIX`). */
export const DEFAULT_MAC_PREFIX = 'aa:00:00';

const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;
const PREFIX_RE = /^[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/;

/** Why `mac` cannot be the address of a NIC, or null. Ganeti's syntax (`NormalizeAndValidateMac`) plus unicast. */
export function macProblem(mac: string): string | null {
  if (!MAC_RE.test(mac)) return 'not a MAC address: six hex pairs separated by ":", like aa:00:00:12:34:56';
  const first = Number.parseInt(mac.slice(0, 2), 16);
  if (first & 1) return 'a multicast address (lowest bit of the first byte set): a NIC needs a unicast one';
  if (/^(?:00:){5}00$/.test(mac)) return 'the all-zero address is not a NIC address';
  return null;
}

/** Lower-case, as Ganeti stores MACs. Throws InputError naming `what` when the MAC is not usable. */
export function normalizeMac(mac: string, what = '--mac'): string {
  const problem = macProblem(mac.trim());
  if (problem) throw new InputError(`${what} ${mac}: ${problem}`);
  return mac.trim().toLowerCase();
}

/** The MACs of the instance's NICs (lower-case). */
export function instanceMacs(rf: RuntimeFile): Set<string> {
  return new Set(rf.nics.map((n) => n.mac.toLowerCase()));
}

/**
 * The prefix for a generated MAC: the one every NIC of the instance shares (that is the cluster's
 * or the network's `mac_prefix`), else Ganeti's default.
 */
export function macPrefixFor(rf: RuntimeFile): { prefix: string; source: string } {
  const prefixes = new Set(
    rf.nics.map((n) => n.mac.toLowerCase().slice(0, 8)).filter((p) => PREFIX_RE.test(p) && (Number.parseInt(p.slice(0, 2), 16) & 1) === 0),
  );
  if (prefixes.size === 1 && rf.nics.length > 0) {
    const prefix = [...prefixes][0]!;
    return { prefix, source: `the prefix of the instance's other NICs` };
  }
  return { prefix: DEFAULT_MAC_PREFIX, source: `Ganeti's default prefix` };
}

/**
 * A MAC for the NIC with this UUID: `prefix` + three bytes from SHA-256 of the UUID (and an attempt
 * counter), the first that no MAC in `taken` has. Deterministic.
 */
export function generateMac(uuid: string, taken: ReadonlySet<string>, prefix = DEFAULT_MAC_PREFIX): string {
  const p = prefix.toLowerCase();
  if (!PREFIX_RE.test(p) || Number.parseInt(p.slice(0, 2), 16) & 1) {
    throw new InputError(`MAC prefix ${prefix}: expected three hex pairs of a unicast address, like aa:00:00`);
  }
  for (let attempt = 0; attempt < 256; attempt++) {
    const digest = createHash('sha256').update(`${uuid.toLowerCase()}/${attempt}`).digest();
    const mac = `${p}:${[digest[0]!, digest[1]!, digest[2]!].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    if (!taken.has(mac)) return mac;
  }
  throw new RefusedError(`no free MAC address with prefix ${p} after 256 attempts`);
}

/** The MAC for a new NIC of `rf`: `given` (validated, not used by another NIC of the instance) or a generated one. */
export function macForNewNic(rf: RuntimeFile, uuid: string, given: string | undefined): { mac: string; note: string | undefined } {
  const taken = instanceMacs(rf);
  if (given !== undefined) {
    const mac = normalizeMac(given);
    if (taken.has(mac)) {
      const other = rf.nics.find((n) => n.mac.toLowerCase() === mac)!;
      throw new InputError(`--mac ${given}: NIC ${other.index} of ${rf.instance} (uuid ${other.uuid}) already has this MAC address`);
    }
    return { mac, note: undefined };
  }
  const { prefix, source } = macPrefixFor(rf);
  const mac = generateMac(uuid, taken, prefix);
  return {
    mac,
    note: `MAC ${mac} generated (${source} ${prefix}); unique within ${rf.instance} — plugboard cannot check the rest of the cluster as Ganeti does`,
  };
}
