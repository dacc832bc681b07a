/**
 * The read-only CLI paths under the root refuse what the lock already refuses for changes: `show`,
 * `cmdline`, `--dry-run` and `list` do not read conf/NAME.runtime through a link, nor through a
 * linked conf/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import { main } from '../../src/cli/main.js';
import { CORPUS_DIR } from '../hostile/lib.js';

const VALID = readFileSync(join(CORPUS_DIR, 'ok-current.runtime'));
let base: string;
let root: string;
let outside: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'pb-cli-paths-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  for (const d of ['conf', 'ctrl', 'disks']) mkdirSync(join(root, d), { recursive: true, mode: 0o755 });
  mkdirSync(outside, { mode: 0o755 });
  writeFileSync(join(outside, 'web1.runtime'), VALID);
  writeFileSync(join(root, 'disks', 'new.img'), Buffer.alloc(4096));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {} };
  const code = await main(['--root', root, ...args], io);
  return { code, stdout, stderr };
}

describe('show, cmdline, hotplug --dry-run and list never read through a link under the root', () => {
  it('conf/ is a link: refused with the reason, exit 1, nothing on stdout', async () => {
    rmSync(join(root, 'conf'), { recursive: true });
    symlinkSync(outside, join(root, 'conf'));
    const reason = `plugboard: refusing to use ${root}: ${join(root, 'conf')} is a symbolic link (to ${outside}): plugboard does not follow links under its root, where a link could point it at directories outside it\n`;
    for (const args of [['show', 'web1'], ['cmdline', 'web1'], ['hotplug', 'disk', 'web1', '--path', join(root, 'disks', 'new.img'), '--dry-run']]) {
      const r = await cli(...args);
      expect([r.code, r.stdout, r.stderr], args.join(' ')).toEqual([1, '', reason]);
    }
  });

  it('the runtime file is a link: show refuses it; list shows the instance as unreadable, saying why', async () => {
    symlinkSync(join(outside, 'web1.runtime'), join(root, 'conf', 'web1.runtime'));
    const shown = await cli('show', 'web1');
    expect(shown.code).toBe(1);
    expect(shown.stderr).toMatch(/^plugboard: refusing to use .*web1\.runtime: it is a symbolic link/);
    const listed = await cli('list', '--json');
    expect(listed.code).toBe(1);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ instance: 'web1', error: expect.stringMatching(/symbolic link/) })]);
  });
});
