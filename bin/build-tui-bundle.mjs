// Build step (run by `npm run build` after tsc): bundles the interactive view — components/ with
// ink, react and their dependencies, React in its production build — into one ES module,
// dist/components/app-entry.bundle.js. Loading one file instead of hundreds of modules is most of
// the view's start-up time. The core (dist/src/...) stays outside the bundle: the view must share
// the CLI's own module instances (one InstanceService class, one error hierarchy).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repo, 'dist');
const outfile = path.join(dist, 'components', 'app-entry.bundle.js');

const coreOutside = {
  name: 'core-outside',
  setup(b) {
    b.onResolve({ filter: /\/src\// }, (args) => {
      const target = path.resolve(args.resolveDir, args.path);
      if (!target.startsWith(path.join(dist, 'src') + path.sep)) return undefined;
      let rel = path.relative(path.dirname(outfile), target).split(path.sep).join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      return { path: rel, external: true };
    });
  },
};

// ink imports react-devtools-core (for DEV=true only), which is not installed: an empty stand-in.
const noDevtools = {
  name: 'no-devtools',
  setup(b) {
    b.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export default { initialize() {}, connectToDevTools() {} };',
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: [path.join(dist, 'components', 'app-entry.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  define: { 'process.env.NODE_ENV': '"production"' },
  // Some bundled CommonJS code calls require(): give the ES module one.
  banner: { js: "import { createRequire as __pbCreateRequire } from 'node:module'; const require = __pbCreateRequire(import.meta.url);" },
  plugins: [coreOutside, noDevtools],
  logLevel: 'warning',
});
