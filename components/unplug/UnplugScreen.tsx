/** Unplug the disk or NIC selected on the map: plan, explicit confirmation, progress, result. */
import React, { useEffect, useMemo, useReducer } from 'react';
import type { Action } from '../../src/actions/types.js';
import { placeText, type MapPlace } from '../../src/tui/detail.js';
import { planLines, progressLines, resultText, transcriptLines } from '../common/run-text.js';
import { QMP_WAY, usePlanAndRun } from '../common/usePlanAndRun.js';
import { ConfirmRunView, confirmRunBody } from '../common/ConfirmRunView.js';
import { TooSmall } from '../common/TooSmall.js';
import { useConfirmRunInput } from '../common/useConfirmRunInput.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useNotes, useTranscript } from '../hooks.js';
import { stepScreenLayout, UNPLUG_MIN_BODY, type Size } from '../layout.js';
import { wrapLines } from '../text.js';
import { initialUnplugState, unplugReducer } from './state.js';

export interface UnplugScreenProps {
  name: string;
  place: MapPlace;
  deviceId: string;
  deviceKind: 'disk' | 'nic';
  active: boolean;
  size: Size;
}

export function UnplugScreen({ name, place, deviceId, deviceKind, active, size }: UnplugScreenProps): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const notes = useNotes(service, name);
  const entries = useTranscript(service.transcript);
  const [state, dispatch] = useReducer(unplugReducer, deviceKind, initialUnplugState);
  const w = size.columns;
  const layout = stepScreenLayout(size, UNPLUG_MIN_BODY);
  const bodyHeight = layout.fits ? layout.body : UNPLUG_MIN_BODY;
  const action: Action = useMemo(
    () =>
      deviceKind === 'disk'
        ? { type: 'unplug-disk', instance: name, device: deviceId, timeoutMs: service.unplugTimeoutMs }
        : { type: 'unplug-nic', instance: name, device: deviceId, timeoutMs: service.unplugTimeoutMs },
    [deviceKind, name, deviceId, service],
  );

  usePlanAndRun(QMP_WAY, service, action, { preview: state.step === 'preview' && !state.previewError, run: state.step === 'running' }, dispatch);

  useEffect(() => {
    if (state.closed) nav.backTo('instance');
  }, [state.closed, nav]);

  const pci = place.bus === 'pci.0';
  // On an instance Ganeti manages this screen removes a device Ganeti does not have: on the node only.
  const ganeti = service.cachedView(name)?.ganeti;
  const repair =
    ganeti?.kind === 'compared' && ganeti.comparison.marks.some((m) => m.id === deviceId && m.code === 'not-in-ganeti')
      ? `${deviceId} is not in Ganeti's configuration (cluster ${ganeti.cluster}): it is removed on the node only, over QMP — the node-local repair that brings the node in line with Ganeti.`
      : null;
  const lines = useMemo(() => {
    const out: string[] = [];
    if (repair && state.step !== 'result') out.push(repair, '');
    if (state.step === 'preview' || state.step === 'confirm') {
      if (pci) {
        out.push('A PCI unplug needs the guest to acknowledge it (ACPI): without that it stays pending, QEMU keeps the device and the runtime file keeps its entry.');
        for (const n of notes.slice(1)) out.push(`note: ${n}`);
        out.push('');
      }
      if (state.previewError) out.push('✗ the unplug was refused; nothing was sent:', ...state.previewError.split('\n'));
      else if (!state.plan) out.push('asking QEMU for the current state to plan against (reads only)…');
      else out.push(...planLines(state.plan));
    } else if (state.step === 'running') {
      out.push(...progressLines(state.progress, true));
    } else if (state.result) {
      out.push(...resultText(state.result).lines, '', ...progressLines(state.progress, false), '', 'QMP transcript of this action (→ sent, ← received):', ...transcriptLines(entries, state.transcriptFrom));
    }
    return wrapLines(out, w);
  }, [state.step, state.plan, state.previewError, state.progress, state.result, state.transcriptFrom, entries, pci, notes, w, repair]);
  // The question of the confirm step (confirmRunBody wraps it to at most two lines).
  const question =
    deviceKind === 'disk' ? `Type yes and Enter to unplug disk ${deviceId} from ${name} (Esc keeps it):` : `Unplug NIC ${deviceId} from ${name}? y and Enter (Esc keeps it):`;
  const body = confirmRunBody(state.step, question, w, bodyHeight, lines.length);
  useConfirmRunInput({
    screen: 'unplug',
    active,
    step: state.step,
    dispatch,
    submit: () => ({ type: 'submit', transcriptFrom: service.transcript?.entries().at(-1)?.seq ?? 0 }),
    scrollMax: body.scrollMax,
    page: body.page,
  });
  useGlobalKeys(active && state.step !== 'running', state.step === 'confirm');

  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  return (
    <ConfirmRunView
      screen="unplug"
      width={w}
      title={`Unplug ${deviceKind === 'nic' ? 'NIC' : 'disk'} ${deviceId} from ${name} (${placeText(place)})`}
      state={state}
      result={state.result ? resultText(state.result) : null}
      running={{ status: 'unplugging…', keys: 'wait: the unplug is running' }}
      gap={layout.gap > 0}
      bodyHeight={bodyHeight}
      body={body}
      lines={lines}
      top={state.scroll}
    />
  );
}
