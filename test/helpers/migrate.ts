/**
 * A live migration between two QEMUs on this machine over a Unix socket, with `return-path` on both
 * sides (without it the source may report `completed` for a migration the target refused). The
 * target must have been started with `-incoming defer`.
 */
import path from 'node:path';
import { withQmp } from '../../src/qmp/client.js';
import { waitFor } from './wait.js';

const RETURN_PATH = [{ capability: 'return-path', state: true }];

/** Migrates the QEMU at `sourceQmp` into the one at `targetQmp` (socket in `dir`); resolves with QEMU's final status. */
export async function migrateLive(
  sourceQmp: string,
  targetQmp: string,
  dir: string,
  timeoutMs = 20_000,
): Promise<{ status: 'completed' | 'failed'; 'error-desc'?: string }> {
  const uri = `unix:${path.join(dir, 'migrate.sock')}`;
  await withQmp(targetQmp, {}, async (t) => {
    await t.execute('migrate-set-capabilities', { capabilities: RETURN_PATH });
    await t.execute('migrate-incoming', { uri });
  });
  return withQmp(sourceQmp, {}, async (s) => {
    await s.execute('migrate-set-capabilities', { capabilities: RETURN_PATH });
    await s.execute('migrate', { uri });
    return waitFor(
      async () => {
        const m = await s.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
        return m.status === 'completed' || m.status === 'failed' ? (m as { status: 'completed' | 'failed'; 'error-desc'?: string }) : undefined;
      },
      { timeoutMs, intervalMs: 10, what: `the migration over ${uri} to complete or fail` },
    );
  });
}
