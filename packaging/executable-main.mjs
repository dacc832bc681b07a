// The entry of the single executable: packaging/build-executable.mjs bundles it with the whole
// program into one CommonJS script (plugboard.js in the executable), which the executable's loader
// (packaging/executable-loader.cjs) runs. Same as bin/plugboard.js, without the search for dist/.
// When the build runs the script to make V8's code cache (packaging/code-cache.mjs), it sets
// globalThis.__plugboardCodeCache and calls `main` itself.
import { main } from '../dist/src/cli/main.js';

export { main };

if (!globalThis.__plugboardCodeCache) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`plugboard: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
