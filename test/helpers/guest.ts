/**
 * The tiny TCG test guest built by `test/setup/prepare.sh` into `.cache/guest/`: Debian's cloud
 * kernel (ACPI PCI hotplug built in) and a busybox initramfs that loads the virtio drivers, prints
 * `PLUGBOARD-GUEST-READY` on ttyS0 and stays up. A running guest acknowledges PCI unplug requests,
 * which a paused or OS-less QEMU never does (docs/qemu-ganeti-facts.md, "Unplug").
 *
 * The serial console is a Unix socket that THIS process listens on and QEMU connects to as a client
 * (`-chardev socket,path=…` without `server`): QEMU connects during start-up, before the guest runs,
 * so no console output is lost, and waiting for the ready marker is event-driven (no polling).
 * A `device_del` sent before the marker can be lost (same section): wait for `waitForReady()` first.
 *
 *   const serial = await GuestSerial.listen(path.join(dir, 'serial.sock'));
 *   const qemu = await launchQemu({ ...GUEST_QEMU_OPTIONS, qmpSocket,
 *     argv: ['-nodefaults', ...bootGuestArgs(assets, { serialSocket: serial.path }), ...devices] });
 *   await serial.waitForReady();
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Printed by the guest's /init on ttyS0 once /proc, /sys, /dev and the drivers are up. */
export const GUEST_READY_MARKER = 'PLUGBOARD-GUEST-READY';
/** `quiet` keeps boot chatter off the console; `panic=-1` resets instead of hanging on a panic. */
export const GUEST_KERNEL_CMDLINE = 'console=ttyS0 quiet panic=-1';
/** Guest RAM: the cloud kernel and the 1.2 MB initramfs boot comfortably in it. */
export const GUEST_MEMORY_MIB = 256;

export interface GuestAssets {
  kernel: string;
  initrd: string;
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The repository's `.cache/guest` (where prepare.sh puts the guest). */
export const GUEST_DIR = path.join(repoRoot, '.cache', 'guest');

/** The kernel and initramfs, or null when prepare.sh has not built them (yet). */
export function guestAssets(dir: string = GUEST_DIR): GuestAssets | null {
  const kernel = path.join(dir, 'vmlinuz');
  const initrd = path.join(dir, 'initramfs.cpio.gz');
  const stamp = path.join(dir, '.stamp');
  // The stamp is written last by prepare.sh: without it the files may be from a broken build.
  for (const f of [kernel, initrd, stamp]) {
    if (!fs.existsSync(f) || fs.statSync(f).size === 0) return null;
  }
  return { kernel, initrd };
}

/** What `launchQemu` (src/qemu/launch.ts) must be given for the guest: running, TCG on `pc`. */
export const GUEST_QEMU_OPTIONS = {
  paused: false,
  accel: 'tcg',
  machine: 'pc',
  memoryMb: GUEST_MEMORY_MIB,
} as const;

export interface BootGuestOptions {
  /** Unix socket a GuestSerial listens on (`GuestSerial.listen`). */
  serialSocket: string;
  /**
   * Load the virtio drivers (default true), so that devices are bound as in a real guest and an
   * unplug goes through the driver's removal (~350–600 ms under TCG instead of ~95 ms unbound).
   * false boots ~1.5 s faster.
   */
  drivers?: boolean;
}

/**
 * QEMU arguments that boot the guest with its console on `serialSocket`: `-kernel`, `-initrd`,
 * `-append`, and the console chardev. Machine, accelerator and memory come from
 * GUEST_QEMU_OPTIONS (launchQemu's options; by hand: `-machine pc,accel=tcg -m 256`);
 * `-nodefaults`, `-qmp` and devices are the caller's.
 */
export function bootGuestArgs(assets: GuestAssets, options: BootGuestOptions): string[] {
  return [
    '-kernel', assets.kernel,
    '-initrd', assets.initrd,
    '-append', options.drivers === false ? `${GUEST_KERNEL_CMDLINE} plugboard.drivers=none` : GUEST_KERNEL_CMDLINE,
    '-chardev', `socket,id=pbserial,path=${options.serialSocket}`,
    '-serial', 'chardev:pbserial',
  ];
}

/**
 * The guest's serial console: a one-client Unix socket server that collects what the guest prints.
 * `waitFor` resolves as soon as the text appears and rejects on its deadline or when QEMU hangs up,
 * with the last lines of the console in the message.
 */
export class GuestSerial {
  private text = '';
  private peer: net.Socket | undefined;
  private ended: Error | undefined;
  private readonly watchers = new Set<() => void>();

  private constructor(
    readonly path: string,
    private readonly server: net.Server,
  ) {
    server.on('connection', (socket) => {
      if (this.peer) {
        socket.destroy();
        return;
      }
      this.peer = socket;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        this.text += chunk;
        this.notify();
      });
      socket.on('error', () => {});
      socket.on('close', () => {
        this.ended = new Error(`the guest console ${this.path} was closed by QEMU (did it exit?)`);
        this.notify();
      });
      this.notify();
    });
  }

  /** Listens on `socketPath` (which must not exist). */
  static async listen(socketPath: string): Promise<GuestSerial> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new GuestSerial(socketPath, server);
  }

  /** Everything the guest printed so far. */
  get output(): string {
    return this.text;
  }

  /** Resolves when `text` has appeared on the console. */
  waitFor(text: string, timeoutMs: number): Promise<void> {
    return this.until(() => this.text.includes(text), `'${text}' on the guest console`, timeoutMs);
  }

  /** Resolves when the guest printed its ready marker (boot under TCG takes ~4 s). */
  waitForReady(timeoutMs = 30_000): Promise<void> {
    return this.waitFor(GUEST_READY_MARKER, timeoutMs);
  }

  /** Types `text` on the guest's console (its /init reads nothing unless it runs a shell: guest-shell.ts). */
  write(text: string): void {
    if (!this.peer) throw new Error(`the guest console ${this.path} is not connected`);
    this.peer.write(text);
  }

  async close(): Promise<void> {
    this.peer?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  /** Resolves when `done()` holds (checked on every console output), rejects at the deadline or when QEMU hangs up. */
  until(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const deadline = AbortSignal.timeout(timeoutMs);
      const finish = (err?: Error) => {
        this.watchers.delete(check);
        deadline.removeEventListener('abort', onDeadline);
        if (err) reject(err);
        else resolve();
      };
      const tail = () => {
        const lines = this.text.trimEnd().split('\n').slice(-10).join('\n');
        return lines ? `; console so far:\n${lines}` : '; the console printed nothing';
      };
      const check = () => {
        if (done()) finish();
        else if (this.ended) finish(new Error(`waiting for ${what}: ${this.ended.message}${tail()}`));
      };
      const onDeadline = () => finish(new Error(`waiting for ${what}: no sign within ${timeoutMs} ms${tail()}`));
      this.watchers.add(check);
      deadline.addEventListener('abort', onDeadline, { once: true });
      check();
    });
  }
}
