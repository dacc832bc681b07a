/**
 * Tools of the bad-input, fault, concurrency and interrupt tests (test/unit/runtime-hostile-corpus,
 * runtime-fuzz, runtime-root-safety, runtime-tempfiles, cli-root-links, executor-qmp-faults;
 * test/integration/ganeti-hostile-corpus, executor-qemu-faults, cli-concurrency, cli-interrupts):
 * the hostile corpus, generated huge and deep inputs, snapshots of a root's bytes, the figures the
 * tests print (inputs tried, faults injected, data lost), a mini QEMU for the fake QMP server, a
 * QMP proxy that injects faults in front of a real QEMU, and the CLI run as a real child process.
 * (Over 500 lines: the tools are small and independent; they live in one file so that a test of
 * bad input imports one module. Split it by tool when one of them grows.)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeCommand, FakeQmpConnection } from '../helpers/fake-qmp.js';
import { waitFor } from '../helpers/wait.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CORPUS_DIR = path.join(REPO, 'test', 'hostile', 'runtime');

// ------------------------------------------------------------------------------------------------
// Figures: every hardening test file adds what it tried; `.cache/hardening-figures.jsonl` collects
// them (one line per file and run) and each file prints its own line.

export interface Figures {
  /** Inputs tried: fuzz runs, corpus files, generated files. */
  inputs: number;
  /** Faults injected: killed QEMUs, broken replies, signals, planted links… */
  faults: number;
  /** Runs in which a runtime file lost or changed an entry it should have kept: must be 0. */
  dataLost: number;
}

export class FigureCounter implements Figures {
  inputs = 0;
  faults = 0;
  dataLost = 0;
  constructor(readonly suite: string) {}
  /** Prints and records the figures (call in afterAll). */
  report(): void {
    const line = { suite: this.suite, inputs: this.inputs, faults: this.faults, dataLost: this.dataLost, at: new Date().toISOString() };
    console.log(`hardening figures: ${this.suite}: inputs tried ${this.inputs}, faults injected ${this.faults}, data lost ${this.dataLost}`);
    try {
      mkdirSync(path.join(REPO, '.cache'), { recursive: true });
      appendFileSync(path.join(REPO, '.cache', 'hardening-figures.jsonl'), `${JSON.stringify(line)}\n`);
    } catch {
      // figures are informative; a read-only checkout must not fail the tests
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Generated inputs (too big to check in).

/**
 * Writes a file of exactly `bytes` bytes that is a well-formed runtime file apart from its size: a
 * kvm_cmd whose one string holds the bulk. Written in 1 MiB chunks (never held in memory).
 */
export function writeHugeRuntime(file: string, bytes: number): void {
  const head = '[["';
  const tail = '"], [], {}, []]\n';
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, head);
    let left = bytes - head.length - tail.length;
    const chunk = Buffer.alloc(1024 * 1024, 'a');
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      writeSync(fd, chunk, 0, n);
      left -= n;
    }
    writeSync(fd, tail);
  } finally {
    closeSync(fd);
  }
}

/** A runtime file whose hvparams hold a value nested `depth` arrays deep. */
export function deepRuntimeText(depth: number): string {
  return `[["/usr/bin/kvm"], [], {"x": ${'['.repeat(depth)}${']'.repeat(depth)}}, []]\n`;
}

// ------------------------------------------------------------------------------------------------
// Snapshots: "nothing changed" means every entry under a directory has the same type, mode and bytes.

export type TreeSnapshot = Record<string, string>;

/** Every entry under `dir` (recursively, links not followed): `file 0600 <sha256>`, `dir 0755`, `link -> T`. */
export function snapshotTree(dir: string, skip: (rel: string) => boolean = () => false): TreeSnapshot {
  const out: TreeSnapshot = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const p = path.join(dir, r);
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      if (st.isSymbolicLink()) out[r] = `link -> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[r] = `dir ${mode}`;
        walk(r);
      } else if (st.isFile()) out[r] = `file ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
      else out[r] = `other ${mode}`;
    }
  };
  walk('');
  return out;
}

// ------------------------------------------------------------------------------------------------
// A mini QEMU behind test/helpers/fake-qmp.ts: answers what runAction asks (probe, drive_add,
// blockdev-add, device_add, device_del, verification) like QEMU 7.2 with `-nodefaults`, a
// virtio-balloon at 0x2 and the devices it was given; `fault` breaks one command.

export type QmpFault =
  /** Close the connection instead of answering. */
  | 'close'
  /** Send half of the real answer, then close. */
  | 'close-mid-reply'
  /** Answer with a line that is not JSON. */
  | 'garbage'
  /** Answer with a 64 MiB line without a newline. */
  | 'huge-line'
  /** Never answer (the command is NOT carried out). */
  | 'silent'
  /** Carry the command out, but never answer. */
  | 'apply-silent'
  /** Answer with a QMP error. */
  | 'error';

export const QMP_FAULTS: readonly QmpFault[] = ['close', 'close-mid-reply', 'garbage', 'huge-line', 'silent', 'apply-silent', 'error'];

interface MiniDevice {
  driver: string;
  slot: number;
  drive: string | undefined;
}

const pciFunction = (slot: number, fn: number, qdevId: string, cls: number, desc: string | undefined) => ({
  bus: 0,
  slot,
  function: fn,
  qdev_id: qdevId,
  class_info: desc === undefined ? { class: cls } : { class: cls, desc },
  id: { device: 4097, vendor: 6900, subsystem: 2, 'subsystem-vendor': 6900 },
  regions: [],
});

/** `{ fault, at }`: break the `at`-th (0-based) command named `on` this way. */
export interface FaultPlan {
  fault: QmpFault;
  on: string;
  at?: number;
}

export class MiniQemu {
  readonly devices = new Map<string, MiniDevice>();
  readonly drives = new Map<string, string>();
  readonly nodes = new Set<string>();
  /** Every command received (after qmp_capabilities), in order. */
  readonly log: string[] = [];
  /** The fault was injected. */
  injected = false;
  private seen = new Map<string, number>();

  constructor(
    devices: Record<string, { driver: string; slot: number; drive?: { id: string; file: string } }>,
    private readonly faultPlan?: FaultPlan,
  ) {
    for (const [id, d] of Object.entries(devices)) {
      this.devices.set(id, { driver: d.driver, slot: d.slot, drive: d.drive?.id });
      if (d.drive) this.drives.set(d.drive.id, d.drive.file);
    }
  }

  /** For FakeQmpServer.start({ handler }). */
  readonly handler = (cmd: FakeCommand, conn: FakeQmpConnection): void => {
    this.log.push(cmd.execute);
    const n = this.seen.get(cmd.execute) ?? 0;
    this.seen.set(cmd.execute, n + 1);
    const f = this.faultPlan;
    if (f && !this.injected && f.on === cmd.execute && (f.at ?? 0) === n) {
      this.injected = true;
      switch (f.fault) {
        case 'close':
          conn.destroy();
          return;
        case 'close-mid-reply': {
          const full = JSON.stringify({ return: this.answer(cmd).value, id: cmd.id });
          conn.sendRaw(full.slice(0, Math.max(1, Math.floor(full.length / 2))));
          conn.destroy();
          return;
        }
        case 'garbage':
          conn.sendRaw('\u0000\u00ff this is not QMP {{{\r\n');
          return;
        case 'huge-line':
          void conn.writeWithoutNewline(64 * 1024 * 1024, 'x');
          return;
        case 'silent':
          return;
        case 'apply-silent':
          this.answer(cmd);
          return;
        case 'error':
          conn.replyError(cmd, 'GenericError', `injected failure of ${cmd.execute}`);
          return;
      }
    }
    const a = this.answer(cmd);
    if (a.error) conn.replyError(cmd, a.errorClass ?? 'GenericError', a.error);
    else conn.reply(cmd, a.value);
    for (const e of a.events ?? []) conn.event(e.event, e.data);
  };

  private answer(cmd: FakeCommand): {
    value?: unknown;
    error?: string;
    errorClass?: string;
    events?: { event: string; data: Record<string, unknown> }[];
  } {
    const args = cmd.arguments ?? {};
    switch (cmd.execute) {
      case 'query-pci': {
        const devices = [
          pciFunction(0, 0, '', 1536, 'Host bridge'),
          pciFunction(1, 0, '', 1537, 'ISA bridge'),
          pciFunction(1, 1, '', 257, 'IDE controller'),
          pciFunction(1, 3, '', 1664, 'Bridge'),
          pciFunction(2, 0, '', 255, undefined),
          ...[...this.devices].map(([id, d]) => pciFunction(d.slot, 0, id, 256, 'SCSI controller')),
        ];
        return { value: [{ bus: 0, devices }] };
      }
      case 'qom-list':
        return { value: [{ name: 'type', type: 'string' }, ...[...this.devices].map(([id, d]) => ({ name: id, type: `child<${d.driver}>` }))] };
      case 'query-block':
        return {
          value: [...this.drives].map(([id, file]) => {
            const dev = [...this.devices].find(([, d]) => d.drive === id)?.[0];
            return {
              device: id,
              locked: false,
              removable: false,
              type: 'unknown',
              'io-status': 'ok',
              ...(dev ? { qdev: `/machine/peripheral/${dev}/virtio-backend` } : {}),
              inserted: { file, 'node-name': `#block${id.length}`, drv: 'raw', ro: false, image: { filename: file, format: 'raw' } },
            };
          }),
        };
      case 'query-named-block-nodes':
        return { value: [...this.nodes].map((n) => ({ 'node-name': n })) };
      case 'human-monitor-command': {
        const line = String(args['command-line'] ?? '');
        const add = /^drive_add dummy file=(.*?),if=none,id=([^,]+)/.exec(line);
        if (add) {
          if (this.drives.has(add[2]!)) return { value: `Duplicate ID '${add[2]}' for drive\r\n` };
          this.drives.set(add[2]!, add[1]!);
          return { value: 'OK\r\n' };
        }
        const del = /^drive_del (\S+)/.exec(line);
        if (del) {
          if (!this.drives.delete(del[1]!)) return { value: `Device '${del[1]}' not found\r\n` };
          return { value: '' };
        }
        return { value: '' };
      }
      case 'blockdev-add':
        this.nodes.add(String(args['node-name']));
        return { value: {} };
      case 'blockdev-del':
        if (!this.nodes.delete(String(args['node-name']))) return { error: `Failed to find node with node-name='${String(args['node-name'])}'` };
        return { value: {} };
      case 'device_add': {
        const id = String(args['id']);
        if (this.devices.has(id)) return { error: `Duplicate device ID '${id}'` };
        this.devices.set(id, { driver: String(args['driver']), slot: Number.parseInt(String(args['addr']), 16), drive: String(args['drive']) });
        return { value: {} };
      }
      case 'device_del': {
        const id = String(args['id']);
        const d = this.devices.get(id);
        if (!d) return { error: `Device '${id}' not found`, errorClass: 'DeviceNotFound' };
        // As with a guest that acknowledges at once: the device and its drive go.
        this.devices.delete(id);
        if (d.drive) this.drives.delete(d.drive);
        return { value: {}, events: [{ event: 'DEVICE_DELETED', data: { device: id, path: `/machine/peripheral/${id}` } }] };
      }
      default:
        return { error: `The command ${cmd.execute} has not been found` };
    }
  }
}

// ------------------------------------------------------------------------------------------------
// A QMP proxy: listens on a path, forwards each connection to a real QEMU's QMP socket, and lets a
// test hold a command, swallow its reply, or act when it passes (kill QEMU, signal the CLI…).

export type ProxyVerdict =
  /** Pass it on (default). */
  | 'forward'
  /** Pass it on and swallow QEMU's reply (the client never gets it). */
  | 'drop-reply'
  /** Pass it on; when QEMU replies, send the client half of the reply and close both sides. */
  | 'close-mid-reply'
  /** Keep it until `release()`. */
  | 'hold';

export interface ProxiedCommand {
  execute: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

export class QmpProxy {
  readonly commands: ProxiedCommand[] = [];
  private held: { line: string; upstream: net.Socket }[] = [];
  private readonly sockets = new Set<net.Socket>();
  private waiters: { match: (c: ProxiedCommand) => boolean; resolve: (c: ProxiedCommand) => void }[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly path: string,
    private readonly decide: (cmd: ProxiedCommand) => ProxyVerdict,
  ) {}

  /** Listens on `listenPath` and forwards to `target`. */
  static async start(listenPath: string, target: string, decide: (cmd: ProxiedCommand) => ProxyVerdict = () => 'forward'): Promise<QmpProxy> {
    const server = net.createServer();
    const proxy = new QmpProxy(server, listenPath, decide);
    server.on('connection', (client) => proxy.onConnection(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** Resolves with the first command (seen from now on, or already seen) that matches. */
  waitForCommand(execute: string, what = execute): Promise<ProxiedCommand> {
    const found = this.commands.find((c) => c.execute === execute);
    if (found) return Promise.resolve(found);
    return waitFor(() => this.commands.find((c) => c.execute === execute), { timeoutMs: 20_000, what: `the CLI to send ${what}` });
  }

  /** Forwards the held commands. */
  release(): void {
    for (const h of this.held.splice(0)) if (!h.upstream.destroyed) h.upstream.write(h.line);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(client: net.Socket, target: string): void {
    const upstream = net.createConnection({ path: target });
    this.sockets.add(client);
    this.sockets.add(upstream);
    const dropIds = new Set<unknown>();
    const cutIds = new Set<unknown>();
    // Once a reply is cut, nothing more reaches the client: a reply QEMU sent right behind it (to a
    // command pipelined with it) read in the same chunk would otherwise be written before the close,
    // glued to the half line.
    let cut = false;
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', closeBoth);
    upstream.on('close', closeBoth);
    lines(client, (line) => {
      let cmd: ProxiedCommand | undefined;
      try {
        cmd = JSON.parse(line) as ProxiedCommand;
      } catch {
        cmd = undefined;
      }
      const verdict = cmd ? this.decide(cmd) : 'forward';
      if (cmd) {
        this.commands.push(cmd);
        for (const w of this.waiters.splice(0)) if (w.match(cmd)) w.resolve(cmd);
      }
      if (verdict === 'drop-reply') dropIds.add(cmd?.id);
      if (verdict === 'close-mid-reply') cutIds.add(cmd?.id);
      if (verdict === 'hold') this.held.push({ line: `${line}\n`, upstream });
      else upstream.write(`${line}\n`);
    });
    lines(upstream, (line) => {
      let id: unknown;
      try {
        id = (JSON.parse(line) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      if (cut || (id !== undefined && dropIds.has(id))) return;
      if (id !== undefined && cutIds.has(id)) {
        cut = true;
        client.write(line.slice(0, Math.floor(line.length / 2)), () => closeBoth());
        return;
      }
      client.write(`${line}\r\n`);
    });
  }
}

function lines(socket: net.Socket, onLine: (line: string) => void): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    buf += text;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line !== '') onLine(line);
    }
  });
}

// ------------------------------------------------------------------------------------------------
// The CLI as a real child process: what `node bin/plugboard.js` runs (bin/plugboard.js imports
// dist/src/cli/main.js and sets process.exitCode from main()), compiled by `npm run build`'s tsc
// into a private directory: dist/ is shared with whoever else builds in this tree, and a build
// running while a child starts makes it load half-written modules.

function newestMtime(dir: string, ext: RegExp): number {
  let newest = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (ext.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

let cliEntryPath: string | undefined;

/**
 * Compiles src/ and components/ (tsconfig.build.json, as `npm run build`) into
 * `.cache/hardening-cli/<newest source mtime>/` unless that build exists, and returns its entry
 * (a copy of bin/plugboard.js pointing at it). Type errors elsewhere in the tree do not stop tsc
 * from emitting; only a missing CLI fails.
 */
export function ensureCliBuilt(): string {
  if (cliEntryPath) return cliEntryPath;
  const stamp = String(Math.floor(Math.max(newestMtime(path.join(REPO, 'src'), /\.tsx?$/), newestMtime(path.join(REPO, 'components'), /\.tsx?$/))));
  const base = path.join(REPO, '.cache', 'hardening-cli');
  const dir = path.join(base, stamp);
  const entry = path.join(dir, 'plugboard.mjs');
  try {
    statSync(entry);
  } catch {
    mkdirSync(base, { recursive: true });
    const tmp = path.join(base, `.tmp-${process.pid}-${Date.now()}`);
    const r = spawnSync(
      process.execPath,
      [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(REPO, 'tsconfig.build.json'), '--outDir', tmp, '--sourceMap', 'false'],
      { cwd: REPO, encoding: 'utf8', timeout: 240_000 },
    );
    try {
      statSync(path.join(tmp, 'src', 'cli', 'main.js'));
    } catch {
      throw new Error(`building the CLI failed: ${r.stdout}${r.stderr}`);
    }
    const bin = readFileSync(path.join(REPO, 'bin', 'plugboard.js'), 'utf8').replace("'../dist/src/cli/main.js'", "'./src/cli/main.js'");
    writeFileSync(path.join(tmp, 'plugboard.mjs'), bin);
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another test file built the same sources first
    }
    for (const old of readdirSync(base)) if (old !== stamp && !old.startsWith('.tmp-')) rmSync(path.join(base, old), { recursive: true, force: true });
  }
  cliEntryPath = entry;
  return entry;
}

export interface CliChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits (with a deadline) until stdout+stderr match. */
  waitForOutput(re: RegExp, what: string, timeoutMs?: number): Promise<void>;
}

const children = new Set<ChildProcess>();

/**
 * Runs `node bin/plugboard.js ARGS` with `--root root`. `sigintMarker`: preloads a one-time listener
 * that writes `[test] SIGINT seen` to stderr when the first SIGINT arrives (listeners run in order,
 * in one emit: once the marker is out, the CLI's own SIGINT handler has run too). Being `once`, it
 * leaves a later SIGINT to the CLI's own handling.
 */
export function startCli(root: string, args: string[], opts: { sigintMarker?: boolean; env?: NodeJS.ProcessEnv } = {}): CliChild {
  const pre = opts.sigintMarker ? ['--import', 'data:text/javascript,process.once("SIGINT",()=>process.stderr.write("[test] SIGINT seen\\n"))'] : [];
  const child = spawn(process.execPath, [...pre, ensureCliBuilt(), '--root', root, ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0', ...opts.env },
  });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (t: string) => (out += t));
  child.stderr!.setEncoding('utf8').on('data', (t: string) => (err += t));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput: (re, what, timeoutMs = 20_000) =>
      waitFor(() => re.test(out + err), { timeoutMs, what: `${what} (output so far: ${JSON.stringify((out + err).slice(-400))})` }).then(() => undefined),
  };
}

/** Runs the CLI to the end. */
export async function runCli(root: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const c = startCli(root, args, opts);
  const { code } = await c.exited;
  return { code, stdout: c.stdout(), stderr: c.stderr() };
}

/** SIGKILLs every CLI child still running (afterEach). */
export function killCliChildren(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** Every line a CLI printed on stderr is `plugboard: …` (no stack, no raw error dump). */
export function stderrLinesOk(stderr: string): boolean {
  const ls = stderr.split('\n').filter((l) => l !== '' && !l.startsWith('[test] '));
  return ls.length > 0 && ls.every((l) => l.startsWith('plugboard: ') && !/^\s+at /.test(l));
}
