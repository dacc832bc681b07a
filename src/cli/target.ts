import { InputError } from '../errors.js';
import { loadRuntimeFile } from '../runtime/load.js';
import { resolveRoot, runtimeFilePath, validateInstanceName } from '../runtime/root.js';
import type { RuntimeFile } from '../runtime/types.js';

export interface TargetOptions {
  root?: string;
  runtimeFile?: string;
}

/** The runtime file a command works on: `NAME` under the root, or `--runtime-file FILE`. */
export async function openRuntime(name: string | undefined, opts: TargetOptions): Promise<RuntimeFile> {
  if (opts.runtimeFile !== undefined) {
    if (name !== undefined) throw new InputError(`give either an instance NAME or --runtime-file, not both`);
    return loadRuntimeFile(opts.runtimeFile);
  }
  if (name === undefined) throw new InputError('missing instance NAME (or --runtime-file FILE)');
  validateInstanceName(name);
  const root = resolveRoot(opts.root);
  // With the root: checked (no links under it, nothing writable by others), never read through a link.
  return loadRuntimeFile(runtimeFilePath(root, name), { instance: name, root });
}
