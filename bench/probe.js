/**
 * Figure 2: the live probe of 100 running QEMUs, all at once — for each: connect, greeting,
 * `qmp_capabilities`, the probe's queries, disconnect (`withQmp` + `probeLive`) — against the same
 * queries over plain sockets. Two lines:
 * - `live-probe-100`: the probe of the list of instances (the view's refresh of every instance,
 *   scope `overview`: the SCSI addresses of the disks the runtime file describes are taken from it);
 * - `live-probe-100-full`: the full probe (scope `all`: what the instance screen, `show --live` and
 *   `check` read), one `qom-get` more per SCSI disk and property.
 *
 * The floor sends, per QEMU, exactly the bytes plugboard's probe sent to that QEMU (its lines as the
 * client wrote them, recorded once through a transcript: ids, key order and all; QEMU 7.2 reads one
 * byte per main-loop iteration, so the bytes are the cost), `qmp_capabilities` included, in the same
 * round trips (a batch is sent when the previous one is answered, as the probe must: the qom-gets
 * depend on qom-list's answer), parses each reply line with JSON.parse and does nothing else: no
 * validation, no error mapping, no state.
 *
 * The wall time is from the first connect to the last disconnect; value and baseline are medians
 * over rounds run in alternation.
 */
import net from 'node:net';
import { fromDist, log, median, result, summary, withTimeout } from './lib.js';
import { logQemus, startInstances } from './qemus.js';

export const QEMUS = 100;
const ROUND_TIMEOUT_MS = 30_000;

/**
 * Runs probeLive through a recording executor and returns the lines the client wrote, grouped in
 * the round trips it made (commands issued before any of the previous ones was answered share a
 * batch), after the `qmp_capabilities` line (`capabilities`).
 */
export async function recordBatches(socketPath, withQmp, probeLive, probeOptions = {}) {
  const out = [];
  const transcript = { record: (direction, _socket, json) => direction === 'out' && out.push(`${json}\n`) };
  const sizes = [];
  let generation = 0;
  let last = -1;
  await withQmp(socketPath, { greetingTimeoutMs: 5_000, transcript }, async (qmp) => {
    const recorder = {
      execute(command, args, options) {
        if (generation !== last) {
          sizes.push(0);
          last = generation;
        }
        sizes[sizes.length - 1]++;
        return qmp.execute(command, args, options).finally(() => {
          generation++;
        });
      },
    };
    return probeLive(recorder, probeOptions);
  });
  // The client writes a line for each execute, in order: qmp_capabilities first, then the probe's.
  const [capabilities, ...lines] = out;
  if (!capabilities?.includes('"qmp_capabilities"') || lines.length !== sizes.reduce((a, b) => a + b, 0)) {
    throw new Error(`probe bench: recorded ${out.length} lines for ${sizes.join('+')} commands on ${socketPath}`);
  }
  const batches = sizes.map((n) => lines.splice(0, n));
  return { capabilities, batches };
}

/** The floor: one plain socket, the same lines, the same round trips, JSON.parse of each reply. */
export function rawProbe(socketPath, { capabilities, batches }) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ path: socketPath });
    sock.setEncoding('utf8');
    let buf = '';
    let waiting = -1; // replies still due in the current batch; -1: the greeting
    let next = 0;
    let replies = 0;
    const send = (lines) => {
      waiting = lines.length;
      sock.write(lines.join(''));
    };
    const fail = (err) => {
      sock.destroy();
      reject(err);
    };
    let finished = false;
    sock.on('error', fail);
    sock.on('close', () => (finished ? resolve(replies) : reject(new Error(`QEMU closed ${socketPath} during the probe`))));
    sock.on('data', (chunk) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line);
        if (msg.event !== undefined) continue;
        if (waiting === -1) {
          send([capabilities]);
          continue;
        }
        if (msg.error !== undefined) return fail(new Error(`QEMU refused a probe command: ${msg.error.desc}`));
        replies++;
        if (--waiting === 0) {
          if (next < batches.length) send(batches[next++]);
          else {
            finished = true;
            sock.destroy();
          }
        }
      }
    });
  });
}

export async function run({ runs = 15 } = {}) {
  const { withQmp } = await fromDist('src/qmp/client.js');
  const { probeLive } = await fromDist('src/live/probe.js');
  const { qmpSocketPath } = await fromDist('src/runtime/root.js');

  const t0 = Date.now();
  const { root, instances } = await startInstances(QEMUS, { prefix: 'probe' });
  log(`probe: started ${instances.length} QEMUs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  logQemus('probe', instances);
  const sockets = instances.map((i) => qmpSocketPath(root, i.name));

  const { loadRuntimeFile } = await fromDist('src/runtime/load.js');
  const { runtimeFilePath } = await fromDist('src/runtime/root.js');
  const { knownScsiAddresses } = await fromDist('src/live/probe.js');
  const known = [];
  for (const i of instances) known.push(knownScsiAddresses(await loadRuntimeFile(runtimeFilePath(root, i.name))));
  const listScope = (i) => ({ scope: 'overview', knownScsi: known[i] });
  const fullScope = () => ({});
  return [
    await measure('live-probe-100', 'the list\'s probe (overview)', listScope),
    await measure('live-probe-100-full', 'the full probe', fullScope),
  ];

  async function measure(name, what, optionsOf) {
    // What plugboard's probe writes to each QEMU, as lines, in its round trips.
    const lines = [];
    for (const [i, s] of sockets.entries()) lines.push(await recordBatches(s, withQmp, probeLive, optionsOf(i)));
    const commands = lines.reduce((n, r) => n + r.batches.reduce((k, x) => k + x.length, 0), 0);
    const bytes = lines.reduce((n, r) => n + r.capabilities.length + r.batches.flat().reduce((k, l) => k + l.length, 0), 0);
    const trips = lines.map((r) => r.batches.length);
    log(
      `probe: ${what}: ${commands} probe commands for ${QEMUS} QEMUs (+ qmp_capabilities each), ${bytes} bytes sent in all, ` +
        `${Math.min(...trips)}–${Math.max(...trips)} round trips after the capabilities`,
    );

    const ours = async () => {
      const states = await Promise.all(sockets.map((s, i) => withQmp(s, { greetingTimeoutMs: 5_000 }, (qmp) => probeLive(qmp, optionsOf(i)))));
      const scsi = states.reduce((n, st) => n + st.scsi.length, 0);
      if (states.length !== QEMUS || scsi === 0) throw new Error('the probe did not see the instances\' SCSI disks');
    };
    const floor = async () => {
      await Promise.all(sockets.map((s, i) => rawProbe(s, lines[i])));
    };
    const timed = async (fn, label) => {
      const start = performance.now();
      await withTimeout(fn(), ROUND_TIMEOUT_MS, label);
      return performance.now() - start;
    };

    // Warm-up: JIT, QEMU's first-answer costs.
    for (let i = 0; i < 2; i++) {
      await timed(ours, 'probe warm-up');
      await timed(floor, 'plain-socket warm-up');
    }
    const a = [];
    const b = [];
    for (let i = 0; i < runs; i++) {
      a.push(await timed(ours, `${what} of 100 QEMUs`));
      b.push(await timed(floor, 'plain-socket probe of 100 QEMUs'));
    }
    const s = summary(a);
    log(
      `probe: ${what}: ${QEMUS} QEMUs at once: plugboard median ${s.median.toFixed(1)} ms (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)}); ` +
        `plain sockets median ${median(b).toFixed(1)} ms (min ${Math.min(...b).toFixed(1)})`,
    );
    return result({ name, unit: 'ms', value: s.median, baseline: median(b), target: { ratio: 1.5, value: 250 }, runs });
  }
}
