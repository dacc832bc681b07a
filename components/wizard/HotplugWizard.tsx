/** The guided hot-add of a disk or NIC (see state.ts for the steps). */
import React, { useEffect, useMemo, useReducer } from 'react';
import { Box } from 'ink';
import { allocate } from '../../src/bus/allocate.js';
import { commonPrefix } from '../../src/tui/validate.js';
import { HOTPLUGGABLE_DISK_TYPES, HOTPLUGGABLE_NIC_TYPES, isScsiDiskType } from '../../src/runtime/hvparams.js';
import type { InstanceView } from '../../src/tui/view.js';
import { planLines, progressLines, resultText, transcriptLines } from '../common/run-text.js';
import { QMP_WAY, usePlanAndRun } from '../common/usePlanAndRun.js';
import { Cursor } from '../common/Cursor.js';
import { Picker, type PickerItem } from '../common/Picker.js';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { styled } from '../color.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useInstanceView, useTranscript } from '../hooks.js';
import { keyLine } from '../keymap.js';
import { stepScreenLayout, WIZARD_MIN_BODY, type Size } from '../layout.js';
import { nextText } from '../instance/InstanceScreen.js';
import { displayWidth, truncate, wrapLines } from '../text.js';
import { actionOf, fieldCheck, fieldOf, initialWizardState, stepsOf, wizardMode, wizardReducer, type WizardKind, type WizardState } from './state.js';
import { useWizardInput } from './useWizardInput.js';

const STEP_NAMES: Record<string, string> = {
  kind: 'disk or NIC',
  type: 'type',
  path: 'path',
  mac: 'MAC',
  link: 'bridge',
  preview: 'preview',
  confirm: 'confirm',
  running: 'progress',
  result: 'result',
};

/**
 * The steps, the current one in brackets (and inverse when styled): the whole row when it fits
 * `width`, else `step 3 of 6: path`.
 */
export function breadcrumbPieces(state: Pick<WizardState, 'kind' | 'step'>, width: number): { text: string; current: boolean }[] {
  const steps = stepsOf(state.kind);
  const current = state.step === 'running' ? 'result' : state.step;
  const pieces = steps.map((s, i) => ({ text: `${i > 0 ? ' › ' : ''}${s === current ? `[${STEP_NAMES[s]}]` : STEP_NAMES[s]}`, current: s === current }));
  if (displayWidth(pieces.map((p) => p.text).join('')) <= width) return pieces;
  const at = Math.max(0, steps.indexOf(current));
  return [{ text: truncate(`step ${at + 1} of ${steps.length}: [${STEP_NAMES[current]}]`, width), current: true }];
}

function Breadcrumb({ state, width }: { state: WizardState; width: number }): React.JSX.Element {
  return (
    <Text>
      {breadcrumbPieces(state, width).map((p, i) => (
        <Text key={i} bold={p.current} inverse={p.current && styled()} dimColor={!p.current}>
          {p.text}
        </Text>
      ))}
    </Text>
  );
}

/** The disk_type / nic_type choices, the instance's default first, with where each would go. */
export function typeItems(view: InstanceView, kind: WizardKind): PickerItem[] {
  const h = view.rf.hvparams;
  const hasController = view.model.scsi !== null;
  const types = kind === 'disk' ? HOTPLUGGABLE_DISK_TYPES.filter((t) => hasController || !isScsiDiskType(t)) : [...HOTPLUGGABLE_NIC_TYPES];
  const current = kind === 'disk' ? h.disk_type : h.nic_type;
  const ordered = [...types.filter((t) => t === current), ...types.filter((t) => t !== current)];
  return ordered.map((t) => {
    const where = allocate(view.model, view.rf, { kind, type: t });
    const place = where.ok ? `→ ${nextText(where)}` : `✗ ${where.error}`;
    return { value: t, label: `${t.padEnd(13)}${t === current ? '(instance default) ' : ''}${place}` };
  });
}

/** The choices of the first step. */
export function kindItems(view: InstanceView): PickerItem[] {
  return [
    { label: `Disk  — a block device or raw image file · next → ${nextText(view.next.disk)}`, value: 'disk' },
    { label: `NIC   — a network card on pci.0 · next → ${nextText(view.next.nic)}`, value: 'nic' },
  ];
}

/** What the type step says under the list (disks: where SCSI disks go). */
export function typeNote(view: InstanceView, kind: WizardKind): string | null {
  if (kind !== 'disk') return null;
  const h = view.rf.hvparams;
  const scsi = view.model.scsi;
  return scsi
    ? `SCSI disks go on scsi.0 behind the ${scsi.controller} controller (scsi_controller_type ${h.scsi_controller_type}, targets 0–${scsi.maxTarget}); the controller cannot change while the instance runs: see What-if (w) for the next start.`
    : `No SCSI controller in ${view.name}: the scsi-* types need one, which Ganeti adds at start with a SCSI disk_type (scsi_controller_type ${h.scsi_controller_type}); see What-if (w).`;
}

/** A text field: its label, the value with the cursor, the check (up to `checkLines` lines), the keys. */
function FieldStep({ state, label, value, hint, width, checkLines }: { state: WizardState; label: string; value: string; hint: string; width: number; checkLines: number }): React.JSX.Element {
  const check = fieldCheck(state);
  const checkText = check ? `${check.ok ? '✓ ' : '✗ '}${check.message}` : 'checking…';
  const lines = wrapLines([checkText], width, 2).slice(0, Math.max(1, checkLines));
  return (
    <Box flexDirection="column">
      <Text>{truncate(label, width)}</Text>
      <Text>
        <Text color="cyan">{'> '}</Text>
        {truncate(value, Math.max(1, width - 3))}
        <Cursor />
      </Text>
      {lines.map((l, i) => (
        <Text key={i} color={check ? (check.ok ? 'green' : 'red') : undefined} dimColor={!check}>
          {l}
        </Text>
      ))}
      <Text dimColor>{truncate(hint, width)}</Text>
    </Box>
  );
}

export function HotplugWizard({ name, active, size, start }: { name: string; active: boolean; size: Size; start?: WizardKind }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const [state, dispatch] = useReducer(wizardReducer, undefined, () => initialWizardState(name, service.suggestDiskPath() ?? '', start));
  const early = state.step === 'kind' || state.step === 'type';
  const { view } = useInstanceView(service, name, active && early);
  const entries = useTranscript(service.transcript);
  const w = size.columns;
  const layout = stepScreenLayout(size, WIZARD_MIN_BODY);
  const bodyHeight = layout.fits ? layout.body : WIZARD_MIN_BODY;
  const pickItems = useMemo(() => (view ? (state.step === 'kind' ? kindItems(view) : state.step === 'type' ? typeItems(view, state.kind) : []) : []), [view, state.step, state.kind]);
  const pickValues = useMemo(() => pickItems.map((i) => i.value), [pickItems]);

  // Check the path as it is typed (debounced; a stale answer is ignored by the reducer).
  useEffect(() => {
    if (state.step !== 'path' || state.type === null) return;
    const path = state.path;
    const type = state.type;
    let cancelled = false;
    const timer = setTimeout(() => {
      void service.checkDiskPath(path, type, name).then((check) => {
        if (!cancelled) dispatch({ type: 'path-checked', path, check });
      });
    }, 80);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [service, name, state.step, state.path, state.type]);

  // Tab: complete the path from its directory.
  useEffect(() => {
    const prefix = state.completeRequest;
    if (prefix === null) return;
    let cancelled = false;
    void service.completePath(prefix).then((items) => {
      if (!cancelled) dispatch({ type: 'completions', prefix, items, common: commonPrefix(items) });
    });
    return () => {
      cancelled = true;
    };
  }, [service, state.completeRequest]);

  // The preview (reads only), then, after confirm, the run; quitting aborts it and the executor undoes what it did.
  const { type, uuid, kind, path, mac, link, instance } = state;
  const action = useMemo(() => actionOf({ type, uuid, kind, path, mac, link, instance }), [type, uuid, kind, path, mac, link, instance]);
  usePlanAndRun(QMP_WAY, service, action, { preview: state.step === 'preview' && !state.plan && !state.previewError, run: state.step === 'running' }, dispatch);

  // Closing goes back to the map (which reloads).
  useEffect(() => {
    if (state.closed) nav.backTo('instance');
  }, [state.closed, nav]);

  // Text of the scrollable steps.
  const scrollLines = useMemo(() => {
    if (state.step === 'preview' || state.step === 'confirm') {
      if (state.previewError) return wrapLines(['✗ the plan was refused; nothing was sent:', ...state.previewError.split('\n')], w);
      if (!state.plan) return ['asking QEMU for the current state to plan against (reads only)…'];
      return wrapLines(planLines(state.plan), w);
    }
    if (state.step === 'running') return wrapLines(progressLines(state.progress, true), w);
    if (state.step === 'result' && state.result) {
      const r = resultText(state.result);
      return wrapLines(
        [
          ...r.lines,
          '',
          ...progressLines(state.progress, false),
          '',
          'QMP transcript of this action (→ sent, ← received):',
          ...transcriptLines(entries, state.transcriptFrom),
        ],
        w,
      );
    }
    return [];
  }, [state.step, state.plan, state.previewError, state.progress, state.result, state.transcriptFrom, entries, w]);
  // Lines of the step's body, top to bottom (see each case below).
  const plan = state.plan;
  const question = plan
    ? `Hot-add ${state.kind === 'disk' ? 'disk' : 'NIC'} ${plan.device.id} (${plan.device.driver}) to ${name} at ${plan.allocation ? (plan.allocation.bus === 'pci.0' ? `pci.0 slot ${plan.allocation.addr}` : `scsi.0 target ${plan.allocation['scsi-id']}`) : ''}?`
    : '';
  const questionLines = state.step === 'confirm' ? wrapLines([question], w, 2).slice(0, bodyHeight >= WIZARD_MIN_BODY + 1 ? 2 : 1) : [];
  const listHeight = Math.max(1, bodyHeight - (state.step === 'confirm' ? questionLines.length + 2 : state.step === 'result' ? 2 : 1));
  const scrollMax = maxTop(scrollLines.length, listHeight);

  useWizardInput({
    active,
    state,
    dispatch,
    pickValues,
    newUuid: () => service.newUuid(),
    transcriptSeq: () => service.transcript?.entries().at(-1)?.seq ?? 0,
    scrollMax,
    page: Math.max(1, listHeight - 1),
  });
  useGlobalKeys(active && state.step !== 'running', fieldOf(state.step) !== null);

  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  const what = state.kind === 'disk' ? 'disk' : 'NIC';
  // Directly over QMP on an instance Ganeti manages: say what Ganeti will not know, on every step.
  const managed = (view ?? service.cachedView(name))?.ganeti;
  const ganetiWarning =
    managed && managed.kind !== 'unknown'
      ? `! directly over QMP: Ganeti (cluster ${managed.cluster}) will not know this ${what} — gone at the next restart, not replicated, not migrated`
      : null;
  const mode = wizardMode(state.step);
  const keys = keyLine('wizard', w, mode, { typing: fieldOf(state.step) !== null });
  let body: React.JSX.Element;
  if (!view && early) body = <Text>{truncate(`loading ${name}…`, w)}</Text>;
  else
    switch (state.step) {
      case 'kind':
        body = (
          <Box flexDirection="column">
            <Text>{truncate(`What do you want to hot-add to ${view!.name}?`, w)}</Text>
            <Picker items={pickItems} selected={state.pick} rows={Math.min(pickItems.length, bodyHeight - 2)} width={w} focused={active} />
            <Text dimColor>{keys}</Text>
          </Box>
        );
        break;
      case 'type': {
        const h = view!.rf.hvparams;
        const rows = Math.min(pickItems.length, Math.max(2, bodyHeight - 2));
        const note = typeNote(view!, state.kind);
        const noteLines = note ? wrapLines([note], w, 0).slice(0, Math.max(0, bodyHeight - 2 - rows)) : [];
        body = (
          <Box flexDirection="column">
            <Text>{truncate(`${state.kind === 'disk' ? 'disk_type' : 'nic_type'} of the new ${what} (the instance’s ${state.kind === 'disk' ? `disk_type is ${h.disk_type}` : `nic_type is ${h.nic_type}`}):`, w)}</Text>
            <Picker items={pickItems} selected={state.pick} rows={rows} width={w} focused={active} />
            {noteLines.map((l, i) => (
              <Text key={i} dimColor>
                {l}
              </Text>
            ))}
            <Text dimColor>{keys}</Text>
          </Box>
        );
        break;
      }
      case 'path': {
        const completions = state.completions.length > 0 && bodyHeight > WIZARD_MIN_BODY ? 1 : 0;
        body = (
          <Box flexDirection="column">
            <FieldStep state={state} label={`Host path of the ${state.type} disk (a block device or a raw image file):`} value={state.path} hint={keys} width={w} checkLines={bodyHeight - 3 - completions} />
            {completions ? <Text dimColor>{truncate(state.completions.slice(0, 12).map((c) => c.slice(c.lastIndexOf('/', c.length - 2) + 1)).join('  '), w)}</Text> : null}
          </Box>
        );
        break;
      }
      case 'mac':
        body = <FieldStep state={state} label={`MAC address of the new ${state.type} NIC (empty: generate one):`} value={state.mac} hint={keys} width={w} checkLines={bodyHeight - 3} />;
        break;
      case 'link':
        body = <FieldStep state={state} label="Bridge (nicparams link) to connect it to (empty: the instance’s default):" value={state.link} hint={keys} width={w} checkLines={bodyHeight - 3} />;
        break;
      case 'preview':
        body = (
          <Box flexDirection="column">
            <ScrollText lines={scrollLines} top={state.scroll} height={listHeight} width={w} color={state.previewError ? 'red' : undefined} />
            <Text dimColor>{state.plan ? keys : keyLine('wizard', w, 'preview', { without: ['to-confirm'] })}</Text>
          </Box>
        );
        break;
      case 'confirm':
        body = (
          <Box flexDirection="column">
            <ScrollText lines={scrollLines} top={state.scroll} height={listHeight} width={w} />
            {questionLines.map((l, i) => (
              <Text key={i} bold color="yellow">
                {truncate(l, w)}
              </Text>
            ))}
            <Text>{truncate(state.kind === 'disk' ? `  image ${state.path}` : `  MAC ${state.mac.trim() || '(generated)'} · bridge ${state.link.trim() || '(default)'}`, w)}</Text>
            <Text bold>{keys}</Text>
          </Box>
        );
        break;
      case 'running':
        body = (
          <Box flexDirection="column">
            <Text bold>{truncate(`Hot-adding ${what} to ${name}…`, w)}</Text>
            <ScrollText lines={scrollLines} top={0} height={listHeight} width={w} />
          </Box>
        );
        break;
      case 'result': {
        const r = state.result ? resultText(state.result) : { headline: '', color: 'white', lines: [] };
        body = (
          <Box flexDirection="column">
            <Text bold color={r.color}>
              {truncate(r.headline, w)}
            </Text>
            <ScrollText lines={scrollLines} top={state.scroll} height={listHeight} width={w} />
            <Text dimColor>{keys}</Text>
          </Box>
        );
        break;
      }
      default: {
        const never: never = state.step;
        body = <Text>{String(never)}</Text>;
      }
    }

  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(`Hot-add to ${name}${state.type ? ` · ${what} ${state.type}` : ''}`, w)}</Text>
      <Breadcrumb state={state} width={w} />
      {layout.gap > 0 ? (
        ganetiWarning ? (
          <Text color="yellow">{truncate(ganetiWarning, w)}</Text>
        ) : (
          <Text> </Text>
        )
      ) : null}
      <Box flexDirection="column" height={bodyHeight}>
        {body}
      </Box>
    </Box>
  );
}
