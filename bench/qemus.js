/**
 * Many small real QEMUs for the probe and hotplug figures: sandbox instances (runtime files as
 * Ganeti 3.0 writes them, src/demo/sandbox.ts) started from their runtime files
 * (src/qemu/instance.ts → launchQemu): paused, TCG, `-nodefaults`, `-m 16`. Every QEMU started here
 * is stopped by the bench's cleanup (and dies with this process anyway: launchQemu's exit hook and
 * `setpriv --pdeathsig`).
 */
import { readFileSync } from 'node:fs';
import { fromDist, log, onCleanup, removeDir, tempRoot, waitFor } from './lib.js';

const CONTROLLERS = ['lsi', 'megasas', 'virtio-scsi-pci'];

/** The instance spec of the i-th bench instance: 3 of 4 SCSI (each controller in turn), 1 of 4 virtio-blk. */
export function benchSpec(i, overrides = {}) {
  const scsi = i % 4 !== 3;
  return {
    name: `vm${String(i).padStart(3, '0')}`,
    diskType: scsi ? 'scsi-hd' : 'paravirtual',
    scsiControllerType: CONTROLLERS[i % 3],
    disks: 2,
    nics: 1,
    diskSizeMb: 1,
    extraKvmCmd: ['-nodefaults'],
    ...overrides,
  };
}

/**
 * Writes `count` instances under a fresh root on tmpfs and starts their QEMUs, `parallel` at a time
 * (`launch`: more launchInstance options, e.g. `{ paused: false, extraArgv: ['-runas', 'nobody'] }`).
 * Resolves with `{ root, instances: [{ name, qemu }] }`; everything is stopped and removed at cleanup.
 */
export async function startInstances(count, { parallel = 4, spec = benchSpec, prefix = 'qemu', launch = {} } = {}) {
  const { createSandboxInstance } = await fromDist('src/demo/sandbox.js');
  const { launchInstance } = await fromDist('src/qemu/instance.js');
  const root = tempRoot(prefix);
  const instances = [];
  onCleanup(async () => {
    await Promise.all(instances.map((i) => i.qemu.stop().catch(() => undefined)));
    removeDir(root);
  });
  for (let i = 0; i < count; i++) await createSandboxInstance(root, spec(i));
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const name = spec(i).name;
      const qemu = await launchInstance(root, name, { memoryMb: 16, startTimeoutMs: 60_000, ...launch });
      instances.push({ name, qemu, index: i });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  instances.sort((a, b) => a.index - b.index);
  return { root, instances };
}

/** Resident memory of the QEMUs (MiB), from /proc. */
export function qemuRssMiB(instances) {
  let kb = 0;
  for (const { qemu } of instances) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${qemu.pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}

export function logQemus(what, instances) {
  const rss = qemuRssMiB(instances);
  log(`${what}: ${instances.length} QEMUs running, ${rss.toFixed(0)} MiB resident in total (${(rss / instances.length).toFixed(1)} MiB each)`);
}

/** Not timed: until the QEMU at `socketPath` no longer has a drive for `file` (an unplugged disk is finalized). */
export async function waitImageReleased(socketPath, file) {
  const { QmpClient } = await fromDist('src/qmp/client.js');
  const qmp = await QmpClient.connect(socketPath, { greetingTimeoutMs: 5_000 });
  try {
    await waitFor(async () => !(await qmp.execute('query-block')).some((b) => b.inserted?.file === file), {
      timeoutMs: 5_000,
      everyMs: 5,
      what: `QEMU to release ${file}`,
    });
  } finally {
    await qmp.close();
  }
}
