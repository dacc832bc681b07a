/**
 * Text that comes from Ganeti (job log lines, error messages, names) is data: it may carry
 * anything an instance name, a guest or a hypervisor error put into it. Before it goes into a
 * message or a log callback it becomes one line: runs of whitespace and line breaks become one
 * space, it is cut to a length, and what a terminal would act on is shown escaped already here
 * (src/text/terminal.ts, the same escaping as every output boundary; escaping twice changes
 * nothing, since the escapes are printable).
 */
import { escapeForTerminal } from '../text/terminal.js';

export function oneLine(text: string, max = 300): string {
  const flat = text.replace(/[\t\n\r]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  const safe = escapeForTerminal(flat);
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}
