/**
 * Where this installation of plugboard is, and what build it is.
 *
 * The builds (bin/build-bundle.mjs for dist/bundle, packaging/build-executable.mjs for the single
 * executable) set `__PLUGBOARD_BUILD__` with esbuild's `define`: the version, the commit the build
 * was made from and whether the tree had uncommitted changes. The unbundled sources (tests) read the
 * version from package.json. The installation directory (the demo's cached test guest in
 * `.cache/guest`) is the directory of package.json, found by walking up from this module; the single
 * executable has none.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the build recorded. */
export interface BuildInfo {
  version: string;
  /** The commit's full hash, or `unknown` when the build was not made in a git checkout. */
  commit: string;
  /** The tree had changes not committed (or files not added) when it was built. */
  dirty: boolean;
  /** The single executable (no package.json, no node_modules beside it). */
  executable: boolean;
}

/** The build's BuildInfo as JSON text (a string, which esbuild inlines where it is used). */
declare const __PLUGBOARD_BUILD__: string | undefined;

const BUILD: BuildInfo | undefined = typeof __PLUGBOARD_BUILD__ === 'undefined' ? undefined : (JSON.parse(__PLUGBOARD_BUILD__) as BuildInfo);

interface Installation {
  dir: string;
  version: string;
}

function findInstallation(from: string): Installation | undefined {
  let dir = path.dirname(fileURLToPath(from));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'plugboard') return { dir, version: typeof pkg.version === 'string' ? pkg.version : 'unknown' };
    } catch {
      // no package.json here
    }
    dir = path.dirname(dir);
  }
  return undefined;
}

/** The directory of plugboard's package.json; undefined when not found and for the single executable. */
export function installDir(from: string = import.meta.url): string | undefined {
  if (BUILD?.executable) return undefined;
  return findInstallation(from)?.dir;
}

/** The version in plugboard's package.json (`unknown` when not found). */
export function plugboardVersion(from: string = import.meta.url): string {
  return BUILD?.version ?? findInstallation(from)?.version ?? 'unknown';
}

/**
 * `plugboard --version`: `plugboard 0.1.0 (commit 0123456789ab)`, `… (commit 0123456789ab with
 * uncommitted changes)` for a build from a dirty tree, `… (unbundled sources)` without a build.
 */
export function versionLine(build: BuildInfo | undefined = BUILD): string {
  if (!build) return `plugboard ${plugboardVersion()} (unbundled sources: no build recorded a commit)`;
  const commit = build.commit === 'unknown' ? 'commit unknown: not built from a git checkout' : `commit ${build.commit.slice(0, 12)}`;
  return `plugboard ${build.version} (${commit}${build.dirty ? ' with uncommitted changes' : ''})`;
}
