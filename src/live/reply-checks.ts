/**
 * What the probe accepts of QEMU's replies: the shape of each (zod schemas, built on first use) and,
 * beside them, quick checks without zod that are at least as strict. QEMU's replies are input too:
 * a reply of an unexpected shape is a LiveProbeError naming the command and the place.
 */
import type { z } from 'zod';
import { PlugboardError } from '../errors.js';
import { formatPath, plugboardErrorMap } from '../runtime/issues.js';
import { zod } from '../runtime/lazy-zod.js';

/** QEMU answered something the probe cannot read. The message names the command and the place. */
export class LiveProbeError extends PlugboardError {
  override name = 'LiveProbeError';
}

// ---------------------------------------------------------------------------------------------
// Reply schemas. Only the fields plugboard reads are checked; everything else is ignored.

/** The reply schemas, built on first use: zod is loaded only when a reply fails its quick check. */
function buildReplySchemas(z: typeof import('zod').z) {
  const uint = z.int().min(0);
  const pciDevice = z.object({
    bus: uint,
    slot: uint.max(31),
    function: uint.max(7),
    qdev_id: z.string(),
    class_info: z.object({ class: uint, desc: z.string().optional() }),
    id: z.object({ device: uint, vendor: uint }),
  });
  return {
    queryPci: z.array(z.object({ bus: uint, devices: z.array(pciDevice) })),
    qomList: z.array(z.object({ name: z.string(), type: z.string() })),
    queryBlock: z.array(
      z.object({
        device: z.string(),
        qdev: z.string().optional(),
        inserted: z
          .object({
            file: z.string(),
            'node-name': z.string().optional(),
          })
          .optional(),
      }),
    ),
    scsiProps: z.object({
      parent_bus: z.string().min(1),
      'scsi-id': uint,
      /** Not read when the bus's controller only has lun 0 / channel 0 (see onlyZero). */
      lun: uint.optional(),
      channel: uint.optional(),
    }),
  };
}

type ReplySchemas = ReturnType<typeof buildReplySchemas>;
let replySchemas: ReplySchemas | undefined;
function schemas(): ReplySchemas {
  replySchemas ??= buildReplySchemas(zod());
  return replySchemas;
}

// Quick checks of the same shapes, without zod: QEMU's replies nearly always have the expected
// shape, and zod's walk of every reply was a third of the probe's own CPU time with 100 QEMUs.
// Each is at least as strict as its schema: what it accepts the schema accepts, and then the reply
// is used as QEMU sent it (zod's copy differs only by dropping fields nobody reads). Anything else
// goes through the schema, which names the problem.

const isUint = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isOptString = (v: unknown): boolean => v === undefined || typeof v === 'string';

function quickPciDevice(d: unknown): boolean {
  if (!isObject(d)) return false;
  const c = d['class_info'];
  const id = d['id'];
  return (
    isUint(d['bus']) &&
    isUint(d['slot']) &&
    d['slot'] <= 31 &&
    isUint(d['function']) &&
    d['function'] <= 7 &&
    typeof d['qdev_id'] === 'string' &&
    isObject(c) &&
    isUint(c['class']) &&
    isOptString(c['desc']) &&
    isObject(id) &&
    isUint(id['device']) &&
    isUint(id['vendor'])
  );
}

const quickQueryPci = (v: unknown): boolean =>
  Array.isArray(v) && v.every((b) => isObject(b) && isUint(b['bus']) && Array.isArray(b['devices']) && b['devices'].every(quickPciDevice));

const quickQomList = (v: unknown): boolean =>
  Array.isArray(v) && v.every((p) => isObject(p) && typeof p['name'] === 'string' && typeof p['type'] === 'string');

const quickQueryBlock = (v: unknown): boolean =>
  Array.isArray(v) &&
  v.every((b) => {
    if (!isObject(b) || typeof b['device'] !== 'string' || !isOptString(b['qdev'])) return false;
    const ins = b['inserted'];
    return ins === undefined || (isObject(ins) && typeof ins['file'] === 'string' && isOptString(ins['node-name']));
  });

const quickScsiProps = (v: unknown): boolean =>
  isObject(v) &&
  typeof v['parent_bus'] === 'string' &&
  v['parent_bus'] !== '' &&
  isUint(v['scsi-id']) &&
  (v['lun'] === undefined || isUint(v['lun'])) &&
  (v['channel'] === undefined || isUint(v['channel']));

/** The quick checks and the schemas they stand for: for the tests that hold them to each other. */
export const REPLY_CHECKS = {
  queryPci: { quick: quickQueryPci, get schema() { return schemas().queryPci; } },
  qomList: { quick: quickQomList, get schema() { return schemas().qomList; } },
  queryBlock: { quick: quickQueryBlock, get schema() { return schemas().queryBlock; } },
  scsiProps: { quick: quickScsiProps, get schema() { return schemas().scsiProps; } },
} as const;

/**
 * The reply `value` to the command `what`, checked against the shape of `kind`: as QEMU sent it when
 * the quick check accepts it, else through the schema; a LiveProbeError naming the place otherwise.
 */
export function parseReply<K extends keyof ReplySchemas>(kind: K, value: unknown, what: string): z.output<ReplySchemas[K]> {
  if (REPLY_CHECKS[kind].quick(value)) return value as z.output<ReplySchemas[K]>;
  const schema: z.ZodType<z.output<ReplySchemas[K]>> = schemas()[kind] as never;
  const r = schema.safeParse(value, { reportInput: true, error: plugboardErrorMap });
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first ? formatPath(first.path.map((p) => (typeof p === 'symbol' ? String(p) : p))) : '';
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problems)` : '';
  throw new LiveProbeError(
    `QEMU's reply to ${what} is not what plugboard expects: ${where ? `${where}: ` : ''}${first?.message ?? 'unreadable'}${more}`,
  );
}
