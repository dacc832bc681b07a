/**
 * The entry point of the interactive view, loaded by src/cli/tui.ts with a dynamic import (so the
 * CLI's scripts never load ink or react). Uses the terminal's alternate screen while it runs.
 */
import { render } from 'ink';
import type { InstanceService } from '../src/tui/service.js';
import { App } from './App.js';
import { applyColorPolicy } from './color.js';

export interface TuiOptions {
  service: InstanceService;
  title: string;
  demo: boolean;
  stdin?: NodeJS.ReadStream;
  stdout?: NodeJS.WriteStream;
}

export interface TuiHandle {
  /** Resolves when the view has closed (q, Ctrl-C, quit()). */
  exited: Promise<void>;
  /** Closes the view (SIGTERM…). */
  quit(): void;
}

const ALT_SCREEN_ON = '\u001B[?1049h\u001B[H';
const ALT_SCREEN_OFF = '\u001B[?1049l';

export function startTui(options: TuiOptions): TuiHandle {
  const stdout = options.stdout ?? process.stdout;
  const stdin = options.stdin ?? process.stdin;
  // NO_COLOR and TERM=dumb: no colour (nor any other styling); a dumb terminal gets no alternate screen either.
  applyColorPolicy(process.env);
  const alt = stdout.isTTY === true && process.env['TERM'] !== 'dumb';
  if (alt) stdout.write(ALT_SCREEN_ON);
  const instance = render(<App service={options.service} title={options.title} />, {
    stdout,
    stdin,
    exitOnCtrlC: true,
    patchConsole: true,
    maxFps: 60,
  });
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    if (alt) stdout.write(ALT_SCREEN_OFF);
  };
  process.once('exit', restore);
  const exited = instance.waitUntilExit().then(
    () => undefined,
    () => undefined,
  );
  return {
    exited: exited.finally(() => {
      instance.cleanup();
      restore();
      process.removeListener('exit', restore);
    }),
    quit: () => instance.unmount(),
  };
}
