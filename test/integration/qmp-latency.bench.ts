/**
 * Measures QMP latencies against a real paused QEMU 7.2 and prints medians (no assertions):
 *
 *   npx vitest bench --run test/integration/qmp-latency.bench.ts
 *
 * - launch → first greeting (launchQemu until the QMP socket greets)
 * - connect → greeting → qmp_capabilities reply (a fresh QmpClient.connect, then close)
 * - query-pci round trip on an open connection (-nodefaults + lsi + virtio-balloon)
 *
 * The medians are printed by beforeAll; the bench below is vitest's own view of the round trip.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { QmpClient } from '../../src/qmp/client.js';
import { startTestQemu, stopTestQemus, type TestQemu } from '../helpers/qemu.js';

const RUNS = 50;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function report(what: string, xs: number[]): void {
  const s = [...xs].sort((a, b) => a - b);
  console.log(
    `${what}: median ${median(xs).toFixed(3)} ms (min ${s[0]!.toFixed(3)}, max ${s[s.length - 1]!.toFixed(3)}, n=${xs.length})`,
  );
}

let vm: TestQemu;
let qmp: QmpClient;

beforeAll(async () => {
  const launches: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const t = await startTestQemu();
    launches.push(performance.now() - t0);
    await t.stop();
  }
  report('launch → QMP greeting', launches);

  vm = await startTestQemu({ extraArgs: ['-device', 'virtio-balloon', '-device', 'lsi,id=scsi'] });
  const connects: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const c = await QmpClient.connect(vm.qmpSocket);
    connects.push(performance.now() - t0);
    await c.close();
  }
  report('connect → greeting → qmp_capabilities', connects);

  qmp = await QmpClient.connect(vm.qmpSocket);
  const rtts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await qmp.execute('query-pci');
    rtts.push(performance.now() - t0);
  }
  report('query-pci round trip', rtts);
}, 120_000);

afterAll(async () => {
  await qmp?.close();
  await stopTestQemus();
});

describe('QMP latency (QEMU 7.2, paused, TCG)', () => {
  bench('query-pci round trip', async () => {
    await qmp.execute('query-pci');
  }, { iterations: RUNS });
});
