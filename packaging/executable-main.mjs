// The entry of the single executable: packaging/build-executable.mjs bundles it with the whole
// program into one CommonJS script (plugboard.js in the executable), which the executable's loader
// (packaging/executable-loader.cjs) runs. Same as bin/plugboard.js, without the search for dist/.
// When the build runs the script to make V8's code cache (packaging/code-cache.mjs), it sets
// globalThis.__plugboardCodeCache and calls `main` itself. Built as a startup snapshot (the
// `snapshot` variant, for comparison), main runs when the snapshot is deserialized.
import v8 from 'node:v8';
import { main } from '../dist/src/cli/main.js';

export { main };

function start() {
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

if (v8.startupSnapshot?.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(start);
else if (!globalThis.__plugboardCodeCache) start();
