/**
 * Text of a change through Ganeti for the job screen: the plan (the exact request), the job's
 * progress (its log lines as they come), the result read honestly (done / the hotplug failed / at
 * the next start / failed). Pure.
 */
import type { GanetiPlan } from '../../src/actions/plan-ganeti.js';
import type { GanetiActionResult } from '../../src/tui/service.js';
import { marksLines, renderGanetiPlan } from '../../src/usecases/ganeti-text.js';
import type { GanetiProgressEvent } from '../../src/usecases/run-ganeti.js';

export function jobPlanLines(plan: GanetiPlan, cluster: string): string[] {
  return renderGanetiPlan(plan, cluster).trimEnd().split('\n');
}

/** One line per event; the last one marked as under way while `running`. */
export function jobProgressLines(events: readonly GanetiProgressEvent[], running: boolean): string[] {
  const out: string[] = [];
  events.forEach((e, i) => {
    const mark = i === events.length - 1 && running ? '▸' : '✓';
    switch (e.phase) {
      case 'planned':
        out.push(`✓ planned against Ganeti's view, under plugboard's instance lock: ${e.plan.requestLine}`);
        break;
      case 'submitted':
        out.push(`✓ job ${e.jobId} submitted (plugboard leaves the instance's QMP socket to Ganeti until it ends)`);
        break;
      case 'job-status':
        out.push(`${mark} job ${e.jobId} ${e.status}`);
        break;
      case 'job-log':
        out.push(`    ${e.entry.message}`);
        break;
      case 'retry':
        out.push(`! ${e.message}`);
        break;
      case 'reading':
        out.push(`${mark} the job ended: reading the node again (runtime file, QEMU, Ganeti)`);
        break;
      default: {
        const never: never = e;
        out.push(String(never));
      }
    }
  });
  if (running && events.length === 0) out.push('▸ taking the instance lock, reading Ganeti’s view…');
  return out;
}

export interface JobResultText {
  headline: string;
  color: string;
  lines: string[];
}

export function jobResultText(result: GanetiActionResult): JobResultText {
  if (!result.ok) {
    if (result.refused) return { headline: '✗ refused: nothing was sent to Ganeti', color: 'red', lines: result.message.split('\n') };
    return { headline: `✗ failed${result.jobId !== null ? ` (job ${result.jobId})` : ''}`, color: 'red', lines: result.message.split('\n') };
  }
  const o = result.outcome;
  const landed = o.landed.map((l) => {
    const out = l.action === 'remove' || l.action === 'detach';
    const where = out ? (l.inQemu === true ? 'QEMU still has it' : 'gone from the node') : l.where ? `on the node at ${l.where}` : 'not on the node';
    return `  ${l.label}${l.id ? ` ${l.id}` : ''}: ${l.action}, hotplug ${l.hotplug ?? 'not tried'}; ${where}`;
  });
  const time = `job ${o.job.id}: ${(o.timings.jobMs / 1000).toFixed(1)} s`;
  switch (o.status) {
    case 'done':
      return { headline: `✓ ${o.message}`, color: 'green', lines: [...landed, ...(o.readError ? [`(the node was not read after the job: ${o.readError})`] : []), time] };
    case 'next-start':
      return { headline: `✓ in Ganeti's configuration; on the node at the next start`, color: 'yellow', lines: [o.message, ...landed, time] };
    case 'hotplug-failed':
      return {
        headline: "✗ the hotplug failed: Ganeti changed its configuration, the node did not",
        color: 'red',
        lines: [
          o.message,
          ...landed,
          '',
          ...marksLines(o.marks, 'marks after the job'),
          ...(o.repairs.length > 0
            ? ['', 'repair on the node (or select the device on the map: u removes a device Ganeti no longer has, on the node only):', ...o.repairs.map((r) => `  ${r}`)]
            : []),
          time,
        ],
      };
    default: {
      const never: never = o.status;
      return { headline: String(never), color: 'red', lines: [] };
    }
  }
}
