/**
 * A change through Ganeti — a hot-add or unplug, several devices in one job, the what-if's `-H`
 * change: the exact RAPI request (planned at once; nothing is sent before the confirm), the
 * confirm, the job followed with its log as it comes, and the result read honestly from the job
 * (done and where the devices landed; the hotplug failed: the marks and the node-local repair; at
 * the next start; failed). While the job runs nothing of plugboard's connects to the instance's
 * QMP socket.
 */
import React, { useEffect, useMemo, useReducer } from 'react';
import { Box } from 'ink';
import type { GanetiAction } from '../../src/actions/plan-ganeti.js';
import { Cursor } from '../common/Cursor.js';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { useConfirmRunInput } from '../common/useConfirmRunInput.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys } from '../hooks.js';
import { keyLine } from '../keymap.js';
import { stepScreenLayout, UNPLUG_MIN_BODY, type Size } from '../layout.js';
import { truncate, wrapLines } from '../text.js';
import { initialJobState, jobReducer } from './job-state.js';
import { jobPlanLines, jobProgressLines, jobResultText } from './job-text.js';
import { useGanetiJob } from './useGanetiJob.js';

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

  useGanetiJob(service, action, { preview: state.step === 'preview' && !state.previewError, run: state.step === 'running' }, dispatch);

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

  const questionLines = state.step === 'confirm' ? wrapLines([question], w, 2).slice(0, bodyHeight >= UNPLUG_MIN_BODY + 1 ? 2 : 1) : [];
  const bottom = state.step === 'confirm' ? questionLines.length + 2 : 1;
  const listHeight = Math.max(1, bodyHeight - bottom);
  const scrollMax = maxTop(lines.length, listHeight);
  // While the job runs its newest lines are shown.
  const top = state.step === 'running' ? scrollMax : state.scroll;
  useConfirmRunInput({ screen: 'ganeti-job', active, step: state.step, dispatch, submit: () => ({ type: 'submit' }), scrollMax, page: Math.max(1, listHeight - 1) });
  useGlobalKeys(active && state.step !== 'running', state.step === 'confirm');

  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  const r = state.result ? jobResultText(state.result) : null;
  const keys = state.step === 'running' ? 'wait: Ganeti runs the job; its log shows as it comes' : keyLine('ganeti-job', w, state.step, { typing: state.step === 'confirm' });
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(`${title} · through Ganeti (cluster ${cluster})`, w)}</Text>
      {r ? (
        <Text bold color={r.color}>
          {truncate(r.headline, w)}
        </Text>
      ) : (
        <Text dimColor>{state.step === 'running' ? 'Ganeti is running the job…' : 'nothing has been sent yet'}</Text>
      )}
      {layout.gap > 0 ? <Text> </Text> : null}
      <Box flexDirection="column" height={bodyHeight}>
        <ScrollText lines={lines} top={top} height={listHeight} width={w} color={state.previewError ? 'red' : undefined} />
        {state.step === 'confirm' ? (
          <Box flexDirection="column">
            {questionLines.map((l, i) => (
              <Text key={i} bold color="yellow">
                {truncate(l, w)}
              </Text>
            ))}
            <Text>
              <Text color="cyan">{'> '}</Text>
              {truncate(state.typed, Math.max(1, w - 3))}
              <Cursor />
            </Text>
            <Text color={state.hint ? 'red' : undefined} dimColor={!state.hint}>
              {truncate(state.hint ?? keyLine('ganeti-job', w, 'confirm', { typing: true }), w)}
            </Text>
          </Box>
        ) : (
          <Text dimColor>{truncate(keys, w)}</Text>
        )}
      </Box>
    </Box>
  );
}
