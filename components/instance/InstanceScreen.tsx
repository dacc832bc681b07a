/**
 * One instance: the PCI map (32 slots) beside the SCSI map, live when QEMU answers, with drift and
 * pending unplugs marked, the next hot-add place, a legend and what is wrong. The actions start here.
 */
import React, { useCallback, useEffect, useMemo, useReducer } from 'react';
import { Box } from 'ink';
import type { AllocationResult } from '../../src/bus/types.js';
import { deviceDetail, placeText, type DeviceDetail, type MapPlace } from '../../src/tui/detail.js';
import type { InstanceView } from '../../src/tui/view.js';
import type { LiveStatus } from '../../src/usecases/read-instance.js';
import { useNav, useService } from '../context.js';
import { Text } from '../common/Text.js';
import { TooSmall } from '../common/TooSmall.js';
import { useGlobalKeys, useInstanceView, useNotes } from '../hooks.js';
import { keyLine } from '../keymap.js';
import { clipLines, instanceLayout, scrollWindow, type Size } from '../layout.js';
import { hasUnsafe } from '../../src/text/terminal.js';
import { clock, displayWidth, fit, truncate, wrapLines } from '../text.js';
import { hex2, mapCells, type MapCells } from './cells.js';
import { Legend } from './Legend.js';
import { PciMap } from './PciMap.js';
import { noScsiLines, ScsiMap, scsiVisibleRows } from './ScsiMap.js';
import { initialInstanceScreenState, initialPlace, instanceScreenReducer } from './state.js';
import { useInstanceInput } from './useInstanceInput.js';
import { unplugScreen } from './unplug-route.js';
import { ganetiAttributes, GANETI_MARK_SYMBOL, GANETI_MARK_TITLE } from '../../src/usecases/ganeti-text.js';

export function liveText(s: LiveStatus, loading: boolean): string {
  const busy = loading ? ' · refreshing…' : '';
  switch (s.kind) {
    case 'live':
      return `live: QEMU answered ${clock(s.at)}${busy}`;
    case 'stopped':
      return `stopped: runtime file only${busy}`;
    case 'busy':
      return `QMP busy (someone else holds the socket): runtime file only${busy}`;
    case 'error':
      return `QEMU not asked: ${s.message}${busy}`;
    case 'ganeti-job':
      return `Ganeti job ${s.jobs.map((j) => j.id).join(', ')} running: QEMU not asked, runtime file only${busy}`;
    case 'not-asked':
      return `asking QEMU…`;
    default: {
      const never: never = s;
      return String(never);
    }
  }
}

/** The title line: the longest variant that fits the width. */
export function instanceTitle(name: string, view: InstanceView, loading: boolean, width: number): string {
  const h = view.rf.hvparams;
  const live = liveText(view.liveStatus, loading);
  const variants = [
    `${name} · ${live} · disk_type ${h.disk_type} · nic_type ${h.nic_type} · kvm_pci_reservations ${h.kvm_pci_reservations}`,
    `${name} · ${live} · disk_type ${h.disk_type} · nic_type ${h.nic_type}`,
    `${name} · ${live} · ${h.disk_type} / ${h.nic_type}`,
  ];
  return variants.find((v) => displayWidth(v) <= width) ?? variants[variants.length - 1]!;
}

export function nextText(r: AllocationResult): string {
  if (!r.ok) return `refused (${r.error})`;
  const a = r.allocation;
  return a.bus === 'pci.0' ? `pci.0 slot ${hex2(a.slot)}` : `scsi.0 target ${a['scsi-id']}`;
}

/**
 * Whether a word of the view that came from outside (QEMU's ids, drivers and descriptions, the
 * runtime file's paths and bridges, drift and warnings) holds a character that is shown escaped.
 */
export function viewHasEscapes(view: InstanceView): boolean {
  const words: string[] = [...view.warnings, ...(view.drift?.items ?? []).map((i) => i.message)];
  const device = (d: { id: string; driver: string; description?: string } | undefined) => {
    if (d) words.push(d.id, d.driver, d.description ?? '');
  };
  for (const s of view.model.pci.slots) device(s.device);
  for (const t of view.model.scsi?.targets ?? []) device(t.device);
  if (view.model.scsi) words.push(view.model.scsi.controller);
  for (const d of view.rf.disks) words.push(d.link, d.uri ?? '');
  for (const n of view.rf.nics) words.push(n.mac, n.mode ?? '', n.link ?? '', n.name ?? '');
  return words.some((w) => hasUnsafe(w));
}

/** The lines under the maps: flash, warnings, drift, problems, legacy upgrades. */
export function messageLines(view: InstanceView | null, error: string | null): MessageLine[] {
  const out: MessageLine[] = [];
  if (error) out.push({ text: `! ${error}`, color: 'red' });
  if (!view) return out;
  // First: a QEMU that names things with terminal control sequences may be a guest's.
  if (viewHasEscapes(view)) out.push({ text: '! a name from QEMU or the runtime file holds characters a terminal would act on: shown escaped (\\x1b, \\u202e)', color: 'red' });
  for (const w of view.warnings) out.push({ text: `! ${w}`, color: 'red' });
  for (const i of view.drift?.items ?? []) {
    out.push({ text: `${i.code === 'unplug-pending' ? '…' : '~'} ${i.message}`, color: 'yellow' });
  }
  for (const p of view.model.problems) out.push({ text: `! ${p.message}`, color: 'red' });
  out.push(...ganetiMessageLines(view));
  if (view.rf.upgrades.length > 0) {
    out.push({ text: `legacy runtime file: ${view.rf.upgrades.length} change${view.rf.upgrades.length === 1 ? '' : 's'} while loading (${view.rf.upgrades[0]!.message}…)`, color: 'gray' });
  }
  if (out.length === 0 || out.every((m) => m.ganetiOk)) {
    out.unshift(
      view.liveStatus.kind === 'live'
        ? { text: '✓ the runtime file and QEMU agree; no problems in the runtime file', color: 'green' }
        : { text: '✓ no problems in the runtime file (QEMU not asked)', color: 'green' },
    );
  }
  return out;
}

/**
 * Ganeti's lines under the maps (on a Ganeti node): each mark with what it means and what to do (a
 * device in Ganeti's configuration but not on the node has no place on the map: it is listed here),
 * the comparison's notes, or why Ganeti was not asked.
 */
export function ganetiMessageLines(view: InstanceView): MessageLine[] {
  const g = view.ganeti;
  if (!g) return [];
  if (g.kind !== 'compared') return [{ text: g.message, color: 'gray', ganetiOk: true }];
  const out: MessageLine[] = [];
  const c = g.comparison;
  for (const m of c.marks) {
    out.push({ text: `${GANETI_MARK_SYMBOL[m.code]} ${GANETI_MARK_TITLE[m.code]}: ${m.message}`, color: 'red' });
    out.push({ text: `  it means: ${m.meaning}`, color: 'gray' });
    out.push({ text: `  to do: ${m.action}`, color: 'gray' });
  }
  for (const n of c.notes) out.push({ text: `Ganeti: ${n}`, color: 'gray' });
  if (c.marks.length === 0 && c.notes.length === 0) {
    out.push({ text: `✓ Ganeti's configuration (cluster ${g.cluster}) and the node agree`, color: 'green', ganetiOk: true });
  }
  return out;
}

/** A line under the maps. `ganetiOk`: Ganeti's all-clear (the node's own all-clear still comes first). */
export interface MessageLine {
  text: string;
  color?: string;
  ganetiOk?: boolean;
}

function selectionLines(detail: DeviceDetail | null, view: InstanceView | null): [string, string] {
  if (!detail || !view) return ['', ''];
  const where = placeText(detail.place);
  const d = detail.device;
  if (!d) {
    const next =
      detail.place.bus === 'pci.0'
        ? view.next.disk.ok && view.next.disk.allocation.bus === 'pci.0' && view.next.disk.allocation.slot === detail.place.slot
          ? ' · the next hot-added disk goes here'
          : view.next.nic.ok && view.next.nic.allocation.bus === 'pci.0' && view.next.nic.allocation.slot === detail.place.slot
            ? ' · the next hot-added NIC goes here'
            : ''
        : view.next.disk.ok && view.next.disk.allocation.bus === 'scsi.0' && view.next.disk.allocation['scsi-id'] === detail.place.target
          ? ' · the next hot-added disk goes here'
          : '';
    return [`${where}: ${detail.source}${next}`, 'a: hot-add a disk or NIC · w: what-if'];
  }
  const g = detail.ganeti;
  const ganeti = g?.ganeti ? `${g.label ?? ''} ${ganetiAttributes(g.ganeti)}` : detail.ganetiMark ? `${GANETI_MARK_SYMBOL[detail.ganetiMark.code]} ${GANETI_MARK_TITLE[detail.ganetiMark.code]}` : null;
  const name = [ganeti ?? detail.title, d.id !== '' && !detail.title?.includes(d.id) ? d.id : null, d.driver].filter(Boolean).join('  ');
  const unplug = detail.unplugVia === 'ganeti' ? 'u unplug through Ganeti' : detail.ganetiMark ? 'u remove it on the node only' : 'u unplug';
  const keys = detail.unpluggable && view.liveStatus.kind !== 'stopped' ? ` · Enter details · ${unplug}` : ' · Enter details';
  return [`${where}: ${name}`, `${detail.live}${keys}`];
}

export function InstanceScreen({ name, active, size }: { name: string; active: boolean; size: Size }): React.JSX.Element {
  const service = useService();
  const nav = useNav();
  const { view, loading, error, refresh } = useInstanceView(service, name, active);
  const notesText = useNotes(service, name);
  const [state, dispatch] = useReducer(instanceScreenReducer, initialInstanceScreenState);
  const cells: MapCells | null = useMemo(() => (view ? mapCells(view) : null), [view]);
  const fitted = useMemo(() => instanceLayout(size, cells ? (cells.scsi?.length ?? undefined) : undefined), [size, cells]);
  // The SCSI pane of an instance without a controller says so in as many lines as its width needs.
  const scsiNeeded = cells ? (cells.scsi?.length ?? noScsiLines((fitted.fits ? fitted.scsiWidth : size.columns) - 2).length) : undefined;
  const layout = useMemo(() => instanceLayout(size, scsiNeeded), [size, scsiNeeded]);
  const perRow = layout.fits ? layout.perRow : 8;
  const scsiListRows = layout.fits ? layout.scsiListRows : 1;

  useEffect(() => {
    if (cells && !state.placed) dispatch({ type: 'place', ...initialPlace(cells) });
  }, [cells, state.placed]);

  // Until the first placement is stored, show where it will be (no frame with a wrong selection).
  const sel = !state.placed && cells ? { ...state, ...initialPlace(cells) } : state;
  const scsiCount = cells?.scsi?.length ?? 0;
  const scsiRow = Math.min(sel.scsiRow, Math.max(0, scsiCount - 1));
  const scsiTop = scrollWindow(scsiRow, scsiCount, scsiVisibleRows(scsiCount, scsiListRows), state.scsiTop);
  useEffect(() => {
    dispatch({ type: 'scsi-scrolled', top: scsiTop });
  }, [scsiTop]);

  const pane = sel.pane === 'scsi' && cells?.scsi ? 'scsi' : 'pci';
  const selectedTarget = pane === 'scsi' ? (cells?.scsi?.[scsiRow]?.first ?? null) : null;
  const place: MapPlace = useMemo(
    () => (pane === 'scsi' && selectedTarget !== null ? { bus: 'scsi.0', target: selectedTarget } : { bus: 'pci.0', slot: sel.slot }),
    [pane, selectedTarget, sel.slot],
  );
  const detail = useMemo(() => (view ? deviceDetail(view, place) : null), [view, place]);

  const flash = useCallback((message: string) => dispatch({ type: 'flash', message }), []);
  const onDetail = useCallback(() => nav.open({ kind: 'detail', name, place }), [nav, name, place]);
  const onHotAdd = useCallback(() => {
    if (service.readOnly) return flash(service.readOnly);
    if (view?.liveStatus.kind === 'stopped') return flash(`${name} is not running here: hot-add needs its QEMU (for a stopped instance use gnt-instance modify --disk add / --net add)`);
    // An instance Ganeti manages: through Ganeti by default (the wizard also offers the direct way).
    // (Also when Ganeti could not be asked: its wizard says so and offers the direct way explicitly.)
    nav.open(service.ganeti && view?.ganeti?.kind !== 'unknown' ? { kind: 'ganeti-wizard', name } : { kind: 'wizard', name });
  }, [service, view, name, nav, flash]);
  const onUnplug = useCallback(() => {
    if (!detail) return;
    if (service.readOnly) return flash(service.readOnly);
    if (!detail.device || !detail.runtime) {
      return flash(
        detail.device
          ? `${placeText(place)} holds ${detail.title ?? 'a device'} that is not one of Ganeti's disks or NICs: plugboard only unplugs those`
          : `${placeText(place)} is empty: select a disk or NIC to unplug`,
      );
    }
    if (!detail.unpluggable) return flash(`${detail.title}: not on an explicit bus (no hvinfo bus): it cannot be unplugged`);
    if (view?.liveStatus.kind === 'stopped') return flash(`${name} is not running here: unplug needs its QEMU`);
    nav.open(unplugScreen(name, place, detail));
  }, [detail, service, view, name, place, nav, flash]);
  const onWhatIf = useCallback(() => nav.open({ kind: 'whatif', name }), [nav, name]);
  const onBack = useCallback(() => nav.back(), [nav]);

  useInstanceInput({ active, dispatch, perRow, scsiCount, hasScsi: cells?.scsi != null, onDetail, onHotAdd, onUnplug, onWhatIf, onRefresh: refresh, onBack });
  useGlobalKeys(active);

  const w = size.columns;
  if (!layout.fits) return <TooSmall need={layout.need} size={size} />;
  const title = view ? instanceTitle(name, view, loading, w) : `${name} · ${error ? `cannot read it: ${error}` : 'loading…'}`;
  const [sel1, sel2] = selectionLines(detail, view);
  const messages = messageLines(view, view ? null : error);
  if (error && view) messages.unshift({ text: `! refresh failed: ${error}`, color: 'red' });
  // The flash (why a key did nothing) wraps; the other messages are one line each.
  const flashLines = state.flash ? wrapLines([state.flash], w).map((text) => ({ text, color: 'yellow' })) : [];
  const all = [...flashLines, ...messages];
  const shown = clipLines(
    all.map((m) => m.text),
    layout.messageLines,
    (left) => `(+${left} more: Enter on a device, or plugboard show ${name} --live)`,
  ).map((text, i) => ({ text, color: i < layout.messageLines - 1 || all.length <= layout.messageLines ? all[i]!.color : 'gray' }));
  // Without a message line, the flash takes the selection's line.
  const selection = layout.messageLines === 0 && state.flash ? [state.flash, sel2] : [sel1, sel2];

  const scsiInner = layout.scsiWidth - 2;
  const paneHeight = layout.sideBySide ? layout.paneInner + 2 : layout.paneInner + 2;
  const scsiHeight = layout.sideBySide ? layout.paneInner + 2 : layout.scsiListRows + 1 + 2;
  const notes = Array.from({ length: layout.noteLines }, (_, i) =>
    notesText.length > layout.noteLines && i === layout.noteLines - 1 ? notesText.slice(i).join(' · ') : (notesText[i] ?? ''),
  );

  return (
    <Box flexDirection="column" width={w}>
      <Text bold>{truncate(title, w)}</Text>
      {notes.map((n, i) => (
        <Text key={i} color="cyan">
          {truncate(n, w) || ' '}
        </Text>
      ))}
      {cells && view ? (
        <Box flexDirection={layout.sideBySide ? 'row' : 'column'}>
          <Box borderStyle="round" borderColor={pane === 'pci' && active ? 'white' : 'gray'} width={layout.pciWidth} height={paneHeight} flexDirection="column">
            <PciMap cells={cells.pci} reservations={view.model.pci.reservations} perRow={layout.perRow} cellWidth={layout.cellWidth} selected={sel.slot} focused={pane === 'pci'} width={layout.pciWidth - 2} />
          </Box>
          <Box borderStyle="round" borderColor={pane === 'scsi' && active ? 'white' : 'gray'} width={layout.scsiWidth} height={scsiHeight} flexDirection="column">
            <ScsiMap scsi={view.model.scsi} rows={cells.scsi} width={scsiInner} listRows={layout.scsiListRows} top={scsiTop} selected={pane === 'scsi' ? scsiRow : null} focused={pane === 'scsi'} />
          </Box>
        </Box>
      ) : (
        <Box height={layout.sideBySide ? paneHeight : paneHeight + scsiHeight} width={w} borderStyle="round" borderColor="gray">
          <Text>{error ? `cannot show ${name}: ${error}` : `loading ${name}…`}</Text>
        </Box>
      )}
      {selection.slice(0, layout.selectionLines).map((l, i) =>
        i === 0 ? (
          <Text key={i} color={layout.messageLines === 0 && state.flash ? 'yellow' : undefined}>
            {fit(l, w)}
          </Text>
        ) : (
          <Text key={i} dimColor>
            {fit(l, w)}
          </Text>
        ),
      )}
      {layout.nextLines > 0 ? <Text>{view ? truncate(`next hot-add: disk → ${nextText(view.next.disk)} · NIC → ${nextText(view.next.nic)}`, w) : ''}</Text> : null}
      {layout.legendLines > 0 ? <Legend width={w} lines={layout.legendLines} ganeti={view?.ganeti?.kind === 'compared'} /> : null}
      {layout.messageLines > 0 ? (
        <Box flexDirection="column" height={layout.messageLines}>
          {shown.map((m, i) => (
            <Text key={i} color={m.color}>
              {truncate(m.text, w)}
            </Text>
          ))}
        </Box>
      ) : null}
      <Text dimColor>{keyLine('instance', w)}</Text>
    </Box>
  );
}
