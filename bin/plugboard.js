#!/usr/bin/env node
// Entry point. `npm run build` (run by `npm install` through `prepare`) compiles the sources to
// dist/ and bundles the program into dist/bundle/ (bin/build-bundle.mjs), which loads several times
// faster than the compiled modules; without the bundle, the modules.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/main.js', import.meta.url);
const { main } = existsSync(bundle) ? await import(bundle.href) : await import('../dist/src/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
