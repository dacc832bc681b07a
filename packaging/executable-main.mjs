// The entry of the single executable: packaging/build-executable.mjs bundles it with the whole
// program into one CommonJS script (plugboard.js in the executable), which the executable's loader
// (packaging/executable-loader.cjs) runs. Same as bin/plugboard.js, without the search for dist/.
// When the build runs the script to make V8's code cache (packaging/code-cache.mjs), it sets
// globalThis.__plugboardCodeCache and calls `main` itself. Built as a startup snapshot (the
// `snapshot` variant, for comparison), main runs when the snapshot is deserialized.
import { PassThrough } from 'node:stream';
import v8 from 'node:v8';
import { main } from '../dist/src/cli/main.js';

export { main };

/**
 * For the code cache only (packaging/code-cache.mjs): the interactive view on `root`, drawn into a
 * pretend terminal, a few keys pressed (↓, Enter on an instance, Tab, Esc, ?), then quit, so that
 * ink's, React's and the view's functions are compiled when the cache is made.
 */
export async function exerciseView(root) {
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  const { InstanceService } = await import('../dist/src/tui/service.js');
  const { Transcript } = await import('../dist/src/qmp/transcript.js');
  const { startTui } = await import('../dist/components/app-entry.js');
  const stdout = new PassThrough();
  Object.assign(stdout, { isTTY: true, columns: 160, rows: 50 });
  let screen = '';
  stdout.on('data', (b) => {
    screen = (screen + b.toString('utf8')).slice(-65536);
  });
  const stdin = new PassThrough();
  Object.assign(stdin, { isTTY: true, setRawMode: () => stdin, ref: () => stdin, unref: () => stdin });
  const service = new InstanceService({ root, transcript: new Transcript() });
  void service.refreshList();
  await service.whenListed();
  const tui = startTui({ service, title: 'code cache', demo: false, stdin, stdout });
  const until = async (what, pred, ms = 10_000) => {
    for (const t0 = Date.now(); !pred(screen); ) {
      if (Date.now() - t0 > ms) throw new Error(`code cache: the view did not show ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  await until('the instance list', (s) => s.includes('web1'));
  // Keys: ↓, Enter (an instance's maps), Tab, Esc (the list), ? (help), Esc. Each is followed by the
  // frame it brings (or two seconds: a key may change nothing on the screen).
  for (const key of ['\u001b[B', '\r', '\t', '\u001b', '?', '\u001b']) {
    screen = '';
    stdin.write(key);
    await until('a frame', (s) => s.length > 0, 2_000).catch(() => undefined);
  }
  stdin.write('q');
  await tui.exited;
  service.dispose();
  await service.settle();
}

function start() {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`plugboard: internal error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}

if (v8.startupSnapshot?.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(start);
else if (!globalThis.__plugboardCodeCache) start();
