/**
 * Writing a runtime file the way Ganeti does: `serializer.DumpJson((kvm_cmd, nics, hvparams, disks))`,
 * i.e. `simplejson.dumps` with default arguments, trailing whitespace stripped per line, plus a
 * trailing newline. So a file plugboard rewrites differs from one Ganeti wrote only where plugboard
 * changed something.
 *
 * Number edge cases (see json.ts): Python floats print as `repr` (shortest round-trip digits, which
 * JS and Python compute alike, laid out Python's way: `1e-05`, `1e+16`, `2.0`); a float with an
 * integral value read from the file keeps its float form, an int beyond 2^53 its exact digits
 * (both through hints recorded at parse time). A number plugboard itself puts into the document is
 * written as an int when integral and as a float otherwise.
 *
 * DumpJson's `_RE_EOLSP` (strip spaces/tabs before line ends) never changes anything here: the
 * output is one line (newlines in strings are escaped) ending in `]`.
 */

import { dumpJson } from './json.js';
import type { Json, RuntimeFile } from './types.js';

export function serializeRuntime(rf: RuntimeFile): string {
  return `${dumpJson(rf.raw as unknown as Json)}\n`;
}

export { dumpJson };
