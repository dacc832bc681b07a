import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QemuNotFoundError, findQemu, parseQemuVersion, qemuVersion } from '../../src/qemu/binary.js';

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'pb-bin-'));
  dirs.push(d);
  return d;
}

function fakeQemu(dir: string, versionLine = 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)'): string {
  const p = path.join(dir, 'qemu-system-x86_64');
  writeFileSync(p, `#!/bin/sh\necho '${versionLine}'\necho 'Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers'\n`);
  chmodSync(p, 0o755);
  return p;
}

describe('parseQemuVersion', () => {
  it('reads version and package from Debian 12 QEMU output', () => {
    expect(parseQemuVersion('QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright …\n')).toEqual({
      major: 7,
      minor: 2,
      micro: 22,
      package: 'Debian 1:7.2+dfsg-7+deb12u18+b3',
      text: 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)',
    });
  });
  it('accepts a version without micro or package, and refuses other text', () => {
    expect(parseQemuVersion('QEMU emulator version 8.0')).toMatchObject({ major: 8, minor: 0, micro: 0, package: '' });
    expect(parseQemuVersion('bash: qemu: command not found')).toBeUndefined();
  });
});

describe('findQemu', () => {
  it('prefers PLUGBOARD_QEMU, then PATH, then the fallback path', () => {
    const a = fakeQemu(tmp());
    const bDir = tmp();
    const b = fakeQemu(bDir);
    expect(findQemu({ PLUGBOARD_QEMU: a, PATH: bDir }, '/nonexistent')).toBe(a);
    expect(findQemu({ PATH: `relative/dir:${bDir}` }, '/nonexistent')).toBe(b);
    expect(findQemu({ PATH: '' }, a)).toBe(a);
  });

  it('says PLUGBOARD_QEMU is wrong instead of falling back', () => {
    const dir = tmp();
    const notExec = path.join(dir, 'qemu');
    writeFileSync(notExec, '');
    expect(() => findQemu({ PLUGBOARD_QEMU: notExec, PATH: dir })).toThrow(
      new QemuNotFoundError(`PLUGBOARD_QEMU=${notExec} is not an executable file`),
    );
  });

  it('gives the apt-get install hint when QEMU is nowhere', () => {
    expect(() => findQemu({ PATH: tmp() }, '/nonexistent/qemu-system-x86_64')).toThrow(
      /qemu-system-x86_64 not found .*: install it with: apt-get install qemu-system-x86/,
    );
  });
});

describe('qemuVersion', () => {
  it('runs the binary with --version and parses it', async () => {
    await expect(qemuVersion(fakeQemu(tmp(), 'QEMU emulator version 9.1.3 (pkg)'))).resolves.toMatchObject({
      major: 9,
      minor: 1,
      micro: 3,
      package: 'pkg',
    });
  });
  it('fails clearly when the binary prints no version', async () => {
    await expect(qemuVersion(fakeQemu(tmp(), 'hello'))).rejects.toThrow(/--version printed no QEMU version/);
  });
});
