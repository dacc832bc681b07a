/**
 * The view's tests render through the output path the bundle ships: bin/ink-fast-check.mjs allows
 * components/ink-fast in this tree (its pinned packages, ink 6.8.0's output.js, one copy of each),
 * and vitest.config.ts then gives ink's renderer ink-fast's Output, as bin/esbuild-ink-fast.mjs
 * does for the bundle. Would fail if the tests drew through ink's own Output (an ink upgrade, a
 * package at another version): then the tests no longer check what ships, and the build says so.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import InkOutput from '../../node_modules/ink/build/output.js';
import FastOutput from '../../components/ink-fast/output.js';
import { App } from '../../components/App.js';
import { InstanceService } from '../../src/tui/service.js';
import { inkFastProblems } from '../../bin/ink-fast-check.mjs';
import { makeRoot, renderTui, type Rendered } from './tui-helpers.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let ui: Rendered | undefined;
afterEach(() => {
  ui?.unmount();
  vi.restoreAllMocks();
});

describe('the output path of the view', () => {
  it('ink-fast may stand in for ink here: ink 6.8.0, the pinned versions, one copy of each', () => {
    expect(inkFastProblems(REPO)).toEqual([]);
  });

  it('the check refuses a tree whose packages are not the pinned versions', () => {
    const tree = mkdtempSync(path.join(os.tmpdir(), 'pb-inkfast-'));
    try {
      const pj = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      pj.dependencies['slice-ansi'] = '7.1.0';
      writeFileSync(path.join(tree, 'package.json'), JSON.stringify(pj));
      mkdirSync(path.join(tree, 'components', 'ink-fast'), { recursive: true });
      symlinkSync(path.join(REPO, 'node_modules'), path.join(tree, 'node_modules'));
      expect(inkFastProblems(tree)).toEqual([expect.stringMatching(/^slice-ansi 8\.0\.0 at .*, but package\.json pins 7\.1\.0$/)]);
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });

  it('a screen of the view is drawn by ink-fast\'s Output, not ink\'s', async () => {
    const fast = vi.spyOn(FastOutput.prototype, 'get');
    const ink = vi.spyOn(InkOutput.prototype, 'get');
    const root = await makeRoot([{ name: 'web1', disks: 1, nics: 1 }]);
    try {
      ui = renderTui(<App service={new InstanceService({ root: root.root })} title="plugboard test" />);
      await ui.waitFor((f) => f.includes('web1'));
      expect(fast).toHaveBeenCalled();
      expect(ink).not.toHaveBeenCalled();
    } finally {
      root.remove();
    }
  });
});
