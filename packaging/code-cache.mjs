// V8's code cache for the single executable's script, made the way V8 makes the best one: after
// the script has run. This process (a plain `node`, the same binary and version that goes into the
// executable, no flags) compiles the script as the executable's loader does
// (packaging/executable-loader.cjs), runs the program's commands on a sandbox root, and then asks V8
// for the cache: it then holds every function those commands compiled, so the executable starts
// them compiled instead of compiling them lazily. Node's own `useCodeCache` caches only what is
// compiled before the script runs (its top level).
//
// The commands: --help, list (text and JSON), show, cmdline and the dry-run plans of every command
// on a sandbox root (Ganeti 3.0 files and a legacy one), a file that needs zod to say what is wrong,
// the interactive view drawn into a pretend terminal with a few keys;
// and, when qemu-system-x86_64 is installed, show --live and a SCSI hot-add and unplug on a paused
// QEMU. Nothing here is timed or checked beyond each command's exit code.
//
// Usage (by build-executable.mjs): node packaging/code-cache.mjs SCRIPT CACHE
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [scriptFile, cacheFile] = process.argv.slice(2);
const fromDist = (rel) => import(pathToFileURL(path.join(repo, 'dist', rel)).href);

const script = new vm.Script(readFileSync(scriptFile, 'utf8'), { filename: 'plugboard.js' });
globalThis.__plugboardCodeCache = true;
const module_ = { exports: {} };
script.runInThisContext()(createRequire(import.meta.url), module_, module_.exports);
const { main, exerciseView } = module_.exports;

const quiet = { stdout: () => undefined, stderr: () => undefined, env: process.env };
async function run(expect, ...argv) {
  const code = await main(argv, quiet);
  if (!expect.includes(code)) throw new Error(`code cache: plugboard ${argv.join(' ')} exited ${code}`);
}

const { createSandboxInstance, createDiskImage } = await fromDist('src/demo/sandbox.js');
const { findQemuOrNull } = await (async () => {
  const { findQemu } = await fromDist('src/qemu/binary.js');
  return {
    findQemuOrNull: () => {
      try {
        const q = findQemu();
        return existsSync(q) ? q : null;
      } catch {
        return null;
      }
    },
  };
})();
const qemu = findQemuOrNull();
const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const root = mkdtempSync(path.join(base, 'plugboard-code-cache-'));
const stops = [];
try {
  const specs = [
    { name: 'web1', diskType: 'scsi-hd', scsiControllerType: 'virtio-scsi-pci', disks: 2, nics: 1, diskSizeMb: 1, extraKvmCmd: ['-nodefaults'] },
    { name: 'db1', diskType: 'scsi-hd', scsiControllerType: 'lsi', disks: 2, nics: 1, diskSizeMb: 1 },
    { name: 'pv1', diskType: 'paravirtual', disks: 2, nics: 2, diskSizeMb: 1 },
    { name: 'old1', diskType: 'paravirtual', disks: 2, nics: 1, diskSizeMb: 1, legacy: true },
  ];
  for (const spec of specs) await createSandboxInstance(root, spec, qemu ?? '/usr/bin/qemu-system-x86_64');
  const runtime = (name) => path.join(root, 'conf', `${name}.runtime`);
  writeFileSync(path.join(root, 'conf', 'bad1.runtime'), '[[], [], {"kvm_path": 1}, []]\n');
  const image = path.join(root, 'extra.img');
  await createDiskImage(image, 1);

  await run([0], '--help');
  await run([0], 'hotplug', 'disk', '--help');
  await run([1], '--root', root, 'list');
  await run([1], '--root', root, 'list', '--json');
  for (const name of ['web1', 'db1', 'pv1', 'old1']) {
    await run([0], '--root', root, 'show', name);
    await run([0], '--root', root, 'show', name, '--json');
    await run([0], '--root', root, 'cmdline', name);
  }
  await run([2], '--root', root, 'show', 'bad1');
  await run([0], 'hotplug', 'disk', 'web1', '--path', image, '--dry-run', '--runtime-file', runtime('web1'));
  // (exit 1 where the instance's bridge does not exist on this machine: the plan is made all the same)
  await run([0, 1], 'hotplug', 'nic', 'pv1', '--dry-run', '--runtime-file', runtime('pv1'), '--json');
  const db1Disk = JSON.parse(readFileSync(runtime('db1'), 'utf8'))[3][1][0].uuid;
  await run([0], 'unplug', 'disk', 'db1', db1Disk, '--dry-run', '--runtime-file', runtime('db1'));
  await run([2], 'frobnicate');
  await exerciseView(root);

  if (qemu) {
    const { launchInstance } = await fromDist('src/qemu/instance.js');
    const handle = await launchInstance(root, 'web1', { memoryMb: 16, startTimeoutMs: 60_000 });
    stops.push(() => handle.stop());
    await run([0], '--root', root, 'show', 'web1', '--live');
    const before = new Set(JSON.parse(readFileSync(runtime('web1'), 'utf8'))[3].map((d) => d[0].uuid));
    await run([0], '--root', root, 'hotplug', 'disk', 'web1', '--path', image);
    const added = JSON.parse(readFileSync(runtime('web1'), 'utf8'))[3].map((d) => d[0].uuid).find((u) => !before.has(u));
    await run([0], '--root', root, 'unplug', 'disk', 'web1', added);
  }
} finally {
  for (const stop of stops) await stop().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}
writeFileSync(cacheFile, script.createCachedData());
process.stdout.write(`code cache: ${(script.createCachedData().length / 1e6).toFixed(2)} MB${qemu ? ', hot-add and unplug on a paused QEMU included' : ' (no qemu-system-x86_64: hot-add and unplug not included)'}\n`);
