/**
 * Starting a QEMU from an instance's runtime file, the way Ganeti's `_ExecuteKVMRuntime` does
 * (kvm_cmd + NIC options + disk options), for the demo sandbox, the tests, and as the base of the
 * migration check. NOT for production instances: Ganeti starts those.
 *
 * Differences from Ganeti, all needed to run without Ganeti: TCG instead of KVM, no `-daemonize`
 * (QEMU stays our child and dies with us), NICs on QEMU's user-mode network unless a `netdevFor` is
 * given (no taps needed), and the QMP socket at `ctrl/NAME.qmp` under the root.
 */
import { statSync } from 'node:fs';
import { loadRuntimeFile } from '../runtime/load.js';
import { qmpSocketPath, runtimeFilePath } from '../runtime/root.js';
import type { RuntimeDisk, RuntimeFile } from '../runtime/types.js';
import { type QemuHandle, launchQemu } from './launch.js';
import { type DeviceOptionsConfig, startArgv, userNetdev } from './options.js';
import { withoutOptions } from './argv.js';

export interface LaunchInstanceOptions {
  /** Start with the CPUs stopped (default true). */
  paused?: boolean;
  /** Override the memory (MiB); default: kvm_cmd's `-m`, as a migration target must have. */
  memoryMb?: number;
  /** `-incoming` value (`defer`, `unix:PATH`). */
  incoming?: string;
  /** QMP socket path (default `ctrl/NAME.qmp` under the root). */
  qmpSocket?: string;
  /** Extra QEMU arguments after the instance's own. */
  extraArgv?: readonly string[];
  /** Replace the runtime file's options (e.g. a migration check that must not open the disks). */
  deviceConfig?: DeviceOptionsConfig;
  /** QEMU's `-D` log file. */
  logFile?: string;
  signal?: AbortSignal;
  startTimeoutMs?: number;
}

/** Options QEMU must not get when started by us: they daemonize, or the launcher adds them. */
const DROPPED_OPTIONS = ['daemonize', 'S'];

/**
 * `-blockdev` form: the protocol driver from what the path really is on this host (a block or
 * character device → `host_device`, anything else → `file`), not from the disk template as Ganeti
 * does. The sandbox's disks are `plain` (LVM) entries backed by image files, which `host_device`
 * refuses ("requires … to be either a character or block device").
 */
export function hostFileDriver(_disk: RuntimeDisk, p: string): 'host_device' | 'file' {
  try {
    const st = statSync(p);
    return st.isBlockDevice() || st.isCharacterDevice() ? 'host_device' : 'file';
  } catch {
    return 'file'; // QEMU then says "Could not open …: No such file or directory"
  }
}

/** The QEMU argv (without the binary) for a runtime file, as Ganeti would start it. */
export function instanceArgv(rf: RuntimeFile, opts: LaunchInstanceOptions = {}): string[] {
  const argv = startArgv(
    rf,
    { netdevFor: userNetdev, fileDriverFor: hostFileDriver, ...opts.deviceConfig },
    opts.incoming !== undefined ? { incoming: opts.incoming } : {},
  );
  const drop = opts.memoryMb !== undefined ? [...DROPPED_OPTIONS, 'm'] : DROPPED_OPTIONS;
  return [...withoutOptions(argv, drop).slice(1), ...(opts.extraArgv ?? [])];
}

function memoryOf(rf: RuntimeFile): number | undefined {
  const i = rf.kvmCmd.findIndex((a) => a === '-m');
  if (i < 0) return undefined;
  const n = Number.parseInt(String(rf.kvmCmd[i + 1] ?? ''), 10);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Starts the instance NAME under `root` from its runtime file. */
export async function launchInstance(root: string, name: string, opts: LaunchInstanceOptions = {}): Promise<QemuHandle> {
  const rf = await loadRuntimeFile(runtimeFilePath(root, name), { instance: name });
  return launchFromRuntime(rf, opts.qmpSocket ?? qmpSocketPath(root, name), opts);
}

export async function launchFromRuntime(rf: RuntimeFile, qmpSocket: string, opts: LaunchInstanceOptions = {}): Promise<QemuHandle> {
  return launchQemu({
    qmpSocket,
    argv: instanceArgv(rf, opts),
    paused: opts.paused ?? true,
    memoryMb: opts.memoryMb ?? memoryOf(rf) ?? 64,
    ...(opts.logFile !== undefined ? { logFile: opts.logFile } : {}),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    ...(opts.startTimeoutMs !== undefined ? { startTimeoutMs: opts.startTimeoutMs } : {}),
  });
}
