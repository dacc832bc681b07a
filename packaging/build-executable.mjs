// The single executable `plugboard` for linux-x64 (`npm run package`, after `npm run build`): the
// whole program in one CommonJS script, put with Node's single-executable-application support into
// a copy of the Node binary that runs this build (Node ≥ 20.6). It needs nothing but the C library
// and libstdc++ that every Debian 12 has; no `node`, no node_modules, nothing in dist/.
//
//   1. esbuild: packaging/executable-main.mjs + the tsc output in dist/ → one CommonJS script
//      (packaging/esbuild-executable.mjs: what CommonJS and the executable's `require` need);
//   2. V8's code cache for the script, made after running the program's commands
//      (packaging/code-cache.mjs);
//   3. `node --experimental-sea-config`: a small loader (packaging/executable-loader.cjs) as the
//      main script, the script and its code cache as assets → a blob;
//   4. a copy of the Node binary, stripped of its debugging symbols (~95 → ~90 MB), with the blob
//      injected by postject (the Node project's tool).
//
// Usage: node packaging/build-executable.mjs [--out DIR] [--startup trained|code-cache|snapshot|none]
// Default: dist/package/plugboard, `trained` (the cache made after running the commands). The
// others, for comparison (bench/README.md has the measurements): `code-cache`, the script as the
// main script with Node's `useCodeCache` (only its top level is cached); `snapshot`, Node's
// `useSnapshot`; `none`, neither.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, stripVTControlCharacters } from 'node:util';
import { build } from 'esbuild';
import { buildInfoDefine } from '../bin/build-info.mjs';
import { inkFast } from '../bin/esbuild-ink-fast.mjs';
import { commanderBundled, noDevtools } from '../bin/esbuild-plugins.mjs';
import { inkWithoutTopLevelAwait, yogaSync, zodOneCopy } from './esbuild-executable.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repo, 'dist');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: path.join(dist, 'package') },
    startup: { type: 'string', default: 'trained' },
  },
});
if (!['trained', 'code-cache', 'snapshot', 'none'].includes(args.startup)) throw new Error(`--startup ${args.startup}: expected trained, code-cache, snapshot or none`);

/** The whole program as one CommonJS script; `wrapped`: as a function of (require, module, exports). */
export async function bundleScript(outfile, { wrapped = false, format = 'cjs' } = {}) {
  const result = await build({
    entryPoints: [path.join(repo, 'packaging', 'executable-main.mjs')],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: 'node20',
    define: { 'process.env.NODE_ENV': '"production"', ...buildInfoDefine(repo, { executable: true }) },
    plugins: [noDevtools, yogaSync, inkWithoutTopLevelAwait, zodOneCopy, commanderBundled, inkFast(dist)],
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'error',
    metafile: true,
    ...(wrapped ? { banner: { js: '(function (require, module, exports) {' }, footer: { js: '})' } } : {}),
  });
  // import.meta is empty in CommonJS: only src/cli/install.ts may have it (the installation
  // directory, which the executable does not have: it returns before reading it). Anywhere else a
  // module would look for files beside itself that the executable does not have.
  const metaUsers = result.warnings.filter((w) => w.id === 'empty-import-meta' && !/src[\\/]cli[\\/]install\.js$/.test(w.location?.file ?? ''));
  if (metaUsers.length > 0) {
    throw new Error(`import.meta in the executable's script (where it is empty): ${metaUsers.map((w) => `${w.location?.file}:${w.location?.line}`).join(', ')}`);
  }
  for (const w of result.warnings) if (w.id !== 'empty-import-meta') process.stderr.write(`esbuild: ${w.location?.file ?? ''}:${w.location?.line ?? ''}: ${w.text}\n`);
  return result;
}

/** The npm packages whose files esbuild put into the script: [{name, version, license, dir}]. */
function bundledPackages(metafile) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) dirs.add(m[1]);
  }
  return [...dirs].sort().map((dir) => {
    const pkg = JSON.parse(readFileSync(path.join(repo, dir, 'package.json'), 'utf8'));
    return { name: pkg.name, version: pkg.version, license: pkg.license, dir };
  });
}

async function main() {
  for (const f of ['src/cli/main.js', 'components/app-entry.js']) {
    try {
      statSync(path.join(dist, f));
    } catch {
      throw new Error(`dist/${f} is missing: run npm run build first`);
    }
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the executable is built for linux-x64, on linux-x64 (this is ${process.platform}-${process.arch})`);
  const work = path.join(args.out, 'work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });

  const trained = args.startup === 'trained';
  const script = path.join(work, trained ? 'plugboard.js' : 'plugboard.cjs');
  // A startup snapshot is built from a plain script (no CommonJS module around it).
  const { metafile } = await bundleScript(script, { wrapped: trained, format: args.startup === 'snapshot' ? 'iife' : 'cjs' });
  // An import() esbuild left in the script (of a module it did not bundle, a built-in one too) would
  // fail at run time: neither the executable's main script nor a vm.Script can import.
  const left = Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.kind === 'dynamic-import' && i.external).map((i) => i.path));
  if (left.length > 0) throw new Error(`the executable's script would import() ${left.join(', ')} at run time, which the executable cannot: import it statically`);
  // Which npm packages are in the script (their licences go into the Debian package's copyright).
  writeFileSync(path.join(work, 'packages.json'), `${JSON.stringify(bundledPackages(metafile), null, 2)}\n`);
  const cache = path.join(work, 'plugboard.jscache');
  if (trained) {
    // (Its output is kept: the view drawn for the cache leaves a cursor escape on the terminal.)
    // Once more if it fails (it starts QEMU and draws the view, with deadlines, on a loaded machine).
    const makeCache = () => spawnSync(process.execPath, [path.join(repo, 'packaging', 'code-cache.mjs'), script, cache], { encoding: 'utf8', timeout: 300_000 });
    let made = makeCache();
    if (made.status !== 0) {
      process.stderr.write(`making the code cache failed, trying again: ${`${made.stderr}`.trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-3).join(' / ')}\n`);
      made = makeCache();
    }
    if (made.status !== 0) throw new Error(`making the code cache failed:\n${made.stdout}${made.stderr}`);
    process.stdout.write(`${made.stdout.split('\n').find((l) => l.startsWith('code cache:')) ?? ''}\n`);
  }

  const blob = path.join(work, 'plugboard.blob');
  const config = {
    main: trained ? path.join(repo, 'packaging', 'executable-loader.cjs') : script,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: args.startup === 'code-cache',
    useSnapshot: args.startup === 'snapshot',
    ...(trained ? { assets: { 'plugboard.js': script, 'plugboard.jscache': cache } } : {}),
  };
  writeFileSync(path.join(work, 'sea-config.json'), `${JSON.stringify(config, null, 2)}\n`);
  execFileSync(process.execPath, ['--experimental-sea-config', path.join(work, 'sea-config.json')], { stdio: ['ignore', 'ignore', 'inherit'] });

  const exe = path.join(args.out, 'plugboard');
  const tmp = `${exe}.tmp`;
  rmSync(tmp, { force: true });
  copyFileSync(process.execPath, tmp);
  chmodSync(tmp, 0o755);
  if (!readFileSync(tmp).includes(SEA_FUSE)) throw new Error(`${process.execPath} has no single-executable fuse: a Node built with it (≥ 20.6) is needed`);
  // Debugging symbols out (Debian ships binaries stripped; the blob goes in after).
  execFileSync('strip', ['--strip-all', tmp]);
  // postject (its ELF library) warns about each of the many notes in NodeSource's binary that it
  // cannot name; the notes are kept. Run as a child to keep that noise out of the build's output.
  const postject = path.join(path.dirname(createRequire(import.meta.url).resolve('postject')), 'cli.js');
  const injected = spawnSync(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { encoding: 'utf8' });
  const noise = /^warning: Can't find string offset for section name '\.note/;
  const said = stripVTControlCharacters(`${injected.stdout}\n${injected.stderr}`).split('\n').filter((l) => l.trim() && !noise.test(l) && !/^(Start injection|💉 Injection done)/u.test(l));
  if (injected.status !== 0) throw new Error(`postject: ${said.join(' / ')}`);
  for (const line of said) process.stderr.write(`postject: ${line}\n`);
  execFileSync('mv', ['-f', tmp, exe]);
  const mb = (f) => `${(statSync(f).size / 1e6).toFixed(1)} MB`;
  process.stdout.write(`${path.relative(repo, exe)}: ${mb(exe)} (script ${mb(script)}, blob ${mb(blob)}, startup: ${args.startup})\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
