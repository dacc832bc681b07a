/**
 * A change through Ganeti — a hot-add or unplug, several devices in one job, the what-if's `-H`
 * change: the exact RAPI request (planned at once; nothing is sent before the confirm), the
 * confirm, the job followed with its log as it comes, and the result read honestly from the job
 * (done and where the devices landed; the hotplug failed: the marks and the node-local repair; at
 * the next start; failed). While the job runs nothing of plugboard's connects to the instance's
 * QMP socket.
 */
import React, { useEffect, useMemo, useReducer } from 'react';
import type { GanetiAction } from '../../src/actions/plan-ganeti.js';
import { ConfirmRunView, confirmRunBody } from '../common/ConfirmRunView.js';
import { TooSmall } from '../common/TooSmall.js';
import { useConfirmRunInput } from '../common/useConfirmRunInput.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys } from '../hooks.js';
import { stepScreenLayout, UNPLUG_MIN_BODY, type Size } from '../layout.js';
import { wrapLines } from '../text.js';
import { initialJobState, jobReducer } from './job-state.js';
import { jobPlanLines, jobProgressLines, jobResultText } from './job-text.js';
import { GANETI_WAY, usePlanAndRun } from '../common/usePlanAndRun.js';

export interface GanetiJobScreenProps {
  /** The instance (the screen stack's; the action names it too). */
  name: string;
  action: GanetiAction;
  title: string;
  question: string;
  confirm: 'y' | 'yes';
  active: boolean;
  size: Size;
}

export function GanetiJobScreen({ action, title, question, confirm, active, size }: GanetiJobScreenProps): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const [state, dispatch] = useReducer(jobReducer, confirm, initialJobState);
  const w = size.columns;
  const layout = stepScreenLayout(size, UNPLUG_MIN_BODY);
  const bodyHeight = layout.fits ? layout.body : UNPLUG_MIN_BODY;
  const cluster = service.ganeti?.clusterName ?? '?';

  usePlanAndRun(GANETI_WAY, service, action, { preview: state.step === 'preview' && !state.previewError, run: state.step === 'running' }, dispatch);

  useEffect(() => {
    if (state.closed) nav.backTo('instance');
  }, [state.closed, nav]);

  const lines = useMemo(() => {
    const out: string[] = [];
    if (state.step === 'preview' || state.step === 'confirm') {
      if (state.previewError) out.push('✗ refused; nothing was sent:', ...state.previewError.split('\n'));
      else if (!state.plan) out.push('asking Ganeti for the instance to plan against (reads only)…');
      else out.push(...jobPlanLines(state.plan, cluster));
    } else if (state.step === 'running') {
      out.push(...jobProgressLines(state.progress, true));
    } else if (state.result) {
      out.push(...jobResultText(state.result).lines, '', 'the job:', ...jobProgressLines(state.progress, false));
    }
    return wrapLines(out, w, 4);
  }, [state.step, state.plan, state.previewError, state.progress, state.result, cluster, w]);

  const body = confirmRunBody(state.step, question, w, bodyHeight, lines.length);
  // While the job runs its newest lines are shown.
  const top = state.step === 'running' ? body.scrollMax : state.scroll;
  useConfirmRunInput({ screen: 'ganeti-job', active, step: state.step, dispatch, submit: () => ({ type: 'submit' }), scrollMax: body.scrollMax, page: body.page });
  useGlobalKeys(active && state.step !== 'running', state.step === 'confirm');

  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  return (
    <ConfirmRunView
      screen="ganeti-job"
      width={w}
      title={`${title} · through Ganeti (cluster ${cluster})`}
      state={state}
      result={state.result ? jobResultText(state.result) : null}
      running={{ status: 'Ganeti is running the job…', keys: 'wait: Ganeti runs the job; its log shows as it comes' }}
      gap={layout.gap > 0}
      bodyHeight={bodyHeight}
      body={body}
      lines={lines}
      top={top}
    />
  );
}
