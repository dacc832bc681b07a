/**
 * Real host networking for the NIC tests: Linux bridges (and, where a test needs one, a persistent
 * tap) with names that cannot clash with anything on the machine — `pbt` + 8 random hex digits,
 * `tap.pb.` + a random UUID's first group for taps — all removed after each test and, should the
 * worker die, at process exit. Needs root, `/dev/net/tun` and iproute2: `requireNetAdmin()` throws
 * a clear error otherwise (the tests fail; they do not skip).
 *
 *   useNetCleanup();
 *   const br = createBridge();
 *   …
 *   expect(bridgePorts(br)).toEqual([tap]);
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';

const created = new Set<string>();
let exitHook = false;

function ip(...args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 5_000, env: { ...process.env, PATH: `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin` } });
  if (r.error) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Throws unless this process can make bridges and taps (root, /dev/net/tun, ip). */
export function requireNetAdmin(): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new Error('NIC integration tests need root (they create bridges and taps)');
  let tun: boolean;
  try {
    tun = statSync('/dev/net/tun').isCharacterDevice();
  } catch {
    tun = false;
  }
  if (!tun) throw new Error('NIC integration tests need /dev/net/tun (modprobe tun)');
  ip('-V');
}

function track(name: string): void {
  created.add(name);
  if (!exitHook) {
    exitHook = true;
    // A worker that dies between tests still removes what it made.
    process.once('exit', () => {
      for (const n of created) spawnSync('ip', ['link', 'delete', n], { timeout: 5_000 });
    });
  }
}

/** A new Linux bridge `pbtXXXXXXXX`, up. Removed by the cleanup. */
export function createBridge(opts: { mtu?: number } = {}): string {
  const name = `pbt${randomBytes(4).toString('hex')}`;
  track(name);
  ip('link', 'add', 'name', name, 'type', 'bridge');
  if (opts.mtu !== undefined) ip('link', 'set', 'dev', name, 'mtu', String(opts.mtu));
  ip('link', 'set', 'dev', name, 'up');
  return name;
}

/** A persistent tap named `name` (nobody attached). Removed by the cleanup. */
export function createPersistentTap(name: string): void {
  track(name);
  ip('tuntap', 'add', 'dev', name, 'mode', 'tap');
}

/** Removes an interface made here now (a bridge or tap); no error when it is already gone. */
export function removeLink(name: string): void {
  if (existsSync(`/sys/class/net/${name}`)) ip('link', 'delete', name);
  created.delete(name);
}

/** Removes every interface made here that still exists. */
export function removeAllLinks(): void {
  const errors: string[] = [];
  for (const name of [...created]) {
    try {
      removeLink(name);
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  if (errors.length) throw new Error(`cleanup failed: ${errors.join('; ')}`);
}

/** Registers removeAllLinks in afterEach and afterAll of the calling test file. */
export function useNetCleanup(): void {
  afterEach(removeAllLinks);
  afterAll(removeAllLinks);
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The ports of a bridge (`/sys/class/net/BR/brif`), sorted. */
export function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`).sort();
  } catch {
    return [];
  }
}

/** Facts about a tap as the kernel shows them. */
export interface TapFacts {
  up: boolean;
  master: string | undefined;
  mtu: number;
  address: string;
  /** `ip -d link`: persist on/off. */
  persistent: boolean;
  vnetHdr: boolean;
}

export function tapFacts(name: string): TapFacts {
  const sys = (f: string) => readFileSync(`/sys/class/net/${name}/${f}`, 'utf8').trim();
  let master: string | undefined;
  try {
    master = path.basename(readlinkSync(`/sys/class/net/${name}/master`));
  } catch {
    master = undefined;
  }
  const details = ip('-d', 'link', 'show', 'dev', name);
  return {
    up: (Number.parseInt(sys('flags'), 16) & 1) === 1,
    master,
    mtu: Number(sys('mtu')),
    address: sys('address'),
    persistent: /\bpersist on\b/.test(details),
    vnetHdr: /\bvnet_hdr on\b/.test(details),
  };
}

/** Interfaces whose name starts with `prefix`. */
export function linksStartingWith(prefix: string): string[] {
  return readdirSync('/sys/class/net').filter((n) => n.startsWith(prefix)).sort();
}

/**
 * Sends one HMP command to a QEMU `-monitor unix:PATH,server,nowait` socket and returns its output,
 * SYNCHRONOUSLY (a child process; the event loop is blocked meanwhile). For tests that must change
 * QEMU between two steps of an action that holds the QMP socket (an onProgress hook): the action
 * cannot send its next command before this returns.
 */
export function hmpSync(socketPath: string, commandLine: string, timeoutMs = 5_000): string {
  const script = `
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(${Math.ceil(timeoutMs / 1000)})
s.connect(sys.argv[1])
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf
until_prompt()
s.sendall(sys.argv[2].encode() + b"\\n")
out = until_prompt().decode(errors="replace")
sys.stdout.write(out)
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script, socketPath, commandLine], { encoding: 'utf8', timeout: timeoutMs + 1_000 });
  if (r.error) throw new Error(`HMP ${commandLine}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`HMP ${commandLine}: exit ${r.status}: ${r.stderr.trim()}`);
  // The output echoes the command line first and ends with the next prompt.
  return r.stdout
    .replace(/\r/g, '')
    .split('\n')
    .filter((l) => !l.includes(commandLine) && !l.startsWith('(qemu)'))
    .join('\n')
    .trim();
}
