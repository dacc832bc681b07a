/**
 * The host side of NIC hotplug that needs no root (src/actions/host-net.ts): `nic/NAME/SEQ` records
 * (written as Ganeti writes them, removed with the later ones moved down), interface names, the
 * fixed tap MAC, `/sys/class/net` facts, and `ip` failures as one-line errors.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HostCommandError,
  describeHostCommand,
  executeHostCommand,
  fixedTapMac,
  hostCommands,
  ifnameProblem,
  inspectLink,
  readNicRecords,
  removeNicRecord,
  runIp,
  writeNicRecord,
} from '../../src/actions/host-net.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'pb-nicrec-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const dir = () => path.join(root, 'nic', 'web1');
const records = () => Object.fromEntries(readdirSync(dir()).sort().map((f) => [f, readFileSync(path.join(dir(), f), 'utf8')]));

describe('nic/NAME/SEQ records', () => {
  it('written like Ganeti: the tap name, no newline; the directory is created; read back by SEQ', async () => {
    await writeNicRecord(root, 'web1', 0, 'tap0');
    await writeNicRecord(root, 'web1', 1, 'tap.pb.0c0ffee0');
    expect(records()).toEqual({ '0': 'tap0', '1': 'tap.pb.0c0ffee0' });
    expect(await readNicRecords(root, 'web1')).toEqual(new Map([[0, 'tap0'], [1, 'tap.pb.0c0ffee0']]));
    expect(await readNicRecords(root, 'other')).toEqual(new Map());
  });

  it('removing record 1 of 0..3 moves 2 → 1 and 3 → 2, so record N stays NIC N', async () => {
    for (const [i, t] of ['tap0', 'tap1', 'tap2', 'tap3'].entries()) await writeNicRecord(root, 'web1', i, t);
    await removeNicRecord(root, 'web1', 1, 3);
    expect(records()).toEqual({ '0': 'tap0', '1': 'tap2', '2': 'tap3' });
  });

  it('a missing record in the middle stays missing at its new place; removing a missing record is fine', async () => {
    await writeNicRecord(root, 'web1', 0, 'tap0');
    await writeNicRecord(root, 'web1', 3, 'tap3');
    writeFileSync(path.join(dir(), '1'), 'tap1');
    await removeNicRecord(root, 'web1', 0, 3);
    expect(records()).toEqual({ '0': 'tap1', '2': 'tap3' });
    await removeNicRecord(root, 'web1', 7);
    expect(records()).toEqual({ '0': 'tap1', '2': 'tap3' });
  });

  it('files that are not records are ignored when reading', async () => {
    mkdirSync(dir(), { recursive: true });
    writeFileSync(path.join(dir(), 'README'), 'x');
    writeFileSync(path.join(dir(), '01'), 'tapX');
    writeFileSync(path.join(dir(), '2'), 'has space');
    expect(await readNicRecords(root, 'web1')).toEqual(new Map());
  });

  it('host steps run through executeHostCommand; an instance name that is not one is refused', async () => {
    await executeHostCommand(hostCommands.nicRecordWrite('web1', 0, 'tap9'), { root });
    expect(records()).toEqual({ '0': 'tap9' });
    await executeHostCommand(hostCommands.nicRecordRemove('web1', 0), { root });
    expect(records()).toEqual({});
    await expect(executeHostCommand(hostCommands.nicRecordWrite('../x', 0, 'tap9'), { root })).rejects.toThrow(/instance name/);
    await expect(executeHostCommand({ host: 'reboot-node', detail: {} }, { root })).rejects.toThrow(HostCommandError);
  });
});

describe('interfaces', () => {
  it('ifnameProblem: Linux names are 1–15 characters without whitespace, "/" or ":"', () => {
    expect(ifnameProblem('br0')).toBeNull();
    expect(ifnameProblem('tap.pb.0c0ffee0')).toBeNull();
    expect(ifnameProblem('')).toBe('empty');
    expect(ifnameProblem('a234567890123456')).toMatch(/16 characters long/);
    for (const bad of ['a b', 'a/b', 'a:b', '.', '..']) expect(ifnameProblem(bad)).not.toBeNull();
  });

  it("fixedTapMac is Ganeti's fix_mac: first byte fe", () => {
    expect(fixedTapMac('62:81:3f:bb:5c:67')).toBe('fe:81:3f:bb:5c:67');
  });

  it('inspectLink: lo is there (not a bridge), a missing name is missing', async () => {
    expect(await inspectLink('lo')).toMatchObject({ name: 'lo', kind: 'other', up: true, mtu: 65536 });
    expect(await inspectLink('pbt-nothing')).toEqual({ name: 'pbt-nothing', kind: 'missing' });
    expect(await inspectLink('../../x')).toEqual({ name: '../../x', kind: 'missing' });
  });

  it('an ip command that fails: a HostCommandError naming the command and ip\'s first line', async () => {
    const err = await runIp(['link', 'show', 'dev', 'pbt-nothing']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostCommandError);
    expect((err as Error).message).toMatch(/^ip link show dev pbt-nothing: Device "pbt-nothing" does not exist\.$/);
  });

  it('describeHostCommand: one line per host step', () => {
    expect(describeHostCommand(hostCommands.tapConfigure('tap.pb.1', 'br0'))).toBe('tap tap.pb.1: MAC fe:…, up, MTU of br0, master br0');
    expect(describeHostCommand(hostCommands.tapGone('tap.pb.1'))).toBe('tap tap.pb.1 gone');
    expect(describeHostCommand(hostCommands.nicRecordWrite('web1', 2, 'tap.pb.1'))).toBe('write nic/web1/2 = tap.pb.1');
    expect(describeHostCommand(hostCommands.nicRecordRemove('web1', 0, 2))).toBe('remove nic/web1/0 (nic/web1/1..2 move down by one)');
  });
});
