/**
 * Text of an action's progress and result, shared by the hot-add wizard and the unplug screen.
 * Pure: computed from the executor's progress events, the result and the QMP transcript.
 */
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { Plan } from '../../src/actions/types.js';
import type { TranscriptEntry } from '../../src/qmp/transcript.js';
import type { ActionResult } from '../../src/tui/service.js';
import { renderPlanText } from '../../src/actions/plan-json.js';
import { escapeForTerminal } from '../../src/text/terminal.js';

/** One line per progress event, the last step marked as running while `running`. */
export function progressLines(events: readonly ProgressEvent[], running: boolean): string[] {
  const out: string[] = [];
  events.forEach((e, i) => {
    const last = i === events.length - 1 && running;
    switch (e.phase) {
      case 'planned':
        out.push(`✓ planned under the instance lock, against QEMU's state: ${e.plan.device.id}${e.plan.allocation ? ` at ${e.plan.allocation.bus === 'pci.0' ? `pci.0 slot ${e.plan.allocation.addr}` : `scsi.0 target ${e.plan.allocation['scsi-id']}`}` : ''}`);
        break;
      case 'step':
        out.push(`${last ? '▸' : '✓'} ${e.index + 1}. ${e.purpose}`);
        break;
      case 'waiting':
        out.push(`${last ? '▸' : '✓'} waiting until QEMU no longer has ${e.id} (up to ${Math.round(e.timeoutMs / 1000)} s)`);
        break;
      case 'verified':
        out.push(`✓ ${e.message}`);
        break;
      case 'undo':
        out.push(`↶ undo: ${e.purpose}`);
        break;
      case 'written':
        out.push(`✓ runtime file written: ${e.file}`);
        break;
      default: {
        const never: never = e;
        out.push(String(never));
      }
    }
  });
  if (running && events.length === 0) out.push('▸ connecting to QEMU, taking the instance lock…');
  return out;
}

export interface ResultText {
  headline: string;
  color: string;
  lines: string[];
}

export function resultText(result: ActionResult): ResultText {
  if (result.ok) {
    const o = result.outcome;
    switch (o.status) {
      case 'done':
        return { headline: `✓ ${o.message}`, color: 'green', lines: o.leftovers.map((l) => `! ${l}`) };
      case 'pending':
        return {
          headline: `… pending: ${o.plan.device.id} is still in QEMU`,
          color: 'yellow',
          lines: [o.message],
        };
      case 'failed':
      case 'rolled-back':
        return { headline: `✗ ${o.status}`, color: 'red', lines: [o.message] };
      default: {
        const never: never = o.status;
        return { headline: String(never), color: 'red', lines: [] };
      }
    }
  }
  if (result.refused) return { headline: '✗ refused: nothing was sent to QEMU, the runtime file is untouched', color: 'red', lines: result.message.split('\n') };
  const o = result.outcome;
  return {
    headline: `✗ failed${o ? ` (${o.status})` : ''}`,
    color: 'red',
    lines: [...result.message.split('\n'), ...(o?.undone.length ? [`undone: ${o.undone.join('; ')}`] : []), ...(o?.leftovers ?? []).map((l) => `left behind: ${l}`)],
  };
}

const time = (ms: number) => new Date(ms).toISOString().slice(11, 23);

/** Longest message shown in a result (the QMP log has them whole). */
export const RESULT_ENTRY_CHARS = 320;

/**
 * `12:03:04.123 → {"execute":…}` lines of the transcript entries after `from`, long replies cut: the
 * transcript's formatter in the wizard's and the unplug screen's result. What QEMU sent is shown
 * with the characters a terminal would act on escaped (`\x1b`); the transcript keeps the exact text.
 */
export function transcriptLines(entries: readonly TranscriptEntry[], from: number, maxChars = RESULT_ENTRY_CHARS): string[] {
  return entries
    .filter((e) => e.seq > from)
    .map((e) => {
      const full = e.fullLength ?? e.json.length;
      const text = e.json.length > maxChars ? `${e.json.slice(0, maxChars)}… (${full} chars: L for the whole QMP log)` : e.json;
      return escapeForTerminal(`${time(e.at)} ${e.direction === 'out' ? '→' : '←'} ${text}`);
    });
}

/** The plan as the CLI's --dry-run prints it, without the trailing newline. */
export function planLines(plan: Plan): string[] {
  return renderPlanText(plan).trimEnd().split('\n');
}
