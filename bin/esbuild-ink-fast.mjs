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
// The replacements reproduce ink 6.8.0's build/output.js and string-width 8. With another ink
// output.js or another major string-width (an `npm install` within the package.json ranges can
// bring one), the build says so on stderr and keeps the original module: slower, never wrong.
//
// Usage, in the `plugins` of the build: `inkFast(dist)`, dist being the tsc output directory.
// (test/unit/ink-fast.test.ts bundles the TypeScript sources instead: `modules` and `extension`.)
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

// SHA-256 of the build/output.js of ink 6.8.0, the file ink-fast/output.ts reproduces. After an ink
// upgrade: compare the two files, adapt output.ts, run test/unit/ink-fast.test.ts, update this.
const INK_OUTPUT_SHA256 = 'de9078c7fc647c40cf9e32d6658fcbbee91dae9e3f6334e5f4ebfc5905fc401d';
const STRING_WIDTH_MAJOR = 8;

const RENDERER = /[\\/]node_modules[\\/]ink[\\/]build[\\/]renderer\.js$/;

function warn(message) {
  process.stderr.write(`ink-fast: ${message}\n`);
}

/** The `version` of the package.json nearest above `file`. */
function packageVersion(file) {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) return JSON.parse(readFileSync(pj, 'utf8')).version;
  }
  return undefined;
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

      // The file the wrapper's own `import 'string-width'` resolves to; null when it is not the
      // major version the wrapper (and output.ts, which measures with it) was written for.
      let wrapped;
      const wrappedWidth = () =>
        (wrapped ??= b.resolve('string-width', { kind: 'import-statement', resolveDir: modules, importer: stringWidth, pluginData: { inkFast: true } }).then((r) => {
          if (r.errors.length > 0) throw new Error(`ink-fast: string-width, imported by ${stringWidth}: ${r.errors[0].text}`);
          const version = packageVersion(r.path);
          if (Number.parseInt(version ?? '', 10) === STRING_WIDTH_MAJOR) return r.path;
          warn(`string-width ${version ?? '(no version)'} at ${r.path}, not ${STRING_WIDTH_MAJOR}.x: ink's output path left as it is`);
          return null;
        }));

      let outputOk; // whether ink's output.js is the one output.ts reproduces (checked once)
      b.onResolve({ filter: /^\.\/output\.js$/ }, async (args) => {
        if (!RENDERER.test(args.importer) || (await wrappedWidth()) === null) return undefined;
        if (outputOk === undefined) {
          const inkOutput = path.join(path.dirname(args.importer), 'output.js');
          outputOk = createHash('sha256').update(readFileSync(inkOutput)).digest('hex') === INK_OUTPUT_SHA256;
          if (!outputOk) warn(`${inkOutput} is not ink 6.8.0's (ink upgraded?): bundling it instead of ${output}; see bin/esbuild-ink-fast.mjs`);
        }
        return outputOk ? { path: output } : undefined;
      });

      b.onResolve({ filter: /^string-width$/ }, async (args) => {
        if (args.pluginData?.inkFast || args.importer === stringWidth) return undefined;
        const target = await wrappedWidth();
        if (target === null) return undefined;
        const r = await b.resolve('string-width', { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { inkFast: true } });
        if (r.errors.length > 0) return { errors: r.errors };
        return r.path === target ? { path: stringWidth } : undefined;
      });
    },
  };
}
