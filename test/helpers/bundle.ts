/**
 * The shipped program for end-to-end tests: `npm run build`'s output (dist/, and the bundle
 * bin/plugboard.js loads, which renders through components/ink-fast), rebuilt when a source file
 * is newer. Test files that run it at the same time build it once: the first takes a lock
 * (`.cache/e2e-build.lock`, a directory), the others wait for it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function fresh(): boolean {
  const entry = path.join(REPO, 'dist', 'bundle', 'app-entry.js');
  const main = path.join(REPO, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(entry) || !existsSync(main)) return false;
  const built = Math.min(statSync(entry).mtimeMs, statSync(main).mtimeMs);
  return built > Math.max(newestMtime(path.join(REPO, 'src')), newestMtime(path.join(REPO, 'components')));
}

function run(args: string[], timeout: number): Promise<void> {
  return new Promise((resolve) => {
    // tsc writes even when other files have type errors; the bundle's presence is checked after.
    execFile(process.execPath, args, { cwd: REPO, timeout }, () => resolve());
  });
}

/** Builds dist/ and the bundle when a source file is newer than them. */
export async function buildIfStale(): Promise<void> {
  if (fresh()) return;
  const lock = path.join(REPO, '.cache', 'e2e-build.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  // A lock left by a killed run is taken over after the longest a build may take.
  if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
  let mine = false;
  try {
    mkdirSync(lock);
    mine = true;
  } catch {
    await waitFor(() => !existsSync(lock), { timeoutMs: 300_000, intervalMs: 200, what: 'another test file to finish building dist/' });
  }
  if (mine) {
    try {
      if (!fresh()) {
        await run([path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], 180_000);
        await run([path.join(REPO, 'bin', 'build-bundle.mjs')], 120_000);
      }
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  if (!existsSync(path.join(REPO, 'dist', 'bundle', 'app-entry.js'))) throw new Error('npm run build did not produce dist/bundle/app-entry.js');
}
