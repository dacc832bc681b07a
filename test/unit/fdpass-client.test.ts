/**
 * QmpClient.executeWrittenBy with the real descriptor helper, against a real local QMP server
 * (test/helpers/fake-qmp.ts): the helper's line lands after what the client wrote before it, the
 * client's own lines wait until it is written, the reply is matched by id, the transcript has it;
 * a writer that fails rejects the command; the helper dies when the connection closes.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { QmpClient } from '../../src/qmp/client.js';
import { Transcript } from '../../src/qmp/transcript.js';
import { FdHelper } from '../../src/qmp/fdpass/helper.js';
import { FdHelperError } from '../../src/qmp/fdpass/errors.js';
import { FakeQmpServer } from '../helpers/fake-qmp.js';
import { waitFor } from '../helpers/wait.js';

let fake: FakeQmpServer | undefined;
let dir: string | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function tempFile(): string {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pbfd-unit-'));
  const f = path.join(dir, 'disk.raw');
  writeFileSync(f, Buffer.alloc(4096));
  return f;
}

describe('QmpClient.executeWrittenBy with the descriptor helper', () => {
  it('orders the helper\'s line between the client\'s, matches the reply by id, records it', async () => {
    const seen: string[] = [];
    fake = await FakeQmpServer.start({ handler: (cmd, conn) => {
      seen.push(cmd.raw);
      conn.reply(cmd, cmd.execute === 'add-fd' ? { 'fdset-id': 0, fd: 40 } : {});
    } });
    const transcript = new Transcript();
    const qmp = await QmpClient.connect(fake.path, { transcript });
    const helper = FdHelper.start(qmp);
    const file = tempFile();
    await helper.openDisk('d', { path: file, kind: 'file', direct: false, dev: 0, ino: 0 });
    const [a, b, c] = await Promise.all([
      qmp.execute('query-status'),
      qmp.executeWrittenBy(helper.writer('d'), 'add-fd', { 'fdset-id': 0 }),
      qmp.execute('query-fdsets'),
    ]);
    expect([a, b, c]).toEqual([{}, { 'fdset-id': 0, fd: 40 }, {}]);
    expect(seen).toEqual([
      '{"execute":"query-status","id":1}',
      '{"execute":"add-fd","arguments":{"fdset-id":0},"id":2}',
      '{"execute":"query-fdsets","id":3}',
    ]);
    expect(transcript.entries().filter((e) => e.direction === 'out').map((e) => e.json)).toContain('{"execute":"add-fd","arguments":{"fdset-id":0},"id":2}');
    await helper.close();
    expect(helper.exited).toBe(true);
    await qmp.close();
  });

  it('a writer that fails rejects the command (the line never went out) and the connection goes on', async () => {
    const seen: string[] = [];
    fake = await FakeQmpServer.start({ handler: (cmd, conn) => {
      seen.push(cmd.execute);
      conn.reply(cmd, {});
    } });
    const qmp = await QmpClient.connect(fake.path);
    const helper = FdHelper.start(qmp);
    const err = await qmp.executeWrittenBy(helper.writer('nothing-held'), 'getfd', { fdname: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FdHelperError);
    expect((err as FdHelperError).code).toBe('NOHANDLE');
    expect(await qmp.execute('query-status')).toEqual({});
    expect(seen).toEqual(['query-status']);
    await helper.close();
    await qmp.close();
  });

  it('the helper is killed when the QMP connection closes: it never holds the socket alone', async () => {
    fake = await FakeQmpServer.start();
    const qmp = await QmpClient.connect(fake.path);
    const helper = FdHelper.start(qmp);
    expect(await helper.ping()).toBe(helper.pid);
    await qmp.close();
    await waitFor(() => helper.exited, { what: 'the helper to exit' });
    await expect(helper.ping()).rejects.toThrow(/was killed \(SIGKILL\)|exited/);
  });

  it('socketForChild refuses a closed connection', async () => {
    fake = await FakeQmpServer.start();
    const qmp = await QmpClient.connect(fake.path);
    await qmp.close();
    expect(() => FdHelper.start(qmp)).toThrow(/closed/);
  });
});
