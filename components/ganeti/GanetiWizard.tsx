/** The hot-add wizard of an instance Ganeti manages (see wizard-state.ts for the steps). */
import React, { useEffect, useMemo, useReducer } from 'react';
import { Box } from 'ink';
import { Cursor } from '../common/Cursor.js';
import { Picker, type PickerItem } from '../common/Picker.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useInstanceView } from '../hooks.js';
import { nextText } from '../instance/InstanceScreen.js';
import { keyLine } from '../keymap.js';
import { stepScreenLayout, WIZARD_MIN_BODY, type Size } from '../layout.js';
import { truncate, wrapLines } from '../text.js';
import type { InstanceView } from '../../src/tui/view.js';
import { useGanetiWizardInput } from './useGanetiWizardInput.js';
import { checkField, CHOICES, fieldsOf, ganetiWizardReducer, initialGanetiWizardState, type GanetiChoice, type GanetiField, type GanetiWizardState } from './wizard-state.js';

const FIELD_LABEL: Record<GanetiField, string> = {
  size: 'Size of the new disk (Ganeti creates it; 512M, 10G, a plain number is MiB):',
  'disk-name': 'Name of the disk in Ganeti (empty: none; shows as disk/N (NAME)):',
  'disk-mode': 'Access mode of the disk: rw or ro (empty: rw):',
  mac: "MAC of the new NIC (empty: Ganeti generates one with the cluster's prefix):",
  link: "Link of the NIC: bridge, routing table or switch (empty: the cluster's default):",
  'nic-name': 'Name of the NIC in Ganeti (empty: none):',
};

const FIELD_STEP: Record<GanetiField, string> = { size: 'size', 'disk-name': 'disk name', 'disk-mode': 'mode', mac: 'MAC', link: 'link', 'nic-name': 'NIC name' };

/** The first step's choices, with where plugboard expects the device (Ganeti places it; it uses the same rule). */
export function choiceItems(view: InstanceView | null): PickerItem[] {
  const disk = view ? ` · expected at ${nextText(view.next.disk)}` : '';
  const nic = view ? ` · expected at ${nextText(view.next.nic)}` : '';
  const label: Record<GanetiChoice, string> = {
    'ganeti-disk': `Disk through Ganeti — Ganeti creates and hot-adds it (one job)${disk}`,
    'ganeti-nic': `NIC through Ganeti — MAC, link, name (one job)${nic}`,
    'ganeti-both': 'Disk and NIC through Ganeti, in one job',
    'qmp-disk': 'Disk directly over QMP — Ganeti will not know it: gone at the next restart, not replicated, not migrated',
    'qmp-nic': 'NIC directly over QMP — Ganeti will not know it: gone at the next restart, not migrated',
  };
  return CHOICES.map((c) => ({ value: c, label: label[c] }));
}

export function jobTitle(state: Pick<GanetiWizardState, 'choice' | 'values' | 'instance'>): { title: string; question: string } {
  const size = state.values.size.trim();
  const dname = state.values['disk-name'].trim();
  const nname = state.values['nic-name'].trim();
  const disk = `disk (${[size, dname].filter(Boolean).join(', ')})`;
  const nic = `NIC${nname ? ` (${nname})` : ''}`;
  const what = state.choice === 'ganeti-disk' ? disk : state.choice === 'ganeti-nic' ? nic : `${disk} and ${nic}`;
  return {
    title: `Hot-add ${what} to ${state.instance}`,
    question: `Send it? Ganeti ${state.choice === 'ganeti-nic' ? 'adds the NIC' : 'creates the disk'} and hot-plugs it into ${state.instance}: y and Enter (Esc: nothing is sent)`,
  };
}

function breadcrumb(state: GanetiWizardState): string {
  const steps: string[] = ['way and device', ...fieldsOf(state.choice).map((f) => FIELD_STEP[f]), 'request', 'confirm', 'job'];
  const current = state.step === 'pick' ? 'way and device' : FIELD_STEP[state.step];
  return steps.map((s) => (s === current ? `[${s}]` : s)).join(' › ');
}

export function GanetiWizard({ name, active, size }: { name: string; active: boolean; size: Size }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const [state, dispatch] = useReducer(ganetiWizardReducer, name, initialGanetiWizardState);
  const { view } = useInstanceView(service, name, active && state.step === 'pick');
  const w = size.columns;
  const layout = stepScreenLayout(size, WIZARD_MIN_BODY);
  const bodyHeight = layout.fits ? layout.body : WIZARD_MIN_BODY;
  const items = useMemo(() => choiceItems(view), [view]);

  useEffect(() => {
    const done = state.done;
    if (!done) return;
    dispatch({ type: 'opened' });
    if (done.kind === 'qmp') return nav.open({ kind: 'wizard', name, start: done.start });
    const { title, question } = jobTitle(state);
    nav.open({ kind: 'ganeti-job', name, action: done.action, title, question, confirm: 'y' });
  }, [state, nav, name]);
  useEffect(() => {
    if (state.closed) nav.back();
  }, [state.closed, nav]);

  useGanetiWizardInput({ active, state, dispatch });
  useGlobalKeys(active, state.step !== 'pick');

  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  const keys = keyLine('ganeti-wizard', w, state.step === 'pick' ? 'pick' : 'value', { typing: state.step !== 'pick' });
  let body: React.JSX.Element;
  if (state.step === 'pick') {
    body = (
      <Box flexDirection="column">
        <Text>{truncate(`What do you want to hot-add to ${name}? (Ganeti manages it: through Ganeti is the default)`, w)}</Text>
        <Picker items={items} selected={state.pick} rows={Math.min(items.length, Math.max(2, bodyHeight - 2))} width={w} focused={active} />
        <Text dimColor>{keys}</Text>
      </Box>
    );
  } else {
    const field = state.step;
    const check = checkField(field, state.values[field]);
    const lines = wrapLines([`${check.ok ? '✓ ' : '✗ '}${check.message}`], w, 2).slice(0, Math.max(1, bodyHeight - 3));
    body = (
      <Box flexDirection="column">
        <Text>{truncate(FIELD_LABEL[field], w)}</Text>
        <Text>
          <Text color="cyan">{'> '}</Text>
          {truncate(state.values[field], Math.max(1, w - 3))}
          <Cursor />
        </Text>
        {lines.map((l, i) => (
          <Text key={i} color={check.ok ? 'green' : 'red'}>
            {l}
          </Text>
        ))}
        <Text dimColor>{keys}</Text>
      </Box>
    );
  }
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(`Hot-add to ${name} · Ganeti cluster ${service.ganeti?.clusterName ?? '?'}`, w)}</Text>
      <Text dimColor>{truncate(breadcrumb(state), w)}</Text>
      {layout.gap > 0 ? (
        view?.ganeti?.kind === 'error' ? (
          <Text color="red">{truncate(`! ${view.ganeti.message} — a change through Ganeti cannot be sent now`, w)}</Text>
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
