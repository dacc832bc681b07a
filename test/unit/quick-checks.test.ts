/**
 * The fast paths next to the careful ones, held to them:
 * - the quick checks (schema.ts quickNic/quickDiskEntry, hvparams.ts quickKnownHvparams) let
 *   well-formed runtime files through without loading zod. They must never accept what the zod
 *   schemas refuse (a bad file would go through unreported), and must accept what Ganeti writes
 *   (else every load pays for zod again);
 * - parseJson's shortcut through JSON.parse gives exactly what the careful parser gives;
 * - the probe's quick checks of QEMU's replies never accept what their schemas refuse.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { knownHvparamsSchema, quickKnownHvparams } from '../../src/runtime/hvparams.js';
import { dumpJson, parseJson, parseJsonCarefully } from '../../src/runtime/json.js';
import { quickDiskEntry, quickNic, schemaIssuesOf } from '../../src/runtime/schema.js';
import { REPLY_CHECKS } from '../../src/live/reply-checks.js';
import type { Json, JsonObject } from '../../src/runtime/types.js';

const fixture = (name: string): Json[] =>
  parseJson(readFileSync(new URL(`../fixtures/runtime/${name}`, import.meta.url), 'utf8')) as Json[];

/** Values of every kind a JSON document (or an edit in code) can put in a field. */
const anyValue = fc.oneof(
  fc.constantFrom<unknown>(undefined, null, true, false, 0, -0, 1, -1, 2.5, 32, 33, NaN, Infinity, 2 ** 53, '', 'x', '0xd', '0x20', 'pci.0', 'scsi.0'),
  fc.string({ maxLength: 6 }),
  fc.integer({ min: -3, max: 300 }),
  fc.constant([]),
  fc.constant({}),
  fc.constant(['a', 'b']),
);

/** Mostly `valid`, sometimes anything: most generated documents are nearly right, as real ones are. */
const mostly = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: anyValue, weight: 1 });
/** A record whose keys are each present most of the time. */
const mostlyPresent = <T extends Record<string, fc.Arbitrary<unknown>>>(model: T) =>
  fc
    .tuple(fc.record(model), fc.array(fc.constantFrom(...Object.keys(model)), { maxLength: 1 }))
    .map(([r, drop]) => Object.fromEntries(Object.entries(r).filter(([k]) => !drop.includes(k))));

const hvinfo = fc.oneof(
  { arbitrary: anyValue, weight: 1 },
  { arbitrary: fc.constant({}), weight: 2 },
  {
    weight: 6,
    arbitrary: mostlyPresent({
      driver: mostly(fc.constantFrom('virtio-blk-pci', 'virtio-net-pci')),
      id: mostly(fc.constant('disk-9e7c85f6-b6e5-4243')),
      bus: mostly(fc.constant('pci.0')),
      addr: mostly(fc.constantFrom('0xd', '0x1f', '0x20', '0xD')),
    }),
  },
  {
    weight: 6,
    arbitrary: mostlyPresent({
      driver: mostly(fc.constant('scsi-hd')),
      id: mostly(fc.constant('disk-3f7dec41-4048-4dff')),
      bus: mostly(fc.constant('scsi.0')),
      channel: mostly(fc.constant(0)),
      'scsi-id': mostly(fc.integer({ min: 0, max: 255 })),
      lun: mostly(fc.constant(0)),
    }),
  },
);

const nic = fc.oneof(
  { arbitrary: anyValue, weight: 1 },
  {
    weight: 10,
    arbitrary: mostlyPresent({
      mac: mostly(fc.constant('aa:00:00:11:22:33')),
      uuid: mostly(fc.constant('9e7c85f6-b6e5-4243-b27d-680b78c6d203')),
      nicparams: mostly(mostlyPresent({ mode: mostly(fc.constant('bridged')), link: mostly(fc.constant('br0')) })),
      name: mostly(fc.constantFrom(null, 'eth0')),
      hvinfo,
      pci: mostly(fc.integer({ min: 0, max: 31 })),
    }),
  },
);

const diskEntry = fc.oneof(
  { arbitrary: anyValue, weight: 1 },
  { arbitrary: fc.array(anyValue, { maxLength: 4 }), weight: 1 },
  {
    weight: 10,
    arbitrary: fc.tuple(
      mostly(
        mostlyPresent({
          uuid: mostly(fc.constant('3f7dec41-4048-4dff-9e3a-0123456789ab')),
          size: mostly(fc.constantFrom(1024, 0, 1.5)),
          iv_name: mostly(fc.constantFrom('disk/0', null)),
          name: mostly(fc.constantFrom('disk0', null)),
          dev_type: mostly(fc.constantFrom('plain', 'drbd', null)),
          hvinfo,
        }),
      ),
      mostly(fc.constant('/var/run/ganeti/instance-disks/web1:0')),
      mostly(fc.constantFrom(null, 'rbd:pool/disk')),
    ),
  },
);

const hvparams = mostlyPresent({
  disk_type: mostly(fc.constantFrom('paravirtual', 'scsi-hd', 'virtio')),
  nic_type: mostly(fc.constantFrom('paravirtual', 'e1000')),
  scsi_controller_type: mostly(fc.constantFrom('lsi', 'megasas', 'virtio-scsi-pci', 'dc390', 'LSI')),
  kvm_pci_reservations: mostly(fc.constantFrom(0, 12, 32, 33, 12.5, -1)),
  disk_cache: mostly(fc.constantFrom('default', 'none', null)),
  kvm_path: mostly(fc.constant('/usr/bin/kvm')),
  security_model: mostly(fc.constantFrom('none', 'user')),
  use_chroot: mostly(fc.constantFrom(true, false, null)),
  vhost_net: mostly(fc.constantFrom(true, false)),
});

const RUNS = { numRuns: 3000 };

describe('the quick checks never accept what the zod schemas refuse', () => {
  for (const mode of ['strict', 'legacy'] as const) {
    it(`NIC (${mode}): quick accepts ⇒ zod finds nothing`, () => {
      let accepted = 0;
      fc.assert(
        fc.property(nic, (v) => {
          if (!quickNic(v, mode === 'strict')) return;
          accepted++;
          expect(schemaIssuesOf('nic', v, mode)).toEqual([]);
        }),
        RUNS,
      );
      expect(accepted).toBeGreaterThan(30); // the generator reaches the accepting side
    });

    it(`disk entry (${mode}): quick accepts ⇒ zod finds nothing`, () => {
      let accepted = 0;
      fc.assert(
        fc.property(diskEntry, (v) => {
          if (!quickDiskEntry(v, mode === 'strict')) return;
          accepted++;
          expect(schemaIssuesOf('disk', v, mode)).toEqual([]);
        }),
        RUNS,
      );
      expect(accepted).toBeGreaterThan(30);
    });
  }

  it('hvparams: quick accepts ⇒ zod finds nothing', () => {
    let accepted = 0;
    fc.assert(
      fc.property(hvparams, (v) => {
        if (!quickKnownHvparams(v as JsonObject)) return;
        accepted++;
        expect(knownHvparamsSchema().safeParse(v).success).toBe(true);
      }),
      RUNS,
    );
    expect(accepted).toBeGreaterThan(30);
  });

  it('they do reject something: a NIC without mac, a disk entry of 4 items, an hvparam outside its set', () => {
    const nics = fixture('scsi-current.runtime')[1] as JsonObject[];
    expect(quickNic({ ...nics[0]!, mac: undefined as unknown as Json }, true)).toBe(false);
    const disks = fixture('scsi-current.runtime')[3] as Json[][];
    expect(quickDiskEntry([...disks[0]!, 'x'], true)).toBe(false);
    expect(quickKnownHvparams({ disk_type: 'virtio' })).toBe(false);
    expect(quickKnownHvparams({ kvm_pci_reservations: 33 })).toBe(false);
  });
});

describe('the quick checks accept what Ganeti writes (else every load pays for zod)', () => {
  for (const name of ['scsi-current.runtime', 'kvm_runtime.ganeti-dump.json', 'scsi-current.ganeti-dump.json']) {
    it(name, () => {
      const doc = fixture(name);
      for (const n of doc[1] as Json[]) expect(quickNic(n, true)).toBe(true);
      for (const d of (doc[3] ?? []) as Json[]) expect(quickDiskEntry(d, true)).toBe(true);
      expect(quickKnownHvparams(doc[2] as JsonObject)).toBe(true);
    });
  }

  it('legacy-pci.runtime (NICs without uuid, devices with a pci slot) in legacy mode', () => {
    const doc = fixture('legacy-pci.runtime');
    for (const n of doc[1] as Json[]) expect(quickNic(n, false)).toBe(true);
    for (const d of (doc[3] ?? []) as Json[]) expect(quickDiskEntry(d, false)).toBe(true);
  });
});

describe('parseJson through JSON.parse gives what the careful parser gives', () => {
  const dupes = (text: string, parse: typeof parseJson) => {
    const seen: string[] = [];
    let value: unknown;
    let error: string | undefined;
    try {
      value = parse(text, { onDuplicateKey: (p, k) => seen.push(JSON.stringify([...p, k])), maxValues: 10_000 });
    } catch (err) {
      error = (err as Error).message;
    }
    // dumpJson writes what Python would: floats, big ints, -0 and key order all show.
    return { dump: error === undefined ? dumpJson(value as Json) : undefined, keys: error === undefined ? JSON.stringify(value) : undefined, seen, error };
  };
  const pieces = fc.constantFrom('1.0', '2.5', '-0', '0', '1e16', '9007199254740993', '12345678901234567', 'NaN', '"a\\"b"', '"\\u0031"', '"x": 1', '"1": 2', '"a": 1, "a": 2', '":x"', ' ');
  const texts = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.jsonValue().map((v) => dumpJson(v as Json)),
    fc.jsonValue().map((v) => JSON.stringify(v, null, 1)),
    // Objects with tokens that need the careful parser spliced in (valid JSON or not).
    fc.array(fc.tuple(fc.constantFrom('a', 'b', '1', '__proto__'), pieces), { maxLength: 5 }).map(
      (kv) => `{${kv.map(([k, v]) => (v.includes(':') ? v : `"${k}": ${v}`)).join(', ')}}`,
    ),
    fc.array(pieces, { maxLength: 6 }).map((xs) => `[${xs.join(', ')}]`),
  );

  it('the same value, the same Python dump, the same key order, the same duplicates and errors', () => {
    fc.assert(
      fc.property(texts, (text) => {
        expect(dupes(text, parseJson)).toEqual(dupes(text, parseJsonCarefully));
      }),
      { numRuns: 5000 },
    );
  });

  it('takes the shortcut for a runtime file Ganeti wrote and still reports a duplicate key', () => {
    const text = readFileSync(new URL('../fixtures/runtime/scsi-current.runtime', import.meta.url), 'utf8');
    expect(dumpJson(parseJson(text))).toBe(dumpJson(parseJsonCarefully(text)));
    const seen: string[] = [];
    parseJson('[{"a": 1, "b": 2, "a": 3}]', { onDuplicateKey: (_p, k) => seen.push(k) });
    expect(seen).toEqual(['a']);
  });
});

describe('the probe\'s quick checks of QEMU\'s replies never accept what their schemas refuse', () => {
  const uint = fc.oneof({ arbitrary: fc.integer({ min: 0, max: 40 }), weight: 10 }, { arbitrary: anyValue, weight: 1 });
  const str = fc.oneof({ arbitrary: fc.constantFrom('', 'scsi', 'disk-1', '/machine/peripheral/scsi/scsi.0'), weight: 10 }, { arbitrary: anyValue, weight: 1 });
  const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const replies = {
    queryPci: fc.array(
      fc.record({
        bus: uint,
        devices: fc.oneof(
          { weight: 10, arbitrary: fc.array(fc.record({ bus: uint, slot: uint, function: uint, qdev_id: str, class_info: fc.oneof({ weight: 10, arbitrary: fc.record({ class: uint, desc: optional(str) }, { requiredKeys: ['class'] }) }, { weight: 1, arbitrary: anyValue }), id: fc.oneof({ weight: 10, arbitrary: fc.record({ device: uint, vendor: uint }) }, { weight: 1, arbitrary: anyValue }) }, { requiredKeys: ['bus', 'slot', 'function', 'qdev_id', 'class_info'] }), { maxLength: 4 }) },
          { weight: 1, arbitrary: anyValue },
        ),
      }),
      { maxLength: 2 },
    ),
    qomList: fc.oneof({ weight: 10, arbitrary: fc.array(fc.record({ name: str, type: str }, { requiredKeys: ['name'] }), { maxLength: 4 }) }, { weight: 1, arbitrary: anyValue }),
    queryBlock: fc.array(
      fc.record(
        { device: str, qdev: optional(str), inserted: optional(fc.oneof({ weight: 10, arbitrary: fc.record({ file: str, 'node-name': optional(str) }, { requiredKeys: ['file'] }) }, { weight: 1, arbitrary: anyValue })) },
        { requiredKeys: ['device'] },
      ),
      { maxLength: 3 },
    ),
    scsiProps: fc.record({ parent_bus: str, 'scsi-id': uint, lun: optional(uint), channel: optional(uint) }, { requiredKeys: ['parent_bus'] }),
  };
  for (const [kind, arb] of Object.entries(replies) as [keyof typeof REPLY_CHECKS, fc.Arbitrary<unknown>][]) {
    it(kind, () => {
      const { quick, schema } = REPLY_CHECKS[kind];
      let accepted = 0;
      fc.assert(
        fc.property(arb, (v) => {
          if (!quick(v)) return;
          accepted++;
          expect((schema as { safeParse(v: unknown): { success: boolean } }).safeParse(v).success).toBe(true);
        }),
        { numRuns: 2000 },
      );
      expect(accepted).toBeGreaterThan(30);
    });
  }
});
