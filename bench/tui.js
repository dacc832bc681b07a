/**
 * Figures 5–7: the interactive view (`plugboard --root R`, ink) on a root with 200 runtime files,
 * in a real pseudo-terminal (util-linux `script`, 160×50, set with `stty` before node starts):
 *
 * 5. first frame of the instance list: from spawning the process until the terminal shows the
 *    list's first row, against `node -e ""` spawned the same way (`script`, `stty`, `exec`), median
 *    of alternating runs; the target is absolute (≤ 400 ms);
 * 6. keypress → next frame on the list (↓ moves the selection): from writing the key to the
 *    terminal until the next output arrives, once the list is loaded and the screen quiet;
 * 7. peak RSS (VmHWM) of the node process with the 200 instances loaded, after the keypresses.
 *
 * Until the view is built (`dist/components/app-entry.js`), the three lines say so (`ok: null`).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BIN, distExists, log, median, notMeasured, onCleanup, result, summary, sleep } from './lib.js';
import { INSTANCES, makeListRoot } from './cli-list.js';

const ROWS = 50;
const COLS = 160;
const FIRST_ROW = 'inst000.example.com';

/** `cmd` in a pseudo-terminal of ROWS×COLS; stdin is the terminal's keyboard, stdout its screen. */
function inTerminal(cmd) {
  const child = spawn('script', ['-qfec', `stty rows ${ROWS} cols ${COLS}; exec ${cmd}`, '/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, TERM: 'xterm-256color', CI: '', FORCE_COLOR: '1' },
  });
  const kill = () => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const off = onCleanup(kill);
  const exited = new Promise((resolve) => child.once('exit', resolve)).finally(off);
  return { child, kill, exited };
}

export function shellQuote(s) {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Resolves when `pred(all output so far)` holds; rejects after `ms`. */
function waitOutput(child, pred, ms, what) {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (b) => {
      text += b.toString('utf8');
      if (pred(text)) {
        done();
        resolve(text);
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: not seen within ${ms} ms (last output: ${JSON.stringify(text.slice(-200))})`));
    }, ms);
    const done = () => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
    };
    child.stdout.on('data', onData);
  });
}

/** Resolves once no output came for `quietMs` (bounded by `maxMs`). */
function quiet(child, quietMs, maxMs) {
  return new Promise((resolve) => {
    let timer;
    const end = setTimeout(finish, maxMs);
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    };
    const onData = () => arm();
    function finish() {
      clearTimeout(timer);
      clearTimeout(end);
      child.stdout.off('data', onData);
      resolve();
    }
    child.stdout.on('data', onData);
    arm();
  });
}

/** From spawning `plugboard --root R` (the bundle by default; `command`: the shell words of another plugboard) to its list's first row. */
export async function firstFrame(root, command = `${shellQuote(process.execPath)} ${shellQuote(BIN)}`) {
  const t0 = performance.now();
  const t = inTerminal(`${command} --root ${shellQuote(root)}`);
  try {
    await waitOutput(t.child, (s) => s.includes(FIRST_ROW), 15_000, 'the instance list');
    return performance.now() - t0;
  } finally {
    t.kill();
    await t.exited;
  }
}

export async function bareNode() {
  const t0 = performance.now();
  const t = inTerminal(`${shellQuote(process.execPath)} -e ''`);
  await t.exited;
  return performance.now() - t0;
}

/** One session: wait until loaded and quiet, then ↓ `presses` times; the peak RSS at the end. */
async function session(root, presses) {
  const t = inTerminal(`${shellQuote(process.execPath)} ${shellQuote(BIN)} --root ${shellQuote(root)}`);
  try {
    await waitOutput(t.child, (s) => s.includes(FIRST_ROW), 15_000, 'the instance list');
    await waitOutput(t.child, (s) => new RegExp(`${INSTANCES} instances(?! \\(loading)`).test(s), 30_000, 'the list loaded').catch(() => undefined);
    await quiet(t.child, 300, 5_000);
    const latencies = [];
    for (let i = 0; i < presses; i++) {
      const next = waitOutput(t.child, () => true, 2_000, 'a frame after ↓');
      const k0 = performance.now();
      t.child.stdin.write('\u001b[B');
      await next;
      latencies.push(performance.now() - k0);
      await quiet(t.child, 60, 1_000);
    }
    const pid = childPid(t.child.pid);
    const hwm = pid === undefined ? undefined : vmHwmMiB(pid);
    t.child.stdin.write('q');
    await Promise.race([t.exited, sleep(2_000)]);
    return { latencies, hwm };
  } finally {
    t.kill();
    await t.exited;
  }
}

/** The node process: `script`'s child (the shell that exec'ed node). */
function childPid(scriptPid) {
  try {
    const children = readFileSync(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return children.length ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

function vmHwmMiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function run({ runs = 11 } = {}) {
  const names = ['tui-first-frame-200', 'tui-keypress-to-frame', 'tui-peak-rss-200'];
  if (!distExists('components/app-entry.js')) return names.map((n) => notMeasured(n, 'TUI not built yet'));

  const root = await makeListRoot(INSTANCES, 'tui');
  await firstFrame(root); // warm the page cache
  await bareNode();
  const frames = [];
  const bare = [];
  for (let i = 0; i < runs; i++) {
    frames.push(await firstFrame(root));
    bare.push(await bareNode());
  }
  const presses = Math.max(runs * 3, 30);
  const { latencies, hwm } = await session(root, presses);
  const f = summary(frames);
  const k = summary(latencies);
  log(
    `tui: first frame median ${f.median.toFixed(1)} ms (min ${f.min.toFixed(1)}), node -e "" in the same terminal ${median(bare).toFixed(1)} ms; ` +
      `↓ → frame median ${k.median.toFixed(2)} ms (p90 ${k.p90.toFixed(2)}); peak RSS ${hwm?.toFixed(1) ?? '?'} MiB`,
  );
  return [
    result({ name: names[0], unit: 'ms', value: f.median, baseline: median(bare), target: { value: 400 }, runs }),
    result({ name: names[1], unit: 'ms', value: k.median, target: { value: 16 }, runs: presses }),
    hwm === undefined
      ? notMeasured(names[2], 'could not read the view process\'s VmHWM')
      : result({ name: names[2], unit: 'MB', value: hwm, target: { value: 120 }, runs: 1, note: 'VmHWM of the node process, MiB' }),
  ];
}
