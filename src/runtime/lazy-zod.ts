/**
 * zod, loaded when a check first needs it instead of when a module is imported.
 *
 * Importing zod costs 60–120 ms on the 2-core node this runs on (≈ 180 modules: its locales come
 * with it), as much as the rest of `plugboard list` with 200 runtime files. Runtime files and QEMU's
 * replies are nearly always well-formed: quick checks without zod accept those (schema.ts,
 * hvparams.ts), and zod is loaded only to name what is wrong in the others.
 *
 * Loaded with `require` (zod's CommonJS build) because the checks are synchronous: an ES import
 * cannot be. Every user of zod in plugboard (the runtime-file schemas, the probe's and the
 * migration check's reply schemas, the pending-unplug records) gets it from here: one copy of zod
 * in the process (an ES `import 'zod'` beside it would load its ES build, a second copy). Modules
 * import zod's types only (`import type`).
 */
import { createRequire } from 'node:module';
import type * as Zod from 'zod';

let loaded: typeof Zod.z | undefined;

export function zod(): typeof Zod.z {
  loaded ??= (createRequire(import.meta.url)('zod') as typeof Zod).z;
  return loaded;
}
