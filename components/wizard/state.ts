/**
 * The guided hot-add: disk or NIC → disk_type / nic_type → path (disk) or MAC and bridge (NIC) →
 * preview (the plan: place, exact QMP commands) → confirm → progress → result. Esc goes back a step;
 * nothing that changes QEMU is sent before confirm (the preview only reads). Pure reducer: the
 * component's effects do the checking, previewing and running, and dispatch what they found.
 */
import type { ProgressEvent } from '../../src/executor/outcome.js';
import type { Action, Plan } from '../../src/actions/types.js';
import type { ActionResult } from '../../src/tui/service.js';
import { checkLink, checkMac, diskPathSyntaxProblem, type FieldCheck } from '../../src/tui/validate.js';

export type WizardKind = 'disk' | 'nic';
export type WizardStep = 'kind' | 'type' | 'path' | 'mac' | 'link' | 'preview' | 'confirm' | 'running' | 'result';
export type TextField = 'path' | 'mac' | 'link';

export interface WizardState {
  instance: string;
  step: WizardStep;
  kind: WizardKind;
  type: string | null;
  path: string;
  /** The check of `checkedPath` (the path as it was when checked). */
  pathCheck: FieldCheck | null;
  checkedPath: string | null;
  /** Tab pressed: complete this prefix (the component's effect lists the directory). */
  completeRequest: string | null;
  completions: readonly string[];
  mac: string;
  link: string;
  /** The new device's UUID, fixed when the preview is asked so preview and run use the same id. */
  uuid: string | null;
  plan: Plan | null;
  previewError: string | null;
  progress: readonly ProgressEvent[];
  result: ActionResult | null;
  /** Transcript entries after this sequence number belong to the run. */
  transcriptFrom: number;
  /** First line shown of the preview / result text. */
  scroll: number;
  /** The item selected in the list of the kind and type steps. */
  pick: number;
  closed: boolean;
}

export type WizardAction =
  | { type: 'choose-kind'; kind: WizardKind }
  | { type: 'choose-type'; value: string }
  | { type: 'type-text'; text: string }
  | { type: 'erase' }
  | { type: 'path-checked'; path: string; check: FieldCheck }
  | { type: 'complete'; }
  | { type: 'completions'; prefix: string; items: readonly string[]; common: string }
  | { type: 'submit'; uuid: string }
  | { type: 'back' }
  | { type: 'preview-ready'; plan: Plan }
  | { type: 'preview-failed'; message: string }
  | { type: 'confirm'; transcriptFrom: number }
  | { type: 'progress'; event: ProgressEvent }
  | { type: 'finished'; result: ActionResult }
  | { type: 'scroll'; delta: number; max: number }
  /** Move the selection of the kind / type list (of `count` items). */
  | { type: 'pick-move'; delta: number; count: number }
  | { type: 'close' };

export function initialWizardState(instance: string, suggestedPath = ''): WizardState {
  return {
    instance,
    step: 'kind',
    kind: 'disk',
    type: null,
    path: suggestedPath,
    pathCheck: null,
    checkedPath: null,
    completeRequest: null,
    completions: [],
    mac: '',
    link: '',
    uuid: null,
    plan: null,
    previewError: null,
    progress: [],
    result: null,
    transcriptFrom: 0,
    scroll: 0,
    pick: 0,
    closed: false,
  };
}

/** The text field the step edits, if it has one. */
export function fieldOf(step: WizardStep): TextField | null {
  return step === 'path' || step === 'mac' || step === 'link' ? step : null;
}

/** Whether the current field's value lets the wizard go on (and why not). */
export function fieldCheck(state: WizardState): FieldCheck | null {
  switch (fieldOf(state.step)) {
    case 'path': {
      // What the path's text alone says is known at once; the file system is asked by an effect.
      const syntax = diskPathSyntaxProblem(state.path);
      if (syntax) return { ok: false, message: syntax };
      return state.checkedPath === state.path ? state.pathCheck : null;
    }
    case 'mac':
      return checkMac(state.mac.trim());
    case 'link':
      return checkLink(state.link.trim());
    case null:
      return null;
    default:
      return null;
  }
}

/** The action the wizard would run (null until kind and type are chosen and the UUID is fixed). */
/** The action the wizard's fields make, once type and uuid are chosen. */
export function actionOf(state: Pick<WizardState, 'instance' | 'kind' | 'type' | 'path' | 'mac' | 'link' | 'uuid'>): Action | null {
  if (state.type === null || state.uuid === null) return null;
  if (state.kind === 'disk') return { type: 'hot-add-disk', instance: state.instance, path: state.path, diskType: state.type, uuid: state.uuid };
  const mac = state.mac.trim();
  const link = state.link.trim();
  return {
    type: 'hot-add-nic',
    instance: state.instance,
    nicType: state.type,
    uuid: state.uuid,
    ...(mac !== '' ? { mac } : {}),
    ...(link !== '' ? { link } : {}),
  };
}

function setField(state: WizardState, field: TextField, value: string): WizardState {
  return field === 'path' ? { ...state, path: value, completions: [] } : field === 'mac' ? { ...state, mac: value } : { ...state, link: value };
}

function valueOf(state: WizardState, field: TextField): string {
  return field === 'path' ? state.path : field === 'mac' ? state.mac : state.link;
}

const toPreview = (state: WizardState, uuid: string): WizardState => ({
  ...state,
  step: 'preview',
  uuid: state.uuid ?? uuid,
  plan: null,
  previewError: null,
  scroll: 0,
});

export function wizardReducer(state: WizardState, action: WizardAction): WizardState {
  switch (action.type) {
    case 'choose-kind':
      if (state.step !== 'kind') return state;
      return { ...state, kind: action.kind, type: null, step: 'type', pick: 0 };
    case 'choose-type':
      if (state.step !== 'type') return state;
      return { ...state, type: action.value, step: state.kind === 'disk' ? 'path' : 'mac', uuid: null };
    case 'type-text': {
      const f = fieldOf(state.step);
      return f ? setField(state, f, valueOf(state, f) + action.text) : state;
    }
    case 'erase': {
      const f = fieldOf(state.step);
      return f ? setField(state, f, valueOf(state, f).slice(0, -1)) : state;
    }
    case 'path-checked':
      return { ...state, pathCheck: action.check, checkedPath: action.path };
    case 'complete':
      return state.step === 'path' ? { ...state, completeRequest: state.path } : state;
    case 'completions': {
      // Ignore an answer for a path that has changed since Tab was pressed.
      if (state.completeRequest !== action.prefix || state.path !== action.prefix || state.step !== 'path') return { ...state, completeRequest: null };
      const path = action.common.length > state.path.length ? action.common : state.path;
      return { ...state, completeRequest: null, path, completions: action.items.length > 1 ? action.items : [] };
    }
    case 'submit': {
      const check = fieldCheck(state);
      switch (state.step) {
        case 'path':
          return check?.ok ? toPreview(state, action.uuid) : state;
        case 'mac':
          return check?.ok ? { ...state, step: 'link' } : state;
        case 'link':
          return check?.ok ? toPreview(state, action.uuid) : state;
        case 'preview':
          return state.plan ? { ...state, step: 'confirm' } : state;
        default:
          return state;
      }
    }
    case 'back':
      switch (state.step) {
        case 'kind':
          return { ...state, closed: true };
        case 'type':
          return { ...state, step: 'kind', pick: 0 };
        case 'path':
        case 'mac':
          return { ...state, step: 'type', completions: [], pick: 0 };
        case 'link':
          return { ...state, step: 'mac' };
        case 'preview':
          // The UUID stays: going forward again previews (and runs) the same device id.
          return { ...state, step: state.kind === 'disk' ? 'path' : 'link', plan: null, previewError: null };
        case 'confirm':
          return { ...state, step: 'preview' };
        case 'running':
          return state;
        case 'result':
          return { ...state, closed: true };
        default: {
          const never: never = state.step;
          return never;
        }
      }
    case 'preview-ready':
      return state.step === 'preview' ? { ...state, plan: action.plan, previewError: null } : state;
    case 'preview-failed':
      return state.step === 'preview' ? { ...state, previewError: action.message } : state;
    case 'confirm':
      return state.step === 'confirm' ? { ...state, step: 'running', progress: [], transcriptFrom: action.transcriptFrom, scroll: 0 } : state;
    case 'progress':
      return state.step === 'running' ? { ...state, progress: [...state.progress, action.event] } : state;
    case 'finished':
      return state.step === 'running' ? { ...state, step: 'result', result: action.result, scroll: 0 } : state;
    case 'scroll':
      return { ...state, scroll: Math.max(0, Math.min(action.max, state.scroll + action.delta)) };
    case 'pick-move': {
      if (state.step !== 'kind' && state.step !== 'type') return state;
      // Round the ends, as a menu does.
      const n = Math.max(1, action.count);
      return { ...state, pick: (((state.pick + action.delta) % n) + n) % n };
    }
    case 'close':
      return state.step === 'running' ? state : { ...state, closed: true };
    default: {
      const never: never = action;
      return never;
    }
  }
}

/** The wizard's step as the key map names it (`when`). */
export function wizardMode(step: WizardStep): 'pick' | 'path' | 'field' | 'preview' | 'confirm' | 'running' | 'result' {
  switch (step) {
    case 'kind':
    case 'type':
      return 'pick';
    case 'path':
      return 'path';
    case 'mac':
    case 'link':
      return 'field';
    case 'preview':
    case 'confirm':
    case 'running':
    case 'result':
      return step;
    default: {
      const never: never = step;
      return never;
    }
  }
}

/** The steps shown in the wizard's breadcrumb for a kind. */
export function stepsOf(kind: WizardKind): WizardStep[] {
  return kind === 'disk' ? ['kind', 'type', 'path', 'preview', 'confirm', 'result'] : ['kind', 'type', 'mac', 'link', 'preview', 'confirm', 'result'];
}
