// The main script of the single executable (Node's single-executable support runs it; its
// `require` knows only Node's built-in modules). The program itself is the asset plugboard.js, one
// CommonJS script wrapped in a function (packaging/build-executable.mjs); plugboard.jscache is V8's
// code cache for it, made at build time after running the program's commands
// (packaging/code-cache.mjs), so that the functions they need start compiled. A cache V8 does not
// accept (another Node) is ignored: the script is then compiled as usual.
'use strict';
const { getAsset } = require('node:sea');
const vm = require('node:vm');

const source = getAsset('plugboard.js', 'utf8');
let cachedData;
try {
  cachedData = Buffer.from(getAsset('plugboard.jscache'));
} catch {
  cachedData = undefined;
}
const script = new vm.Script(source, { filename: 'plugboard.js', cachedData });
if (script.cachedDataRejected && process.env.PLUGBOARD_DEBUG) process.stderr.write('plugboard: the code cache was rejected: compiling\n');
const module_ = { exports: {} };
script.runInThisContext()(require, module_, module_.exports);
