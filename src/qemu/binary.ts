/**
 * Finding the QEMU binary and its version.
 *
 * Order: `PLUGBOARD_QEMU` (an explicit choice: if it is set but wrong, that is an error, not a
 * reason to fall back), then `qemu-system-x86_64` on PATH, then `/usr/bin/qemu-system-x86_64`.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { PlugboardError } from '../errors.js';

export const QEMU_BINARY_NAME = 'qemu-system-x86_64';
export const QEMU_DEFAULT_PATH = '/usr/bin/qemu-system-x86_64';
export const QEMU_ENV_VAR = 'PLUGBOARD_QEMU';
const INSTALL_HINT = 'install it with: apt-get install qemu-system-x86';

/** QEMU is not installed, or PLUGBOARD_QEMU points at something that is not an executable. */
export class QemuNotFoundError extends PlugboardError {
  override name = 'QemuNotFoundError';
}

export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
  /** The distribution's package string in parentheses, e.g. `Debian 1:7.2+dfsg-7+deb12u18+b3`. */
  package: string;
  /** The first line of `--version`. */
  text: string;
}

/** The absolute path of the QEMU binary to use. Throws QemuNotFoundError with an install hint. */
export function findQemu(env: NodeJS.ProcessEnv = process.env, fallback: string = QEMU_DEFAULT_PATH): string {
  const explicit = env[QEMU_ENV_VAR];
  if (explicit !== undefined && explicit !== '') {
    const resolved = path.resolve(explicit);
    if (!isExecutableFile(resolved)) {
      throw new QemuNotFoundError(`${QEMU_ENV_VAR}=${explicit} is not an executable file`);
    }
    return resolved;
  }
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '' || !path.isAbsolute(dir)) continue; // never run a binary found relative to the cwd
    const candidate = path.join(dir, QEMU_BINARY_NAME);
    if (isExecutableFile(candidate)) return candidate;
  }
  if (isExecutableFile(fallback)) return fallback;
  throw new QemuNotFoundError(
    `${QEMU_BINARY_NAME} not found (looked at $${QEMU_ENV_VAR}, PATH and ${fallback}): ${INSTALL_HINT}`,
  );
}

/** Runs `qemu --version` (5 s timeout) and parses it. */
export async function qemuVersion(binary: string = findQemu()): Promise<QemuVersion> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(binary, ['--version'], { timeout: 5_000, maxBuffer: 64 * 1024 }, (err, out) => {
      if (err) {
        reject(new QemuNotFoundError(`cannot run ${binary} --version: ${err.message.split('\n')[0]}`, { cause: err }));
      } else {
        resolve(out);
      }
    });
  });
  const parsed = parseQemuVersion(stdout);
  if (!parsed) throw new QemuNotFoundError(`${binary} --version printed no QEMU version: ${JSON.stringify(stdout.slice(0, 120))}`);
  return parsed;
}

/** Parses `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`. */
export function parseQemuVersion(output: string): QemuVersion | undefined {
  const line = output.split('\n').find((l) => /QEMU emulator version/.test(l));
  if (!line) return undefined;
  const m = /QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?(?:\s*\(([^)]*)\))?/.exec(line);
  if (!m) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2]),
    micro: Number(m[3] ?? 0),
    package: (m[4] ?? '').trim(),
    text: line.trim(),
  };
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
