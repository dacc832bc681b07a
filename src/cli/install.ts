/**
 * Where this installation of plugboard is: the directory of its package.json, found by walking up
 * from this module (src/cli, dist/src/cli or dist/bundle/chunks below it). Read only when asked:
 * by `plugboard --version`, and by the demo for the cached test guest (`.cache/guest`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

/** The directory of plugboard's package.json, undefined when not found. */
export function installDir(from: string = import.meta.url): string | undefined {
  return findInstallation(from)?.dir;
}

/** The version in plugboard's package.json (`unknown` when not found). */
export function plugboardVersion(from: string = import.meta.url): string {
  return findInstallation(from)?.version ?? 'unknown';
}
