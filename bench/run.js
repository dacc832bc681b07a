#!/usr/bin/env node
/**
 * `npm run bench`: how fast plugboard starts, probes, hotplugs and renders, each figure against its
 * floor measured in the same run. Runs against the build: `npm run build` first.
 *
 *   node bench/run.js [--only NAME[,NAME…]] [--runs N] [--markdown]
 *
 * NAME: cli-list, tui, exe (the single executable beside the bundle), hotplug, hotplug-fd, probe. Prints one JSON line per figure on stdout
 * (`{"name","unit","value","baseline","ratio","target","ok","runs"}`); progress and the machine
 * description on stderr; with --markdown also the results table (as in bench/README.md) on stderr.
 * Exit code 0 when every measured figure meets its target, 1 otherwise, 2 on bad usage.
 * Real QEMU processes (paused, TCG) for the probe and hotplug figures; all are stopped at the end,
 * also on Ctrl-C.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { log, machine, REPO, runCleanups } from './lib.js';

// In this order: the figures with absolute targets (the view's first frame) before the probe's 100
// QEMUs have churned the machine's memory and caches.
const BENCHES = {
  'cli-list': () => import('./cli-list.js'),
  tui: () => import('./tui.js'),
  exe: () => import('./executable.js'),
  hotplug: () => import('./hotplug.js'),
  'hotplug-fd': () => import('./hotplug-fd.js'),
  probe: () => import('./probe.js'),
};

function usage(message) {
  log(`bench: ${message}`);
  log(`usage: node bench/run.js [--only ${Object.keys(BENCHES).join(',')}] [--runs N] [--markdown]`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: { only: { type: 'string' }, runs: { type: 'string' }, markdown: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  }).values;
} catch (err) {
  usage(err.message);
}
if (args.help) usage('benchmarks against the floor');
const selected = args.only ? args.only.split(',').map((s) => s.trim()).filter(Boolean) : Object.keys(BENCHES);
for (const s of selected) if (!(s in BENCHES)) usage(`unknown benchmark ${JSON.stringify(s)}`);
const runs = args.runs === undefined ? undefined : Number(args.runs);
if (runs !== undefined && (!Number.isInteger(runs) || runs < 1 || runs > 1000)) usage(`--runs ${args.runs}: expected an integer from 1 to 1000`);

let interrupted = false;
const onSignal = (sig) => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log(`bench: ${sig}: stopping QEMUs and removing temp files…`);
  void runCleanups().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

warnIfStale();

const m = machine();
log(`bench: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, Linux ${m.kernel}, node ${m.node}, ${m.qemu}; temp on ${m.tmp}; load ${m.loadavg.join(' ')}`);

const lines = [];
for (const name of selected) {
  const started = Date.now();
  try {
    const mod = await BENCHES[name]();
    const out = await mod.run(runs === undefined ? {} : { runs });
    for (const line of out) {
      lines.push(line);
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  } catch (err) {
    const line = { name, ok: false, note: `bench failed: ${err instanceof Error ? err.message : String(err)}` };
    lines.push(line);
    process.stdout.write(`${JSON.stringify(line)}\n`);
    if (process.env.PLUGBOARD_DEBUG && err instanceof Error) log(err.stack);
  } finally {
    await runCleanups();
  }
  log(`bench: ${name} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const after = machine().loadavg;
log(`bench: load average at the end ${after.join(' ')}`);
if (args.markdown) log(`\n${markdownTable(lines)}`);
process.exitCode = lines.every((l) => l.ok !== false) ? 0 : 1;

/** The bench runs the build: say so when a source file is newer than it. */
function warnIfStale() {
  const built = path.join(REPO, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(built)) return; // each bench says to build
  const builtAt = statSync(built).mtimeMs;
  const newer = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tsx?$/.test(e.name) && statSync(p).mtimeMs > builtAt) newer.push(path.relative(REPO, p));
    }
  };
  for (const d of ['src', 'components']) if (existsSync(path.join(REPO, d))) walk(path.join(REPO, d));
  if (newer.length > 0) log(`bench: WARNING: ${newer.length} source files are newer than dist/ (${newer.slice(0, 3).join(', ')}…): run npm run build first`);
}

function markdownTable(rows) {
  const fmt = (v, unit = '') => (v === null || v === undefined ? '—' : `${v}${unit}`);
  const out = ['| figure | value | baseline | ratio | target | ok | runs |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    if (r.ok === null || r.value === undefined) {
      out.push(`| ${r.name} | — | — | — | — | ${r.ok === null ? 'not measured' : 'FAILED'}: ${r.note ?? ''} | — |`);
      continue;
    }
    const unit = r.unit === 'ms' ? ' ms' : r.unit === 'MB' ? ' MB' : ` ${r.unit}`;
    out.push(
      `| ${r.name} | ${fmt(r.value, unit)} | ${fmt(r.baseline, unit)} | ${fmt(r.ratio)} | ${r.target} | ${r.ok ? 'yes' : 'NO'} | ${r.runs} |`,
    );
  }
  return out.join('\n');
}
