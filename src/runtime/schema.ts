/**
 * Validation of a runtime file's JSON document with zod. Zod only checks: the document that is kept
 * and written back is always the parsed JSON value itself (so unknown keys keep their order and
 * numbers stay numbers).
 *
 * Two modes: `legacy` accepts what old Ganeti versions wrote (NIC without `uuid`, device without
 * `hvinfo` but maybe with a `pci` slot) so that load.ts can upgrade it; `strict` is the current
 * format (what an edited document must be).
 */

import { z } from 'zod';
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

const schemas = {
  legacy: { nics: z.array(nicSchema(false)), disks: disksSchema(false) },
  strict: { nics: z.array(nicSchema(true)), disks: disksSchema(true) },
};

function run(schema: z.ZodType, value: unknown, prefix: string): InputIssue[] {
  const r = schema.safeParse(value, { reportInput: true, error: plugboardErrorMap });
  return r.success ? [] : zodIssuesToInputIssues(r.error.issues, prefix);
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
 * Check the four parts of a document whose top level is an array of 3 or 4 items, collecting every
 * issue. In legacy mode, devices without hvinfo must have a valid `pci` slot or none.
 */
export function checkDocument(doc: Json[], mode: 'legacy' | 'strict'): CheckedDocument {
  const issues: InputIssue[] = [];
  const s = schemas[mode];
  issues.push(...run(kvmCmdSchema, doc[0], 'kvm_cmd'));
  issues.push(...run(s.nics, doc[1], 'nics'));
  const hvIssues = run(hvparamsObjectSchema, doc[2], 'hvparams');
  issues.push(...hvIssues);
  let hvparams: KnownHvparams;
  if (hvIssues.length === 0) {
    const r = readKnownHvparams(doc[2] as JsonObject);
    issues.push(...r.issues);
    hvparams = r.hvparams;
  } else {
    hvparams = readKnownHvparams({}).hvparams;
  }
  if (doc.length >= 4) issues.push(...run(s.disks, doc[3], 'disks'));

  if (mode === 'legacy') {
    const checkPci = (dev: unknown, path: PathSegment[]): void => {
      if (dev === null || typeof dev !== 'object' || Array.isArray(dev)) return;
      const d = dev as Record<string, unknown>;
      if (Object.hasOwn(d, 'hvinfo') || !Object.hasOwn(d, 'pci')) return;
      const pci = d.pci;
      if (!isNonNegInt(pci) || pci >= PCI_SLOTS) {
        issues.push({
          path: formatPath([...path, 'pci']),
          message: `expected a PCI slot number from 0 to ${PCI_SLOTS - 1}, got ${describeValue(pci)}`,
        });
      }
    };
    if (Array.isArray(doc[1])) doc[1].forEach((nic, i) => checkPci(nic, ['nics', i]));
    if (doc.length >= 4 && Array.isArray(doc[3])) {
      doc[3].forEach((entry, i) => {
        if (Array.isArray(entry)) checkPci(entry[0], ['disks', i, 0]);
      });
    }
  }
  issues.sort(compareIssuePaths);
  return { issues, hvparams };
}

/** Issues in document order: by top-level part, then by the list indexes in the path (stable otherwise). */
function issueSortKey(path: string): number[] {
  const head = /^[a-z_]+/.exec(path)?.[0] ?? '';
  const rank = (TOP_LEVEL_NAMES as readonly string[]).indexOf(head);
  const indexes = [...path.matchAll(/\[(\d+)\]/g)].map((m) => Number(m[1]));
  return [rank, ...indexes];
}

function compareIssuePaths(a: InputIssue, b: InputIssue): number {
  const ka = issueSortKey(a.path);
  const kb = issueSortKey(b.path);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const d = (ka[i] as number) - (kb[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}
