/**
 * Colour in the view: on when the terminal has it, off with NO_COLOR (no-color.org: set and not
 * empty) or TERM=dumb. Off means no SGR sequence at all (chalk, which ink styles with, at level 0:
 * no colour, bold, dim or inverse), so the screens carry their meaning in characters: `>` and
 * `[ ]` for the selection, `▸` for the pane with the keys, `~ … ! *` marks, `✓ ✗` results, the
 * escaped form of unsafe characters.
 */
import chalk from 'chalk';

/** Whether the environment lets the view use colour. */
export function colorWanted(env: NodeJS.ProcessEnv): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  return env['TERM'] !== 'dumb';
}

/** Turns colour (all styling) off for the view when the environment says so. Before the first frame. */
export function applyColorPolicy(env: NodeJS.ProcessEnv = process.env): void {
  if (!colorWanted(env)) chalk.level = 0;
}

/** Whether the view is styled at all (chalk's level, which ink uses). */
export function styled(): boolean {
  return chalk.level > 0;
}
