// Whether components/ink-fast/ may stand in for ink's output path: the one check the build of the
// bundle (bin/esbuild-ink-fast.mjs) and the view's tests (vitest.config.ts) both make, so that the
// tests render through the same output module the bundle ships.
//
// ink-fast/output.ts reproduces ink 6.8.0's build/output.js, and ink-fast/string-width.ts wraps
// string-width 8, byte for byte as test/unit/ink-fast.test.ts holds them to the originals, with the
// very packages ink's output.js imports: @alcalzone/ansi-tokenize, slice-ansi and string-width,
// which package.json declares with the exact versions this was written and tested against. It may
// stand in when
// - ink's build/output.js is the one reproduced (its SHA-256);
// - each of those packages, as ink-fast resolves it, has the version package.json pins;
// - and is the same copy ink's output.js resolves (one copy: ink's and ours are compared).
// After an ink upgrade: compare ink's output.js with output.ts, adapt it, run the test, update the
// hash and the pins.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

// SHA-256 of the build/output.js of ink 6.8.0, the file ink-fast/output.ts reproduces.
export const INK_OUTPUT_SHA256 = 'de9078c7fc647c40cf9e32d6658fcbbee91dae9e3f6334e5f4ebfc5905fc401d';

/** The packages ink-fast imports (and ink's output.js imports): their versions are pinned in package.json. */
export const INK_FAST_IMPORTS = ['@alcalzone/ansi-tokenize', 'slice-ansi', 'string-width'];

/** The directory of package `name` as Node resolves it from a module in `fromDir` (node_modules, upwards). */
function packageDir(fromDir, name) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === path.dirname(dir)) return null;
  }
}

const versionOf = (dir) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;

/**
 * Why ink-fast may not stand in for ink's output path in the tree at `repo` (empty: it may).
 * `modules`: where ink-fast's modules are (the sources, or tsc's output).
 */
export function inkFastProblems(repo, modules = path.join(repo, 'components', 'ink-fast')) {
  const problems = [];
  const pins = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')).dependencies ?? {};
  const ink = packageDir(modules, 'ink');
  if (ink === null) return ['ink is not installed'];
  const inkOutput = path.join(ink, 'build', 'output.js');
  const sha = createHash('sha256').update(readFileSync(inkOutput)).digest('hex');
  if (sha !== INK_OUTPUT_SHA256) problems.push(`${inkOutput} is not ink 6.8.0's (ink upgraded?)`);
  for (const name of INK_FAST_IMPORTS) {
    const ours = packageDir(modules, name);
    const inks = packageDir(path.dirname(inkOutput), name);
    if (ours === null) {
      problems.push(`${name} is not installed (package.json declares it)`);
      continue;
    }
    const version = versionOf(ours);
    if (pins[name] !== version) problems.push(`${name} ${version} at ${ours}, but package.json pins ${pins[name] ?? 'nothing'}`);
    if (inks !== ours) problems.push(`${name}: ink's output.js uses ${inks ?? 'none'}, ink-fast ${ours} (two copies)`);
  }
  return problems;
}
