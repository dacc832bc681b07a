/**
 * `node --import ./bench/trace-imports.js …`: writes every module the process loads (one URL a
 * line) to the file named by $PLUGBOARD_TRACE_IMPORTS at exit. Used by cli-list.js to show what
 * `plugboard list` loads (never ink, react or zod).
 */
import { createRequire, register } from 'node:module';
import { writeFileSync } from 'node:fs';

const out = process.env.PLUGBOARD_TRACE_IMPORTS;
if (out) {
  const { port1, port2 } = new MessageChannel();
  const seen = new Set();
  port1.on('message', (url) => seen.add(url));
  port1.unref();
  register('./trace-imports-hooks.js', { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] });
  process.on('exit', () => {
    // CommonJS modules (commander, zod's require()d build) do not pass the ESM hooks: add the cache.
    for (const id of Object.keys(createRequire(import.meta.url).cache)) seen.add(id);
    writeFileSync(out, [...seen].join('\n'));
  });
}
