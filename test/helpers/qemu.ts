/**
 * A real, paused QEMU 7.2 for integration tests: TCG, `-nodefaults -machine pc,accel=tcg -S -m 64
 * -display none`, its QMP socket in a fresh temp dir. Every QEMU started here is stopped and its
 * dir removed by `stopTestQemus()`: call `useTestQemuCleanup()` once at the top of a test file.
 *
 * QEMU is a hard requirement of `npm test`: when it is missing, `requireQemu()`/`startTestQemu()`
 * throw a clear error, so the tests FAIL instead of skipping silently.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { findQemu } from '../../src/qemu/binary.js';
import { launchQemu, type LaunchQemuOptions, type QemuHandle } from '../../src/qemu/launch.js';

export interface TestQemu {
  qemu: QemuHandle;
  /** The temp dir: put disk images, logs, serial sockets here. Removed on cleanup. */
  dir: string;
  qmpSocket: string;
  /** Stops this QEMU now (also done by the cleanup). */
  stop(): Promise<void>;
}

export interface StartTestQemuOptions extends Partial<Omit<LaunchQemuOptions, 'qmpSocket'>> {
  /** Arguments after the defaults, e.g. `['-device', 'lsi,id=scsi']`. */
  extraArgs?: readonly string[];
  /** Leave out `-nodefaults` (default: included). */
  defaults?: boolean;
}

const running = new Set<TestQemu>();

/** The QEMU binary, or a thrown error that says how to install it. */
export function requireQemu(): string {
  try {
    return findQemu();
  } catch (err) {
    throw new Error(
      `integration tests need QEMU: ${(err as Error).message} (test/setup installs it; see package.json "test")`,
      { cause: err },
    );
  }
}

export async function startTestQemu(options: StartTestQemuOptions = {}): Promise<TestQemu> {
  const binary = requireQemu();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-qemu-'));
  const qmpSocket = path.join(dir, 'qmp.sock');
  const { extraArgs = [], defaults = false, argv = [], ...launch } = options;
  let qemu: QemuHandle;
  try {
    qemu = await launchQemu({
      binary,
      memoryMb: 64,
      startTimeoutMs: 20_000,
      ...launch,
      qmpSocket,
      argv: [...(defaults ? [] : ['-nodefaults']), ...argv, ...extraArgs],
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const t: TestQemu = {
    qemu,
    dir,
    qmpSocket,
    stop: async () => {
      running.delete(t);
      try {
        await qemu.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  running.add(t);
  return t;
}

/** Stops every QEMU started by startTestQemu and not yet stopped. */
export async function stopTestQemus(): Promise<void> {
  const all = [...running];
  await Promise.all(all.map((t) => t.stop()));
}

/** Registers stopTestQemus in afterEach and afterAll of the calling test file. */
export function useTestQemuCleanup(): void {
  afterEach(stopTestQemus);
  afterAll(stopTestQemus);
}
