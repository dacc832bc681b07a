/**
 * Validation of a runtime file's JSON document with zod. Zod only checks: the document that is kept
 * and written back is always the parsed JSON value itself (so unknown keys keep their order and
 * numbers stay numbers).
 *
 * Two modes: `legacy` accepts what old Ganeti versions wrote (NIC without `uuid`, device without
 * `hvinfo` but maybe with a `pci` slot) so that load.ts can upgrade it; `strict` is the current
 * format (what an edited document must be).
 */

import type { z } from 'zod';
import { zod } from './lazy-zod.js';
import type { InputIssue } from '../errors.js';
import { PCI_SLOTS, readKnownHvparams } from './hvparams.js';
import { describeValue, formatPath, plugboardErrorMap, zodIssuesToInputIssues, type PathSegment } from './issues.js';
import type { Json, JsonObject, KnownHvparams } from './types.js';

export const TOP_LEVEL_NAMES = ['kvm_cmd', 'nics', 'hvparams', 'disks'] as const;

const ADDR_RE = /^0x[0-9a-f]+$/i;
const SCSI_KEYS = ['channel', 'scsi-id', 'lun'] as const;

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The hvinfo rules: `{}`; or a PCI device `{driver, id, bus, addr: "0xN"}` with N in 0x00–0x1f; or
 * a SCSI device `{driver, id, bus, channel, scsi-id, lun}` with non-negative integers. Other keys
 * (`netdev`, `drive`, …) are allowed. Reports every problem it finds through `add`.
 */
export function checkHvinfo(h: Record<string, unknown>, add: (path: PathSegment[], message: string) => void): void {
  const keys = Object.keys(h);
  if (keys.length === 0) return;
  for (const k of ['driver', 'id', 'bus'] as const) {
    const v = h[k];
    if (v === undefined) add([k], 'missing, expected a string');
    else if (typeof v !== 'string' || v === '') add([k], `expected a non-empty string, got ${describeValue(v)}`);
  }
  const bus = typeof h.bus === 'string' ? h.bus : '';
  const hasAddr = Object.hasOwn(h, 'addr');
  const hasScsi = SCSI_KEYS.some((k) => Object.hasOwn(h, k));
  if (hasAddr && hasScsi) {
    add([], 'has both addr (PCI) and channel/scsi-id/lun (SCSI); a device sits on one bus');
    return;
  }
  const isPci = hasAddr || (!hasScsi && bus.startsWith('pci'));
  const isScsi = hasScsi || (!hasAddr && bus.startsWith('scsi'));
  if (isPci) {
    const addr = h.addr;
    if (addr === undefined) add(['addr'], 'missing, expected hex string like "0xd"');
    else if (typeof addr !== 'string' || !ADDR_RE.test(addr)) {
      add(['addr'], `expected hex string like "0xd", got ${describeValue(addr)}`);
    } else {
      const slot = parseInt(addr.slice(2), 16);
      if (slot >= PCI_SLOTS) add(['addr'], `slot ${addr} is outside the PCI bus (0x0-0x1f)`);
    }
  } else if (isScsi) {
    for (const k of SCSI_KEYS) {
      const v = h[k];
      if (v === undefined) add([k], 'missing, expected a non-negative integer');
      else if (!isNonNegInt(v)) add([k], `expected a non-negative integer, got ${describeValue(v)}`);
    }
  } else {
    add([], `hvinfo on bus ${describeValue(h.bus)} has neither addr (PCI) nor channel, scsi-id and lun (SCSI)`);
  }
}

// The zod schemas, built on first use (see lazy-zod.ts): the quick checks below accept well-formed
// documents without them.
function buildSchemas(z: typeof import('zod').z) {
  const hvinfoSchema = z.looseObject({}).superRefine((h, ctx) => {
    checkHvinfo(h, (path, message) => ctx.addIssue({ code: 'custom', path, message, input: h }));
  });

  const nonEmptyString = z.string().min(1);

  function nicSchema(strict: boolean) {
    return z.looseObject({
      mac: z.string(),
      uuid: strict ? nonEmptyString : nonEmptyString.optional(),
      nicparams: z
        .looseObject({
          mode: z.string().nullable().optional(),
          link: z.string().nullable().optional(),
        })
        .optional(),
      name: z.string().nullable().optional(),
      hvinfo: strict ? hvinfoSchema : hvinfoSchema.optional(),
    });
  }

  function diskSchema(strict: boolean) {
    return z.looseObject({
      uuid: nonEmptyString,
      size: z.number().optional(),
      iv_name: z.string().nullable().optional(),
      name: z.string().nullable().optional(),
      dev_type: z.string().nullable().optional(),
      hvinfo: strict ? hvinfoSchema : hvinfoSchema.optional(),
    });
  }

  function disksSchema(strict: boolean) {
    return z.array(
      z.tuple([diskSchema(strict), z.string(), z.string().nullable()], {
        error: (iss) => `expected [disk, link, uri], got ${describeValue(iss.input)}`,
      }),
    );
  }

  const kvmCmdSchema = z.array(
    z.union([z.string(), z.number()], {
      error: (iss) => `expected a string or a number, got ${describeValue(iss.input)}`,
    }),
  );

  const hvparamsObjectSchema = z.looseObject({});

  function schemaSet(strict: boolean) {
    const nic = nicSchema(strict);
    const disks = disksSchema(strict);
    return { nics: z.array(nic), nic, disks, disk: disks.element };
  }

  return { kvmCmdSchema, hvparamsObjectSchema, legacy: schemaSet(false), strict: schemaSet(true) };
}

let built: ReturnType<typeof buildSchemas> | undefined;
const zodSchemas = (): ReturnType<typeof buildSchemas> => (built ??= buildSchemas(zod()));

function run(schema: z.ZodType, value: unknown, prefix: PathSegment[]): InputIssue[] {
  const r = schema.safeParse(value, { reportInput: true, error: plugboardErrorMap });
  return r.success ? [] : zodIssuesToInputIssues(r.error.issues, prefix);
}

/**
 * At most this many problems are listed for one file; a file with more gets a last line saying so.
 * (A 2 MB file of 700 000 empty NICs has millions of problems: listing them all took seconds and
 * overflowed the stack; nobody reads past the first screen anyway.)
 */
export const MAX_LISTED_ISSUES = 50;

/**
 * More NICs or disks than this in one runtime file is refused before anything else is checked:
 * Ganeti allows 8 NICs and 16 disks per instance (constants.MAX_NICS/MAX_DISKS), pci.0 has 32 slots
 * and no SCSI controller more than 256 targets, and checking (or upgrading) hundreds of thousands
 * of entries a 16 MiB file can hold takes many seconds.
 */
export const MAX_RUNTIME_DEVICES = 256;

/** Collects issues up to MAX_LISTED_ISSUES (never spreads a huge array onto the stack). */
class IssueList {
  readonly items: InputIssue[] = [];
  full = false;
  add(list: readonly InputIssue[]): void {
    for (const i of list) {
      if (this.items.length >= MAX_LISTED_ISSUES) {
        this.full = true;
        return;
      }
      this.items.push(i);
    }
  }
}

/**
 * Checks a list element by element (so that the work stops once enough problems are listed). An
 * element the quick check accepts is not given to zod (see quickNic, quickDiskEntry).
 */
function runList(
  schemasOf: () => { list: z.ZodType; item: z.ZodType },
  quickItem: (v: unknown) => boolean,
  value: unknown,
  name: string,
  out: IssueList,
): void {
  if (!Array.isArray(value)) {
    out.add(run(schemasOf().list, value, [name]));
    return;
  }
  for (let i = 0; i < value.length && !out.full; i++) {
    if (!quickItem(value[i])) out.add(run(schemasOf().item, value[i], [name, i]));
  }
}

// ---------------------------------------------------------------------------------------------
// Quick checks: the schemas above, without zod, for the common case of a well-formed document.
// Each is at least as strict as its schema — what it accepts, the schema accepts with no issue —
// so an element it accepts needs no zod; anything else goes to zod, which names the problems.
// (test/unit/quick-checks.test.ts holds them to that.) Keep them in step with the schemas.
// ---------------------------------------------------------------------------------------------

/** What a zod object schema accepts as an object. */
export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** `z.string().nullable().optional()` */
const isOptNullableString = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';
/** `z.string().min(1)` */
const isNonEmptyString = (v: unknown): boolean => typeof v === 'string' && v !== '';

/** hvinfoSchema (`.optional()` unless `required`). */
function quickHvinfo(v: unknown, required: boolean): boolean {
  if (v === undefined) return !required;
  if (!isPlainObject(v)) return false;
  let ok = true;
  checkHvinfo(v, () => {
    ok = false;
  });
  return ok;
}

/** nicSchema(strict). */
export function quickNic(v: unknown, strict: boolean): boolean {
  if (!isPlainObject(v)) return false;
  const np = v['nicparams'];
  return (
    typeof v['mac'] === 'string' &&
    (strict ? isNonEmptyString(v['uuid']) : v['uuid'] === undefined || isNonEmptyString(v['uuid'])) &&
    (np === undefined || (isPlainObject(np) && isOptNullableString(np['mode']) && isOptNullableString(np['link']))) &&
    isOptNullableString(v['name']) &&
    quickHvinfo(v['hvinfo'], strict)
  );
}

/** One element of disksSchema(strict): `[disk, link, uri]`. */
export function quickDiskEntry(e: unknown, strict: boolean): boolean {
  if (!Array.isArray(e) || e.length !== 3) return false;
  const d: unknown = e[0];
  const link: unknown = e[1];
  const uri: unknown = e[2];
  if (typeof link !== 'string' || (uri !== null && typeof uri !== 'string') || !isPlainObject(d)) return false;
  const size = d['size'];
  return (
    isNonEmptyString(d['uuid']) &&
    (size === undefined || (typeof size === 'number' && Number.isFinite(size))) &&
    isOptNullableString(d['iv_name']) &&
    isOptNullableString(d['name']) &&
    isOptNullableString(d['dev_type']) &&
    quickHvinfo(d['hvinfo'], strict)
  );
}

/** kvm_cmd: strings and numbers only (a plain loop: it may hold many items, all fine). */
function checkKvmCmd(value: unknown, out: IssueList): void {
  if (!Array.isArray(value)) {
    out.add(run(zodSchemas().kvmCmdSchema, value, ['kvm_cmd']));
    return;
  }
  for (let i = 0; i < value.length && !out.full; i++) {
    const v: unknown = value[i];
    if (typeof v !== 'string' && typeof v !== 'number') {
      out.add([{ path: formatPath(['kvm_cmd', i]), message: `expected a string or a number, got ${describeValue(v)}` }]);
    }
  }
}

/**
 * What zod says of one NIC or one disk entry (`[disk, link, uri]`), always asking zod: for the
 * tests that hold the quick checks to the schemas.
 */
export function schemaIssuesOf(part: 'nic' | 'disk', value: unknown, mode: 'legacy' | 'strict'): InputIssue[] {
  const set = zodSchemas()[mode];
  return run(part === 'nic' ? set.nic : set.disk, value, []);
}

export interface CheckedDocument {
  issues: InputIssue[];
  /** The typed hvparams (defaults for missing or bad keys). */
  hvparams: KnownHvparams;
}

/**
 * Check the top-level shape. Returns issues, or null when the value is an array of 3 or 4 items.
 */
export function checkTopLevel(doc: Json): InputIssue[] | null {
  const want = 'a JSON array [kvm_cmd, nics, hvparams, disks]';
  if (!Array.isArray(doc)) return [{ path: '', message: `expected ${want}, got ${describeValue(doc)}` }];
  if (doc.length !== 4 && doc.length !== 3) {
    return [{ path: '', message: `expected ${want} (4 items, 3 in old files), got ${describeValue(doc)}` }];
  }
  return null;
}

/**
 * Check the four parts of a document whose top level is an array of 3 or 4 items, collecting
 * the issues (at most MAX_LISTED_ISSUES, then a line saying there are more). In legacy mode,
 * devices without hvinfo must have a valid `pci` slot or none. More than MAX_RUNTIME_DEVICES NICs
 * or disks is one issue, and nothing else is checked.
 */
export function checkDocument(doc: Json[], mode: 'legacy' | 'strict'): CheckedDocument {
  const tooMany: InputIssue[] = [];
  for (const [index, name, limit] of [
    [1, 'nics', 'Ganeti allows 8 NICs per instance'],
    [3, 'disks', 'Ganeti allows 16 disks per instance'],
  ] as const) {
    const list = doc[index];
    if (Array.isArray(list) && list.length > MAX_RUNTIME_DEVICES) {
      tooMany.push({
        path: name,
        message: `${list.length} entries (${limit}; plugboard reads at most ${MAX_RUNTIME_DEVICES}): not a runtime file Ganeti wrote`,
      });
    }
  }
  if (tooMany.length) return { issues: tooMany, hvparams: readKnownHvparams({}).hvparams };

  const out = new IssueList();
  const strict = mode === 'strict';
  const s = () => zodSchemas()[mode];
  checkKvmCmd(doc[0], out);
  runList(() => ({ list: s().nics, item: s().nic }), (v) => quickNic(v, strict), doc[1], 'nics', out);
  const hvIssues = isPlainObject(doc[2]) ? [] : run(zodSchemas().hvparamsObjectSchema, doc[2], ['hvparams']);
  out.add(hvIssues);
  let hvparams: KnownHvparams;
  if (hvIssues.length === 0) {
    const r = readKnownHvparams(doc[2] as JsonObject);
    out.add(r.issues);
    hvparams = r.hvparams;
  } else {
    hvparams = readKnownHvparams({}).hvparams;
  }
  if (doc.length >= 4) runList(() => ({ list: s().disks, item: s().disk }), (v) => quickDiskEntry(v, strict), doc[3], 'disks', out);

  if (mode === 'legacy') {
    const checkPci = (dev: unknown, path: PathSegment[]): void => {
      if (dev === null || typeof dev !== 'object' || Array.isArray(dev)) return;
      const d = dev as Record<string, unknown>;
      if (Object.hasOwn(d, 'hvinfo') || !Object.hasOwn(d, 'pci')) return;
      const pci = d.pci;
      if (!isNonNegInt(pci) || pci >= PCI_SLOTS) {
        out.add([
          {
            path: formatPath([...path, 'pci']),
            message: `expected a PCI slot number from 0 to ${PCI_SLOTS - 1}, got ${describeValue(pci)}`,
          },
        ]);
      }
    };
    if (Array.isArray(doc[1])) doc[1].forEach((nic, i) => checkPci(nic, ['nics', i]));
    if (doc.length >= 4 && Array.isArray(doc[3])) {
      doc[3].forEach((entry, i) => {
        if (Array.isArray(entry)) checkPci(entry[0], ['disks', i, 0]);
      });
    }
  }
  const issues = sortIssues(out.items);
  if (out.full) {
    issues.push({ path: '', message: `more problems than these ${MAX_LISTED_ISSUES} (not listed): fix these first` });
  }
  return { issues, hvparams };
}

/** Issues in document order: by top-level part, then by the list indexes in the path (stable otherwise). */
function issueSortKey(path: string): number[] {
  const head = /^[a-z_]+/.exec(path)?.[0] ?? '';
  const rank = (TOP_LEVEL_NAMES as readonly string[]).indexOf(head);
  const indexes = [...path.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
  return [rank, ...indexes];
}

function compareKeys(ka: number[], kb: number[]): number {
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const d = (ka[i] as number) - (kb[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/** Stable sort in document order, each path's key computed once. */
function sortIssues(issues: readonly InputIssue[]): InputIssue[] {
  return issues
    .map((issue, i) => ({ issue, key: issueSortKey(issue.path), i }))
    .sort((a, b) => compareKeys(a.key, b.key) || a.i - b.i)
    .map((x) => x.issue);
}
