// What a build records for `plugboard --version` (src/cli/install.ts, through esbuild's `define`):
// package.json's version, the commit of the checkout it is built from, and whether the tree had
// changes not committed (tracked files changed, or files not added that git does not ignore).
// Outside a git checkout (an npm tarball) the commit is `unknown`.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export function buildInfo(repo, { executable = false } = {}) {
  const { version } = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
  const git = (...args) => execFileSync('git', ['-C', repo, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let commit = 'unknown';
  let dirty = false;
  try {
    if (git('rev-parse', '--show-toplevel') === path.resolve(repo)) {
      commit = git('rev-parse', 'HEAD');
      dirty = git('status', '--porcelain', '--untracked-files=normal') !== '';
    }
  } catch {
    // not a git checkout, or no git
  }
  return { version, commit, dirty, executable };
}

/**
 * The time a build says it was made (seconds): $SOURCE_DATE_EPOCH (reproducible builds), else the
 * time of the commit, else now.
 */
export function sourceDateEpoch(repo) {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  try {
    const t = execFileSync('git', ['-C', repo, 'log', '-1', '--format=%ct'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (/^\d+$/.test(t)) return Number(t);
  } catch {
    // not a git checkout
  }
  return Math.floor(Date.now() / 1000);
}

/**
 * esbuild's `define` for it: JSON text in a string literal (an object literal would become a shared
 * variable that every chunk initialises).
 */
export function buildInfoDefine(repo, options) {
  return { __PLUGBOARD_BUILD__: JSON.stringify(JSON.stringify(buildInfo(repo, options))) };
}
