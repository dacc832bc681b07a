// esbuild plugins for the single executable's one CommonJS script (packaging/build-executable.mjs).
// Node's single-executable support runs one CommonJS script whose `require` knows only Node's
// built-in modules, so everything is in the script, and nothing may use top-level `await` (which
// CommonJS does not have). Each patch checks that the text it replaces is there and fails the
// build when a new version of the package no longer has it.
import { readFileSync } from 'node:fs';
import path from 'node:path';

function mustReplace(file, text, from, to) {
  if (!text.includes(from)) throw new Error(`${file}: no \`${from}\` to replace (the package changed): update packaging/esbuild-executable.mjs`);
  return text.replaceAll(from, to);
}

// yoga-layout's index awaits its emscripten loader at the top level (the wasm is compiled
// asynchronously). Here the loader is given `instantiateWasm`, which compiles and instantiates the
// same inlined bytes synchronously (Node allows it at any size); the loader then finishes its set-up
// before it returns, and the module is ready without `await`. The base64 text stays in the loader
// (exported from there), so the bytes are in the script once.
const DATA_URL_START = 'H="data:application/octet-stream;base64,';
export const yogaSync = {
  name: 'yoga-sync',
  setup(b) {
    b.onLoad({ filter: /yoga-layout[\\/]dist[\\/]binaries[\\/]yoga-wasm-base64-esm\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const start = text.indexOf(DATA_URL_START);
      if (start < 0) throw new Error(`${args.path}: no \`${DATA_URL_START}\` (yoga-layout changed): update packaging/esbuild-executable.mjs`);
      const from = start + DATA_URL_START.length;
      const end = text.indexOf('"', from);
      const base64 = text.slice(from, end);
      const contents = `${text.slice(0, from)}"+YOGA_WASM_BASE64${text.slice(end + 1)}\nexport var YOGA_WASM_BASE64 = ${JSON.stringify(base64)};\n`;
      return { contents, loader: 'js' };
    });
    b.onLoad({ filter: /yoga-layout[\\/]dist[\\/]src[\\/]index\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      mustReplace(args.path, text, 'const Yoga = wrapAssembly(await loadYoga());', '');
      return {
        contents: `import loadYoga, { YOGA_WASM_BASE64 } from '../binaries/yoga-wasm-base64-esm.js';
import wrapAssembly from './wrapAssembly.js';
const lib = {
  instantiateWasm(imports, receive) {
    const bytes = Buffer.from(YOGA_WASM_BASE64, 'base64');
    receive(new WebAssembly.Instance(new WebAssembly.Module(bytes), imports));
    return {};
  },
};
loadYoga(lib).catch(() => undefined);
if (!lib.calledRun) throw new Error('yoga-layout: the wasm module did not start synchronously');
const Yoga = wrapAssembly(lib);
export default Yoga;
export * from './generated/YGEnums.js';
`,
        loader: 'js',
        resolveDir: path.dirname(args.path),
      };
    });
  },
};

// ink's reconciler awaits, at the top level, React DevTools and its own package.json when DEV=true.
// The executable has neither; the two awaits are taken out (DEV=true then only loses the DevTools).
export const inkWithoutTopLevelAwait = {
  name: 'ink-without-top-level-await',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]ink[\\/]build[\\/]reconciler\.js$/ }, (args) => {
      let text = readFileSync(args.path, 'utf8');
      text = mustReplace(args.path, text, "await import('./devtools.js');", 'void 0;');
      text = mustReplace(args.path, text, '? await loadPackageJson()', '? { name: undefined, version: undefined }');
      return { contents: text, loader: 'js' };
    });
  },
};

// zod is loaded with require() when a check first needs it (src/runtime/lazy-zod.ts): here that
// require is given zod's ES build, the one the migration check imports, so the script has one copy,
// initialised on first use.
export const zodOneCopy = {
  name: 'zod-one-copy',
  setup(b) {
    b.onResolve({ filter: /^zod$/ }, async (args) => {
      if (args.kind !== 'require-call') return undefined;
      const r = await b.resolve('zod', { kind: 'import-statement', resolveDir: args.resolveDir });
      return { path: r.path, external: false };
    });
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/]runtime[\\/]lazy-zod\.js$/ }, (args) => ({
      contents: "let loaded;\nexport function zod() {\n  loaded ??= require('zod').z;\n  return loaded;\n}\n",
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};
