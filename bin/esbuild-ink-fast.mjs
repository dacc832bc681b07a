// esbuild plugin for the bundle of the view: ink's output path replaced by components/ink-fast/
// (compiled by tsc to dist/components/ink-fast/), which gives the same frames byte for byte at a
// fraction of the cost (see the comments there; test/unit/ink-fast.test.ts compares them):
//
// - ink's renderer imports `./output.js` (the Output class): it gets ink-fast/output.js;
// - ink, widest-line and cli-truncate import `string-width`: they get ink-fast/string-width.js
//   (printable ASCII, SGR sequences and characters that are their own grapheme cluster measured
//   without the package's per-cluster regular expressions, the rest handed to the package). Only
//   importers that resolve `string-width` to the same file as the wrapper's own import are
//   redirected: wrap-ansi has its own string-width 7 and keeps it, and the wrapper's import of the
//   package is left alone.
//
// Only when bin/ink-fast-check.mjs finds nothing against it (ink 6.8.0's output.js, the pinned
// versions of the packages ink-fast imports, one copy of each): otherwise the build says why on
// stderr and keeps the original modules: slower, never wrong. The view's tests make the same check
// and the same replacement (vitest.config.ts), so they render through what the bundle ships.
//
// Usage, in the `plugins` of the build: `inkFast(dist)`, dist being the tsc output directory.
// (test/unit/ink-fast.test.ts bundles the TypeScript sources instead: `modules` and `extension`.)
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inkFastProblems } from './ink-fast-check.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const RENDERER = /[\\/]node_modules[\\/]ink[\\/]build[\\/]renderer\.js$/;

function warn(message) {
  process.stderr.write(`ink-fast: ${message}\n`);
}

export function inkFast(distDir, { modules = path.join(distDir, 'components', 'ink-fast'), extension = '.js' } = {}) {
  const output = path.join(modules, `output${extension}`);
  const stringWidth = path.join(modules, `string-width${extension}`);
  return {
    name: 'ink-fast',
    setup(b) {
      for (const file of [output, stringWidth]) {
        if (!existsSync(file)) throw new Error(`ink-fast: ${file} is missing: compile components/ink-fast first (tsc -p tsconfig.build.json)`);
      }
      const problems = inkFastProblems(REPO);
      if (problems.length > 0) {
        for (const p of problems) warn(`${p}: ink's output path left as it is; see bin/ink-fast-check.mjs`);
        return;
      }

      // The file the wrapper's own `import 'string-width'` resolves to.
      let wrapped;
      const wrappedWidth = () =>
        (wrapped ??= b.resolve('string-width', { kind: 'import-statement', resolveDir: modules, importer: stringWidth, pluginData: { inkFast: true } }).then((r) => {
          if (r.errors.length > 0) throw new Error(`ink-fast: string-width, imported by ${stringWidth}: ${r.errors[0].text}`);
          return r.path;
        }));

      b.onResolve({ filter: /^\.\/output\.js$/ }, (args) => (RENDERER.test(args.importer) ? { path: output } : undefined));

      b.onResolve({ filter: /^string-width$/ }, async (args) => {
        if (args.pluginData?.inkFast || args.importer === stringWidth) return undefined;
        const target = await wrappedWidth();
        const r = await b.resolve('string-width', { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { inkFast: true } });
        if (r.errors.length > 0) return { errors: r.errors };
        return r.path === target ? { path: stringWidth } : undefined;
      });
    },
  };
}
