/**
 * The hostile corpus (test/hostile/runtime/) against Ganeti 3.0's own loader
 * (test/compat/ganeti_runtime.py `load`, i.e. `_AnalyzeSerializedRuntime` with its legacy upgrades):
 * plugboard never silently reads a file differently from Ganeti.
 * - Where both load a file, what plugboard would write back loads in Ganeti exactly as the original
 *   does (duplicate keys included: both keep the last value). UUIDs Ganeti makes up for legacy NICs
 *   (a new one on every load) are normalised.
 * - Where Ganeti refuses a file (its loader raises, or cannot decode it), plugboard refuses it too.
 * - Where plugboard refuses a file Ganeti's loader takes, the list is fixed here with the reason:
 *   values Ganeti would choke on later (at start, hot-add or migration) or that name no bus slot.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRuntimeFile } from '../../src/runtime/load.js';
import { dumpJson, parseJson } from '../../src/runtime/json.js';
import { serializeRuntime } from '../../src/runtime/serialize.js';
import { GANETI_HARNESS, GANETI_PYTHON, GANETI_TREE, ganetiAvailable } from '../helpers/ganeti.js';
import { CORPUS_DIR, FigureCounter } from '../hostile/lib.js';

const mustRun = process.env['CI'] === 'true';
const figures = new FigureCounter('corpus vs Ganeti 3.0');
afterAll(() => figures.report());

/** plugboard refuses these; Ganeti's loader takes them (it validates nothing it does not upgrade). */
const STRICTER: Record<string, string> = {
  'dup-last-value-invalid.runtime': 'nic_type "virtio" (the last of two values) is no NIC type: Ganeti would fail at start',
  'legacy-pci-out-of-bus.runtime': 'pci slot 32 is beyond pci.0 (0x00–0x1f): Ganeti would make hvinfo addr 0x20, which QEMU refuses',
  'shape-five-items.runtime': 'a fifth item: Ganeti ignores it, and a rewrite by Ganeti would drop it',
  'shape-hvinfo-both-buses.runtime': 'one device on two buses: no place to show or migrate it to',
  'type-addr-decimal-string.runtime': 'addr "14" is not hex ("0xe"): QEMU reads a bare "14" as 0x14',
  'type-addr-int.runtime': 'addr 13 is a number, not a hex string',
  'type-addr-out-of-bus.runtime': 'addr 0x20 is beyond pci.0: QEMU refuses it',
  'type-disk-size-string.runtime': 'size "10G" is not a number of MiB',
  'type-disk-type-unknown.runtime': 'disk_type "nvme" is no Ganeti disk type',
  'type-hvparams-array.runtime': 'hvparams is a list: Ganeti would fail on its first lookup',
  'type-kvm-cmd-item-null.runtime': 'null in kvm_cmd: Ganeti would fail to exec it',
  'type-link-number.runtime': 'the disk link is a number, not a path',
  'type-many-problems.runtime': 'NICs without a mac or a valid hvinfo',
  'type-nic-mac-number.runtime': 'mac is a number',
  'type-reservations-string.runtime': 'kvm_pci_reservations "12" is a string: Ganeti compares it with ints',
  'type-scsi-id-negative.runtime': 'scsi-id -1 / 1.5 and lun "0" name no SCSI target',
  'type-uuid-empty.runtime': 'an empty uuid gives no device id',
};

interface GanetiVerdict {
  loads: boolean;
  /** The loaded runtime, JSON as Ganeti's harness printed it (NaN and all), when it loads. */
  text?: string;
  why?: string;
}

function ganetiLoadText(file: string): GanetiVerdict {
  const r = spawnSync(GANETI_PYTHON, [GANETI_HARNESS, 'load', file], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PYTHONPATH: GANETI_TREE, PYTHONNOUSERSITE: '1', PYTHONDONTWRITEBYTECODE: '1', LC_ALL: 'C.UTF-8' },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.status === 0) return { loads: true, text: r.stdout };
  if (r.status === 3) return { loads: false, why: r.stdout.trim() };
  if (r.status === 1 && /UnicodeDecodeError/.test(r.stderr)) return { loads: false, why: 'UnicodeDecodeError' };
  throw new Error(`ganeti_runtime.py load ${file}: exit ${r.status}\n${r.stderr}`);
}

/** Ganeti's load of a file, with the UUIDs it invents on every load (not in `original`) replaced. */
function normalised(loaded: string, original: string): string {
  const text = dumpJson(parseJson(loaded));
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (u) => (original.includes(u) ? u : 'NEW-UUID'))
    .replace(/hot(nic|disk)-([0-9a-f]{8})-/g, (m, kind: string, h: string) => (original.includes(h) ? m : `hot${kind}-NEW-`));
}

describe.skipIf(!ganetiAvailable() && !mustRun)('the hostile corpus: plugboard reads every file as Ganeti 3.0 does, or refuses it', () => {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-corpus-ganeti-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const files = fs.readdirSync(CORPUS_DIR).sort();

  it.each(files)('%s', async (name) => {
    figures.inputs++;
    const file = path.join(CORPUS_DIR, name);
    const theirs = ganetiLoadText(file);
    let ours: Awaited<ReturnType<typeof loadRuntimeFile>> | undefined;
    let ourError: Error | undefined;
    try {
      ours = await loadRuntimeFile(file);
    } catch (err) {
      ourError = err as Error;
    }
    if (!theirs.loads) {
      // Ganeti cannot load it: neither may plugboard.
      expect(ourError, `Ganeti refuses ${name} (${theirs.why}) but plugboard loaded it`).toBeDefined();
      return;
    }
    if (ourError) {
      expect(STRICTER[name], `plugboard refuses ${name} (${ourError.message}), Ganeti loads it: list it in STRICTER with the reason`).toBeDefined();
      return;
    }
    expect(STRICTER[name]).toBeUndefined();
    // Both load it: plugboard's rewrite loads in Ganeti exactly as the original does.
    const rewritten = path.join(dir, name);
    fs.writeFileSync(rewritten, serializeRuntime(ours!));
    const again = ganetiLoadText(rewritten);
    expect(again.loads).toBe(true);
    const original = fs.readFileSync(file, 'latin1');
    expect(normalised(again.text!, original)).toBe(normalised(theirs.text!, original));
  });

  it('the STRICTER list names only corpus files plugboard refuses', async () => {
    for (const name of Object.keys(STRICTER)) {
      expect(files).toContain(name);
      await expect(loadRuntimeFile(path.join(CORPUS_DIR, name))).rejects.toThrow();
    }
  });
});
