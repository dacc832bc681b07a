/**
 * A sandbox instance for integration tests of the action layer: a temp root laid out as Ganeti's
 * (`conf/`, `ctrl/`, …) with one instance's runtime file and disk images (src/demo/sandbox.ts), and
 * a real QEMU 7.2 started from that runtime file (src/qemu/instance.ts: paused TCG unless the test
 * guest is booted). Every sandbox started here is stopped (QEMU quit/killed, guest console closed,
 * root removed) by `stopSandboxes()`: call `useSandboxCleanup()` once at the top of a test file.
 *
 *   useSandboxCleanup();
 *   const sb = await startSandbox({ name: 'web1', diskType: 'scsi-hd', disks: 2 });
 *   await runAction({ type: 'hot-add-disk', instance: sb.name, path: await sb.image('new') }, { root: sb.root });
 *   expect((await sb.drift()).ok).toBe(true);
 *
 * `{ guest: true }` boots the tiny TCG test guest (test/helpers/guest.ts) as the instance's kernel
 * (kvm_cmd `-kernel/-initrd/-append`, as Ganeti does with kernel_path) with its console on a socket
 * this process listens on, and waits for the guest's ready marker: such an instance acknowledges
 * PCI unplugs.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { createDiskImage, createSandboxInstance, type SandboxInstance, type SandboxInstanceSpec } from '../../src/demo/sandbox.js';
import { computeDrift, type Drift } from '../../src/live/drift.js';
import { readPending } from '../../src/live/pending.js';
import { probeLive, type LiveState } from '../../src/live/probe.js';
import { launchInstance, type LaunchInstanceOptions } from '../../src/qemu/instance.js';
import type { QemuHandle } from '../../src/qemu/launch.js';
import { type QmpClient, withQmp } from '../../src/qmp/client.js';
import { loadRuntimeFile } from '../../src/runtime/load.js';
import { qmpSocketPath } from '../../src/runtime/root.js';
import type { RuntimeFile } from '../../src/runtime/types.js';
import { GUEST_KERNEL_CMDLINE, GUEST_MEMORY_MIB, GuestSerial, guestAssets, type GuestAssets } from './guest.js';
import { requireQemu } from './qemu.js';

export interface SandboxOptions extends Omit<LaunchInstanceOptions, 'qmpSocket' | 'signal' | 'paused'> {
  /** Boot the test guest and wait for its ready marker (default false: paused, no guest OS). */
  guest?: boolean;
  /** Without a guest: let the CPU run (in SeaBIOS) instead of pausing it (default false). */
  running?: boolean;
  /**
   * Confine QEMU as Ganeti does: `runas` — hvparams security_model=user, security_domain=nobody,
   * and `-runas nobody` added at start (Ganeti's _ExecuteKVMRuntime); `chroot` — use_chroot=true and
   * `-chroot <root>/chroot/NAME` (an empty directory) in kvm_cmd (Ganeti 3.0's _GenerateKVMRuntime).
   */
  confine?: 'runas' | 'chroot';
  /** The user of `confine: 'runas'` (default nobody). */
  runasUser?: string;
  /** The guest's kernel and initramfs (default the test guest; `shellGuestAssets()` for one with a shell). */
  guestAssets?: GuestAssets;
  /** How long the guest may take to print its ready marker (default 60000 ms: TCG on a busy CI box). */
  guestReadyTimeoutMs?: number;
}

export interface TestSandbox {
  /** The temp root (`--root`). Removed on stop. */
  root: string;
  name: string;
  instance: SandboxInstance;
  runtimeFile: string;
  qmpSocket: string;
  qemu: QemuHandle;
  /** The guest's console, with `{ guest: true }`. */
  serial: GuestSerial | undefined;
  /** A new sparse raw image `<root>/disks/<name>.img` of `sizeMb` MiB (default 1). */
  image(name: string, sizeMb?: number): Promise<string>;
  /** The runtime file's bytes as they are now. */
  runtimeText(): string;
  load(): Promise<RuntimeFile>;
  /** One short QMP connection (QEMU serves one client at a time: do not hold it across actions). */
  qmp<T>(work: (qmp: QmpClient) => Promise<T>): Promise<T>;
  probe(): Promise<LiveState>;
  /** The runtime file vs QEMU, with the recorded pending unplugs (what `show --live` reports). */
  drift(): Promise<Drift>;
  /** Device ids in /machine/peripheral. */
  peripheralIds(): Promise<string[]>;
  /** `query-block`'s entries as `{device, qdev, nodeName}`. */
  blocks(): Promise<{ device: string; qdev: string | undefined; nodeName: string | undefined }[]>;
  /** `query-named-block-nodes {flat: true}`'s node names. */
  nodeNames(): Promise<string[]>;
  stop(): Promise<void>;
}

const running = new Set<TestSandbox>();

/** Creates the root and the instance, starts QEMU from its runtime file; stopped by the cleanup. */
export async function startSandbox(spec: SandboxInstanceSpec, options: SandboxOptions = {}): Promise<TestSandbox> {
  const qemuBinary = requireQemu();
  const { guest = false, guestReadyTimeoutMs = 60_000, running: run = false, confine, runasUser = 'nobody', guestAssets: assetsGiven, ...launch } = options;
  const root = mkdtempSync(path.join(os.tmpdir(), 'pb-sbx-'));
  let serial: GuestSerial | undefined;
  let qemu: QemuHandle | undefined;
  try {
    let fullSpec = spec;
    if (guest) {
      const assets = assetsGiven ?? guestAssets();
      if (!assets) throw new Error('the test guest is not built: run bash test/setup/prepare.sh');
      serial = await GuestSerial.listen(path.join(root, 'ctrl-serial.sock'));
      fullSpec = {
        memoryMb: GUEST_MEMORY_MIB,
        ...spec,
        // `-serial unix:PATH` without `server`: QEMU connects to our listener before the guest runs.
        kernel: { kernel: assets.kernel, initrd: assets.initrd, append: GUEST_KERNEL_CMDLINE, serial: `unix:${serial.path}` },
      };
    }
    if (confine === 'runas') {
      fullSpec = { ...fullSpec, hvparams: { ...fullSpec.hvparams, security_model: 'user', security_domain: runasUser } };
      launch.extraArgv = [...(launch.extraArgv ?? []), '-runas', runasUser];
    } else if (confine === 'chroot') {
      const dir = path.join(root, 'chroot', spec.name);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      fullSpec = { ...fullSpec, hvparams: { ...fullSpec.hvparams, use_chroot: true }, extraKvmCmd: [...(fullSpec.extraKvmCmd ?? []), '-chroot', dir] };
    }
    const instance = await createSandboxInstance(root, fullSpec, qemuBinary);
    qemu = await launchInstance(root, spec.name, { startTimeoutMs: 20_000, ...launch, paused: !guest && !run });
    if (serial) await serial.waitForReady(guestReadyTimeoutMs);
    const qmpSocket = qmpSocketPath(root, spec.name);
    const handle: QemuHandle = qemu;
    const qmp = <T>(work: (q: QmpClient) => Promise<T>) => withQmp(qmpSocket, { greetingTimeoutMs: 2_000 }, work);
    let stopped: Promise<void> | undefined;
    const sb: TestSandbox = {
      root,
      name: spec.name,
      instance,
      runtimeFile: instance.runtimeFile,
      qmpSocket,
      qemu: handle,
      serial,
      image: async (name, sizeMb = 1) => {
        const file = path.join(root, 'disks', `${name}.img`);
        await createDiskImage(file, sizeMb);
        return file;
      },
      runtimeText: () => readFileSync(instance.runtimeFile, 'utf8'),
      load: () => loadRuntimeFile(instance.runtimeFile, { instance: spec.name }),
      qmp,
      probe: () => qmp((q) => probeLive(q)),
      drift: async () => {
        const [rf, live, pending] = await Promise.all([sb.load(), sb.probe(), readPending(root, spec.name)]);
        return computeDrift(rf, live, pending);
      },
      peripheralIds: () =>
        qmp(async (q) => {
          const list = await q.execute<{ name: string; type: string }[]>('qom-list', { path: '/machine/peripheral' });
          return list.filter((p) => p.type.startsWith('child<')).map((p) => p.name);
        }),
      blocks: () =>
        qmp(async (q) => {
          const list = await q.execute<{ device: string; qdev?: string; inserted?: { 'node-name'?: string } }[]>('query-block');
          return list.map((b) => ({ device: b.device, qdev: b.qdev, nodeName: b.inserted?.['node-name'] }));
        }),
      nodeNames: () =>
        qmp(async (q) => {
          const list = await q.execute<{ 'node-name': string }[]>('query-named-block-nodes', { flat: true });
          return list.map((n) => n['node-name']);
        }),
      stop: () => {
        stopped ??= (async () => {
          running.delete(sb);
          try {
            await handle.stop();
          } finally {
            await serial?.close();
            rmSync(root, { recursive: true, force: true });
          }
        })();
        return stopped;
      },
    };
    running.add(sb);
    return sb;
  } catch (err) {
    await qemu?.stop().catch(() => undefined);
    await serial?.close().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/** Stops every sandbox started by startSandbox and not yet stopped. */
export async function stopSandboxes(): Promise<void> {
  await Promise.all([...running].map((sb) => sb.stop()));
}

/** Registers stopSandboxes in afterEach and afterAll of the calling test file. */
export function useSandboxCleanup(): void {
  afterEach(stopSandboxes);
  afterAll(stopSandboxes);
}

/** The runtime file's disk entries' hvinfo ids, in order. */
export function diskIds(rf: RuntimeFile): string[] {
  return rf.disks.map((d) => ('id' in d.hvinfo ? d.hvinfo.id : ''));
}
