/**
 * The view the confirm-run screens share (the unplug screen, the Ganeti job screen): the title, the
 * result's headline (or what is going on), the plan / progress / result text that scrolls, and at
 * the confirm step the question, the answer typed and the hint; otherwise the key line. The screens
 * make the text; the state is common/confirm-run-state.ts.
 */
import React from 'react';
import { Box } from 'ink';
import { keyLine } from '../keymap.js';
import { UNPLUG_MIN_BODY } from '../layout.js';
import { truncate, wrapLines } from '../text.js';
import type { ConfirmRunState, ConfirmRunStep } from './confirm-run-state.js';
import { Cursor } from './Cursor.js';
import { maxTop, ScrollText } from './ScrollText.js';
import { Text } from './Text.js';

/** How the body is shared between the text and the prompt. */
export interface ConfirmRunBody {
  /** The question at the confirm step, wrapped to at most two lines (one when the body is the smallest). */
  questionLines: string[];
  /** Lines of the text that scrolls. */
  listHeight: number;
  scrollMax: number;
  page: number;
}

export function confirmRunBody(step: ConfirmRunStep, question: string, width: number, bodyHeight: number, lineCount: number): ConfirmRunBody {
  const questionLines = step === 'confirm' ? wrapLines([question], width, 2).slice(0, bodyHeight >= UNPLUG_MIN_BODY + 1 ? 2 : 1) : [];
  const bottom = step === 'confirm' ? questionLines.length + 2 : 1;
  const listHeight = Math.max(1, bodyHeight - bottom);
  return { questionLines, listHeight, scrollMax: maxTop(lineCount, listHeight), page: Math.max(1, listHeight - 1) };
}

export interface ConfirmRunViewProps {
  /** The screen in the key map (its key line). */
  screen: 'unplug' | 'ganeti-job';
  width: number;
  title: string;
  state: Pick<ConfirmRunState<unknown, unknown, unknown>, 'step' | 'typed' | 'hint' | 'previewError'>;
  /** The result's headline, once there is one. */
  result: { headline: string; color: string } | null;
  /** The line under the title while it runs, and the key line then. */
  running: { status: string; keys: string };
  gap: boolean;
  bodyHeight: number;
  body: ConfirmRunBody;
  lines: readonly string[];
  top: number;
}

export function ConfirmRunView({ screen, width: w, title, state, result: r, running, gap, bodyHeight, body, lines, top }: ConfirmRunViewProps): React.JSX.Element {
  const keys = state.step === 'running' ? running.keys : keyLine(screen, w, state.step, { typing: state.step === 'confirm' });
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(title, w)}</Text>
      {r ? (
        <Text bold color={r.color}>
          {truncate(r.headline, w)}
        </Text>
      ) : (
        <Text dimColor>{state.step === 'running' ? running.status : 'nothing has been sent yet'}</Text>
      )}
      {gap ? <Text> </Text> : null}
      <Box flexDirection="column" height={bodyHeight}>
        <ScrollText lines={lines} top={top} height={body.listHeight} width={w} color={state.previewError ? 'red' : undefined} />
        {state.step === 'confirm' ? (
          <Box flexDirection="column">
            {body.questionLines.map((l, i) => (
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
              {truncate(state.hint ?? keyLine(screen, w, 'confirm', { typing: true }), w)}
            </Text>
          </Box>
        ) : (
          <Text dimColor>{truncate(keys, w)}</Text>
        )}
      </Box>
    </Box>
  );
}
