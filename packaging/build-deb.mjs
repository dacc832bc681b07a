// The Debian package plugboard_VERSION-1_amd64.deb, built with dpkg-deb from the single executable
// (packaging/build-executable.mjs) and the generated man page and completion (packaging/docs.mjs):
//
//   /usr/bin/plugboard                              checks arch and glibc in one line, runs ↓ (plugboard.sh)
//   /usr/lib/plugboard/plugboard                    the single executable
//   /usr/share/man/man1/plugboard.1.gz              plugboard(1)
//   /usr/share/bash-completion/completions/plugboard
//   /usr/share/doc/plugboard/copyright              plugboard's, Node's and every bundled package's licence
//   /usr/share/doc/plugboard/changelog.Debian.gz
//   /usr/share/lintian/overrides/plugboard          what lintian says that is so on purpose (lintian-overrides)
//
// Depends come from dpkg-shlibdeps on the executable (libc6 ≥ 2.28, libstdc++6, libgcc-s1);
// Recommends: qemu-system-x86 (plugboard check and plugboard demo start QEMU) and python3 (the
// helper that passes disk and tap descriptors to a QEMU running as another user or chrooted).
// Maintainer: $DEBFULLNAME <$DEBEMAIL>, else git's user.name and user.email, else the commit's author.
// Dates (the changelog's, the man page's, the files'): $SOURCE_DATE_EPOCH, else the commit's time.
//
// Usage: node packaging/build-deb.mjs [--out DIR]   (DIR holds the executable; default dist/package)
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { buildInfo, sourceDateEpoch } from '../bin/build-info.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: args } = parseArgs({ options: { out: { type: 'string', default: path.join(repo, 'dist', 'package') } } });
const out = path.resolve(args.out);
const work = path.join(out, 'work');
const DEBIAN_REVISION = '1';
// One date for the changelog, the man page (docs.mjs, a child) and the files' times (dpkg-deb
// clamps them to it).
process.env.SOURCE_DATE_EPOCH = String(sourceDateEpoch(repo));

const run = (cmd, argv, opts = {}) => execFileSync(cmd, argv, { encoding: 'utf8', ...opts });

function gitConfig(key) {
  try {
    return run('git', ['-C', repo, 'config', key], { stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/**
 * Node's LICENSE for the binary in the executable (it lists the licences of what Node bundles), with
 * each full copy of the Apache License 2.0 replaced by Debian's common-licenses file, as Debian's
 * policy (12.5) asks.
 */
function nodeLicense() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  for (const f of [path.join(prefix, 'share', 'doc', 'nodejs', 'LICENSE'), path.join(prefix, 'LICENSE'), '/usr/share/doc/nodejs/LICENSE']) {
    if (existsSync(f)) {
      return readFileSync(f, 'utf8').replace(
        /^[ \t]*Apache License[ \t]*\n[ \t]*Version 2\.0, January 2004[\s\S]*?END OF TERMS AND CONDITIONS/gm,
        '    [The Apache License, Version 2.0: on Debian systems in /usr/share/common-licenses/Apache-2.0.]',
      );
    }
  }
  throw new Error(`Node.js's LICENSE was not found beside ${process.execPath} (share/doc/nodejs/LICENSE or LICENSE): it goes into the copyright file`);
}

const MIT = `Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or substantial
portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT
LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN
NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY,
WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.`;

/**
 * A package's licence file; for an MIT package published without one (yoga-layout), the MIT text
 * with the copyright line of its main module's header.
 */
function packageLicenseText(dir) {
  const abs = path.join(repo, dir);
  const file = readdirSync(abs).find((f) => /^(licen[cs]e|copying)([-.][\w.-]*)?$/i.test(f));
  if (file) return readFileSync(path.join(abs, file), 'utf8');
  const pkg = JSON.parse(readFileSync(path.join(abs, 'package.json'), 'utf8'));
  const main = path.join(abs, pkg.main ?? 'index.js');
  const notice = existsSync(main) ? /Copyright[^\n*]*/.exec(readFileSync(main, 'utf8'))?.[0]?.trim() : undefined;
  if (pkg.license === 'MIT' && notice) return `(package.json: "license": "MIT"; no licence file in the package)\n\n${notice}\n\n${MIT}\n`;
  throw new Error(`${dir}: no LICENSE file: its licence goes into the copyright file`);
}

/** Text as the continuation lines of a deb822 field: each line indented, blank lines as ` .`. */
function deb822Text(text) {
  return text
    .replace(/\r\n/g, '\n')
    .trimEnd()
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l.replace(/\t/g, '    ')}`))
    .join('\n');
}

function copyright(version, packages) {
  const year = new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).getUTCFullYear();
  const list = packages.map((p) => `${p.name} ${p.version} (${p.license})`).join(', ');
  const texts = packages
    .map((p) => `${'-'.repeat(72)}\n${p.name} ${p.version} (${p.dir}):\n\n${packageLicenseText(p.dir)}`)
    .join('\n');
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: plugboard
Comment: plugboard ${version}. The single executable /usr/lib/plugboard/plugboard is Node.js
 ${process.version} with plugboard's program (and the npm packages it bundles) inside.

Files: *
Copyright: ${year} plugboard developers
License: GPL-2+

Files: usr/lib/plugboard/plugboard
Copyright: ${year} plugboard developers
 Node.js contributors and the authors of the libraries Node.js bundles (see its licence below)
 the authors of the npm packages bundled with the program: ${list}
License: GPL-2+ and Expat and other
Comment: plugboard's own code is GPL-2+. Node.js and the npm packages are under the licences
 whose texts follow in the paragraph "Expat and other": Node.js's LICENSE first (it lists the
 licences of the libraries that Node.js itself includes), then each bundled npm package's own.

License: GPL-2+
 This program is free software; you can redistribute it and/or modify
 it under the terms of the GNU General Public License as published by
 the Free Software Foundation; either version 2 of the License, or
 (at your option) any later version.
 .
 This program is distributed in the hope that it will be useful,
 but WITHOUT ANY WARRANTY; without even the implied warranty of
 MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
 GNU General Public License for more details.
 .
 On Debian systems, the complete text of the GNU General Public
 License version 2 can be found in "/usr/share/common-licenses/GPL-2".

License: Expat and other
${deb822Text(`Node.js ${process.version}:\n\n${nodeLicense()}\n${texts}`)}
`;
}

function changelog(debVersion, info) {
  const when = new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toUTCString().replace('GMT', '+0000');
  const built = info.commit === 'unknown' ? 'a tree outside git' : `commit ${info.commit.slice(0, 12)}${info.dirty ? ' with uncommitted changes' : ''}`;
  return `plugboard (${debVersion}) unstable; urgency=medium

  * Built from ${built}:
    the single executable (Node.js ${process.version} with the program inside),
    plugboard(1) and the bash completion.

 -- ${maintainer()}  ${when.replace(/^(\w+), (\d+) /, (_, d, n) => `${d}, ${n.padStart(2, '0')} `)}
`;
}

function maintainer() {
  const name = process.env.DEBFULLNAME || gitConfig('user.name');
  const email = process.env.DEBEMAIL || gitConfig('user.email');
  if (name && email) return `${name} <${email}>`;
  // Else the author of the commit it is built from.
  try {
    const author = run('git', ['-C', repo, 'log', '-1', '--format=%an <%ae>'], { stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (/^.+ <[^<>\s]+@[^<>\s]+>$/.test(author)) return author;
  } catch {
    // not a git checkout
  }
  throw new Error('no maintainer: set DEBFULLNAME and DEBEMAIL (or git config user.name and user.email)');
}

/** dpkg-shlibdeps on the executable: the Depends of the shared libraries it links. */
function shlibDepends(exe) {
  const tmp = path.join(work, 'shlibdeps');
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.join(tmp, 'debian'), { recursive: true });
  writeFileSync(path.join(tmp, 'debian', 'control'), 'Source: plugboard\n\nPackage: plugboard\nArchitecture: amd64\n');
  const text = run('dpkg-shlibdeps', ['-O', exe], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  const m = /^shlibs:Depends=(.*)$/m.exec(text);
  if (!m) throw new Error(`dpkg-shlibdeps printed no shlibs:Depends: ${text}`);
  return m[1].trim();
}

const LINTIAN_OVERRIDES = `# The single executable is Node.js with the program inside (Node's single-executable applications):
# the libraries Node.js links statically (zlib) come with it.
plugboard: embedded-library zlib [usr/lib/plugboard/plugboard]
# Node.js's binary is linked as it is released (not position-independent); plugboard does not
# rebuild Node.
plugboard: hardening-no-pie [usr/lib/plugboard/plugboard]
# Quoted as it is in Node.js's LICENSE (a library's old notice).
plugboard: old-fsf-address-in-copyright-file
# Not uploaded to Debian: there is no ITP bug to close.
plugboard: initial-upload-closes-no-bugs [usr/share/doc/plugboard/changelog.Debian.gz:1]
`;

async function main() {
  const exe = path.join(out, 'plugboard');
  if (!existsSync(exe)) throw new Error(`${path.relative(repo, exe)} is missing: run node packaging/build-executable.mjs first (npm run package does both)`);
  const info = buildInfo(repo);
  const debVersion = `${info.version}-${DEBIAN_REVISION}`;
  const packages = JSON.parse(readFileSync(path.join(work, 'packages.json'), 'utf8'));

  const docs = path.join(work, 'docs');
  run(process.execPath, [path.join(repo, 'packaging', 'docs.mjs'), docs], { stdio: 'inherit' });

  const root = path.join(work, 'deb');
  rmSync(root, { recursive: true, force: true });
  const put = (rel, data, mode = 0o644) => {
    const f = path.join(root, rel);
    mkdirSync(path.dirname(f), { recursive: true, mode: 0o755 });
    if (Buffer.isBuffer(data) || typeof data === 'string') writeFileSync(f, data);
    else copyFileSync(data.from, f);
    chmodSync(f, mode);
  };
  put('usr/bin/plugboard', { from: path.join(repo, 'packaging', 'plugboard.sh') }, 0o755);
  put('usr/lib/plugboard/plugboard', { from: exe }, 0o755);
  put('usr/share/man/man1/plugboard.1.gz', gzipSync(readFileSync(path.join(docs, 'plugboard.1')), { level: 9 }));
  put('usr/share/bash-completion/completions/plugboard', readFileSync(path.join(docs, 'plugboard.bash-completion')));
  put('usr/share/doc/plugboard/copyright', copyright(info.version, packages));
  put('usr/share/doc/plugboard/changelog.Debian.gz', gzipSync(changelog(debVersion, info), { level: 9 }));
  put('usr/share/lintian/overrides/plugboard', LINTIAN_OVERRIDES);
  // gzip's header has no name and no time (gzipSync writes neither), as dh_compress's gzip -9n.
  run('find', [root, '-type', 'd', '-exec', 'chmod', '0755', '{}', '+']);

  const installedKb = Math.ceil(
    run('du', ['-s', '--apparent-size', '--block-size=1024', path.join(root, 'usr')])
      .split('\t')[0]
      .trim(),
  );
  const depends = shlibDepends(path.join(root, 'usr/lib/plugboard/plugboard'));
  const control = `Package: plugboard
Version: ${debVersion}
Architecture: amd64
Maintainer: ${maintainer()}
Installed-Size: ${installedKb}
Depends: ${depends}
Recommends: qemu-system-x86, python3
Section: admin
Priority: optional
Description: PCI slots and SCSI targets of Ganeti KVM instances
 plugboard shows, for every Ganeti KVM instance on a hypervisor node, which
 PCI slots and SCSI targets are taken and by what, and hot-plugs or unplugs
 disks and NICs safely over QMP: every change is planned (QMP commands,
 runtime-file change, verification, rollback), sent, verified against QEMU,
 and only then written to the runtime file.
 .
 An interactive terminal view and commands for scripts (list, show,
 cmdline, hotplug, unplug, check). One self-contained executable: Node.js
 is inside. qemu-system-x86 is needed by "plugboard check" and
 "plugboard demo" only; python3 (on every Ganeti node) by hot-adds to
 instances whose QEMU runs as another user or chrooted, which get the
 disk or tap as a file descriptor.
`;
  put('DEBIAN/control', control);
  const md5 = run('find', ['usr', '-type', 'f', '-exec', 'md5sum', '{}', '+'], { cwd: root })
    .split('\n')
    .filter(Boolean)
    .sort((a, b) => a.slice(34).localeCompare(b.slice(34)))
    .join('\n');
  put('DEBIAN/md5sums', `${md5}\n`);

  const deb = path.join(out, `plugboard_${debVersion}_amd64.deb`);
  for (const f of readdirSync(out)) if (/^plugboard_.*\.deb$/.test(f)) rmSync(path.join(out, f));
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb], { stdio: ['ignore', 'ignore', 'inherit'] });
  const mb = (f) => `${(statSync(f).size / 1e6).toFixed(1)} MB`;
  process.stdout.write(`${path.relative(repo, deb)}: ${mb(deb)} (installed ${(installedKb / 1024).toFixed(1)} MiB; Depends: ${depends})\n`);
}

await main();
