/**
 * The hostile runtime-file corpus (test/hostile/runtime/, made by test/hostile/make-corpus.mjs) and
 * the inputs too big to check in (a 100 MB file, nesting 100 000 deep, hundreds of thousands of
 * entries), generated here. What must hold for each: plugboard loads it exactly as Ganeti would, or
 * refuses it with one line per problem naming the file and the JSON path — never another error,
 * never a hang, never more memory than the 16 MiB limit allows, and nothing written.
 *
 * Duplicate keys (the rule, decided here): a key that appears twice in one object is read as
 * Ganeti's simplejson reads it — the LAST value, at the FIRST key's place — and reported in
 * `upgrades` (so `show` lists it); a rewrite writes the key once. If the last value is invalid the
 * file is refused, whatever the first one was. test/integration/ganeti-hostile-corpus.test.ts
 * checks every file of the corpus against Ganeti 3.0's own loader.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError, PlugboardError, RuntimeFileError } from '../../src/errors.js';
import { dumpJson } from '../../src/runtime/json.js';
import { loadRuntimeFile, MAX_RUNTIME_FILE_BYTES, MAX_RUNTIME_JSON_VALUES, parseRuntimeText } from '../../src/runtime/load.js';
import { serializeRuntime } from '../../src/runtime/serialize.js';
import { saveRuntimeFile } from '../../src/runtime/write.js';
import { MAX_JSON_DEPTH } from '../../src/runtime/json.js';
import { MAX_LISTED_ISSUES, MAX_RUNTIME_DEVICES } from '../../src/runtime/schema.js';
import type { Json } from '../../src/runtime/types.js';
import { CORPUS_DIR, deepRuntimeText, FigureCounter, snapshotTree, writeHugeRuntime } from '../hostile/lib.js';

const figures = new FigureCounter('runtime corpus');
afterAll(() => figures.report());

type Expected = { format: 'current' | 'legacy-3-items'; upgrades: string[] } | { error: string[] };

/** Every corpus file and what plugboard must make of it (error lines without the `FILE: ` prefix). */
const CORPUS: [string, Expected][] = [
  ['dup-addr.runtime', { format: 'current', upgrades: ["nics[0].hvinfo.addr"] }],
  ['dup-disk-type.runtime', { format: 'current', upgrades: ["hvparams.disk_type"] }],
  ['dup-first-value-invalid.runtime', { format: 'current', upgrades: ["hvparams.kvm_pci_reservations"] }],
  ['dup-last-value-invalid.runtime', { error: ["hvparams.nic_type: expected one of paravirtual, e1000, rtl8139, ne2k_pci, ne2k_isa, i82551, i82557b, i82559er, pcnet; got \"virtio\""] }],
  ['dup-uuid.runtime', { format: 'current', upgrades: ["nics[0].uuid"] }],
  ['enc-bom.runtime', { format: 'current', upgrades: [] }],
  ['enc-escaped-lone-surrogate.runtime', { format: 'current', upgrades: [] }],
  ['enc-latin1.runtime', { error: ["not valid UTF-8 text"] }],
  ['enc-nul-outside-string.runtime', { error: ["invalid JSON at line 1, column 17: unexpected control character U+0000 after the end of the JSON value"] }],
  ['enc-overlong-slash.runtime', { error: ["not valid UTF-8 text"] }],
  ['enc-raw-nul-in-string.runtime', { error: ["invalid JSON at line 1, column 5: control character U+0000 inside a string (must be escaped)"] }],
  ['enc-surrogate-bytes.runtime', { error: ["not valid UTF-8 text"] }],
  ['enc-utf16le.runtime', { error: ["not valid UTF-8 text"] }],
  ['legacy-3-items-pci-nic.runtime', { format: 'legacy-3-items', upgrades: ["","nics[0].uuid","nics[0].pci"] }],
  ['legacy-3-items.runtime', { format: 'legacy-3-items', upgrades: ["","nics[0].uuid","nics[0].hvinfo"] }],
  ['legacy-empty-hvparams.runtime', { format: 'current', upgrades: [] }],
  ['legacy-hvparams-missing-keys.runtime', { format: 'current', upgrades: [] }],
  ['legacy-nic-without-uuid.runtime', { format: 'current', upgrades: ["nics[0].uuid"] }],
  ['legacy-pci-and-hvinfo.runtime', { format: 'current', upgrades: [] }],
  ['legacy-pci-out-of-bus.runtime', { error: ["disks[0][0].pci: expected a PCI slot number from 0 to 31, got 32"] }],
  ['legacy-pci-slots.runtime', { format: 'current', upgrades: ["nics[0].pci","disks[0][0].pci","disks[1][0].hvinfo"] }],
  ['ok-current.runtime', { format: 'current', upgrades: [] }],
  ['shape-comment.runtime', { error: ["invalid JSON at line 1, column 1: unexpected '/'"] }],
  ['shape-disk-object.runtime', { error: ["disks[0]: expected [disk, link, uri], got an object"] }],
  ['shape-disk-pair.runtime', { error: ["disks[0]: expected [disk, link, uri], got an array of 2 items"] }],
  ['shape-empty-array.runtime', { error: ["expected a JSON array [kvm_cmd, nics, hvparams, disks] (4 items, 3 in old files), got an array of 0 items"] }],
  ['shape-five-items.runtime', { error: ["expected a JSON array [kvm_cmd, nics, hvparams, disks] (4 items, 3 in old files), got an array of 5 items"] }],
  ['shape-hvinfo-both-buses.runtime', { error: ["disks[0][0].hvinfo: has both addr (PCI) and channel/scsi-id/lun (SCSI); a device sits on one bus"] }],
  ['shape-null.runtime', { error: ["expected a JSON array [kvm_cmd, nics, hvparams, disks], got null"] }],
  ['shape-number.runtime', { error: ["expected a JSON array [kvm_cmd, nics, hvparams, disks], got 4"] }],
  ['shape-object.runtime', { error: ["expected a JSON array [kvm_cmd, nics, hvparams, disks], got an object"] }],
  ['shape-python-repr.runtime', { error: ["invalid JSON at line 1, column 3: unexpected '''"] }],
  ['shape-string.runtime', { error: ["expected a JSON array [kvm_cmd, nics, hvparams, disks], got \"web1\""] }],
  ['shape-trailing-comma.runtime', { error: ["invalid JSON at line 1, column 1732: unexpected ']'"] }],
  ['shape-trailing-garbage.runtime', { error: ["invalid JSON at line 1, column 1733: unexpected 'x' after the end of the JSON value"] }],
  ['shape-two-documents.runtime', { error: ["invalid JSON at line 2, column 1: unexpected '[' after the end of the JSON value"] }],
  ['shape-two-items.runtime', { error: ["expected a JSON array [kvm_cmd, nics, hvparams, disks] (4 items, 3 in old files), got an array of 2 items"] }],
  ['trunc-after-key.runtime', { error: ["invalid JSON at line 1, column 646: unexpected end of input (expected ':' after the key)"] }],
  ['trunc-at-512.runtime', { error: ["invalid JSON at line 1, column 482: unterminated string"] }],
  ['trunc-empty.runtime', { error: ["invalid JSON at line 1, column 1: unexpected end of input"] }],
  ['trunc-mid-number.runtime', { error: ["invalid JSON at line 1, column 44: unexpected end of input (expected ',' or ']' after an array item)"] }],
  ['trunc-mid-string.runtime', { error: ["invalid JSON at line 1, column 127: unterminated string"] }],
  ['trunc-newline-only.runtime', { error: ["invalid JSON at line 2, column 1: unexpected end of input"] }],
  ['trunc-one-bracket-short.runtime', { error: ["invalid JSON at line 1, column 1731: unexpected end of input (expected ',' or ']' after an array item)"] }],
  ['type-addr-decimal-string.runtime', { error: ["disks[1][0].hvinfo.addr: expected hex string like \"0xd\", got \"14\""] }],
  ['type-addr-int.runtime', { error: ["disks[0][0].hvinfo.addr: expected hex string like \"0xd\", got 13"] }],
  ['type-addr-out-of-bus.runtime', { error: ["disks[1][0].hvinfo.addr: slot 0x20 is outside the PCI bus (0x0-0x1f)"] }],
  ['type-disk-size-string.runtime', { error: ["disks[0][0].size: expected a number, got \"10G\""] }],
  ['type-disk-type-unknown.runtime', { error: ["hvparams.disk_type: expected one of paravirtual, ide, scsi, sd, mtd, pflash, scsi-hd, scsi-block, scsi-generic, scsi-cd; got \"nvme\""] }],
  ['type-disks-null.runtime', { error: ["disks: expected an array, got null"] }],
  ['type-hvparams-array.runtime', { error: ["hvparams: expected an object, got an array of 18 items"] }],
  ['type-kvm-cmd-item-null.runtime', { error: ["kvm_cmd[3]: expected a string or a number, got null"] }],
  ['type-kvm-cmd-object.runtime', { error: ["kvm_cmd: expected an array, got an object"] }],
  ['type-link-number.runtime', { error: ["disks[0][1]: expected a string, got 0"] }],
  ['type-nic-mac-number.runtime', { error: ["nics[0].mac: expected a string, got 186916980241409"] }],
  ['type-nics-string.runtime', { error: ["nics: expected an array, got \"aa:00:00:35:b4:01\""] }],
  ['type-reservations-string.runtime', { error: ["hvparams.kvm_pci_reservations: expected an integer from 0 to 32, got \"12\""] }],
  ['type-scsi-id-negative.runtime', { error: ["disks[0][0].hvinfo.scsi-id: expected a non-negative integer, got -1","disks[1][0].hvinfo.scsi-id: expected a non-negative integer, got 1.5","disks[1][0].hvinfo.lun: expected a non-negative integer, got \"0\""] }],
  ['type-uuid-empty.runtime', { error: ["nics[0].uuid: expected a non-empty string, got \"\""] }],
  ['value-big-numbers.runtime', { format: 'current', upgrades: [] }],
  ['value-control-chars.runtime', { format: 'current', upgrades: [] }],
  ['value-int-4301-digits.runtime', { error: ["invalid JSON at line 1, column 42: integer with 4301 digits (Python reads at most 4300)"] }],
  ['value-nan-infinity.runtime', { format: 'current', upgrades: [] }],
  ['value-proto-key.runtime', { format: 'current', upgrades: [] }],
];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pb-hostile-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** What loading `file` throws, checked to be a one-line-per-problem RuntimeFileError. */
async function refusal(file: string): Promise<string[]> {
  const err = await loadRuntimeFile(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${file} loaded`).toBeInstanceOf(RuntimeFileError);
  const lines = (err as Error).message.split('\n');
  for (const l of lines) {
    expect(l.startsWith(`${file}: `)).toBe(true);
    expect(l.length).toBeLessThan(file.length + 300);
  }
  return lines.map((l) => l.slice(file.length + 2));
}

describe('the checked-in corpus', () => {
  it('holds every category (truncated, wrong-typed, duplicate keys, not UTF-8, wrong shape, legacy, odd values) and stays small', () => {
    const files = readdirSync(CORPUS_DIR);
    expect(files.sort()).toEqual([...CORPUS.map(([f]) => f), 'type-many-problems.runtime'].sort());
    for (const prefix of ['trunc-', 'type-', 'dup-', 'enc-', 'shape-', 'legacy-', 'value-']) {
      expect(files.filter((f) => f.startsWith(prefix)).length, prefix).toBeGreaterThanOrEqual(5);
    }
    const bytes = files.reduce((n, f) => n + statSync(join(CORPUS_DIR, f)).size, 0);
    expect(bytes).toBeLessThan(128 * 1024);
  });

  it.each(CORPUS)('%s: loads as Ganeti would, or is refused with one line per problem', async (name, want) => {
    figures.inputs++;
    const file = join(CORPUS_DIR, name);
    const started = performance.now();
    if ('error' in want) {
      expect(await refusal(file)).toEqual(want.error);
    } else {
      const rf = await loadRuntimeFile(file);
      expect(rf.format).toBe(want.format);
      expect(rf.upgrades.map((u) => u.path)).toEqual(want.upgrades);
      for (const u of rf.upgrades) expect(u.message).not.toMatch(/\n/);
      // What plugboard would write loads back to the same document, and writing is stable.
      const text = serializeRuntime(rf);
      const again = parseRuntimeText(text, file);
      expect(again.raw).toEqual(rf.raw);
      expect(serializeRuntime(again)).toBe(text);
    }
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('a file with more problems than it lists: the first 50 in document order, then one line saying there are more', async () => {
    figures.inputs++;
    const lines = await refusal(join(CORPUS_DIR, 'type-many-problems.runtime'));
    expect(lines).toHaveLength(MAX_LISTED_ISSUES + 1);
    expect(lines.slice(0, 6)).toEqual([
      'nics[0].mac: expected a string, got 1',
      'nics[0].uuid: expected a string, got 2',
      'nics[0].hvinfo.driver: missing, expected a string',
      'nics[0].hvinfo.id: missing, expected a string',
      'nics[0].hvinfo.bus: missing, expected a string',
      'nics[0].hvinfo.addr: expected hex string like "0xd", got 3',
    ]);
    expect(lines.at(-1)).toBe(`more problems than these ${MAX_LISTED_ISSUES} (not listed): fix these first`);
  });

  it('loading never writes: the corpus directory is byte-identical after every file was loaded', async () => {
    const before = snapshotTree(CORPUS_DIR);
    for (const [name] of CORPUS) await loadRuntimeFile(join(CORPUS_DIR, name)).catch(() => undefined);
    expect(snapshotTree(CORPUS_DIR)).toEqual(before);
  });
});

describe('duplicate keys: the last value, as Ganeti reads it, and said so', () => {
  it('disk_type twice (scsi-hd, then paravirtual): paravirtual, at the first place; the upgrade note says what happens', async () => {
    const rf = await loadRuntimeFile(join(CORPUS_DIR, 'dup-disk-type.runtime'));
    expect(rf.hvparams.disk_type).toBe('paravirtual');
    expect(Object.keys(rf.hvparamsRaw).indexOf('disk_type')).toBe(Object.keys(rf.hvparamsRaw).indexOf('disk_aio') + 3);
    expect(rf.upgrades).toEqual([
      {
        path: 'hvparams.disk_type',
        message:
          'key "disk_type" appears more than once in this object: the last value is used, as Ganeti (Python\'s json) reads it; a rewrite writes the key once, with that value',
      },
    ]);
    const written = serializeRuntime(rf);
    expect(written.match(/"disk_type"/g)).toHaveLength(1);
    expect(written).toBe(readFileSync(join(CORPUS_DIR, 'ok-current.runtime'), 'utf8'));
  });

  it('the addr of a NIC twice: the last one (0xc) places it, not the first (0x1f)', async () => {
    const rf = await loadRuntimeFile(join(CORPUS_DIR, 'dup-addr.runtime'));
    expect(rf.nics[0]!.hvinfo).toMatchObject({ addr: '0xc' });
    expect(rf.upgrades.map((u) => u.path)).toEqual(['nics[0].hvinfo.addr']);
  });

  it('an invalid first value is overridden; an invalid last value is refused (never "the first valid one")', async () => {
    expect((await loadRuntimeFile(join(CORPUS_DIR, 'dup-first-value-invalid.runtime'))).hvparams.kvm_pci_reservations).toBe(12);
    expect(await refusal(join(CORPUS_DIR, 'dup-last-value-invalid.runtime'))).toEqual([
      'hvparams.nic_type: expected one of paravirtual, e1000, rtl8139, ne2k_pci, ne2k_isa, i82551, i82557b, i82559er, pcnet; got "virtio"',
    ]);
  });

  it('reports at most 20 duplicates, whatever the file holds (a key repeated 100 000 times loads in well under a second)', () => {
    figures.inputs++;
    const text = `[["/usr/bin/kvm"], [], {${Array.from({ length: 100_000 }, (_, i) => `"disk_type": "${i % 2 ? 'paravirtual' : 'scsi-hd'}"`).join(', ')}}, []]`;
    const started = performance.now();
    const rf = parseRuntimeText(text, 'conf/web1.runtime');
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(rf.hvparams.disk_type).toBe('paravirtual');
    expect(rf.upgrades).toHaveLength(20);
  });
});

describe('generated: huge, deep and crowded files', () => {
  it('a 100 MB runtime file is refused in well under a second, without reading it (memory stays flat)', async () => {
    figures.inputs++;
    const file = join(dir, 'huge.runtime');
    writeHugeRuntime(file, 100 * 1000 * 1000);
    expect(statSync(file).size).toBe(100_000_000);
    const rssBefore = process.memoryUsage().rss;
    const started = performance.now();
    const err = await loadRuntimeFile(file).catch((e: unknown) => e);
    const ms = performance.now() - started;
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `refusing to read ${file}: 100000000 bytes is more than ${MAX_RUNTIME_FILE_BYTES} (16 MiB); runtime files are a few KiB`,
    );
    expect(ms).toBeLessThan(250);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(32 * 1024 * 1024);
  });

  it('a file of exactly 16 MiB (the limit) is read, parsed and refused or loaded within 3 s', async () => {
    figures.inputs++;
    const file = join(dir, 'limit.runtime');
    writeHugeRuntime(file, MAX_RUNTIME_FILE_BYTES);
    const started = performance.now();
    const rf = await loadRuntimeFile(file);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(rf.kvmCmd[0]).toHaveLength(MAX_RUNTIME_FILE_BYTES - '[[""], [], {}, []]\n'.length);
  });

  it(`nesting 100 000 deep is refused at depth ${MAX_JSON_DEPTH} with the place, without overflowing the stack`, () => {
    figures.inputs++;
    const started = performance.now();
    let err: unknown;
    try {
      parseRuntimeText(deepRuntimeText(100_000), 'conf/web1.runtime');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuntimeFileError);
    expect((err as Error).message).toBe(
      `conf/web1.runtime: invalid JSON at line 1, column ${'[["/usr/bin/kvm"], [], {"x": '.length + MAX_JSON_DEPTH - 1}: nested deeper than ${MAX_JSON_DEPTH} levels`,
    );
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('nesting just under the limit loads and is written back byte for byte', () => {
    figures.inputs++;
    const text = deepRuntimeText(MAX_JSON_DEPTH - 3); // + the document, hvparams and the key
    const rf = parseRuntimeText(text, 'conf/web1.runtime');
    expect(serializeRuntime(rf)).toBe(text);
  });

  // Before the fix: RangeError "Maximum call stack size exceeded" after 3–7 s (a crash, not a reason),
  // and a valid 16 MiB file of 5.5 million numbers took 2–14 s (garbage collection) to read. Now
  // ~0.1–0.7 s alone; the budget leaves room for a loaded CI machine.
  it.each([
    ['700 000 empty NICs', () => [['/usr/bin/kvm'], Array(700_000).fill({}), {}, []]],
    ['350 000 empty disk entries', () => [['/usr/bin/kvm'], [], {}, Array(350_000).fill([{}, 1, 2])]],
    ['700 000 legacy NICs with pci slots', () => [['/usr/bin/kvm'], Array(700_000).fill({ mac: '', pci: 3 }), {}, []]],
    ['700 000 wrong kvm_cmd items', () => [Array(700_000).fill({}), [], {}, []]],
    ['5.5 million kvm_cmd numbers (valid, and 16 MiB)', () => [Array(5_500_000).fill(1), [], {}, []]],
  ] as [string, () => Json][])('%s: refused in one line once it holds more than 200 000 values, within 3 s', (_label, make) => {
    figures.inputs++;
    const text = dumpJson(make());
    expect(text.length).toBeLessThanOrEqual(MAX_RUNTIME_FILE_BYTES);
    const started = performance.now();
    let err: unknown;
    try {
      parseRuntimeText(text, 'conf/web1.runtime');
    } catch (e) {
      err = e;
    }
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(err).toBeInstanceOf(RuntimeFileError);
    expect((err as Error).message).toMatch(
      new RegExp(`^conf/web1\\.runtime: invalid JSON at line 1, column \\d+: more than ${MAX_RUNTIME_JSON_VALUES} values in one document: refusing to read further$`),
    );
  });

  it.each([
    ['1 000 empty NICs', () => [['/usr/bin/kvm'], Array(1_000).fill({}), {}, []], `nics: 1000 entries (Ganeti allows 8 NICs per instance; plugboard reads at most ${MAX_RUNTIME_DEVICES}): not a runtime file Ganeti wrote`],
    ['40 000 disk entries', () => [['/usr/bin/kvm'], [], {}, Array(40_000).fill([{}, 1, 2])], `disks: 40000 entries (Ganeti allows 16 disks per instance; plugboard reads at most ${MAX_RUNTIME_DEVICES}): not a runtime file Ganeti wrote`],
  ] as [string, () => Json, string][])('%s: more devices than any instance has is one line, before anything else is checked', (_label, make, line) => {
    figures.inputs++;
    let err: unknown;
    const started = performance.now();
    try {
      parseRuntimeText(dumpJson(make()), 'conf/web1.runtime');
    } catch (e) {
      err = e;
    }
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((err as Error).message).toBe(`conf/web1.runtime: ${line}`);
  });

  it('190 000 wrong kvm_cmd items (under the value limit): 50 lines and a last one, within a second', () => {
    figures.inputs++;
    const text = dumpJson([Array(190_000).fill({}), [], {}, []]);
    const started = performance.now();
    let err: unknown;
    try {
      parseRuntimeText(text, 'conf/web1.runtime');
    } catch (e) {
      err = e;
    }
    expect(performance.now() - started).toBeLessThan(1_000);
    const lines = (err as Error).message.split('\n');
    expect(lines).toHaveLength(MAX_LISTED_ISSUES + 1);
    expect(lines[0]).toBe('conf/web1.runtime: kvm_cmd[0]: expected a string or a number, got an object');
  });

  it('the largest real-looking file the limits allow (256 NICs with 60 kB values, 15 MiB) loads within 2 s', () => {
    figures.inputs++;
    const nic = { mac: 'aa:00:00:00:00:01', uuid: 'x', hvinfo: {}, blob: 'z'.repeat(60_000) };
    const text = dumpJson([['/usr/bin/kvm'], Array(MAX_RUNTIME_DEVICES).fill(nic), {}, []]);
    expect(text.length).toBeGreaterThan(15_000_000);
    const started = performance.now();
    const rf = parseRuntimeText(text, 'conf/web1.runtime');
    expect(rf.nics).toHaveLength(MAX_RUNTIME_DEVICES);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('a long value in a bad place is cut in the message (one short line, not the value)', () => {
    const text = dumpJson([['/usr/bin/kvm'], [], { disk_type: 'x'.repeat(1_000_000) }, []]);
    let err: unknown;
    try {
      parseRuntimeText(text, 'conf/web1.runtime');
    } catch (e) {
      err = e;
    }
    expect((err as Error).message.length).toBeLessThan(300);
    expect((err as Error).message).toMatch(/^conf\/web1\.runtime: hvparams\.disk_type: expected one of .*; got "x{40}…"$/);
  });

  it('whatever goes wrong is a PlugboardError the CLI prints as one line per problem', async () => {
    // Saving back into the corpus directory is never needed: this checks the write path on a copy.
    const file = join(dir, 'web1.runtime');
    writeFileSync(file, readFileSync(join(CORPUS_DIR, 'legacy-pci-slots.runtime')));
    const rf = await loadRuntimeFile(file);
    await saveRuntimeFile(file, rf);
    const back = await loadRuntimeFile(file);
    expect(back.upgrades).toEqual([]);
    expect(back.raw).toEqual(rf.raw);
    const err = await loadRuntimeFile(join(dir, 'missing.runtime')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlugboardError);
  });
});
