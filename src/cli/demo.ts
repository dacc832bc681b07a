/**
 * `plugboard demo` (what `npm start` runs), core side: a sandbox root in a temp directory with a
 * handful of instances that cover the cases, and a real QEMU per running instance started from its
 * runtime file, so that hot-plug in the demo is real. No terminal code here (src/cli/tui.ts opens
 * the view on the sandbox).
 *
 * - paused QEMUs have no guest to acknowledge a PCI unplug; when the tiny test guest has been built
 *   (`test/setup/prepare.sh`, run by `npm test`, caches it in `.cache/guest/`), the paravirtual
 *   instance boots it so its PCI unplugs complete. The notes say which is the case.
 * - without QEMU the demo says how to install it and runs read-only (maps from the runtime files).
 * - stop() stops every QEMU it started, closes the guest console and removes the sandbox; it is
 *   idempotent, and an `exit` hook removes the sandbox even when stop() was not reached.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createDiskImage, createSandboxInstance, type SandboxInstanceSpec } from '../demo/sandbox.js';
import { findQemu } from '../qemu/binary.js';
import { messageOf, PlugboardError } from '../errors.js';
import { launchInstance } from '../qemu/instance.js';
import type { QemuHandle } from '../qemu/launch.js';
import { dumpJson, parseJson } from '../runtime/json.js';
import { runtimeFilePath } from '../runtime/root.js';
import { installDir } from './install.js';
import type { Json, JsonObject } from '../runtime/types.js';

/** Printed by the test guest's /init on its console once it is up (test/helpers/guest.ts). */
export const GUEST_READY_MARKER = 'PLUGBOARD-GUEST-READY';
const GUEST_KERNEL_CMDLINE = 'console=ttyS0 quiet panic=-1';
const GUEST_MEMORY_MIB = 256;
export const GUEST_DIR_ENV = 'PLUGBOARD_GUEST_DIR';

export interface GuestAssets {
  kernel: string;
  initrd: string;
}

/**
 * The cached test guest (kernel + initramfs + the `.stamp` prepare.sh writes last), or null when it
 * has not been built. `$PLUGBOARD_GUEST_DIR` overrides `<repo>/.cache/guest`.
 */
export function findGuestAssets(env: NodeJS.ProcessEnv = process.env): GuestAssets | null {
  const install = env[GUEST_DIR_ENV] ? undefined : installDir();
  const dir = env[GUEST_DIR_ENV] || (install ? path.join(install, '.cache', 'guest') : undefined);
  if (!dir) return null;
  const kernel = path.join(dir, 'vmlinuz');
  const initrd = path.join(dir, 'initramfs.cpio.gz');
  for (const f of [kernel, initrd, path.join(dir, '.stamp')]) {
    try {
      if (statSync(f).size === 0) return null;
    } catch {
      return null;
    }
  }
  return { kernel, initrd };
}

/**
 * A guest console: a Unix socket this process listens on and QEMU connects to (`-serial unix:PATH`
 * without `server`, so nothing the guest prints before we listen is lost). Keeps the last 64 KiB.
 */
export class GuestConsole {
  private text = '';
  private readyNow = false;
  private readonly waiters = new Set<() => void>();
  private constructor(
    readonly path: string,
    private readonly server: net.Server,
  ) {
    server.on('connection', (socket) => {
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        this.text = (this.text + chunk).slice(-64 * 1024);
        if (!this.readyNow && this.text.includes(GUEST_READY_MARKER)) {
          this.readyNow = true;
          for (const w of [...this.waiters]) w();
        }
      });
      socket.on('error', () => undefined);
    });
  }

  static async listen(socketPath: string): Promise<GuestConsole> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new GuestConsole(socketPath, server);
  }

  get ready(): boolean {
    return this.readyNow;
  }

  /** Resolves true when the guest printed its ready marker, false at the deadline or on abort. */
  waitReady(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.readyNow) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(onReady);
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onReady = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.waiters.add(onReady);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface DemoInstance {
  spec: SandboxInstanceSpec;
  /** Started with a QEMU (false: the stopped one). */
  run: boolean;
  /** Boots the test guest when it is built. */
  guest?: boolean;
  /** What the instance is there to show. */
  about: string;
}

/** The demo's instances: every case the view has to show. */
export const DEMO_INSTANCES: readonly DemoInstance[] = [
  { spec: { name: 'web1', disks: 2, nics: 1 }, run: true, guest: true, about: 'paravirtual: virtio disks and NIC on pci.0 slots' },
  { spec: { name: 'db1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, nics: 1 }, run: true, about: 'scsi-hd disks on an lsi controller (targets 0–7)' },
  {
    spec: { name: 'store1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 10, nics: 2 },
    run: true,
    about: 'virtio-scsi-pci with many disks (targets 0–255)',
  },
  { spec: { name: 'raid1', diskType: 'scsi-hd', scsiControllerType: 'megasas', disks: 3, nics: 1 }, run: true, about: 'scsi-hd disks on a megasas controller (targets 0–64)' },
  { spec: { name: 'old1', legacy: true, disks: 2, nics: 0 }, run: true, about: 'a legacy runtime file (pci slots, no hvinfo), upgraded while loading' },
  { spec: { name: 'spare1', disks: 1, nics: 1 }, run: false, about: 'stopped: the runtime file is all there is' },
];

export const DEMO_SPARE_DISKS = 4;

/**
 * A NIC hot-add puts a tap on the NIC's bridge (nicparams link). The demo makes its own empty
 * bridge for that (`pbdemo` + 6 hex digits: not connected to anything, removed on quit) and points
 * its instances' NICs at it, when it runs as root with /dev/net/tun and `ip`. Returns the bridge,
 * or why there is none.
 */
async function createDemoBridge(): Promise<{ bridge: string } | { problem: string }> {
  if (process.getuid?.() !== 0) return { problem: `NIC hot-add needs root in the demo (it creates a bridge and taps); running as uid ${process.getuid?.()}` };
  if (!existsSync('/dev/net/tun')) return { problem: 'NIC hot-add needs /dev/net/tun, which this host does not have' };
  const bridge = `pbdemo${randomBytes(3).toString('hex')}`;
  const ip = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      execFile('ip', args, { timeout: 5_000 }, (err, _out, stderr) => (err ? reject(new PlugboardError(`ip ${args.join(' ')}: ${String(stderr).trim() || err.message}`)) : resolve()));
    });
  try {
    await ip(['link', 'add', 'name', bridge, 'type', 'bridge']);
    await ip(['link', 'set', bridge, 'up']);
    return { bridge };
  } catch (error) {
    removeDemoBridge(bridge);
    return { problem: `NIC hot-add: the demo could not create its bridge (${messageOf(error)})` };
  }
}

function removeDemoBridge(bridge: string): void {
  try {
    execFileSync('ip', ['link', 'del', bridge], { timeout: 5_000, stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Points every NIC of the instance's runtime file at `bridge` (nicparams link). */
async function linkNicsTo(root: string, name: string, bridge: string): Promise<void> {
  const file = runtimeFilePath(root, name);
  const doc = parseJson(await readFile(file, 'utf8')) as Json[];
  for (const nic of doc[1] as JsonObject[]) {
    const params = nic.nicparams as JsonObject | undefined;
    if (params) params.link = bridge;
  }
  await writeFile(file, dumpJson(doc as Json), { mode: 0o600 });
}
const SPARE_DISK_MB = 64;

export interface DemoOptions {
  /** Where the sandbox directory is made (default: the OS temp dir). */
  baseDir?: string;
  /** Start QEMUs (default: when QEMU is installed). */
  qemu?: boolean;
  /** Boot the test guest in the paravirtual instance (default: when it has been built). */
  guest?: boolean;
  /** Progress lines while starting ("starting 5 QEMUs…"). */
  onStatus?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export type NotesListener = (instance: string, lines: readonly string[]) => void;

export interface Demo {
  /** The sandbox root (`--root`). */
  root: string;
  /** The QEMU binary, or null when it is not installed. */
  qemu: string | null;
  /** Set when the demo runs read-only (no QEMU): what to do about it. */
  readOnly: string | null;
  /** Lines about the sandbox for the top of the view. */
  banner: string[];
  /** Spare disk images to hot-add. */
  spareDisks: string[];
  /** Per-instance notes (what it shows, why a PCI unplug stays pending…). */
  notes: Map<string, string[]>;
  /** Called when an instance's notes change (the guest came up). Returns unsubscribe. */
  onNotes(listener: NotesListener): () => void;
  /** QEMUs running, by instance. */
  running(): string[];
  /** Stops every QEMU, closes the guest console, removes the sandbox. Idempotent. */
  stop(): Promise<void>;
}

export const INSTALL_QEMU_HINT =
  'QEMU is not installed (qemu-system-x86_64 not found): install it with `apt-get install qemu-system-x86` and start the demo again';

export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const env = options.env ?? process.env;
  const status = options.onStatus ?? (() => undefined);
  let qemu: string | null = null;
  let qemuProblem: string | null = null;
  if (options.qemu !== false) {
    try {
      qemu = findQemu(env);
    } catch (error) {
      qemuProblem = messageOf(error);
    }
  }
  const assets = qemu && options.guest !== false ? findGuestAssets(env) : null;
  const root = mkdtempSync(path.join(options.baseDir ?? os.tmpdir(), 'plugboard-demo-'));
  const handles = new Map<string, QemuHandle>();
  const consoles: GuestConsole[] = [];
  const listeners = new Set<NotesListener>();
  const notes = new Map<string, string[]>();
  const life = new AbortController();
  let stopping: Promise<void> | undefined;

  let bridge: string | null = null;
  const removeRoot = (): void => {
    if (bridge) removeDemoBridge(bridge);
    try {
      rmSync(root, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  };
  process.once('exit', removeRoot);

  const setNotes = (name: string, lines: string[]): void => {
    notes.set(name, lines);
    for (const l of [...listeners]) l(name, lines);
  };

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      life.abort();
      await Promise.allSettled([...handles.values()].map((h) => h.stop({ quitTimeoutMs: 2_000 })));
      handles.clear();
      await Promise.allSettled(consoles.map((c) => c.close()));
      removeRoot();
      process.removeListener('exit', removeRoot);
    })();
    return stopping;
  };

  const banner: string[] = [];
  const spareDisks: string[] = [];
  try {
    const fakeQemu = qemu ?? '/usr/bin/qemu-system-x86_64';
    let webConsole: GuestConsole | null = null;
    for (const d of DEMO_INSTANCES) {
      let spec = d.spec;
      if (d.guest && assets && qemu) {
        webConsole = await GuestConsole.listen(path.join(root, `${spec.name}-console.sock`));
        consoles.push(webConsole);
        spec = {
          ...spec,
          memoryMb: GUEST_MEMORY_MIB,
          kernel: { kernel: assets.kernel, initrd: assets.initrd, append: GUEST_KERNEL_CMDLINE, serial: `unix:${webConsole.path}` },
        };
      }
      await createSandboxInstance(root, spec, fakeQemu);
    }
    let bridgeProblem: string | null = null;
    if (qemu) {
      const made = await createDemoBridge();
      if ('bridge' in made) {
        bridge = made.bridge;
        for (const d of DEMO_INSTANCES) if ((d.spec.nics ?? 0) > 0 && !d.spec.legacy) await linkNicsTo(root, d.spec.name, made.bridge);
      } else bridgeProblem = made.problem;
    }
    for (let i = 1; i <= DEMO_SPARE_DISKS; i++) {
      const file = path.join(root, 'disks', `spare-${i}.img`);
      await createDiskImage(file, SPARE_DISK_MB);
      spareDisks.push(file);
    }

    banner.push(
      `demo sandbox ${root}: ${DEMO_INSTANCES.length} instances; spare disk images in ${path.join(root, 'disks')}` +
        (bridge ? `; NICs on the demo bridge ${bridge}` : ''),
    );
    if (bridgeProblem) banner.push(bridgeProblem);
    if (qemu) {
      const toRun = DEMO_INSTANCES.filter((d) => d.run);
      status(`starting ${toRun.length} QEMUs (${qemu})…`);
      const results = await Promise.allSettled(
        toRun.map(async (d) => {
          const booting = d.guest === true && assets !== null;
          const h = await launchInstance(root, d.spec.name, { paused: !booting, startTimeoutMs: 20_000, signal: life.signal });
          handles.set(d.spec.name, h);
        }),
      );
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${toRun[i]!.spec.name}: ${String((r.reason as Error)?.message ?? r.reason).split('\n')[0]}`] : []));
      banner.push(
        `${handles.size} real QEMU${handles.size === 1 ? '' : 's'} (TCG${assets ? '' : ', paused'}); quitting stops them and removes the sandbox` +
          (failed.length ? `; did not start: ${failed.join('; ')}` : ''),
      );
    } else {
      banner.push(`${qemuProblem ?? INSTALL_QEMU_HINT}; running read-only`);
    }

    for (const d of DEMO_INSTANCES) {
      const lines = [d.about];
      const name = d.spec.name;
      const runs = handles.has(name);
      if (!qemu && d.run) lines.push('would run in the demo, but QEMU is not installed: stopped, read-only');
      else if (runs && d.guest && assets) lines.push('boots the tiny test guest (~5 s): once it is up, PCI unplugs complete');
      else if (runs && d.guest) {
        lines.push(
          'paused QEMU, no guest OS: a PCI unplug (virtio disk, NIC) stays pending, nothing acknowledges it; ' +
            'build the test guest once (bash test/setup/prepare.sh, which npm test runs) and restart the demo so this instance boots it',
        );
      } else if (runs) {
        lines.push('paused QEMU, no guest OS: SCSI unplugs complete, a PCI unplug (NIC) stays pending');
      }
      setNotes(name, lines);
    }

    if (webConsole && handles.has('web1')) {
      const consoleOf = webConsole;
      void consoleOf.waitReady(120_000, life.signal).then((ready) => {
        if (life.signal.aborted) return;
        const about = DEMO_INSTANCES.find((d) => d.spec.name === 'web1')!.about;
        setNotes(
          'web1',
          ready
            ? [about, 'runs the tiny test guest: PCI unplugs complete (the guest acknowledges them)']
            : [about, 'the test guest did not come up within 120 s: PCI unplugs may stay pending'],
        );
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    root,
    qemu,
    readOnly: qemu ? null : `${qemuProblem ?? INSTALL_QEMU_HINT}. The demo runs read-only: the maps come from the runtime files`,
    banner,
    spareDisks,
    notes,
    onNotes(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    running: () => [...handles.keys()],
    stop,
  };
}
