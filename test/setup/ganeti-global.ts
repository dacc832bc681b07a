/**
 * vitest globalSetup for the Ganeti cluster tests. It costs nothing when no test uses the cluster:
 * at the start it only gives this run an identity (`inject('ganetiRun')`); the cluster is brought up
 * by the first test file that needs it (test/helpers/ganeti-cluster.ts). At the end, if this run
 * used the cluster, it leaves the lease (test/setup/ganeti-lease.ts) and, when the suite brought
 * the cluster up and no other run still uses it, takes it down (`one-node-cluster.sh down`), unless
 * PLUGBOARD_GANETI_KEEP_UP=1.
 */
import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { findClusterScript, leaseExists, newRun, withLease } from './ganeti-lease.js';

export default function setup(project: TestProject): () => Promise<void> {
  const run = newRun();
  project.provide('ganetiRun', run);
  return async () => {
    if (process.getuid?.() !== 0 || !leaseExists()) return;
    await withLease(async (state) => {
      const mine = state.runs.some((r) => r.token === run.token);
      if (!mine) return;
      state.runs = state.runs.filter((r) => r.token !== run.token);
      if (!state.broughtUp || state.runs.length > 0) {
        process.stderr.write(`ganeti: cluster left up (${state.broughtUp ? `${state.runs.length} other test run(s) still use it` : 'it was up before the tests'})\n`);
        return;
      }
      if (process.env['PLUGBOARD_GANETI_KEEP_UP'] === '1') {
        process.stderr.write('ganeti: cluster left up (PLUGBOARD_GANETI_KEEP_UP=1)\n');
        state.broughtUp = false;
        return;
      }
      const script = findClusterScript();
      if (!script) return;
      const t0 = Date.now();
      const r = spawnSync(script, ['down'], { encoding: 'utf8', timeout: 300_000 });
      process.stderr.write(`ganeti: cluster taken down (the tests brought it up): ${r.status === 0 ? 'ok' : `exit ${String(r.status)}`} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      if (r.status === 0) state.broughtUp = false;
    }, 600_000);
  };
}
