// esbuild plugins shared by the bundle (bin/build-bundle.mjs) and the single executable
// (packaging/build-executable.mjs).
import { readFileSync } from 'node:fs';
import path from 'node:path';

// ink imports react-devtools-core (for DEV=true only), which is not installed: an empty stand-in.
export const noDevtools = {
  name: 'no-devtools',
  setup(b) {
    b.onResolve({ filter: /^react-devtools-core$/ }, () => ({ path: 'react-devtools-core', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export default { initialize() {}, connectToDevTools() {} };',
      loader: 'js',
    }));
  },
};

// yoga-layout's emscripten loader fetches its inlined wasm (a base64 data: URL) with fetch() when
// fetch exists, which makes Node load undici (~30 ms here) on the way to the first frame; without
// fetch it decodes the same bytes synchronously. Its test is replaced by `true`; the build fails if
// a new yoga-layout no longer has it.
const FETCH_TEST = '"function"!=typeof fetch';
export const yogaWithoutFetch = {
  name: 'yoga-without-fetch',
  setup(b) {
    b.onLoad({ filter: /yoga-layout[\\/]dist[\\/]binaries[\\/]yoga-wasm-base64-esm\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes(FETCH_TEST)) throw new Error(`${args.path}: no \`${FETCH_TEST}\` to replace (yoga-layout changed): update bin/esbuild-plugins.mjs`);
      return { contents: text.replaceAll(FETCH_TEST, 'true'), loader: 'js' };
    });
  },
};

// src/cli/commander.ts loads commander with require() (unbundled, Node's ES import of a CommonJS
// package first scans its source). In the bundle commander is bundled like the rest.
export const commanderBundled = {
  name: 'commander-bundled',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/]cli[\\/]commander\.js$/ }, (args) => ({
      contents: "export { Command, CommanderError, Option } from 'commander';",
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};
