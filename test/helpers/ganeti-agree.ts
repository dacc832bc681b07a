/**
 * Four views of one Ganeti instance that must agree after every change (issue 11's tests): what
 * Ganeti's own CLI says (`gnt-instance info`, run inside the cluster's namespaces), the runtime file
 * Ganeti wrote, what QEMU has (`query-block` for disks, `query-pci` for NICs) and what plugboard
 * shows (`show --live --json`: Ganeti's side, the marks, the drift).
 */
import { expect } from 'vitest';
import { deviceId } from '../../src/runtime/ids.js';
import type { GanetiCluster } from './ganeti-cluster.js';

export interface GntDevice {
  index: number;
  uuid: string;
  name: string | null;
  /** Disks: `64M`; NICs: the MAC. */
  detail: string;
  link?: string;
}

export interface GntInfo {
  disks: GntDevice[];
  nics: GntDevice[];
  /** The instance's own hypervisor parameters as `gnt-instance info` prints them (`kvm_pci_reservations: 12`). */
  hv: Record<string, string>;
  text: string;
}

/** `gnt-instance info NAME`, parsed (the parts the tests compare). */
export async function gntInstanceInfo(cluster: GanetiCluster, instance: string): Promise<GntInfo> {
  const r = await cluster.exec(['gnt-instance', 'info', instance]);
  if (r.code !== 0) throw new Error(`gnt-instance info ${instance}: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  const disks: GntDevice[] = [];
  const nics: GntDevice[] = [];
  const hv: Record<string, string> = {};
  let section: 'hv' | 'nics' | 'disks' | null = null;
  let cur: GntDevice | null = null;
  for (const line of lines) {
    if (/^ {2}Hypervisor parameters:/.test(line)) section = 'hv';
    else if (/^ {2}NICs:/.test(line)) section = 'nics';
    else if (/^ {2}Disks:/.test(line)) section = 'disks';
    else if (/^ {2}\S/.test(line)) section = null;
    let m: RegExpExecArray | null;
    if (section === 'hv' && (m = /^ {4}([a-z_]+): (.*)$/.exec(line))) hv[m[1]!] = m[2]!;
    if (section === 'disks' && (m = /^ {4}- disk\/(\d+): \S+, size (\S+)/.exec(line))) disks.push((cur = { index: Number(m[1]), uuid: '', name: null, detail: m[2]! }));
    if (section === 'nics' && (m = /^ {4}- nic\/(\d+):/.exec(line))) nics.push((cur = { index: Number(m[1]), uuid: '', name: null, detail: '' }));
    if (cur && (m = /^ {6}UUID: (\S+)/.exec(line))) cur.uuid = m[1]!;
    if (cur && (m = /^ {6}name: (.*)$/.exec(line))) cur.name = m[1] === 'None' ? null : m[1]!;
    if (cur && section === 'nics' && (m = /^ {6}MAC: (\S+)/.exec(line))) cur.detail = m[1]!;
    if (cur && section === 'nics' && (m = /^ {6}link: (\S*)/.exec(line))) cur.link = m[1]!;
  }
  return { disks, nics, hv, text: r.stdout };
}

/** What `show --live --json` says of Ganeti's side (the parts compared). */
export interface ShownGaneti {
  ganeti: {
    known: boolean;
    ok: boolean;
    marks: { code: string; id: string }[];
    devices: { kind: 'disk' | 'nic'; id: string; uuid: string; label: string | null; ganeti: { name: string | null; size?: number; mac?: string } | null; inQemu: boolean; mark: string | null }[];
  };
  drift: { ok: boolean; items: unknown[] };
}

/**
 * Asserts that Ganeti's CLI, the runtime file, QEMU and plugboard's `show --live --json` agree on
 * the instance's disks and NICs, that plugboard shows no mark and no drift, and returns what
 * `gnt-instance info` said.
 */
export async function expectAllAgree(cluster: GanetiCluster, instance: string, shown: ShownGaneti): Promise<GntInfo> {
  const info = await gntInstanceInfo(cluster, instance);
  const rf = await cluster.runtimeFile(instance);
  const [block, pci] = (await cluster.qmp(instance, [{ execute: 'query-block' }, { execute: 'query-pci' }])) as [
    { device: string; qdev?: string }[],
    { devices: { qdev_id: string }[] }[],
  ];
  const qemuDisks = block.map((b) => b.qdev ?? '').filter((q) => q.startsWith('disk-') || q.includes('/disk-'));
  const qemuNics = pci.flatMap((b) => b.devices.map((d) => d.qdev_id)).filter((id) => id.startsWith('nic-'));
  // Ganeti's CLI and the runtime file: the same devices, by UUID, in Ganeti's order.
  expect(rf.disks.map((d) => d.uuid)).toEqual(info.disks.map((d) => d.uuid));
  expect(rf.nics.map((n) => n.uuid)).toEqual(info.nics.map((n) => n.uuid));
  // QEMU has exactly those devices.
  expect(qemuDisks.map((q) => q.replace(/^.*\//, '')).sort()).toEqual(info.disks.map((d) => deviceId('disk', d.uuid)).sort());
  expect(qemuNics.sort()).toEqual(info.nics.map((n) => deviceId('nic', n.uuid)).sort());
  // plugboard shows the same, with Ganeti's names and sizes, no mark, no drift.
  expect(shown.ganeti.known).toBe(true);
  expect(shown.ganeti.marks).toEqual([]);
  expect(shown.drift.ok).toBe(true);
  const label = (kind: 'disk' | 'nic', d: GntDevice) => (kind === 'disk' ? `disk/${d.index}${d.name ? ` (${d.name})` : ''}` : `nic.${d.index} ${d.detail}${d.name ? ` (${d.name})` : ''}`);
  expect(shown.ganeti.devices.filter((d) => d.kind === 'disk').map((d) => `${d.label} ${d.uuid} ${d.ganeti?.size ?? '?'}M inQemu=${String(d.inQemu)}`)).toEqual(
    info.disks.map((d) => `${label('disk', d)} ${d.uuid} ${d.detail} inQemu=true`),
  );
  expect(shown.ganeti.devices.filter((d) => d.kind === 'nic').map((d) => `${d.label} ${d.uuid} inQemu=${String(d.inQemu)}`)).toEqual(
    info.nics.map((n) => `${label('nic', n)} ${n.uuid} inQemu=true`),
  );
  return info;
}
