// Build step (run by `npm run build` after tsc): bundles the whole program — the CLI
// (dist/src/cli/main.js) and the interactive view (dist/components/app-entry.js, with ink, react and
// their dependencies, React in its production build) — into dist/bundle/, which bin/plugboard.js
// loads. Node loads ES modules one file at a time (resolve, read, compile, link): the ~70 modules of
// the core and the hundreds of ink and react cost several hundred milliseconds before the first
// frame, one bundle a fraction of that.
//
// Code splitting keeps the CLI's lazy loading: each command's `import()` becomes a chunk, the view
// is a chunk that `plugboard list` never loads, and the core modules shared by the CLI and the view
// are in shared chunks, so the process has one copy of each (one InstanceService class, one error
// hierarchy) as with the unbundled modules.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inkFast } from './esbuild-ink-fast.mjs';
import { buildInfoDefine } from './build-info.mjs';
import { commanderBundled, noDevtools, yogaWithoutFetch } from './esbuild-plugins.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repo, 'dist');
const outdir = path.join(dist, 'bundle');

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: {
    main: path.join(dist, 'src', 'cli', 'main.js'),
    'app-entry': path.join(dist, 'components', 'app-entry.js'),
  },
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // zod, loaded with createRequire when a check fails (src/runtime/lazy-zod.ts), stays in node_modules.
  // The version and the commit it is built from, for `plugboard --version` (src/cli/install.ts).
  define: { 'process.env.NODE_ENV': '"production"', ...buildInfoDefine(repo) },
  // Some bundled CommonJS code calls require(): give each ES module chunk one.
  banner: { js: "import { createRequire as __pbCreateRequire } from 'node:module'; const require = __pbCreateRequire(import.meta.url);" },
  // ink's output path and string-width replaced by byte-identical faster modules (components/ink-fast).
  plugins: [noDevtools, yogaWithoutFetch, commanderBundled, inkFast(dist)],
  // Less to read and parse at start (965 → 720 KB for the view); names are kept, so stack traces
  // (PLUGBOARD_DEBUG=1) still name the functions.
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
