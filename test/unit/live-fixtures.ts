/**
 * Shared by the live-* unit tests: recorded QEMU 7.2 replies (test/fixtures/qmp/*.json, made by
 * test/fixtures/qmp/capture.mjs) served back through the QmpExecutor interface, and runtime files
 * built in the tests.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { QmpCommandError } from '../../src/qmp/errors.js';
import type { QmpExecutor } from '../../src/live/probe.js';
import { parseRuntimeText } from '../../src/runtime/load.js';
import type { Json, JsonObject, RuntimeFile } from '../../src/runtime/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.resolve(here, '..', 'fixtures');

export interface RecordedReply {
  execute: string;
  arguments?: Record<string, unknown>;
  reply: { return?: unknown; error?: { class: string; desc: string } };
}

export interface QmpFixture {
  description: string;
  qemu: { major: number; minor: number; micro: number };
  argv: string[];
  replies: RecordedReply[];
}

export type FixtureName = 'lsi-mixed' | 'lsi-changed' | 'virtio-scsi' | 'no-controller';

export function loadQmpFixture(name: FixtureName): QmpFixture {
  return JSON.parse(readFileSync(path.join(FIXTURES, 'qmp', `${name}.json`), 'utf8')) as QmpFixture;
}

/** The recorded `return` of a command (first match on command + arguments). */
export function recorded(fx: QmpFixture, execute: string, args?: Record<string, unknown>): unknown {
  const r = fx.replies.find((x) => x.execute === execute && JSON.stringify(x.arguments) === JSON.stringify(args));
  if (!r) throw new Error(`fixture has no reply to ${execute} ${JSON.stringify(args)}`);
  return r.reply.return;
}

/**
 * A QmpExecutor answering from a fixture, like QmpClient does (the `return` value, or a
 * QmpCommandError for `{"error"}`), asynchronously. Counts round trips: a command sent while no
 * other is in flight starts a new one. `override` replaces replies (to feed QEMU weird ones).
 */
export class ReplayQmp implements QmpExecutor {
  readonly sent: { execute: string; arguments?: Record<string, unknown> }[] = [];
  roundTrips = 0;
  private inFlight = 0;

  constructor(
    private readonly fixture: QmpFixture,
    private readonly override: (execute: string, args: Record<string, unknown> | undefined) => RecordedReply['reply'] | undefined = () =>
      undefined,
  ) {}

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.inFlight === 0) this.roundTrips++;
    this.inFlight++;
    this.sent.push(args === undefined ? { execute: command } : { execute: command, arguments: args });
    const found =
      this.override(command, args) ??
      this.fixture.replies.find((x) => x.execute === command && JSON.stringify(x.arguments) === JSON.stringify(args))?.reply;
    return new Promise<T>((resolve, reject) => {
      setImmediate(() => {
        this.inFlight--;
        if (!found) reject(new Error(`ReplayQmp: no recorded reply to ${command} ${JSON.stringify(args)}`));
        else if (found.error) reject(new QmpCommandError(command, found.error.class, found.error.desc));
        else resolve(found.return as T);
      });
    });
  }
}

const baseHvparams: JsonObject = (() => {
  const doc = JSON.parse(readFileSync(path.join(FIXTURES, 'kvm_runtime.json'), 'utf8')) as Json[];
  return doc[2] as JsonObject;
})();

export interface TestDevice {
  uuid: string;
  hvinfo: JsonObject;
}

/** `11111111-2222-3333` → a full UUID whose Ganeti id is `disk-11111111-2222-3333`. */
export function uuidOf(prefix: string): string {
  return `${prefix}-${'0'.repeat(4)}-${'0'.repeat(12)}`;
}

export const pciHv = (driver: string, id: string, addr: string): JsonObject => ({ driver, id, bus: 'pci.0', addr });
export const scsiHv = (driver: string, id: string, target: number): JsonObject => ({
  driver,
  id,
  bus: 'scsi.0',
  channel: 0,
  'scsi-id': target,
  lun: 0,
});

/** A current-format runtime file (4 items) as RuntimeFile, through the real loader. */
export function runtimeFile(options: {
  kvmCmd?: (string | number)[];
  disks?: TestDevice[];
  nics?: (TestDevice & { mac?: string })[];
  hvparams?: JsonObject;
  instance?: string;
}): RuntimeFile {
  const instance = options.instance ?? 'inst1.example.com';
  const doc = [
    options.kvmCmd ?? ['/usr/bin/kvm', '-name', instance, '-m', 64, '-nodefaults'],
    (options.nics ?? []).map((n, i) => ({
      mac: n.mac ?? `aa:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`,
      nicparams: { mode: 'bridged', link: 'br0' },
      uuid: n.uuid,
      hvinfo: n.hvinfo,
    })),
    { ...baseHvparams, ...(options.hvparams ?? {}) },
    (options.disks ?? []).map((d, i) => [
      {
        dev_type: 'plain',
        iv_name: `disk/${i}`,
        mode: 'rw',
        size: 1,
        uuid: d.uuid,
        hvinfo: d.hvinfo,
      },
      `/var/run/ganeti/instance-disks/${instance}:${i}`,
      null,
    ]),
  ];
  return parseRuntimeText(JSON.stringify(doc), `conf/${instance}.runtime`, instance);
}

/** The runtime file that matches the `lsi-mixed` fixture exactly. */
export function lsiMixedRuntime(overrides: { disks?: TestDevice[]; nics?: TestDevice[] } = {}): RuntimeFile {
  return runtimeFile({
    kvmCmd: ['/usr/bin/kvm', '-name', 'inst1.example.com', '-m', 64, '-nodefaults', '-device', 'lsi,id=scsi', '-device', 'virtio-balloon'],
    hvparams: { disk_type: 'scsi-hd', scsi_controller_type: 'lsi', kvm_pci_reservations: 12 },
    disks: overrides.disks ?? [
      { uuid: uuidOf('11111111-2222-3333'), hvinfo: scsiHv('scsi-hd', 'disk-11111111-2222-3333', 2) },
      { uuid: uuidOf('22222222-3333-4444'), hvinfo: pciHv('virtio-blk-pci', 'disk-22222222-3333-4444', '0xd') },
      { uuid: uuidOf('44444444-5555-6666'), hvinfo: scsiHv('scsi-hd', 'disk-44444444-5555-6666', 0) },
      { uuid: uuidOf('55555555-6666-7777'), hvinfo: pciHv('virtio-blk-pci', 'disk-55555555-6666-7777', '0xf') },
    ],
    nics: overrides.nics ?? [
      { uuid: uuidOf('33333333-4444-5555'), hvinfo: pciHv('virtio-net-pci', 'nic-33333333-4444-5555', '0xe') },
    ],
  });
}
