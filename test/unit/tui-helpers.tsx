/**
 * Helpers for the component tests of the interactive view: render with ink-testing-library, read
 * the frame as a person sees it (ANSI stripped), and wait for content with a deadline (never for
 * time): every frame ink writes wakes the waiters. A sandbox root of stopped instances (no QEMU
 * needed) is made with the demo's own sandbox writer.
 *
 * ink reads $CI once, when it is loaded: with CI set it skips resize handling and frame output to
 * a TTY; ink-testing-library renders in debug mode, which writes every frame either way, and the
 * view listens to resize itself, so these tests pass with and without $CI.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import React from 'react';
import { render } from 'ink-testing-library';
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { Action, Outcome, Plan } from '../../src/actions/types.js';
import { createRoot, createSandboxInstance, type SandboxInstanceSpec } from '../../src/demo/sandbox.js';
import { RefusedError } from '../../src/errors.js';
import { InstanceService, type ActionResult } from '../../src/tui/service.js';
import { buildInstanceView, type InstanceView } from '../../src/tui/view.js';
import { stripAnsi } from '../../components/text.js';

export const KEYS = {
  up: '\u001B[A',
  down: '\u001B[B',
  right: '\u001B[C',
  left: '\u001B[D',
  enter: '\r',
  escape: '\u001B',
  tab: '\t',
  backspace: '\u007F',
  pageDown: '\u001B[6~',
} as const;

export interface Rendered {
  /** The last frame, ANSI stripped. */
  frame(): string;
  /** Every frame ink wrote, as written (escape sequences and all). */
  rawFrames(): readonly string[];
  /** Resolves with the frame once `expected` (text or predicate) holds; rejects at the deadline with the frame. */
  waitFor(expected: string | RegExp | ((frame: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Writes keys (one at a time) and waits for `expected`. */
  press(keys: string | readonly string[], expected: string | RegExp | ((frame: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Writes text without waiting. */
  write(text: string): void;
  unmount(): void;
  stdout: { columns: number; rows: number; emit(event: string): boolean };
  rerender(tree: React.ReactElement): void;
}

function matches(frame: string, expected: string | RegExp | ((frame: string) => boolean)): boolean {
  if (typeof expected === 'string') return frame.includes(expected);
  if (expected instanceof RegExp) return expected.test(frame);
  return expected(frame);
}

/** Lets React run the effects of the last commit (ink's input listeners are attached in effects). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

/**
 * Renders `tree` (an <App>) at `size`. By default the size is given to the App as its `size` prop,
 * so the very first frame has it; `followTerminal` instead makes the fake terminal that size and
 * lets the App follow it (resize tests).
 */
export function renderTui(tree: React.ReactElement, size: { columns: number; rows: number } = { columns: 80, rows: 24 }, opts: { followTerminal?: boolean } = {}): Rendered {
  const sized = opts.followTerminal ? tree : React.cloneElement(tree as React.ReactElement<{ size?: unknown }>, { size });
  const r = render(sized);
  const stdout = r.stdout as unknown as { columns: number; rows: number; write: (s: string) => void; emit(event: string): boolean };
  Object.defineProperty(stdout, 'columns', { value: size.columns, writable: true, configurable: true });
  Object.defineProperty(stdout, 'rows', { value: size.rows, writable: true, configurable: true });
  stdout.emit('resize');
  const waiters = new Set<() => void>();
  const original = stdout.write.bind(stdout);
  stdout.write = (s: string) => {
    original(s);
    for (const w of [...waiters]) w();
  };
  const frame = () => stripAnsi(r.lastFrame() ?? '');
  const waitFor: Rendered['waitFor'] = (expected, timeoutMs = 5_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const f = frame();
        if (matches(f, expected)) {
          cleanup();
          // Let the effects of this frame run before the caller sends keys.
          void settle().then(() => resolve(f));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${String(expected)}; the frame was:\n${frame()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const write = (text: string) => r.stdin.write(text);
  const press: Rendered['press'] = async (keys, expected, timeoutMs) => {
    for (const k of typeof keys === 'string' ? [keys] : keys) {
      write(k);
      await settle();
    }
    return waitFor(expected, timeoutMs);
  };
  return {
    frame,
    rawFrames: () => r.frames,
    waitFor,
    press,
    write,
    unmount: () => r.unmount(),
    stdout,
    rerender: (t) => r.rerender(opts.followTerminal ? t : React.cloneElement(t as React.ReactElement<{ size?: unknown }>, { size })),
  };
}

export interface TestRoot {
  root: string;
  remove(): void;
}

/** A sandbox root with these (stopped) instances; QEMU is not needed. */
export async function makeRoot(specs: readonly SandboxInstanceSpec[]): Promise<TestRoot> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pb-tui-'));
  await createRoot(root);
  for (const s of specs) await createSandboxInstance(root, s, '/usr/bin/qemu-system-x86_64');
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** The lines of a frame. */
export function lines(frame: string): string[] {
  return frame.split('\n');
}

/**
 * The real core, except that run() does not need a QEMU (the e2e test runs it for real): it counts
 * its calls and answers with the previewed plan as done (a PCI unplug: pending). `live: true` makes
 * loadView report the instances as running (QEMU answered, agreeing with the runtime file).
 */
export class FakeRunService extends InstanceService {
  readonly runs: Action[] = [];
  readonly previews: Action[] = [];
  refuseNic = true;
  live = false;

  override async loadView(name: string, opts: { signal?: AbortSignal; record?: boolean } = {}): Promise<InstanceView> {
    if (!this.live) return super.loadView(name, opts);
    const rf = await this.loadFile(name);
    return buildInstanceView({ rf, live: null, liveStatus: { kind: 'live', at: Date.now() }, pending: [] });
  }

  override async preview(action: Action, signal?: AbortSignal): Promise<Plan> {
    this.previews.push(action);
    if (this.refuseNic && (action.type === 'hot-add-nic' || action.type === 'unplug-nic')) throw new RefusedError('NIC hotplug is not available yet');
    return super.preview(action, signal);
  }

  override async run(action: Action, opts: { onProgress?: (e: ProgressEvent) => void } = {}): Promise<ActionResult> {
    this.runs.push(action);
    const plan = await super.preview(action);
    const sock = `${this.root}/ctrl/${action.instance}.qmp`;
    opts.onProgress?.({ phase: 'planned', plan });
    plan.steps.forEach((s, index) => {
      opts.onProgress?.({ phase: 'step', index, purpose: s.purpose });
      this.transcript?.record('out', sock, JSON.stringify(s.command));
      this.transcript?.record('in', sock, '{"return": {}}');
    });
    const unplug = action.type === 'unplug-disk' || action.type === 'unplug-nic';
    const pending = unplug && plan.unplugWait?.needsGuest === true;
    if (!pending) {
      opts.onProgress?.({ phase: 'verified', message: unplug ? `QEMU no longer lists ${plan.device.id}` : `QEMU lists ${plan.device.id}` });
      opts.onProgress?.({ phase: 'written', file: `${this.root}/conf/${action.instance}.runtime` });
    }
    const outcome: Outcome = {
      status: pending ? 'pending' : 'done',
      plan,
      message: pending
        ? `unplug of ${plan.device.id} is pending: the guest did not acknowledge the PCI unplug within 8 s`
        : `${unplug ? 'unplugged' : 'hot-added'} ${plan.device.id}`,
      runtimeWritten: !pending,
      undone: [],
      leftovers: [],
      timings: { totalMs: 3 },
    };
    return { ok: true, outcome };
  }
}
