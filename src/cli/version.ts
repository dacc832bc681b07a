/**
 * `plugboard --version`: the version in the package.json of the installation this module belongs
 * to (dist/src/cli or dist/bundle below it), read only when asked.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function plugboardVersion(from: string = import.meta.url): string {
  let dir = path.dirname(fileURLToPath(from));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'plugboard' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here
    }
    dir = path.dirname(dir);
  }
  return 'unknown';
}
