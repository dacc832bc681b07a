/**
 * The widgets' reducers, without rendering: navigation, the instance list's keys and filter, the
 * map selection, the wizard's steps (nothing runs before confirm, Esc goes back a step), the
 * unplug confirmation, what-if values and the QMP log's follow mode.
 */
import { describe, expect, it } from 'vitest';
import { appReducer, initialAppState, topScreen } from '../../components/app-state.js';
import { instancesReducer, initialInstancesState, filterInstances, type InstancesState } from '../../components/instances/state.js';
import { initialInstanceScreenState, instanceScreenReducer } from '../../components/instance/state.js';
import { actionOf, fieldCheck, initialWizardState, wizardReducer, type WizardAction, type WizardState } from '../../components/wizard/state.js';
import { confirmed, initialUnplugState, unplugReducer } from '../../components/unplug/state.js';
import { initialWhatIfState, whatIfReducer } from '../../components/whatif/state.js';
import { initialQmpLogState, logTop, qmpLogReducer } from '../../components/qmplog/state.js';
import { scrollReducer } from '../../components/common/scroll.js';
import type { Plan } from '../../src/actions/types.js';
import type { InstanceSummary } from '../../src/tui/service.js';

const row = (name: string, extra: Partial<InstanceSummary> = {}): InstanceSummary => ({ name, phase: 'loaded', status: 'running', drift: 'none', ...extra });
const rows = [row('db1', { diskType: 'scsi-hd', controller: 'lsi' }), row('old1'), row('store1', { controller: 'megasas' }), row('web1')];

describe('app navigation', () => {
  it('opens screens on a stack, goes back one, back to a kind, never below the first, and quits once', () => {
    let s = initialAppState();
    s = appReducer(s, { type: 'open', screen: { kind: 'instance', name: 'web1' } });
    s = appReducer(s, { type: 'open', screen: { kind: 'wizard', name: 'web1' } });
    s = appReducer(s, { type: 'open', screen: { kind: 'help' } });
    s = appReducer(s, { type: 'open', screen: { kind: 'help' } });
    expect(s.stack.map((x) => x.kind)).toEqual(['instances', 'instance', 'wizard', 'help']);
    expect(new Set(s.keys).size).toBe(s.keys.length);
    s = appReducer(s, { type: 'back-to', kind: 'instance' });
    expect(topScreen(s)).toEqual({ kind: 'instance', name: 'web1' });
    s = appReducer(appReducer(appReducer(s, { type: 'back' }), { type: 'back' }), { type: 'back' });
    expect(s.stack).toHaveLength(1);
    const q = appReducer(s, { type: 'quit' });
    expect(q.quit).toBe(true);
    expect(appReducer(q, { type: 'quit' })).toBe(q);
    expect(appReducer(q, { type: 'open', screen: { kind: 'help' } })).toBe(q);
  });
});

describe('instance list keys', () => {
  const key = (s: InstancesState, input: string, k: Record<string, boolean> = {}) => instancesReducer(s, { type: 'key', input, key: k, rows, pageSize: 10 });

  it('moves by name and stays in range', () => {
    let s = key(initialInstancesState, '', { downArrow: true });
    expect(s.selected).toBe('old1');
    s = key(key(key(s, 'j'), 'j'), 'j');
    expect(s.selected).toBe('web1');
    s = key(s, 'g');
    expect(s.selected).toBe('db1');
    s = key(s, '', { upArrow: true });
    expect(s.selected).toBe('db1');
  });

  it('typing a letter that is not a key starts the filter; keys typed before a redraw still land in it', () => {
    let s = key(initialInstancesState, 's');
    s = key(s, 't');
    s = key(s, 'o');
    expect(s).toMatchObject({ filtering: true, filter: 'sto' });
    // While filtering, j and q are text.
    s = key(s, 'q');
    expect(s.filter).toBe('stoq');
    s = key(s, '', { backspace: true });
    expect(s.filter).toBe('sto');
    s = key(s, '', { return: true });
    expect(s).toMatchObject({ filtering: false, openRequest: 'store1' });
  });

  it('Esc clears the filter; r asks for a refresh; Enter asks to open the selection', () => {
    let s = key(initialInstancesState, '/');
    s = key(s, 'w');
    s = key(s, '', { escape: true });
    expect(s).toMatchObject({ filtering: false, filter: '' });
    s = key(s, 'r');
    expect(s.refreshes).toBe(1);
    s = key(key(s, 'j'), '', { return: true });
    expect(s.openRequest).toBe('old1');
    expect(instancesReducer(s, { type: 'opened' }).openRequest).toBeNull();
  });

  it('filters on name, types and controller, not on the status', () => {
    expect(filterInstances(rows, 'meg').map((r) => r.name)).toEqual(['store1']);
    expect(filterInstances(rows, 'SCSI').map((r) => r.name)).toEqual(['db1']);
    expect(filterInstances(rows, 'run')).toEqual([]);
  });
});

describe('map selection', () => {
  it('moves in the grid by rows of perRow, clamped to 0–31, and in the SCSI list by rows', () => {
    let s = instanceScreenReducer(initialInstanceScreenState, { type: 'place', pane: 'pci', slot: 12, scsiRow: 0 });
    s = instanceScreenReducer(s, { type: 'move', dx: 0, dy: 1, perRow: 8, scsiCount: 3 });
    expect(s.slot).toBe(20);
    s = instanceScreenReducer(s, { type: 'move', dx: 0, dy: 5, perRow: 8, scsiCount: 3 });
    expect(s.slot).toBe(31);
    s = instanceScreenReducer(s, { type: 'toggle-pane', hasScsi: true });
    s = instanceScreenReducer(s, { type: 'move', dx: 0, dy: 5, perRow: 8, scsiCount: 3 });
    expect(s).toMatchObject({ pane: 'scsi', scsiRow: 2, slot: 31 });
  });

  it('Tab without a controller stays on pci.0 and says why', () => {
    const s = instanceScreenReducer(initialInstanceScreenState, { type: 'toggle-pane', hasScsi: false });
    expect(s.pane).toBe('pci');
    expect(s.flash).toContain('no SCSI controller');
  });
});

const fakePlan = { device: { id: 'disk-1', uuid: 'u', kind: 'disk', driver: 'scsi-hd' } } as unknown as Plan;

describe('wizard steps', () => {
  const run = (s: WizardState, ...actions: WizardAction[]) => actions.reduce(wizardReducer, s);
  const atPath = () => run(initialWizardState('db1'), { type: 'choose-kind', kind: 'disk' }, { type: 'choose-type', value: 'scsi-hd' });

  it('disk: kind → type → path; a path is only accepted once checked ok, for the path as it is now', () => {
    let s = atPath();
    expect(s.step).toBe('path');
    s = run(s, { type: 'type-text', text: '/x.img' }, { type: 'submit', uuid: 'u1' });
    expect(s.step).toBe('path');
    s = run(s, { type: 'path-checked', path: '/x.im', check: { ok: true, message: 'stale' } }, { type: 'submit', uuid: 'u1' });
    expect(s.step).toBe('path');
    s = run(s, { type: 'path-checked', path: '/x.img', check: { ok: true, message: 'regular file' } }, { type: 'submit', uuid: 'u1' });
    expect(s).toMatchObject({ step: 'preview', uuid: 'u1' });
    expect(actionOf(s)).toEqual({ type: 'hot-add-disk', instance: 'db1', path: '/x.img', diskType: 'scsi-hd', uuid: 'u1' });
  });

  it('a relative path is refused at once, without asking the file system', () => {
    const s = run(atPath(), { type: 'type-text', text: 'x.img' });
    expect(fieldCheck(s)).toEqual({ ok: false, message: expect.stringContaining('absolute path') });
  });

  it('nothing runs before confirm; Esc goes back one step at a time and keeps the device id', () => {
    let s = run(atPath(), { type: 'type-text', text: '/x.img' }, { type: 'path-checked', path: '/x.img', check: { ok: true, message: '' } }, { type: 'submit', uuid: 'u1' });
    s = run(s, { type: 'confirm', transcriptFrom: 0 });
    expect(s.step).toBe('preview');
    s = run(s, { type: 'submit', uuid: 'u2' });
    expect(s.step).toBe('preview'); // no plan yet
    s = run(s, { type: 'preview-ready', plan: fakePlan }, { type: 'submit', uuid: 'u2' });
    expect(s.step).toBe('confirm');
    s = run(s, { type: 'back' }, { type: 'back' });
    expect(s.step).toBe('path');
    s = run(s, { type: 'submit', uuid: 'u3' });
    expect(s.uuid).toBe('u1');
    s = run(s, { type: 'preview-ready', plan: fakePlan }, { type: 'submit', uuid: 'u4' }, { type: 'confirm', transcriptFrom: 7 });
    expect(s).toMatchObject({ step: 'running', transcriptFrom: 7 });
    // While running, Esc and close do nothing.
    expect(run(s, { type: 'back' }, { type: 'close' }).step).toBe('running');
    s = run(s, { type: 'finished', result: { ok: false, message: 'x', outcome: null, refused: true } });
    expect(s.step).toBe('result');
    expect(run(s, { type: 'back' }).closed).toBe(true);
  });

  it('a refused preview cannot be confirmed', () => {
    let s = run(atPath(), { type: 'type-text', text: '/x' }, { type: 'path-checked', path: '/x', check: { ok: true, message: '' } }, { type: 'submit', uuid: 'u' });
    s = run(s, { type: 'preview-failed', message: 'bus full' }, { type: 'submit', uuid: 'u' });
    expect(s.step).toBe('preview');
  });

  it('NIC: kind → type → MAC → bridge → preview, with an empty MAC meaning "generate"', () => {
    let s = run(initialWizardState('web1'), { type: 'choose-kind', kind: 'nic' }, { type: 'choose-type', value: 'e1000' });
    expect(s.step).toBe('mac');
    s = run(s, { type: 'type-text', text: 'zz' }, { type: 'submit', uuid: 'u' });
    expect(s.step).toBe('mac');
    s = run(s, { type: 'erase' }, { type: 'erase' }, { type: 'submit', uuid: 'u' });
    expect(s.step).toBe('link');
    s = run(s, { type: 'type-text', text: 'br0' }, { type: 'submit', uuid: 'u9' });
    expect(actionOf(s)).toEqual({ type: 'hot-add-nic', instance: 'web1', nicType: 'e1000', uuid: 'u9', link: 'br0' });
  });

  it('Tab completion fills in the common prefix and lists the candidates; a stale answer is ignored', () => {
    let s = run(atPath(), { type: 'type-text', text: '/tmp/sp' }, { type: 'complete' });
    expect(s.completeRequest).toBe('/tmp/sp');
    const stale = run(s, { type: 'type-text', text: 'x' }, { type: 'completions', prefix: '/tmp/sp', items: ['/tmp/spare-1.img'], common: '/tmp/spare-1.img' });
    expect(stale.path).toBe('/tmp/spx');
    s = run(s, { type: 'completions', prefix: '/tmp/sp', items: ['/tmp/spare-1.img', '/tmp/spare-2.img'], common: '/tmp/spare-' });
    expect(s).toMatchObject({ path: '/tmp/spare-', completions: ['/tmp/spare-1.img', '/tmp/spare-2.img'] });
  });
});

describe('unplug confirmation', () => {
  it('a disk needs the whole word yes; a NIC a y', () => {
    let d = unplugReducer(initialUnplugState('disk'), { type: 'preview-ready', plan: fakePlan });
    d = unplugReducer(unplugReducer(d, { type: 'type-text', text: 'y' }), { type: 'submit', transcriptFrom: 0 });
    expect(d.step).toBe('confirm');
    expect(d.hint).toContain('type yes');
    d = unplugReducer(d, { type: 'type-text', text: 'es' });
    expect(confirmed(d)).toBe(true);
    expect(unplugReducer(d, { type: 'submit', transcriptFrom: 3 })).toMatchObject({ step: 'running', transcriptFrom: 3 });
    let n = unplugReducer(initialUnplugState('nic'), { type: 'preview-ready', plan: fakePlan });
    n = unplugReducer(unplugReducer(n, { type: 'type-text', text: 'y' }), { type: 'submit', transcriptFrom: 0 });
    expect(n.step).toBe('running');
  });

  it('cannot be confirmed before the plan is there', () => {
    const s = unplugReducer(unplugReducer(initialUnplugState('nic'), { type: 'type-text', text: 'y' }), { type: 'submit', transcriptFrom: 0 });
    expect(s.step).toBe('preview');
  });
});

describe('what-if values', () => {
  it('cycles disk_type and scsi_controller_type, clamps kvm_pci_reservations to 0–32', () => {
    let s = initialWhatIfState({ diskType: 'paravirtual', scsiControllerType: 'lsi', reservations: 12 });
    s = whatIfReducer(s, { type: 'value', delta: -1 });
    expect(s.params.diskType).toBe('scsi-cd');
    s = whatIfReducer(whatIfReducer(s, { type: 'param', delta: 1 }), { type: 'value', delta: 1 });
    expect(s.params.scsiControllerType).toBe('megasas');
    s = whatIfReducer(whatIfReducer(s, { type: 'param', delta: 5 }), { type: 'value', delta: 40 });
    expect(s.params.reservations).toBe(32);
    s = whatIfReducer(s, { type: 'value', delta: -100 });
    expect(s.params.reservations).toBe(0);
  });
});

describe('scrolling', () => {
  it('the QMP log follows new entries until scrolled up, and again from End', () => {
    let s = initialQmpLogState;
    expect(logTop(s, 40)).toBe(40);
    s = qmpLogReducer(s, { type: 'scroll', delta: -5, max: 40 });
    expect(s).toMatchObject({ follow: false, top: 35 });
    expect(logTop(s, 60)).toBe(35);
    s = qmpLogReducer(s, { type: 'end', max: 60 });
    expect(logTop(s, 80)).toBe(80);
  });

  it('scroll positions stay within 0–max', () => {
    expect(scrollReducer({ top: 3 }, { type: 'by', delta: -10, max: 9 }).top).toBe(0);
    expect(scrollReducer({ top: 3 }, { type: 'by', delta: 10, max: 9 }).top).toBe(9);
  });
});
