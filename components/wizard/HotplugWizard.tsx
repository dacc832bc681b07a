/** The guided hot-add of a disk or NIC (see state.ts for the steps). */
import React, { useEffect, useMemo, useReducer } from 'react';
import { Box, Text } from 'ink';
import SelectInput from 'ink-select-input';
import { allocate } from '../../src/bus/allocate.js';
import { commonPrefix } from '../../src/tui/validate.js';
import { HOTPLUGGABLE_DISK_TYPES, HOTPLUGGABLE_NIC_TYPES, isScsiDiskType } from '../../src/runtime/hvparams.js';
import type { InstanceView } from '../../src/tui/view.js';
import { planLines, progressLines, resultText, transcriptLines } from '../common/run-text.js';
import { usePlanAndRun } from '../common/usePlanAndRun.js';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useInstanceView, useTranscript } from '../hooks.js';
import { frameHeight, type Size } from '../layout.js';
import { nextText } from '../instance/InstanceScreen.js';
import { truncate, wrapLines } from '../text.js';
import { actionOf, fieldCheck, fieldOf, initialWizardState, stepsOf, wizardReducer, type WizardKind, type WizardState } from './state.js';
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

function Breadcrumb({ state }: { state: WizardState }): React.JSX.Element {
  const steps = stepsOf(state.kind);
  const current = state.step === 'running' ? 'result' : state.step;
  return (
    <Text>
      {steps.map((s, i) => (
        <Text key={s} bold={s === current} inverse={s === current} dimColor={s !== current}>
          {i > 0 ? ' › ' : ''}
          {s === current ? ` ${STEP_NAMES[s]} ` : STEP_NAMES[s]}
        </Text>
      ))}
    </Text>
  );
}

interface TypeItem {
  label: string;
  value: string;
}

/** The disk_type / nic_type choices, the instance's default first, with where each would go. */
export function typeItems(view: InstanceView, kind: WizardKind): TypeItem[] {
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

function KindStep({ view, active, onPick }: { view: InstanceView; active: boolean; onPick: (k: WizardKind) => void }): React.JSX.Element {
  const items = useMemo(
    () => [
      { label: `Disk  — a block device or raw image file · next → ${nextText(view.next.disk)}`, value: 'disk' as WizardKind },
      { label: `NIC   — a network card on pci.0 · next → ${nextText(view.next.nic)}`, value: 'nic' as WizardKind },
    ],
    [view],
  );
  return (
    <Box flexDirection="column">
      <Text>What do you want to hot-add to {view.name}?</Text>
      <SelectInput items={items} isFocused={active} onSelect={(i) => onPick(i.value)} />
    </Box>
  );
}

function TypeStep({ view, kind, active, onPick }: { view: InstanceView; kind: WizardKind; active: boolean; onPick: (t: string) => void }): React.JSX.Element {
  const items = useMemo(() => typeItems(view, kind), [view, kind]);
  const h = view.rf.hvparams;
  const scsi = view.model.scsi;
  return (
    <Box flexDirection="column">
      <Text>{kind === 'disk' ? 'disk_type' : 'nic_type'} of the new {kind === 'disk' ? 'disk' : 'NIC'} (the instance’s {kind === 'disk' ? `disk_type is ${h.disk_type}` : `nic_type is ${h.nic_type}`}):</Text>
      <SelectInput items={items} isFocused={active} onSelect={(i) => onPick(i.value)} />
      {kind === 'disk' ? (
        <Text dimColor wrap="wrap">
          {scsi
            ? `SCSI disks go on scsi.0 behind the ${scsi.controller} controller (scsi_controller_type ${h.scsi_controller_type}, targets 0–${scsi.maxTarget}); the controller cannot change while the instance runs: see What-if (w) for the next start.`
            : `No SCSI controller in ${view.name}: the scsi-* types need one, which Ganeti adds at start with a SCSI disk_type (scsi_controller_type ${h.scsi_controller_type}); see What-if (w).`}
        </Text>
      ) : null}
    </Box>
  );
}

function FieldStep({ state, label, value, hint }: { state: WizardState; label: string; value: string; hint: string }): React.JSX.Element {
  const check = fieldCheck(state);
  return (
    <Box flexDirection="column">
      <Text>{label}</Text>
      <Text>
        <Text color="cyan">{'> '}</Text>
        {value}
        <Text inverse> </Text>
      </Text>
      {check ? (
        <Text color={check.ok ? 'green' : 'red'}>
          {check.ok ? '✓ ' : '✗ '}
          {check.message}
        </Text>
      ) : (
        <Text dimColor>checking…</Text>
      )}
      <Text dimColor>{hint}</Text>
    </Box>
  );
}

export function HotplugWizard({ name, active, size }: { name: string; active: boolean; size: Size }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const [state, dispatch] = useReducer(wizardReducer, undefined, () => initialWizardState(name, service.suggestDiskPath() ?? ''));
  const early = state.step === 'kind' || state.step === 'type';
  const { view } = useInstanceView(service, name, active && early);
  const entries = useTranscript(service.transcript);
  const w = size.columns;
  const bodyHeight = Math.max(4, frameHeight(size) - 5);

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
  usePlanAndRun(service, action, { preview: state.step === 'preview' && !state.plan && !state.previewError, run: state.step === 'running' }, dispatch);

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
  const listHeight = bodyHeight - (state.step === 'confirm' ? 5 : state.step === 'result' ? 2 : 1);
  const scrollMax = maxTop(scrollLines.length, listHeight);

  useWizardInput({
    active,
    state,
    dispatch,
    newUuid: () => service.newUuid(),
    transcriptSeq: () => service.transcript?.entries().at(-1)?.seq ?? 0,
    scrollMax,
    page: Math.max(1, listHeight - 1),
  });
  useGlobalKeys(active && state.step !== 'running', fieldOf(state.step) !== null);

  const what = state.kind === 'disk' ? 'disk' : 'NIC';
  let body: React.JSX.Element;
  if (!view && early) body = <Text>loading {name}…</Text>;
  else
    switch (state.step) {
      case 'kind':
        body = <KindStep view={view!} active={active} onPick={(kind) => dispatch({ type: 'choose-kind', kind })} />;
        break;
      case 'type':
        body = <TypeStep view={view!} kind={state.kind} active={active} onPick={(value) => dispatch({ type: 'choose-type', value })} />;
        break;
      case 'path':
        body = (
          <Box flexDirection="column">
            <FieldStep state={state} label={`Host path of the ${state.type} disk (a block device or a raw image file):`} value={state.path} hint="Tab completes · Enter continues to the preview · Esc back" />
            {state.completions.length > 0 ? (
              <Text dimColor>{truncate(state.completions.slice(0, 12).map((c) => c.slice(c.lastIndexOf('/', c.length - 2) + 1)).join('  '), w)}</Text>
            ) : null}
          </Box>
        );
        break;
      case 'mac':
        body = <FieldStep state={state} label={`MAC address of the new ${state.type} NIC (empty: generate one):`} value={state.mac} hint="Enter continues · Esc back" />;
        break;
      case 'link':
        body = <FieldStep state={state} label="Bridge (nicparams link) to connect it to (empty: the instance’s default):" value={state.link} hint="Enter continues to the preview · Esc back" />;
        break;
      case 'preview':
        body = (
          <Box flexDirection="column">
            <ScrollText lines={scrollLines} top={state.scroll} height={listHeight} width={w} color={state.previewError ? 'red' : undefined} />
            <Text dimColor>{state.plan ? 'Enter: go on to confirm (nothing has been sent) · ↑↓ scroll · Esc back' : 'Esc back'}</Text>
          </Box>
        );
        break;
      case 'confirm': {
        const plan = state.plan!;
        const where = plan.allocation ? (plan.allocation.bus === 'pci.0' ? `pci.0 slot ${plan.allocation.addr}` : `scsi.0 target ${plan.allocation['scsi-id']}`) : '';
        body = (
          <Box flexDirection="column">
            <ScrollText lines={scrollLines} top={state.scroll} height={listHeight} width={w} />
            <Text bold color="yellow" wrap="wrap">
              Hot-add {what} {plan.device.id} ({plan.device.driver}) to {name} at {where}?
            </Text>
            <Text>{truncate(state.kind === 'disk' ? `  image ${state.path}` : `  MAC ${state.mac.trim() || '(generated)'} · bridge ${state.link.trim() || '(default)'}`, w)}</Text>
            <Text>
              <Text bold>y</Text> yes, hot-add it now · <Text bold>n</Text>/Esc back to the preview
            </Text>
          </Box>
        );
        break;
      }
      case 'running':
        body = (
          <Box flexDirection="column">
            <Text bold>Hot-adding {what} to {name}…</Text>
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
            <Text dimColor>Enter/Esc: back to the map · ↑↓ scroll · L: whole QMP log</Text>
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
      <Breadcrumb state={state} />
      <Box flexDirection="column" marginTop={1} height={bodyHeight}>
        {body}
      </Box>
    </Box>
  );
}
