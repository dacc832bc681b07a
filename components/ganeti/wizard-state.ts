/**
 * The hot-add wizard of an instance Ganeti manages: first the way and the device — a disk, a NIC or
 * both in one Ganeti job, or a disk or NIC directly over QMP (Ganeti will not know it: that choice
 * hands over to the QMP wizard) — then the values Ganeti takes (size, name and access mode of the
 * disk; MAC, link and name of the NIC), each checked as it is typed; then the job screen (the exact request,
 * confirm, the job). Pure reducer.
 */
import { checkMac, parseSizeMiB, type DiskAddSpec, type GanetiAction } from '../../src/actions/plan-ganeti.js';
import { messageOf } from '../../src/errors.js';

export type GanetiChoice = 'ganeti-disk' | 'ganeti-nic' | 'ganeti-both' | 'qmp-disk' | 'qmp-nic';
export type GanetiField = 'size' | 'disk-name' | 'disk-mode' | 'mac' | 'link' | 'nic-name';
export type GanetiWizardStep = 'pick' | GanetiField;

export const CHOICES: readonly GanetiChoice[] = ['ganeti-disk', 'ganeti-nic', 'ganeti-both', 'qmp-disk', 'qmp-nic'];

export interface GanetiWizardState {
  instance: string;
  step: GanetiWizardStep;
  choice: GanetiChoice | null;
  pick: number;
  values: Record<GanetiField, string>;
  /** Set when the values are complete: the screen opens the job screen (or the QMP wizard) with it. */
  done: { kind: 'ganeti'; action: GanetiAction } | { kind: 'qmp'; start: 'disk' | 'nic' } | null;
  closed: boolean;
}

export type GanetiWizardAction =
  | { type: 'pick-move'; delta: number }
  | { type: 'pick' }
  | { type: 'type-text'; text: string }
  | { type: 'erase' }
  | { type: 'submit' }
  | { type: 'back' }
  /** The screen opened what `done` asked for. */
  | { type: 'opened' };

export function initialGanetiWizardState(instance: string): GanetiWizardState {
  return { instance, step: 'pick', choice: null, pick: 0, values: { size: '', 'disk-name': '', 'disk-mode': '', mac: '', link: '', 'nic-name': '' }, done: null, closed: false };
}

export function fieldsOf(choice: GanetiChoice | null): GanetiField[] {
  switch (choice) {
    case 'ganeti-disk':
      return ['size', 'disk-name', 'disk-mode'];
    case 'ganeti-nic':
      return ['mac', 'link', 'nic-name'];
    case 'ganeti-both':
      return ['size', 'disk-name', 'disk-mode', 'mac', 'link', 'nic-name'];
    case 'qmp-disk':
    case 'qmp-nic':
    case null:
      return [];
    default: {
      const never: never = choice;
      return never;
    }
  }
}

const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;

/** Whether a field's value lets the wizard go on, and what it means (or why not). */
export function checkField(field: GanetiField, raw: string): { ok: boolean; message: string } {
  const v = raw.trim();
  try {
    switch (field) {
      case 'size':
        if (v === '') return { ok: false, message: 'the size of the new disk: 512M, 10G (a plain number is MiB)' };
        return { ok: true, message: `${parseSizeMiB(v, 'size')} MiB, created by Ganeti (file, plain, drbd… as the instance's template)` };
      case 'disk-name':
      case 'nic-name':
        if (v === '') return { ok: true, message: 'no name (Ganeti names it by its index)' };
        if (/^\d+$/.test(v)) return { ok: false, message: `${v} looks like an index; Ganeti needs a name that is not a number` };
        if (v.length > 64 || /\s/.test(v)) return { ok: false, message: 'a name is at most 64 characters, no spaces' };
        return { ok: true, message: `named ${v}` };
      case 'disk-mode':
        if (v === '') return { ok: true, message: "Ganeti's default access mode (rw)" };
        if (v !== 'rw' && v !== 'ro') return { ok: false, message: 'rw (read-write) or ro (read-only)' };
        return { ok: true, message: v === 'rw' ? 'read-write' : 'read-only' };
      case 'mac':
        if (v === '' || v === 'generate') return { ok: true, message: "Ganeti generates one (the cluster's prefix, unique in the cluster)" };
        return { ok: true, message: `MAC ${checkMac(v)}` };
      case 'link':
        if (v === '') return { ok: true, message: "the cluster's default link (nicparams)" };
        if (!IFNAME.test(v)) return { ok: false, message: 'an interface name: at most 15 letters, digits, _ . : -' };
        return { ok: true, message: `link ${v}` };
      default: {
        const never: never = field;
        return never;
      }
    }
  } catch (error) {
    return { ok: false, message: messageOf(error) };
  }
}

/** The Ganeti action the values make. */
export function ganetiActionOf(state: Pick<GanetiWizardState, 'instance' | 'choice' | 'values'>): GanetiAction | null {
  const v = (f: GanetiField) => {
    const t = state.values[f].trim();
    return t === '' ? undefined : t;
  };
  const mode = v('disk-mode');
  const disk: DiskAddSpec = { size: v('size') ?? '', name: v('disk-name'), ...(mode === 'rw' || mode === 'ro' ? { mode } : {}) };
  const mac = v('mac');
  const nic = { mac: mac === 'generate' ? undefined : mac, link: v('link'), name: v('nic-name') };
  switch (state.choice) {
    case 'ganeti-disk':
      return { kind: 'disk-add', instance: state.instance, disk };
    case 'ganeti-nic':
      return { kind: 'nic-add', instance: state.instance, nic };
    case 'ganeti-both':
      return { kind: 'devices', instance: state.instance, disks: [{ op: 'add', disk }], nics: [{ op: 'add', nic }] };
    default:
      return null;
  }
}

export function ganetiWizardReducer(state: GanetiWizardState, action: GanetiWizardAction): GanetiWizardState {
  const fields = fieldsOf(state.choice);
  switch (action.type) {
    case 'pick-move': {
      if (state.step !== 'pick') return state;
      const n = CHOICES.length;
      return { ...state, pick: (((state.pick + action.delta) % n) + n) % n };
    }
    case 'pick': {
      if (state.step !== 'pick') return state;
      const choice = CHOICES[state.pick] ?? 'ganeti-disk';
      if (choice === 'qmp-disk' || choice === 'qmp-nic') return { ...state, choice, done: { kind: 'qmp', start: choice === 'qmp-disk' ? 'disk' : 'nic' } };
      return { ...state, choice, step: fieldsOf(choice)[0] ?? 'pick' };
    }
    case 'type-text':
      if (state.step === 'pick') return state;
      return { ...state, values: { ...state.values, [state.step]: (state.values[state.step] + action.text).slice(0, 128) } };
    case 'erase':
      if (state.step === 'pick') return state;
      return { ...state, values: { ...state.values, [state.step]: state.values[state.step].slice(0, -1) } };
    case 'submit': {
      if (state.step === 'pick') return state;
      if (!checkField(state.step, state.values[state.step]).ok) return state;
      const next = fields[fields.indexOf(state.step) + 1];
      if (next) return { ...state, step: next };
      const a = ganetiActionOf(state);
      return a ? { ...state, done: { kind: 'ganeti', action: a } } : state;
    }
    case 'back': {
      if (state.step === 'pick') return { ...state, closed: true };
      const prev = fields[fields.indexOf(state.step) - 1];
      return { ...state, step: prev ?? 'pick' };
    }
    case 'opened':
      return state.done === null ? state : { ...state, done: null };
    default: {
      const never: never = action;
      return never;
    }
  }
}
