/** Everything about the device on one slot or target: hvinfo, backend, host path, options, live state. */
import React, { useCallback, useMemo, useReducer } from 'react';
import { Box } from 'ink';
import { deviceDetail, placeText, type DeviceDetail, type MapPlace } from '../../src/tui/detail.js';
import { maxTop, ScrollText } from '../common/ScrollText.js';
import { initialScroll, scrollReducer } from '../common/scroll.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { useScrollInput } from '../common/useScrollInput.js';
import { useNav, useService } from '../context.js';
import { useGlobalKeys, useInstanceView } from '../hooks.js';
import { keyLine } from '../keymap.js';
import { textScreenLayout, type Size } from '../layout.js';
import { truncate, wrapLines } from '../text.js';

const label = (s: string) => s.padEnd(12);

/** The detail as lines: label column, then value (continuation lines indented). */
export function detailLines(d: DeviceDetail): string[] {
  const out: string[] = [];
  const row = (name: string, values: readonly string[]) => values.forEach((v, i) => out.push(`${label(i === 0 ? name : '')}${v}`));
  if (!d.device) {
    row('here', [d.source]);
    row('QEMU', [d.live]);
    return out;
  }
  const dev = d.device;
  row('device', [[dev.id || '(no id)', dev.driver || '(driver unknown)', dev.kind].join(' · ')]);
  if (dev.description) row('about', [dev.description]);
  row('known from', [d.source]);
  row('QEMU', [d.live]);
  if (d.hvinfo) row('hvinfo', [JSON.stringify(d.hvinfo)]);
  if (d.host.length) row(d.runtime?.kind === 'nic' ? 'network' : 'host', d.host);
  if (d.backend) row('backend', [d.backend]);
  if (d.startOptions.length) row('starts with', d.startOptions);
  else if (d.runtime) row('starts with', ['(no option of its own)']);
  else row('starts with', ['placed by QEMU or kvm_cmd: not one of Ganeti’s disks or NICs']);
  for (const i of d.drift) row('drift', [`${i.code}: ${i.message}`]);
  if (d.runtime?.kind === 'disk' && d.runtime.entry.uuid) row('uuid', [d.runtime.entry.uuid]);
  if (d.runtime?.kind === 'nic' && d.runtime.entry.uuid) row('uuid', [d.runtime.entry.uuid]);
  return out;
}

export function DeviceDetailScreen({ name, place, active, size }: { name: string; place: MapPlace; active: boolean; size: Size }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const { view, error } = useInstanceView(service, name, active);
  const detail = useMemo(() => (view ? deviceDetail(view, place) : null), [view, place]);
  const w = size.columns;
  const lines = useMemo(() => (detail ? wrapLines(detailLines(detail), w, 12) : [error ? `cannot read ${name}: ${error}` : 'loading…']), [detail, w, error, name]);
  const layout = textScreenLayout(size, 1);
  const height = layout.fits ? layout.body : 2;
  const [scroll, dispatch] = useReducer(scrollReducer, initialScroll);
  const max = maxTop(lines.length, height);
  const onCommand = useCallback(
    (command: 'unplug') => {
      if (command === 'unplug' && detail?.unpluggable && detail.device && detail.runtime) {
        nav.open({ kind: 'unplug', name, place, deviceId: detail.device.id, deviceKind: detail.runtime.kind });
      }
    },
    [detail, nav, name, place],
  );
  useScrollInput({ screen: 'detail', active, dispatch, max, page: Math.max(1, height - 1), onEscape: () => nav.back(), onCommand });
  useGlobalKeys(active);
  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(`${name} · ${placeText(place)}${detail?.title ? ` · ${detail.title}` : ''}`, w)}</Text>
      {layout.extra > 0 ? <Text> </Text> : null}
      <ScrollText lines={lines} top={scroll.top} height={height} width={w} />
      <Text dimColor>{keyLine('detail', w, undefined, detail?.unpluggable ? {} : { without: ['unplug'] })}</Text>
    </Box>
  );
}
