import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';
import { inkFastProblems } from './bin/ink-fast-check.mjs';

const REPO = path.dirname(fileURLToPath(import.meta.url));
const INK_FAST = path.join(REPO, 'components', 'ink-fast');
const RENDERER = /[\\/]node_modules[\\/]ink[\\/]build[\\/]renderer\.js$/;
/** The packages inlined below: processed by vite, so that their imports come through the plugin. */
const INLINED = ['ink', 'ink-testing-library', 'widest-line', 'cli-truncate'];
const INLINED_FILE = new RegExp(`[\\\\/]node_modules[\\\\/](?:${INLINED.join('|')})[\\\\/].*\\.js$`);

/**
 * The view's tests render through what the bundle ships: when bin/ink-fast-check.mjs allows it (the
 * bundle's build makes the same check, bin/esbuild-ink-fast.mjs), ink's renderer gets
 * components/ink-fast/output.ts, and the modules of ink and its helpers that import string-width
 * (the copy the wrapper wraps) get components/ink-fast/string-width.ts. Test files keep the
 * originals (test/unit/ink-fast.test.ts compares the two). ink and what imports it are inlined
 * (processed by vite) so that their imports come through here.
 */
function inkFast(): Plugin {
  const active = inkFastProblems(REPO).length === 0;
  const wrapper = path.join(INK_FAST, 'string-width.ts');
  return {
    name: 'ink-fast',
    enforce: 'pre',
    async resolveId(source, importer) {
      if (!active || importer === undefined) return null;
      if (source === './output.js' && RENDERER.test(importer)) return path.join(INK_FAST, 'output.ts');
      if (source !== 'string-width' || !/[\\/]node_modules[\\/]/.test(importer)) return null;
      const [theirs, wrapped] = await Promise.all([
        this.resolve(source, importer, { skipSelf: true }),
        this.resolve(source, wrapper, { skipSelf: true }),
      ]);
      return theirs && wrapped && theirs.id === wrapped.id ? wrapper : null;
    },
    // Their source maps name sources the packages do not ship (vite would warn once per file).
    load(id) {
      if (!INLINED_FILE.test(id)) return null;
      return { code: readFileSync(id, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, ''), map: null };
    },
  };
}

export default defineConfig({
  plugins: [inkFast()],
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real QEMU processes; keep parallelism modest on a 2-core machine.
    maxWorkers: 2,
    env: { FORCE_COLOR: '0' },
    server: { deps: { inline: INLINED } },
    // CI also writes a machine-readable summary, from which .ci/run prints its closing count.
    reporters: process.env['CI'] === 'true' ? ['default', ['json', { outputFile: '.cache/vitest-results.json' }]] : ['default'],
  },
});
