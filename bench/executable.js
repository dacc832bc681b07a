/**
 * Figures 8–13: the single executable (`dist/package/plugboard`, `npm run package`) beside the
 * bundle (`node bin/plugboard.js` → dist/bundle), whole processes, in the same run and in
 * alternation (executable, bundle, `node -e ""`, …):
 *
 *  8. `plugboard list --json` on the 200-file root of cli-list.js, against `node -e ""`;
 *  9. the executable's list against the bundle's (no slower: ratio ≤ 1);
 * 10. the view's first frame (tui.js's measurement, in `script`), the executable's against the
 *     bundle's (≤ 1) and under the view's own 400 ms target;
 * 11–13. `plugboard hotplug disk NAME --path IMG --uuid U` and `plugboard unplug disk NAME U` as
 *     processes, SCSI (scsi-hd on virtio-scsi-pci), on a paused QEMU started from its runtime file
 *     (qemus.js): each against `node -e ""` (≤ 1.5), and the executable's against the bundle's
 *     (≤ 1). Every hot-add is followed by its unplug, executable and bundle in turn, so every
 *     measurement starts from the same QEMU and runtime file; between them the bench waits (not
 *     timed) until QEMU has released the image.
 *
 * Until the executable is built, the lines say so (`ok: null`). The executable's code cache is
 * made by its build (packaging/code-cache.mjs); bench/README.md has the variants compared.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { BIN, fromDist, log, median, notMeasured, REPO, result, summary } from './lib.js';
import { INSTANCES, makeListRoot, runOnce } from './cli-list.js';
import { startInstances, waitImageReleased } from './qemus.js';
import { bareNode, firstFrame, shellQuote } from './tui.js';

export const EXE = path.join(REPO, 'dist', 'package', 'plugboard');
const NAMES = [
  'exe-list-json-200',
  'exe-vs-bundle-list-json-200',
  'exe-tui-first-frame-200',
  'exe-vs-bundle-tui-first-frame',
  'exe-hotplug-disk-process',
  'exe-unplug-disk-process',
  'exe-vs-bundle-hotplug-unplug-process',
];

const timed = runOnce;

const exitsZero = (what) => (r) => {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' / ')}`);
};

export async function run({ runs = 15 } = {}) {
  if (!existsSync(EXE)) return NAMES.map((n) => notMeasured(n, 'executable not built: npm run package'));
  if (statSync(EXE).mtimeMs < statSync(path.join(REPO, 'dist', 'src', 'cli', 'main.js')).mtimeMs) {
    log('exe: WARNING: dist/package/plugboard is older than dist/: run npm run package first');
  }
  const exe = [EXE];
  const bundle = [process.execPath, BIN];
  const bare = [process.execPath, '-e', ''];
  const plugboard = (which, ...args) => ({ cmd: which[0], args: [...which.slice(1), ...args] });

  // --- list --json ------------------------------------------------------------------------------
  const root = await makeListRoot(INSTANCES, 'exe-list');
  const checkList = (r) => {
    exitsZero('plugboard list')(r);
    if (JSON.parse(r.stdout).length !== INSTANCES) throw new Error(`plugboard list --json did not list ${INSTANCES} instances`);
  };
  const listOf = (which) => plugboard(which, '--root', root, 'list', '--json');
  for (let i = 0; i < 2; i++) for (const w of [exe, bundle]) timed(listOf(w).cmd, listOf(w).args, checkList);
  const listExe = [];
  const listBundle = [];
  const listBare = [];
  for (let i = 0; i < runs; i++) {
    listExe.push(timed(listOf(exe).cmd, listOf(exe).args, checkList));
    listBundle.push(timed(listOf(bundle).cmd, listOf(bundle).args, checkList));
    listBare.push(timed(bare[0], bare.slice(1)));
  }
  log(
    `exe: list --json ${INSTANCES} files: executable median ${median(listExe).toFixed(1)} ms (min ${Math.min(...listExe).toFixed(1)}), ` +
      `bundle ${median(listBundle).toFixed(1)} ms (min ${Math.min(...listBundle).toFixed(1)}), node -e "" ${median(listBare).toFixed(1)} ms`,
  );

  // --- the view's first frame ---------------------------------------------------------------------
  const exeCommand = shellQuote(EXE);
  await firstFrame(root, exeCommand);
  await firstFrame(root);
  const frameExe = [];
  const frameBundle = [];
  const frameBare = [];
  const frameRuns = Math.max(5, Math.round(runs * 0.7));
  for (let i = 0; i < frameRuns; i++) {
    frameExe.push(await firstFrame(root, exeCommand));
    frameBundle.push(await firstFrame(root));
    frameBare.push(await bareNode());
  }
  log(
    `exe: TUI first frame: executable median ${median(frameExe).toFixed(1)} ms, bundle ${median(frameBundle).toFixed(1)} ms, ` +
      `node -e "" in the same terminal ${median(frameBare).toFixed(1)} ms`,
  );

  // --- hot-add and unplug as processes, on a paused QEMU ---------------------------------------
  const { createDiskImage } = await fromDist('src/demo/sandbox.js');
  const { qmpSocketPath } = await fromDist('src/runtime/root.js');
  const { root: qroot, instances } = await startInstances(1, {
    prefix: 'exe-hotplug',
    spec: () => ({ name: 'web1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 2, nics: 1, diskSizeMb: 1, extraKvmCmd: ['-nodefaults'] }),
  });
  const name = instances[0].name;
  const images = [];
  for (let i = 0; i < 6; i++) {
    const file = path.join(qroot, 'disks', `extra${i}.img`);
    await createDiskImage(file, 1);
    images.push(file);
  }
  const settled = (file) => waitImageReleased(qmpSocketPath(qroot, name), file);
  const addUnplug = async (which, file) => {
    const uuid = randomUUID();
    const add = plugboard(which, '--root', qroot, 'hotplug', 'disk', name, '--path', file, '--uuid', uuid);
    const a = timed(add.cmd, add.args, exitsZero('plugboard hotplug disk'));
    const del = plugboard(which, '--root', qroot, 'unplug', 'disk', name, uuid);
    const u = timed(del.cmd, del.args, exitsZero('plugboard unplug disk'));
    await settled(file);
    return { a, u };
  };
  const add = { exe: [], bundle: [] };
  const unplug = { exe: [], bundle: [] };
  const hpBare = [];
  const warmup = 2;
  for (let i = 0; i < warmup + runs; i++) {
    const file = images[i % images.length];
    const e = await addUnplug(exe, file);
    const b = await addUnplug(bundle, file);
    const n1 = timed(bare[0], bare.slice(1));
    const n2 = timed(bare[0], bare.slice(1));
    if (i < warmup) continue;
    add.exe.push(e.a);
    unplug.exe.push(e.u);
    add.bundle.push(b.a);
    unplug.bundle.push(b.u);
    hpBare.push(n1, n2);
  }
  const s = (xs) => summary(xs);
  log(
    `exe: hotplug disk process: executable median ${s(add.exe).median.toFixed(1)} ms, bundle ${s(add.bundle).median.toFixed(1)} ms; ` +
      `unplug disk process: executable ${s(unplug.exe).median.toFixed(1)} ms, bundle ${s(unplug.bundle).median.toFixed(1)} ms; node -e "" ${median(hpBare).toFixed(1)} ms`,
  );
  const bundleNote = (xs) => `bundle (node bin/plugboard.js): ${median(xs).toFixed(1)} ms`;
  const sumPairs = (a, u) => a.map((x, i) => x + u[i]);
  return [
    result({ name: NAMES[0], unit: 'ms', value: median(listExe), baseline: median(listBare), target: { ratio: 2 }, runs, note: bundleNote(listBundle) }),
    result({ name: NAMES[1], unit: 'ms', value: median(listExe), baseline: median(listBundle), target: { ratio: 1 }, runs, note: 'baseline: the bundle' }),
    result({ name: NAMES[2], unit: 'ms', value: median(frameExe), baseline: median(frameBare), target: { value: 400 }, runs: frameRuns, note: bundleNote(frameBundle) }),
    result({ name: NAMES[3], unit: 'ms', value: median(frameExe), baseline: median(frameBundle), target: { ratio: 1 }, runs: frameRuns, note: 'baseline: the bundle' }),
    result({ name: NAMES[4], unit: 'ms', value: median(add.exe), baseline: median(hpBare), target: { ratio: 1.5 }, runs, note: bundleNote(add.bundle) }),
    result({ name: NAMES[5], unit: 'ms', value: median(unplug.exe), baseline: median(hpBare), target: { ratio: 1.5 }, runs, note: bundleNote(unplug.bundle) }),
    result({
      name: NAMES[6],
      unit: 'ms',
      value: median(sumPairs(add.exe, unplug.exe)),
      baseline: median(sumPairs(add.bundle, unplug.bundle)),
      target: { ratio: 1 },
      runs,
      note: 'hot-add + unplug; baseline: the bundle',
    }),
  ];
}
