/**
 * The man page and the bash completion of the Debian package (packaging/docs.mjs), generated from
 * the program's sources as the package's build does from their tsc output: every command and option
 * of the commander program is in both, the key map and the exit codes are in the page, man-db renders
 * it without a warning, and bash completes commands, options, instance names from the root and device
 * ids from the runtime file. Also the one-line refusals of the package's /usr/bin/plugboard
 * (packaging/plugboard.sh) on another architecture or C library. (npm run test:package checks the
 * installed package in a clean Debian 12 root.)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bashCompletion, type DocSources, manPage, roff } from '../../packaging/docs.mjs';
import { describe as describeBinding, KEYMAP } from '../../components/keymap.js';
import { GUEST_DIR_ENV } from '../../src/cli/demo.js';
import { createProgram } from '../../src/cli/main.js';
import { ExitCode } from '../../src/errors.js';
import { PENDING_DIR } from '../../src/live/pending.js';
import { QEMU_DEFAULT_PATH, QEMU_ENV_VAR } from '../../src/qemu/binary.js';
import { HOTPLUGGABLE_DISK_TYPES, HOTPLUGGABLE_NIC_TYPES } from '../../src/runtime/hvparams.js';
import { LOCK_DIR_NAME } from '../../src/runtime/lock.js';
import { ROOT_ENV } from '../../src/runtime/root.js';
import { BACKUP_SUFFIX } from '../../src/usecases/downgrade.js';
import { RAPI_CERT_FILE, RAPI_CONFIG_FILE, RAPI_ENV } from '../../src/ganeti/settings.js';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const FIXTURES = path.join(REPO, 'test', 'fixtures', 'runtime');

let sources: DocSources;
let tmp = '';
let page = '';
let completion = '';

/** Every command that runs something: [its words, the command]. */
function leaves(cmd: Command, words: string[] = []): [string[], Command][] {
  return cmd.commands.flatMap((sub) => {
    const w = [...words, sub.name()];
    return sub.commands.length > 0 ? leaves(sub, w) : [[w, sub] as [string[], Command]];
  });
}

beforeAll(async () => {
  const program = await createProgram({ stdout: () => undefined, stderr: () => undefined, env: {} }, () => undefined);
  sources = {
    program,
    KEYMAP,
    describeBinding,
    ExitCode,
    env: { ROOT_ENV, QEMU_ENV_VAR, QEMU_DEFAULT_PATH, GUEST_DIR_ENV, LOCK_DIR_NAME, PENDING_DIR, BACKUP_SUFFIX, RAPI_ENV, RAPI_CONFIG_FILE, RAPI_CERT_FILE },
    types: { '--disk-type': HOTPLUGGABLE_DISK_TYPES, '--nic-type': HOTPLUGGABLE_NIC_TYPES },
  };
  page = manPage(sources, { version: '9.9.9', date: '2026-01-01' });
  completion = bashCompletion(sources);
  tmp = mkdtempSync(path.join(os.tmpdir(), 'plugboard-docs-'));
  writeFileSync(path.join(tmp, 'plugboard.1'), page);
  writeFileSync(path.join(tmp, 'completion'), completion);
  mkdirSync(path.join(tmp, 'root', 'conf'), { recursive: true });
  copyFileSync(path.join(FIXTURES, 'scsi-current.runtime'), path.join(tmp, 'root', 'conf', 'web1.example.com.runtime'));
  copyFileSync(path.join(FIXTURES, 'legacy-pci.runtime'), path.join(tmp, 'root', 'conf', 'old1.example.com.runtime'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('plugboard(1)', () => {
  it('has a section for every command with every option and argument of the program', () => {
    const commands = leaves(sources.program);
    expect(commands.map(([w]) => w.join(' '))).toEqual(expect.arrayContaining(['list', 'show', 'hotplug disk', 'unplug nic', 'demo', 'check']));
    for (const [words, cmd] of commands) {
      const start = page.indexOf(`.SS "plugboard ${roff(words.join(' '))} `);
      expect(start, `section of ${words.join(' ')}`).toBeGreaterThan(0);
      const end = page.indexOf('\n.S', start + 1);
      const section = page.slice(start, end);
      for (const opt of cmd.options) expect(section, `${words.join(' ')} ${opt.flags}`).toContain(`\\fB${roff(opt.long ?? opt.flags)}\\fR`);
      for (const arg of cmd.registeredArguments) expect(section).toContain(`\\fI${roff(arg.name())}`);
      expect(section).toContain(roff(cmd.description()));
    }
    for (const opt of sources.program.options) expect(page).toContain(roff(opt.long ?? opt.flags));
  });

  it('has the key map of the view, the exit codes, the environment and the files', () => {
    for (const screen of KEYMAP) {
      expect(page).toContain(`.SS "${roff(screen.title)}"`);
      for (const b of screen.bindings) {
        expect(page).toContain(roff(describeBinding(b)));
        for (const k of b.keys) expect(page).toContain(`\\fB${roff(k)}\\fR`);
      }
    }
    const exit = page.slice(page.indexOf('.SH EXIT STATUS'), page.indexOf('.SH ENVIRONMENT'));
    for (const code of Object.values(ExitCode)) expect(exit).toContain(`\\fB${code}\\fR`);
    for (const name of [ROOT_ENV, QEMU_ENV_VAR, GUEST_DIR_ENV, 'PLUGBOARD_DEBUG', 'NO_COLOR', 'TERM', RAPI_ENV.url, RAPI_ENV.socket, RAPI_ENV.cert, RAPI_ENV.config, RAPI_ENV.node]) {
      expect(page).toContain(`\\fB${roff(name)}\\fR`);
    }
    expect(page).toContain(roff(`ROOT/${LOCK_DIR_NAME}/NAME.lock`));
    expect(page).toContain(roff(`ROOT/conf/NAME.runtime${BACKUP_SUFFIX}`));
    expect(page).toContain('.SH EXAMPLES');
  });

  it('renders with man-db without a warning, at 80 columns', () => {
    const r = spawnSync('man', ['--warnings', '-l', path.join(tmp, 'plugboard.1')], {
      encoding: 'utf8',
      env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80', LC_ALL: 'C.UTF-8' },
    });
    if (r.error) return; // no man-db here: npm run test:package renders it in the Debian root
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^SYNOPSIS$/m);
    expect(r.stdout).toContain('plugboard [--root dir] unplug disk [options] name device');
    expect(r.stdout).toMatch(/^ {3}Hot-add wizard$/m);
    // Arrows and dots come out as characters, not as groff's escapes.
    expect(r.stdout).not.toMatch(/\\\(|\\\[u/);
    expect(r.stdout).toContain('↑');
  });
});

describe('bash completion', () => {
  /** What bash offers for `words` (the last word is the one being completed). */
  function complete(words: string[], env: Record<string, string> = {}): string[] {
    const script = `. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=\${#COMP_LINE}
      _plugboard plugboard "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD-1]}"; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script, '_', path.join(tmp, 'completion'), ...words], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean);
  }

  it('is valid bash', () => {
    expect(spawnSync('bash', ['-n', path.join(tmp, 'completion')]).status).toBe(0);
  });

  it('completes the commands, the subcommands and every option of every command', () => {
    expect(complete(['plugboard', ''])).toEqual(sources.program.commands.map((c) => c.name()));
    expect(complete(['plugboard', 'hotplug', ''])).toEqual(['disk', 'nic', 'devices']);
    expect(complete(['plugboard', 'un'])).toEqual(['unplug']);
    for (const [words, cmd] of leaves(sources.program)) {
      const offered = complete(['plugboard', ...words, '--']);
      for (const opt of cmd.options) if (opt.long) expect(offered, `${words.join(' ')} ${opt.long}`).toContain(opt.long);
    }
    expect(complete(['plugboard', 'hotplug', 'disk', 'x', '--backend', ''])).toEqual(['drive', 'blockdev']);
    expect(complete(['plugboard', 'hotplug', 'nic', 'x', '--nic-type', 'e1'])).toEqual(['e1000']);
  });

  it('completes instance names from the root (--root, --root=, $PLUGBOARD_ROOT) and device ids from the runtime file', () => {
    const root = path.join(tmp, 'root');
    expect(complete(['plugboard', '--root', root, 'show', ''])).toEqual(['old1.example.com', 'web1.example.com']);
    expect(complete(['plugboard', `--root=${root}`, 'show', 'w'])).toEqual(['web1.example.com']);
    expect(complete(['plugboard', 'hotplug', 'disk', 'o'], { [ROOT_ENV]: root })).toEqual(['old1.example.com']);
    expect(complete(['plugboard', '--root', root, 'unplug', 'disk', 'web1.example.com', ''])).toEqual(['disk-8db0f07a-f486-481e', 'disk-ee2c4570-165b-4abb']);
    expect(complete(['plugboard', '--root', root, 'unplug', 'nic', 'web1.example.com', ''])).toEqual(['nic-4564e5d5-8df4-40ec']);
    // downgrade takes any number of names.
    expect(complete(['plugboard', '--root', root, 'downgrade', ''])).toEqual(['old1.example.com', 'web1.example.com']);
    expect(complete(['plugboard', '--root', root, 'downgrade', 'old1.example.com', 'w'])).toEqual(['web1.example.com']);
    const file = path.join(root, 'conf', 'web1.example.com.runtime');
    expect(complete(['plugboard', 'unplug', 'disk', '--runtime-file', file, 'x', 'disk-8'])).toEqual(['disk-8db0f07a-f486-481e']);
    // No root there: nothing, quietly.
    expect(complete(['plugboard', '--root', path.join(tmp, 'nope'), 'show', ''])).toEqual([]);
  });
});

describe("the package's /usr/bin/plugboard", () => {
  /**
   * packaging/plugboard.sh with its executable replaced by one that says it ran, the kernel's
   * /proc/sys/kernel/arch by a file (or by none: then it asks uname), and `fakes` first on PATH.
   */
  function wrapper(fakes: Record<string, string>, procArch?: string): { code: number | null; out: string; err: string } {
    const dir = mkdtempSync(path.join(tmp, 'wrapper-'));
    const exe = path.join(dir, 'exe');
    writeFileSync(exe, '#!/bin/sh\necho "ran $*"\n');
    chmodSync(exe, 0o755);
    const archFile = path.join(dir, 'arch');
    if (procArch !== undefined) writeFileSync(archFile, `${procArch}\n`);
    const text = readFileSync(path.join(REPO, 'packaging', 'plugboard.sh'), 'utf8');
    expect(text).toContain('/proc/sys/kernel/arch');
    writeFileSync(path.join(dir, 'plugboard'), text.replace('/usr/lib/plugboard/plugboard', exe).replaceAll('/proc/sys/kernel/arch', archFile));
    mkdirSync(path.join(dir, 'bin'));
    for (const [name, body] of Object.entries(fakes)) {
      writeFileSync(path.join(dir, 'bin', name), `#!/bin/sh\n${body}\n`);
      chmodSync(path.join(dir, 'bin', name), 0o755);
    }
    const r = spawnSync('sh', [path.join(dir, 'plugboard'), '--version'], { encoding: 'utf8', env: { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin` } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  it('runs the executable on x86_64 with glibc 2.28 or newer', () => {
    expect(wrapper({ uname: 'echo x86_64', getconf: 'echo "glibc 2.28"' })).toEqual({ code: 0, out: 'ran --version\n', err: '' });
    expect(wrapper({ uname: 'echo x86_64', getconf: 'echo "glibc 3.0"' }).code).toBe(0);
    // The kernel's word first, uname only without it.
    expect(wrapper({ uname: 'echo aarch64', getconf: 'echo "glibc 2.36"' }, 'x86_64').code).toBe(0);
    expect(wrapper({ uname: 'echo x86_64', getconf: 'echo "glibc 2.36"' }, 'aarch64').code).toBe(1);
  });

  it('says in one line, exit 1, when the machine is not x86_64, its glibc is older than 2.28, or its C library is not glibc', () => {
    const cases: [Record<string, string>, string][] = [
      [{ uname: 'echo aarch64', getconf: 'echo "glibc 2.36"' }, 'plugboard: this build runs on x86_64 (amd64) Linux; this machine is aarch64: install the package built for it\n'],
      [{ uname: 'echo x86_64', getconf: 'echo "glibc 2.27"' }, 'plugboard: needs the GNU C library 2.28 or newer (Debian 10 or newer); this system has 2.27\n'],
      [{ uname: 'echo x86_64', getconf: 'echo "glibc 1.99"' }, 'plugboard: needs the GNU C library 2.28 or newer (Debian 10 or newer); this system has 1.99\n'],
      [{ uname: 'echo x86_64', getconf: 'exit 1' }, "plugboard: needs the GNU C library 2.28 or newer; this system's C library is not glibc (getconf GNU_LIBC_VERSION: nothing)\n"],
    ];
    for (const [fakes, err] of cases) expect(wrapper(fakes)).toEqual({ code: 1, out: '', err });
  });
});
