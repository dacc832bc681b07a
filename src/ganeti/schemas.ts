/**
 * The shapes of RAPI's answers plugboard reads, checked with zod before use. Built on first use
 * (src/runtime/lazy-zod.ts): loading zod costs 60–120 ms, which `plugboard list` without Ganeti must
 * not pay.
 *
 * The shapes are those Ganeti 3.0.2 sends (recorded from the real cluster in
 * test/fixtures/ganeti-rapi/). Objects are loose: Ganeti adds keys between versions, and only the
 * keys plugboard reads are required. Where Ganeti uses parallel lists (`disk.sizes`, `disk.uuids`,
 * …) their lengths must agree, or the instance is refused: a disk must never get another's size.
 */
import type { z as Z } from 'zod';
import { zod } from '../runtime/lazy-zod.js';
import { formatPath, plugboardErrorMap } from '../runtime/issues.js';

function build(z: typeof Z) {
  const str = z.string();
  const strOrNull = z.string().nullable();
  const jobId = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]);

  const info = z.looseObject({
    name: str,
    master: str,
    software_version: str,
    protocol_version: z.number().optional(),
    enabled_hypervisors: z.array(str).optional(),
    enabled_disk_templates: z.array(str).optional(),
    default_hypervisor: str.optional(),
    architecture: z.array(str).optional(),
  });

  const instance = z
    .looseObject({
      name: str,
      uuid: str.optional(),
      status: str,
      oper_state: z.boolean().nullable(),
      admin_state: str,
      pnode: str,
      snodes: z.array(str),
      disk_template: str,
      os: strOrNull.optional(),
      'disk.sizes': z.array(z.number().nonnegative()),
      'disk.uuids': z.array(str),
      'disk.names': z.array(strOrNull),
      'disk.spindles': z.array(z.number().nullable()).optional(),
      'nic.macs': z.array(str),
      'nic.uuids': z.array(str),
      'nic.names': z.array(strOrNull),
      'nic.ips': z.array(strOrNull),
      'nic.modes': z.array(str),
      'nic.links': z.array(str),
      'nic.networks': z.array(strOrNull),
      'nic.networks.names': z.array(strOrNull).optional(),
      'nic.bridges': z.array(strOrNull).optional(),
      hvparams: z.record(z.string(), z.unknown()),
      custom_hvparams: z.record(z.string(), z.unknown()).optional(),
      beparams: z.record(z.string(), z.unknown()).optional(),
      tags: z.array(str).optional(),
      serial_no: z.number().optional(),
      mtime: z.number().optional(),
      ctime: z.number().optional(),
    })
    .superRefine((v, ctx) => {
      const check = (keys: readonly string[]) => {
        const rec = v as Record<string, unknown>;
        const want = (rec[keys[0] as string] as unknown[]).length;
        for (const k of keys.slice(1)) {
          const list = rec[k] as unknown[] | undefined;
          if (list !== undefined && list.length !== want) {
            ctx.addIssue({ code: 'custom', path: [k], message: `has ${list.length} items, ${keys[0]} has ${want}` });
          }
        }
      };
      check(['disk.uuids', 'disk.sizes', 'disk.names', 'disk.spindles']);
      check(['nic.uuids', 'nic.macs', 'nic.names', 'nic.ips', 'nic.modes', 'nic.links', 'nic.networks', 'nic.networks.names', 'nic.bridges']);
    });

  /** `[serial, [seconds, microseconds], type, message]` */
  const logEntry = z.tuple([z.number().int(), z.tuple([z.number(), z.number()]), str, z.unknown()]);

  // Ganeti 3.0 answers GET /2/jobs/ID for an unknown id with 200 and every field null.
  const job = z.looseObject({
    id: jobId,
    status: strOrNull,
    ops: z.array(z.looseObject({ OP_ID: str.optional() })).nullish(),
    opstatus: z.array(strOrNull).nullish(),
    opresult: z.array(z.unknown()).nullish(),
    oplog: z.array(z.array(logEntry)).nullish(),
    summary: z.array(str).nullish(),
    received_ts: z.unknown().nullish(),
    start_ts: z.unknown().nullish(),
    end_ts: z.unknown().nullish(),
  });

  /** `GET /2/jobs/ID/wait`: null when nothing changed within Ganeti's 10 s. */
  const jobWait = z.union([
    z.null(),
    z.looseObject({
      job_info: z.array(z.unknown()),
      log_entries: z.array(logEntry),
    }),
  ]);

  /** `GET /2/instances/NAME/info?static=1` → a job whose opresult is `[{NAME: {…}}]`. */
  const infoDisk = z.looseObject({
    iv_name: str.optional(),
    dev_type: str.optional(),
    mode: str.optional(),
    size: z.number().optional(),
    name: strOrNull.optional(),
    uuid: str,
    logical_id: z.unknown().optional(),
  });
  const instanceInfo = z.record(
    z.string(),
    z.looseObject({
      name: str,
      disk_template: str.optional(),
      disks: z.array(infoDisk),
      /** `[name, uuid, ip, mac, mode, link, vlan, network, network name]` */
      nics: z.array(z.array(z.unknown()).min(6)),
    }),
  );

  /** 4xx/5xx bodies: `{"code": 401, "message": "Unauthorized", "explain": "…"}`. */
  const errorBody = z.looseObject({ code: z.number().optional(), message: str.optional(), explain: z.unknown().optional() });

  /**
   * `PUT /2/query/job` (Ganeti's query resource): `{"data": [[[0, 12], [0, "running"], [0, ["INSTANCE_SET_PARAMS(NAME)"]]], …]}`,
   * one `[result status, value]` per field asked (status 0: a value).
   */
  const jobQuery = z.looseObject({ data: z.array(z.array(z.tuple([z.number(), z.unknown()]))) });

  return { info, instance, instances: z.array(instance), job, jobWait, jobId, instanceInfo, errorBody, logEntry, jobQuery };
}

type Schemas = ReturnType<typeof build>;
let schemas: Schemas | undefined;

/** The schemas, built on first use. */
export function rapiSchemas(): Schemas {
  schemas ??= build(zod());
  return schemas;
}

export type RapiInfo = Z.infer<Schemas['info']>;
export type RapiInstance = Z.infer<Schemas['instance']>;
/** A job as RAPI sends it; `status` null means Ganeti has no such job (rapi.ts turns that into a 404). */
export type RapiJobAnswer = Z.infer<Schemas['job']>;
export type RapiJob = RapiJobAnswer & { status: string };
export type RapiJobWait = Z.infer<Schemas['jobWait']>;
export type RapiInstanceInfo = Z.infer<Schemas['instanceInfo']>;
export type RapiLogEntry = Z.infer<Schemas['logEntry']>;

/**
 * Parses `value` with `schema`, or returns the first problem as one line
 * (`disk.sizes[0]: expected a number, got "a" (and 2 more problems)`).
 */
export function parseWith<T>(schema: Z.ZodType<T>, value: unknown): { ok: true; value: T } | { ok: false; problem: string } {
  const r = schema.safeParse(value, { reportInput: true, error: plugboardErrorMap });
  if (r.success) return { ok: true, value: r.data };
  const first = r.error.issues[0];
  const where = first ? formatPath(first.path.map((p) => (typeof p === 'symbol' ? String(p) : p))) : '';
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problems)` : '';
  return { ok: false, problem: `${where ? `${where}: ` : ''}${first?.message ?? 'unreadable'}${more}` };
}
