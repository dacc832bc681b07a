/**
 * `plugboard show` (from the runtime file) and `plugboard cmdline`: loaded only when they run.
 */
import { buildBusModel } from '../bus/model.js';
import { allocate } from '../bus/allocate.js';
import { deviceOptions } from '../qemu/options.js';
import type { RuntimeFile } from '../runtime/types.js';
import { type CliIo, printJson } from './io.js';
import { renderShowText, showJson, type ShowJson } from './show.js';
import { openRuntime, type TargetOptions } from './target.js';

export function showFor(rf: RuntimeFile): ShowJson {
  const model = buildBusModel(rf);
  return showJson(rf, model, {
    disk: allocate(model, rf, { kind: 'disk' }),
    nic: allocate(model, rf, { kind: 'nic' }),
  });
}

export async function runShow(name: string | undefined, target: TargetOptions, json: boolean, io: CliIo): Promise<void> {
  const show = showFor(await openRuntime(name, target));
  if (json) printJson(io, show);
  else io.stdout(renderShowText(show));
}

export async function runCmdline(name: string | undefined, target: TargetOptions, blockdev: boolean, json: boolean, io: CliIo): Promise<void> {
  const rf = await openRuntime(name, target);
  const options = deviceOptions(rf, { blockdev });
  if (json) return printJson(io, options);
  for (const o of options) io.stdout(`${o.option} ${o.value}\n`);
}
