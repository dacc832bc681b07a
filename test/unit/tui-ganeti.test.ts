/**
 * The view's Ganeti parts that are pure: the Ganeti wizard's and the job screen's reducers, the
 * map's mark for a device Ganeti lacks, the legend, the way an unplug goes. The screens themselves
 * run against the real cluster in test/integration/ganeti-tui.test.tsx.
 */
import { describe, expect, it } from 'vitest';
import { initialJobState, jobReducer } from '../../components/ganeti/job-state.js';
import { checkField, ganetiWizardReducer, initialGanetiWizardState, type GanetiWizardAction, type GanetiWizardState } from '../../components/ganeti/wizard-state.js';
import { markChar, scsiRows, type GanetiMarks } from '../../components/instance/cells.js';
import { legendLines } from '../../components/instance/Legend.js';
import { unplugScreen } from '../../components/instance/unplug-route.js';
import type { DeviceDetail } from '../../src/tui/detail.js';
import type { ScsiBus } from '../../src/bus/types.js';

function run(actions: GanetiWizardAction[], s: GanetiWizardState = initialGanetiWizardState('i1')): GanetiWizardState {
  return actions.reduce(ganetiWizardReducer, s);
}
const type = (text: string): GanetiWizardAction => ({ type: 'type-text', text });
const submit: GanetiWizardAction = { type: 'submit' };

describe('the Ganeti hot-add wizard', () => {
  it('a disk: size (checked), name, then the job with the exact values', () => {
    const s = run([{ type: 'pick' }, type('1.5x'), submit]);
    expect(s.step).toBe('size');
    expect(checkField('size', '1.5x')).toEqual({ ok: false, message: 'size "1.5x" is not a size (e.g. 512M, 10G; plain numbers are MiB)' });
    const done = run([{ type: 'erase' }, type('G'), submit, type('data1'), submit, type('rx'), submit], s);
    expect([done.step, done.done]).toEqual(['disk-mode', null]);
    const ro = run([{ type: 'erase' }, type('o'), submit], done);
    expect(ro.done).toEqual({ kind: 'ganeti', action: { kind: 'disk-add', instance: 'i1', disk: { size: '1.5G', name: 'data1', mode: 'ro' } } });
  });

  it('a NIC: an empty MAC and link let Ganeti choose; a name that looks like an index is refused', () => {
    const s = run([{ type: 'pick-move', delta: 1 }, { type: 'pick' }, submit, submit, type('12'), submit]);
    expect(s.step).toBe('nic-name');
    expect(s.done).toBeNull();
    const done = run([{ type: 'erase' }, { type: 'erase' }, type('eth1'), submit], s);
    expect(done.done).toEqual({ kind: 'ganeti', action: { kind: 'nic-add', instance: 'i1', nic: { mac: undefined, link: undefined, name: 'eth1' } } });
  });

  it('both in one job; directly over QMP hands over to the QMP wizard; Esc walks back, then closes', () => {
    const both = run([{ type: 'pick-move', delta: 2 }, { type: 'pick' }, type('16'), submit, submit, submit, type('aa:00:00:00:00:01'), submit, type('br0'), submit, submit]);
    expect(both.done).toEqual({
      kind: 'ganeti',
      action: { kind: 'devices', instance: 'i1', disks: [{ op: 'add', disk: { size: '16', name: undefined } }], nics: [{ op: 'add', nic: { mac: 'aa:00:00:00:00:01', link: 'br0', name: undefined } }] },
    });
    expect(run([{ type: 'pick-move', delta: 3 }, { type: 'pick' }]).done).toEqual({ kind: 'qmp', start: 'disk' });
    expect(run([{ type: 'pick-move', delta: -1 }, { type: 'pick' }]).done).toEqual({ kind: 'qmp', start: 'nic' });
    const back = run([{ type: 'pick' }, type('8'), submit, submit, { type: 'back' }, { type: 'back' }, { type: 'back' }]);
    expect([back.step, back.closed]).toEqual(['pick', false]);
    expect(run([{ type: 'back' }], back).closed).toBe(true);
  });
});

describe('the Ganeti job screen', () => {
  const plan = { instance: 'i1', request: { method: 'PUT' as const, path: '/2/instances/i1/modify', body: {} }, description: '', steps: [], requestLine: '', effect: 'now' as const, notes: [] };

  it('sends only after the answer: yes typed whole where data goes', () => {
    let s = jobReducer(initialJobState('yes'), { type: 'preview-ready', plan });
    expect(s.step).toBe('confirm');
    s = jobReducer(jobReducer(s, { type: 'type-text', text: 'y' }), { type: 'submit' });
    expect([s.step, s.hint]).toEqual(['confirm', 'type yes (the whole word) and Enter to send it, or Esc']);
    s = jobReducer(jobReducer(s, { type: 'type-text', text: 'es' }), { type: 'submit' });
    expect(s.step).toBe('running');
    // While the job runs nothing leaves the screen.
    expect(jobReducer(s, { type: 'back' }).closed).toBe(false);
    expect(jobReducer(initialJobState('y'), { type: 'preview-failed', message: 'no' }).previewError).toBe('no');
  });
});

describe("the map on a Ganeti node", () => {
  it("marks a device Ganeti lacks with #, after any mark of QEMU's, and names the others as Ganeti does", () => {
    expect(markChar('ok', true)).toBe('#');
    expect(markChar('drift', true)).toBe('~');
    expect(markChar('ok', false)).toBe('');
    const scsi = {
      controller: 'virtio-scsi-pci',
      maxTarget: 2,
      targets: [
        { target: 0, state: 'used', device: { id: 'disk-a', driver: 'scsi-hd', kind: 'disk', source: 'runtime' } },
        { target: 1, state: 'used', device: { id: 'disk-b', driver: 'scsi-hd', kind: 'disk', source: 'runtime' } },
        { target: 2, state: 'free' },
      ],
    } as unknown as ScsiBus;
    const g: GanetiMarks = new Map([
      ['disk-a', { label: 'disk/0 (root)', notInGaneti: false }],
      ['disk-b', { label: null, notInGaneti: true }],
    ]);
    const rows = scsiRows(scsi, new Map(), new Map(), null, g);
    expect(rows.slice(0, 2).map((r) => [r.ganetiLabel, r.notInGaneti])).toEqual([
      ['disk/0 (root)', false],
      [null, true],
    ]);
    expect(legendLines(200, true)[1]).toContain('# not in Ganeti’s configuration');
    expect(legendLines(200, false)[1]).not.toContain('Ganeti');
  });

  it("unplug goes through Ganeti for Ganeti's device (yes for a disk), over QMP for a device Ganeti lacks", () => {
    const base = { place: { bus: 'scsi.0', target: 1 }, device: { id: 'disk-b' }, runtime: { kind: 'disk' }, unpluggable: true, ganetiMark: null } as unknown as DeviceDetail;
    const viaGaneti = unplugScreen('i1', base.place, {
      ...base,
      unplugVia: 'ganeti',
      ganeti: { label: 'disk/1 (data1)', ganeti: { uuid: 'u-1', index: 1 } } as never,
    });
    expect(viaGaneti).toMatchObject({ kind: 'ganeti-job', action: { kind: 'disk-remove', instance: 'i1', disk: 'u-1' }, confirm: 'yes', title: 'Unplug disk/1 (data1) from i1' });
    expect(unplugScreen('i1', base.place, { ...base, unplugVia: 'qmp', ganeti: null })).toEqual({ kind: 'unplug', name: 'i1', place: base.place, deviceId: 'disk-b', deviceKind: 'disk' });
    // Ganeti could not be asked: still through Ganeti (by the device id), never behind its back.
    expect(unplugScreen('i1', base.place, { ...base, unplugVia: 'ganeti', ganeti: null })).toMatchObject({ kind: 'ganeti-job', action: { kind: 'disk-remove', disk: 'disk-b' } });
  });
});
