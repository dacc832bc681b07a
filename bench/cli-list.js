/**
 * Figure 1: `plugboard list --json` on a root with 200 runtime files, the whole process (spawn to
 * exit), against `node -e ""` measured in alternation in the same run.
 *
 * The 200 instances are written by the sandbox helper (Ganeti 3.0's format): a mix of scsi-hd on
 * lsi / megasas / virtio-scsi-pci and paravirtual, 2–4 disks, 1–2 NICs, every tenth one a legacy
 * (pre-2.16) file. Each has a pid file naming a live process (this one) whose command line is not
 * the instance's, so `list` pays for the running-check (pid file, kill 0, /proc/PID/cmdline) as on a
 * node where instances run, and reports them stopped.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, fromDist, log, median, onCleanup, REPO, removeDir, result, summary, tempRoot } from './lib.js';

export const INSTANCES = 200;
const CONTROLLERS = ['lsi', 'megasas', 'virtio-scsi-pci'];

/** Writes `count` runtime files under a new root (tmpfs); returns the root. */
export async function makeListRoot(count = INSTANCES, prefix = 'list') {
  const { createSandboxInstance } = await fromDist('src/demo/sandbox.js');
  const { pidFilePath } = await fromDist('src/runtime/root.js');
  const root = tempRoot(prefix);
  onCleanup(() => removeDir(root));
  for (let i = 0; i < count; i++) {
    const name = `inst${String(i).padStart(3, '0')}.example.com`;
    const legacy = i % 10 === 9;
    const scsi = !legacy && i % 2 === 0;
    await createSandboxInstance(root, {
      name,
      diskType: scsi ? 'scsi-hd' : 'paravirtual',
      scsiControllerType: CONTROLLERS[i % 3],
      disks: 2 + (i % 3),
      nics: 1 + (i % 2),
      diskSizeMb: 1,
      legacy,
    });
    writeFileSync(pidFilePath(root, name), `${process.pid}\n`);
  }
  return root;
}

/** A chunk of dist/bundle/ with ink or react in it. */
function bundledView(url) {
  if (!url.includes('/dist/bundle/')) return false;
  const text = readFileSync(url.startsWith('file:') ? new URL(url) : url, 'utf8');
  return text.includes('"ink-root"') || text.includes('react.transitional.element');
}

/** One process, spawn to exit (ms); `check` sees its result. */
export function runOnce(cmd, args, check) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 30_000 });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  check?.(r);
  return ms;
}

export async function run({ runs = 15 } = {}) {
  const root = await makeListRoot();
  const listArgs = [BIN, '--root', root, 'list', '--json'];
  const checkList = (r) => {
    if (r.status !== 0) throw new Error(`plugboard list exited ${r.status}: ${r.stderr.trim().split('\n')[0]}`);
    const rows = JSON.parse(r.stdout);
    if (!Array.isArray(rows) || rows.length !== INSTANCES || rows.some((row) => 'error' in row)) {
      throw new Error(`plugboard list --json did not list ${INSTANCES} readable instances`);
    }
  };
  // Warm the page cache and the file system for both.
  for (let i = 0; i < 2; i++) {
    runOnce(process.execPath, listArgs, checkList);
    runOnce(process.execPath, ['-e', '']);
  }
  const list = [];
  const bare = [];
  for (let i = 0; i < runs; i++) {
    list.push(runOnce(process.execPath, listArgs, checkList));
    bare.push(runOnce(process.execPath, ['-e', '']));
  }
  // What `list` loads (not timed): never ink or react, and no zod for well-formed runtime files.
  const traceFile = path.join(root, 'imports.txt');
  const traced = spawnSync(process.execPath, ['--import', path.join(REPO, 'bench', 'trace-imports.js'), ...listArgs], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PLUGBOARD_TRACE_IMPORTS: traceFile },
  });
  const loaded = traced.status === 0 ? readFileSync(traceFile, 'utf8').split('\n').filter(Boolean) : [];
  // From node_modules (zod is loaded with require when a file fails its quick check), or from the
  // bundle (bin/build-bundle.mjs): ink and react are in the view's chunks only.
  const heavy = loaded.filter((u) => /node_modules\/(ink|react|react-reconciler|zod)\//.test(u) || bundledView(u));
  log(
    `cli-list: list loads ${loaded.length} modules (${loaded.filter((u) => u.includes('/dist/')).length} of plugboard's)` +
      (heavy.length ? `; ALSO ${heavy.length} of ink/react/zod, e.g. ${heavy[0]}` : '; none of ink, react, zod'),
  );

  const s = summary(list);
  log(
    `cli-list: list --json ${INSTANCES} files median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}); ` +
      `node -e "" median ${median(bare).toFixed(1)} ms; root ${path.basename(root)}`,
  );
  return [
    heavy.length
      ? { ...result({ name: 'cli-list-json-200', unit: 'ms', value: s.median, baseline: median(bare), target: { ratio: 2.5 }, runs }), ok: false, note: `list loads ${heavy.length} modules of ink/react/zod` }
      : result({ name: 'cli-list-json-200', unit: 'ms', value: s.median, baseline: median(bare), target: { ratio: 2.5 }, runs }),
  ];
}
