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
import type { GanetiComparison } from '../ganeti/compare.js';
import { ganetiDataDirOf } from '../ganeti/ssconf.js';
import { resolveRoot } from '../runtime/root.js';
import { ganetiReading, type GanetiReading } from '../usecases/ganeti-reading.js';
import type { RapiFlags } from './ganeti-options.js';
import { ganetiJson, ganetiSectionLines, placeOnNode } from '../usecases/ganeti-text.js';

export function showFor(rf: RuntimeFile, ganeti?: GanetiComparison): ShowJson {
  const model = buildBusModel(rf);
  return showJson(
    rf,
    model,
    {
      disk: allocate(model, rf, { kind: 'disk' }),
      nic: allocate(model, rf, { kind: 'nic' }),
    },
    ganeti,
  );
}

/**
 * `show`: the runtime file's maps; on a Ganeti node (an instance under Ganeti's root) also Ganeti's
 * view compared with the runtime file (QEMU is not asked: `--live` asks it).
 */
export async function runShow(name: string | undefined, target: TargetOptions, json: boolean, io: CliIo, flags: RapiFlags = {}): Promise<void> {
  const rf = await openRuntime(name, target);
  let ganeti: GanetiReading | undefined;
  if (name !== undefined && target.runtimeFile === undefined && ganetiDataDirOf(resolveRoot(target.root)) !== null) {
    const { ganetiSourceFor } = await import('./ganeti-node.js');
    const source = await ganetiSourceFor(resolveRoot(target.root), flags, io);
    if (source) {
      const answer = await source.instance(rf.instance).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      ganeti = ganetiReading(source, rf, null, answer);
    }
  }
  const show = showFor(rf, ganeti?.kind === 'compared' ? ganeti.comparison : undefined);
  if (json) printJson(io, ganeti ? { ...show, ganeti: ganetiJson(ganeti) } : show);
  else {
    io.stdout(renderShowText(show));
    if (ganeti) io.stdout(`\n${ganetiSectionLines(ganeti, placeOnNode(rf)).join('\n')}\n`);
  }
}

export async function runCmdline(name: string | undefined, target: TargetOptions, blockdev: boolean, json: boolean, io: CliIo): Promise<void> {
  const rf = await openRuntime(name, target);
  const options = deviceOptions(rf, { blockdev });
  if (json) return printJson(io, options);
  for (const o of options) io.stdout(`${o.option} ${o.value}\n`);
}
