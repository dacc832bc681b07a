import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import {
  clearPendingUnplug,
  pendingFilePath,
  prunePending,
  readPending,
  recordPendingUnplug,
} from '../../src/live/pending.js';
import { probeLive } from '../../src/live/probe.js';
import { loadQmpFixture, ReplayQmp } from './live-fixtures.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'pb-pending-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('pending unplug records', () => {
  it('live under <root>/plugboard/NAME.pending.json; no file reads as none', async () => {
    expect(pendingFilePath(root, 'web1.example.com')).toBe(path.join(root, 'plugboard', 'web1.example.com.pending.json'));
    expect(await readPending(root, 'web1.example.com')).toEqual([]);
  });

  it('refuses an instance name that is not a DNS name (it is joined into a path)', () => {
    expect(() => pendingFilePath(root, '../etc/passwd')).toThrow(InputError);
    expect(() => pendingFilePath(root, '..')).toThrow(InputError);
    expect(() => pendingFilePath(root, 'a/b')).toThrow(`instance name "a/b" contains '/'`);
  });

  it('records, keeps the first time of a repeated unplug, and reads back', async () => {
    const t1 = new Date('2025-11-25T10:00:00Z');
    await recordPendingUnplug(root, 'web1', { id: 'disk-55555555-6666-7777', kind: 'disk', since: t1 });
    await recordPendingUnplug(root, 'web1', { id: 'nic-33333333-4444-5555', kind: 'nic', since: new Date('2025-11-25T10:05:00Z') });
    await recordPendingUnplug(root, 'web1', { id: 'disk-55555555-6666-7777', kind: 'disk', since: new Date('2025-11-25T11:00:00Z') });
    expect(await readPending(root, 'web1')).toEqual([
      { id: 'disk-55555555-6666-7777', since: '2025-11-25T10:00:00.000Z', kind: 'disk' },
      { id: 'nic-33333333-4444-5555', since: '2025-11-25T10:05:00.000Z', kind: 'nic' },
    ]);
    // Atomic write: no temp file left next to it.
    expect(readdirSync(path.join(root, 'plugboard'))).toEqual(['web1.pending.json']);
  });

  it('clears one record; the file goes away with the last', async () => {
    await recordPendingUnplug(root, 'web1', { id: 'disk-a', kind: 'disk' });
    await recordPendingUnplug(root, 'web1', { id: 'disk-b', kind: 'disk' });
    expect((await clearPendingUnplug(root, 'web1', 'disk-a')).map((r) => r.id)).toEqual(['disk-b']);
    await clearPendingUnplug(root, 'web1', 'disk-b');
    expect(existsSync(pendingFilePath(root, 'web1'))).toBe(false);
  });

  it('prunes records whose device QEMU no longer has', async () => {
    const live = await probeLive(new ReplayQmp(loadQmpFixture('lsi-changed')));
    // disk-5555 is still in QEMU (PCI unplug without guest); disk-4444 is gone (SCSI unplug done).
    await recordPendingUnplug(root, 'web1', { id: 'disk-55555555-6666-7777', kind: 'disk', since: new Date('2025-11-25T10:00:00Z') });
    await recordPendingUnplug(root, 'web1', { id: 'disk-44444444-5555-6666', kind: 'disk', since: new Date('2025-11-25T09:00:00Z') });
    const result = await prunePending(root, 'web1', live);
    expect(result.pending.map((r) => r.id)).toEqual(['disk-55555555-6666-7777']);
    expect(result.completed.map((r) => r.id)).toEqual(['disk-44444444-5555-6666']);
    expect((await readPending(root, 'web1')).map((r) => r.id)).toEqual(['disk-55555555-6666-7777']);
  });

  it('a broken file is a clear error naming the file and the place', async () => {
    const file = pendingFilePath(root, 'web1');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, '[{"id": "disk-a", "since": "yesterday", "kind": "disk"}]');
    await expect(readPending(root, 'web1')).rejects.toThrow(`${file}: [0].since: `);
    writeFileSync(file, '{not json');
    await expect(readPending(root, 'web1')).rejects.toThrow(new RegExp(`^${file.replace(/[.]/g, '\\.')}: not JSON`));
    // Nothing was written over it.
    expect(readFileSync(file, 'utf8')).toBe('{not json');
  });

  it('refuses to record an id QEMU would not accept', async () => {
    await expect(recordPendingUnplug(root, 'web1', { id: '1bad', kind: 'disk' })).rejects.toThrow('must start with a letter');
  });
});
