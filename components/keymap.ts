/**
 * Every key of the interactive view, in one table: per screen, named commands with their keys (as
 * the operator sees them) and a one-line description. The screens' input hooks ask `commandFor`
 * which command a key press is and switch on the name; the key line at the bottom of each screen
 * (`keyLine`) and the help screen (`helpLines`) are made from the same table, and so are the
 * README's key section and the man page's (test/unit/keymap.test.ts keeps the README in step).
 *
 * Plain data and pure functions: no ink or react import, loadable by plain Node after tsc.
 *
 * Keys are written as shown: a character (`a`, `+`, `?`, `/`), or a name: `←` `→` `↑` `↓` `Enter`
 * `Esc` `Tab` `Backspace` `PgUp` `PgDn` `Home` `End` `Space` `Ctrl-C`. One string may hold
 * alternatives separated by `/` (`h/←`); `/` alone is the slash key.
 */

/** The parts of a key press the table looks at (ink's `Key` has them all). */
export interface KeyFlags {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  home?: boolean;
  end?: boolean;
  return?: boolean;
  escape?: boolean;
  tab?: boolean;
  shift?: boolean;
  backspace?: boolean;
  delete?: boolean;
  ctrl?: boolean;
  meta?: boolean;
}

export interface KeyBinding {
  /** The command's name: what the screen's input hook switches on. */
  readonly command: string;
  /** The keys, as shown to the operator. */
  readonly keys: readonly string[];
  /** One line: what the command does. */
  readonly description: string;
  /** The step or focus of the screen in which the binding holds (absent: always on that screen). */
  readonly when?: readonly string[];
  /**
   * On the key line at the bottom of the screen: `label` after the keys, `rank` the order in which
   * entries give way when the line is short (lower stays longer). Bindings with the same `group`
   * next to each other share one entry (`←↓↑→/hjkl move`); a short line shows a group's first keys
   * (`↑↓ scroll`), or the group's `narrow` keys (`hjkl move`).
   */
  readonly legend?: { readonly label: string; readonly rank: number; readonly group?: string; readonly narrow?: string };
}

export interface ScreenKeys {
  readonly screen: string;
  readonly title: string;
  readonly bindings: readonly KeyBinding[];
}

const scrollBindings = (when?: readonly string[], rank = 3) =>
  [
    { command: 'scroll-up', keys: ['↑', 'k'], description: 'scroll up one line', ...(when ? { when } : {}), legend: { label: 'scroll', rank, group: 'scroll' } },
    { command: 'scroll-down', keys: ['↓', 'j'], description: 'scroll down one line', ...(when ? { when } : {}), legend: { label: 'scroll', rank, group: 'scroll' } },
    { command: 'page-up', keys: ['PgUp'], description: 'scroll up one page', ...(when ? { when } : {}) },
    { command: 'page-down', keys: ['PgDn', 'Space'], description: 'scroll down one page', ...(when ? { when } : {}) },
    { command: 'top', keys: ['Home', 'g'], description: 'go to the first line', ...(when ? { when } : {}) },
    { command: 'bottom', keys: ['End', 'G'], description: 'go to the last line', ...(when ? { when } : {}) },
  ] as const;

/** The commands of the scroll bindings (the same on every screen that scrolls). */
export type ScrollCommand = ReturnType<typeof scrollBindings>[number]['command'];

/**
 * The table. The first entry holds the keys every screen has (off while a text field has the
 * keys); then one entry per screen.
 */
export const KEYMAP = [
  {
    screen: 'global',
    title: 'Everywhere',
    bindings: [
      { command: 'quit', keys: ['q', 'Ctrl-C'], description: 'quit (the demo stops every QEMU it started and removes its sandbox)', legend: { label: 'quit', rank: 6 } },
      { command: 'help', keys: ['?'], description: 'this help: every key, by screen', legend: { label: 'help', rank: 1 } },
      { command: 'qmp-log', keys: ['L'], description: 'the QMP log of this session (what was sent to QEMU and what it answered)', legend: { label: 'QMP log', rank: 5 } },
    ],
  },
  {
    screen: 'instances',
    title: 'Instances',
    bindings: [
      { command: 'up', keys: ['↑', 'k'], description: 'select the instance above', legend: { label: 'move', rank: 2, group: 'move' } },
      { command: 'down', keys: ['↓', 'j'], description: 'select the instance below', legend: { label: 'move', rank: 2, group: 'move' } },
      { command: 'page-up', keys: ['PgUp'], description: 'one page up' },
      { command: 'page-down', keys: ['PgDn'], description: 'one page down' },
      { command: 'first', keys: ['Home', 'g'], description: 'the first instance' },
      { command: 'last', keys: ['End', 'G'], description: 'the last instance' },
      { command: 'open', keys: ['Enter', 'l'], description: 'open the selected instance: its PCI and SCSI maps', legend: { label: 'open', rank: 0 } },
      { command: 'filter', keys: ['/'], description: 'filter by name, type or controller (any other letter starts the filter too)', legend: { label: 'filter', rank: 3 } },
      { command: 'erase', keys: ['Backspace'], description: 'erase the last character of the filter', when: ['filter'] },
      { command: 'clear-filter', keys: ['Esc'], description: 'clear the filter', when: ['filter', 'filtered'], legend: { label: 'clear the filter', rank: 1 } },
      { command: 'refresh', keys: ['r'], description: 'read again now (the list refreshes every 5 s; one short QMP connection per instance)', legend: { label: 'refresh', rank: 4 } },
      {
        command: 'cluster',
        keys: ['c'],
        description: "on a Ganeti node: the cluster's instances (RAPI) with their primary node and status; Enter opens those on this node, the others say where (c again: this node's)",
        legend: { label: 'cluster', rank: 4 },
      },
    ],
  },
  {
    screen: 'instance',
    title: 'Instance (the bus maps)',
    bindings: [
      { command: 'pane', keys: ['Tab'], description: 'switch between the pci.0 and scsi.0 panes', legend: { label: 'pane', rank: 1 } },
      { command: 'left', keys: ['←', 'h'], description: 'select the slot to the left (scsi.0: the target above)', legend: { label: 'move', rank: 2, group: 'move', narrow: 'hjkl' } },
      { command: 'down', keys: ['↓', 'j'], description: 'select the slot below (scsi.0: the next target)', legend: { label: 'move', rank: 2, group: 'move' } },
      { command: 'up', keys: ['↑', 'k'], description: 'select the slot above (scsi.0: the target before)', legend: { label: 'move', rank: 2, group: 'move' } },
      { command: 'right', keys: ['→', 'l'], description: 'select the slot to the right (scsi.0: the target below)', legend: { label: 'move', rank: 2, group: 'move' } },
      { command: 'first', keys: ['Home', 'g'], description: 'the first slot or target' },
      { command: 'last', keys: ['End', 'G'], description: 'the last slot or target' },
      { command: 'details', keys: ['Enter'], description: 'details of the selected slot or target (hvinfo, backend, host path, -device option)', legend: { label: 'details', rank: 3 } },
      {
        command: 'hot-add',
        keys: ['a', '+'],
        description: 'hot-add a disk or NIC (guided: type, path or MAC, preview with the exact QMP commands, confirm)',
        legend: { label: 'hot-add', rank: 0 },
      },
      { command: 'unplug', keys: ['u', 'x'], description: 'unplug the selected disk or NIC (a disk asks you to type yes)', legend: { label: 'unplug', rank: 0 } },
      { command: 'what-if', keys: ['w'], description: 'what-if: disk_type, scsi_controller_type, kvm_pci_reservations at the next start', legend: { label: 'what-if', rank: 4 } },
      { command: 'refresh', keys: ['r'], description: 'ask QEMU again now (it is asked every 3 s over a short connection that is never held)', legend: { label: 'refresh', rank: 7 } },
      { command: 'back', keys: ['Esc'], description: 'back to the instance list', legend: { label: 'back', rank: 5 } },
    ],
  },
  {
    screen: 'detail',
    title: 'Device detail',
    bindings: [
      ...scrollBindings(),
      { command: 'unplug', keys: ['u', 'x'], description: 'unplug this disk or NIC', legend: { label: 'unplug', rank: 2 } },
      { command: 'back', keys: ['Esc', '←', 'h'], description: 'back to the map', legend: { label: 'back', rank: 0 } },
    ],
  },
  {
    screen: 'wizard',
    title: 'Hot-add wizard',
    bindings: [
      { command: 'pick-up', keys: ['↑', 'k'], description: 'the choice above', when: ['pick'], legend: { label: 'choose', rank: 1, group: 'pick' } },
      { command: 'pick-down', keys: ['↓', 'j'], description: 'the choice below', when: ['pick'], legend: { label: 'choose', rank: 1, group: 'pick' } },
      { command: 'pick', keys: ['Enter'], description: 'take the choice: disk or NIC, then disk_type or nic_type (the instance’s own first)', when: ['pick'], legend: { label: 'take it', rank: 0 } },
      { command: 'complete', keys: ['Tab'], description: 'complete the path from its directory', when: ['path'], legend: { label: 'complete', rank: 2 } },
      { command: 'erase', keys: ['Backspace'], description: 'erase the last character', when: ['path', 'field'] },
      {
        command: 'submit',
        keys: ['Enter'],
        description: 'go on (the path, MAC and bridge are checked as you type): after the path or bridge, the preview',
        when: ['path', 'field'],
        legend: { label: 'continue', rank: 0 },
      },
      { command: 'to-confirm', keys: ['Enter'], description: 'the preview: the place it takes and the exact QMP commands; Enter goes on to confirm (nothing is sent before)', when: ['preview'], legend: { label: 'go on to confirm (nothing has been sent yet)', rank: 0 } },
      { command: 'confirm', keys: ['y', 'Y'], description: 'confirm: hot-add it now; then progress, and the result with the QMP transcript', when: ['confirm'], legend: { label: 'yes, hot-add it now', rank: 0 } },
      { command: 'cancel', keys: ['n', 'N', 'Esc'], description: 'do not hot-add: back to the preview', when: ['confirm'], legend: { label: 'back to the preview', rank: 1 } },
      ...scrollBindings(['preview', 'result']),
      { command: 'back', keys: ['Esc'], description: 'back one step (from the first step: close the wizard); nothing is sent before you confirm', when: ['pick', 'path', 'field', 'preview'], legend: { label: 'back', rank: 1 } },
      { command: 'close', keys: ['Enter', 'Esc'], description: 'the result: back to the map', when: ['result'], legend: { label: 'back to the map', rank: 0 } },
    ],
  },
  {
    screen: 'unplug',
    title: 'Unplug',
    bindings: [
      { command: 'erase', keys: ['Backspace'], description: 'erase the last character of the answer', when: ['confirm'] },
      {
        command: 'submit',
        keys: ['Enter'],
        description: 'unplug: a disk after you typed yes, a NIC after y (a PCI unplug the guest does not acknowledge stays pending)',
        when: ['confirm'],
        legend: { label: 'unplug', rank: 0 },
      },
      ...scrollBindings(),
      { command: 'back', keys: ['Esc'], description: 'keep it: back to the map', when: ['preview', 'confirm'], legend: { label: 'back', rank: 1 } },
      { command: 'close', keys: ['Enter', 'Esc'], description: 'the result: back to the map', when: ['result'], legend: { label: 'back to the map', rank: 0 } },
    ],
  },
  {
    screen: 'whatif',
    title: 'What-if',
    bindings: [
      { command: 'param-up', keys: ['↑', 'k'], description: 'the parameter above', when: ['params'], legend: { label: 'parameter', rank: 0, group: 'param' } },
      { command: 'param-down', keys: ['↓', 'j'], description: 'the parameter below', when: ['params'], legend: { label: 'parameter', rank: 0, group: 'param' } },
      { command: 'value-down', keys: ['←', 'h', '-'], description: 'the previous value', when: ['params'], legend: { label: 'value', rank: 0, group: 'value' } },
      { command: 'value-up', keys: ['→', 'l', '+', 'Enter'], description: 'the next value', when: ['params'], legend: { label: 'value', rank: 0, group: 'value' } },
      { command: 'value-down-more', keys: ['PgUp'], description: 'four values back (kvm_pci_reservations: 4 slots fewer)', when: ['params'] },
      { command: 'value-up-more', keys: ['PgDn'], description: 'four values on', when: ['params'] },
      { command: 'reset', keys: ['0'], description: 'back to the instance’s own values', legend: { label: 'reset', rank: 2 } },
      { command: 'focus', keys: ['Tab'], description: 'switch between the parameters and the output (the options it would start with), which then scrolls', legend: { label: 'output/parameters', rank: 1 } },
      ...scrollBindings(['output'], 0),
      { command: 'submit', keys: ['s'], description: 'on a Ganeti node: send the -H change to Ganeti as a job (after a confirm); it takes effect at the next start', legend: { label: 'send to Ganeti', rank: 2 } },
      { command: 'back', keys: ['Esc'], description: 'back to the map; the gnt-instance modify -H line makes it so at the next start', legend: { label: 'back', rank: 1 } },
    ],
  },
  {
    screen: 'ganeti-wizard',
    title: 'Hot-add through Ganeti',
    bindings: [
      { command: 'pick-up', keys: ['↑', 'k'], description: 'the choice above', when: ['pick'], legend: { label: 'choose', rank: 1, group: 'pick' } },
      { command: 'pick-down', keys: ['↓', 'j'], description: 'the choice below', when: ['pick'], legend: { label: 'choose', rank: 1, group: 'pick' } },
      {
        command: 'pick',
        keys: ['Enter'],
        description: 'take the choice: a disk, a NIC or both in one Ganeti job, or a disk or NIC directly over QMP (Ganeti will not know it)',
        when: ['pick'],
        legend: { label: 'take it', rank: 0 },
      },
      { command: 'erase', keys: ['Backspace'], description: 'erase the last character', when: ['value'] },
      { command: 'submit', keys: ['Enter'], description: 'go on (each value is checked as you type); after the last one, the preview with the exact RAPI request', when: ['value'], legend: { label: 'continue', rank: 0 } },
      { command: 'back', keys: ['Esc'], description: 'back one step (from the first: close); nothing is sent before you confirm', legend: { label: 'back', rank: 1 } },
    ],
  },
  {
    screen: 'ganeti-job',
    title: 'A change through Ganeti',
    bindings: [
      { command: 'erase', keys: ['Backspace'], description: 'erase the last character of the answer', when: ['confirm'] },
      {
        command: 'submit',
        keys: ['Enter'],
        description: 'send the request after the answer (y; removing a disk: yes): Ganeti runs the job, its log shows as it comes',
        when: ['confirm'],
        legend: { label: 'send it', rank: 0 },
      },
      ...scrollBindings(['preview', 'running', 'result']),
      { command: 'back', keys: ['Esc'], description: 'do not send it: back (nothing has been sent)', when: ['preview', 'confirm'], legend: { label: 'back', rank: 1 } },
      { command: 'close', keys: ['Enter', 'Esc'], description: 'the result: back to the map', when: ['result'], legend: { label: 'back to the map', rank: 0 } },
    ],
  },
  {
    screen: 'qmplog',
    title: 'QMP log',
    bindings: [
      ...scrollBindings(),
      { command: 'wrap', keys: ['w'], description: 'wrap long lines (or cut them)', legend: { label: 'wrap', rank: 2 } },
      { command: 'back', keys: ['Esc', '←', 'h'], description: 'close the log: back to the screen before', legend: { label: 'back', rank: 0 } },
    ],
  },
  {
    screen: 'help',
    title: 'Help',
    bindings: [...scrollBindings(), { command: 'back', keys: ['Esc', '←', 'h'], description: 'close the help: back to the screen before', legend: { label: 'back', rank: 0 } }],
  },
] as const satisfies readonly ScreenKeys[];

export type ScreenName = (typeof KEYMAP)[number]['screen'];
/** The commands of one screen (a union of names, for an exhaustive switch). */
export type CommandOf<S extends ScreenName> = { [E in (typeof KEYMAP)[number] as E['screen']]: E['bindings'][number]['command'] }[S];

const NAMED: Record<string, (input: string, key: KeyFlags) => boolean> = {
  '←': (_, k) => !!k.leftArrow,
  '→': (_, k) => !!k.rightArrow,
  '↑': (_, k) => !!k.upArrow,
  '↓': (_, k) => !!k.downArrow,
  Enter: (_, k) => !!k.return,
  Esc: (_, k) => !!k.escape,
  Tab: (_, k) => !!k.tab && !k.shift,
  Backspace: (_, k) => !!k.backspace || !!k.delete,
  PgUp: (_, k) => !!k.pageUp,
  PgDn: (_, k) => !!k.pageDown,
  Home: (_, k) => !!k.home,
  End: (_, k) => !!k.end,
  Space: (input, k) => input === ' ' && !k.ctrl && !k.meta,
  'Ctrl-C': (input, k) => !!k.ctrl && input === 'c',
};

/**
 * The key presses in one input event. A terminal (or SSH) may deliver keys typed quickly, or a key
 * held down, in one read: ink then reports `jjj` as one input. Outside a text field each character
 * is its own press; named keys (arrows, Enter…) and Ctrl/Meta combinations come alone.
 */
export function keyPresses(input: string, key: KeyFlags): { input: string; key: KeyFlags }[] {
  const chars = [...input];
  if (chars.length <= 1 || key.ctrl || key.meta || key.escape || key.return || key.tab) return [{ input, key }];
  return chars.map((c) => ({ input: c, key }));
}

/** The keys one shown key string stands for: `h/←` → [`h`, `←`]; `/` → [`/`]. */
export function keyAlternatives(shown: string): string[] {
  return shown.length > 1 && shown.includes('/') ? shown.split('/').filter((k) => k !== '') : [shown];
}

/** Whether the key is a name (`Enter`, `←`…) rather than a character typed. */
export function isNamedKey(k: string): boolean {
  return Object.hasOwn(NAMED, k);
}

/** Whether the key is a command while a text field has the keys (named keys but Space, which is text then). */
function isFieldKey(k: string): boolean {
  return isNamedKey(k) && k !== 'Space';
}

/** Whether one key (a character or a name) is the press. A character never matches with Ctrl or Meta, nor a named key. */
export function keyMatches(k: string, input: string, key: KeyFlags): boolean {
  const named = NAMED[k];
  if (named) return named(input, key);
  if (key.ctrl || key.meta || key.escape || key.return || key.tab) return false;
  return input === k;
}

export function bindingMatches(b: KeyBinding, input: string, key: KeyFlags): boolean {
  return b.keys.some((shown) => keyAlternatives(shown).some((k) => keyMatches(k, input, key)));
}

export function screenKeys(screen: ScreenName): ScreenKeys {
  // ScreenName is made of KEYMAP's entries: there is one for every name (this module imports
  // nothing, so no error class; the types rule the miss out).
  return (KEYMAP as readonly ScreenKeys[]).find((e) => e.screen === screen)!;
}

function applies(b: KeyBinding, when: string | undefined): boolean {
  return b.when === undefined || (when !== undefined && b.when.includes(when));
}

export interface CommandOptions {
  /** The screen's step or focus (`pick`, `confirm`, `output`…): bindings with another `when` are skipped. */
  when?: string;
  /** A text field has the keys: only named keys are commands (characters are text). */
  typing?: boolean;
}

/** The command a key press is on `screen` (first binding that matches), or undefined. */
export function commandFor<S extends ScreenName>(screen: S, input: string, key: KeyFlags, options: CommandOptions = {}): CommandOf<S> | undefined {
  for (const b of screenKeys(screen).bindings) {
    if (!applies(b, options.when)) continue;
    if (options.typing) {
      const named = b.keys.some((shown) => keyAlternatives(shown).some((k) => isFieldKey(k) && keyMatches(k, input, key)));
      if (named) return b.command as CommandOf<S>;
      continue;
    }
    if (bindingMatches(b, input, key)) return b.command as CommandOf<S>;
  }
  return undefined;
}

/** Every single character that is a key on `screen` (in `when`), the global keys included: they do not start a filter. */
export function characterKeys(screen: ScreenName, when?: string): Set<string> {
  const out = new Set<string>();
  for (const s of [screenKeys('global'), screenKeys(screen)]) {
    for (const b of s.bindings) {
      if (!applies(b, when)) continue;
      for (const shown of b.keys) for (const k of keyAlternatives(shown)) if (!isNamedKey(k)) out.add(k);
    }
  }
  return out;
}

/** The keys of one binding as a key line shows them: all (`u/x`) or only the first (`u`). */
function keysText(b: KeyBinding, all: boolean): string {
  return all ? b.keys.join('/') : (b.keys[0] ?? '');
}

interface LegendEntry {
  rank: number;
  index: number;
  wide: string;
  narrow: string;
}

export interface KeyLineOptions {
  /** With the global keys (default true). */
  global?: boolean;
  /** Commands not offered right now (unplug on a device that cannot be unplugged). */
  without?: readonly string[];
  /** A text field has the keys: only named keys are shown (characters are text), no global keys. */
  typing?: boolean;
}

/** The key-line entries of a screen in a step, in table order: groups merged, global keys last. */
export function legendEntries(screen: ScreenName, when?: string, options: KeyLineOptions = {}): LegendEntry[] {
  const out: LegendEntry[] = [];
  const sources = options.global === false || options.typing || screen === 'global' ? [screenKeys(screen)] : [screenKeys(screen), screenKeys('global')];
  let index = 0;
  for (const s of sources) {
    const bindings = s.bindings
      .filter((b) => applies(b, when) && b.legend && !(s.screen === screen && options.without?.includes(b.command)))
      .map((b) => (options.typing ? { ...b, keys: b.keys.filter((k) => keyAlternatives(k).every(isFieldKey)) } : b))
      .filter((b) => b.keys.length > 0);
    for (let i = 0; i < bindings.length; i++) {
      const b = bindings[i]!;
      const legend = b.legend!;
      const group = [b];
      while (legend.group !== undefined && bindings[i + 1]?.legend?.group === legend.group) group.push(bindings[++i]!);
      // A group: the first keys of each together, then the second ones (`←↓↑→/hjkl move`).
      const columns = (n: number) => group.map((g) => g.keys[n] ?? '').join('');
      const wide = group.length > 1 ? `${[columns(0), columns(1)].filter((c) => c !== '').join('/')} ${legend.label}` : `${keysText(b, true)} ${legend.label}`;
      const narrow = group.length > 1 ? `${legend.narrow ?? columns(0)} ${legend.label}` : `${keysText(b, false)} ${legend.label}`;
      out.push({ rank: legend.rank + (s.screen === 'global' && screen !== 'global' ? 0.5 : 0), index: index++, wide, narrow });
    }
  }
  return out;
}

const SEP = ' · ';

/**
 * The key line of a screen: its entries in table order, the widest form that fits `width`; when
 * even the short forms do not fit, the entries of the highest rank give way first.
 */
export function keyLine(screen: ScreenName, width: number, when?: string, options: KeyLineOptions = {}): string {
  const entries = legendEntries(screen, when, options);
  const join = (es: readonly LegendEntry[], form: 'wide' | 'narrow') => es.map((e) => e[form]).join(SEP);
  for (const form of ['wide', 'narrow'] as const) if (textWidth(join(entries, form)) <= width) return join(entries, form);
  const kept = [...entries];
  while (kept.length > 1) {
    let worst = 0;
    for (let i = 1; i < kept.length; i++) if (kept[i]!.rank > kept[worst]!.rank || (kept[i]!.rank === kept[worst]!.rank && kept[i]!.index > kept[worst]!.index)) worst = i;
    kept.splice(worst, 1);
    if (textWidth(join(kept, 'narrow')) <= width) return join(kept, 'narrow');
  }
  // One entry left and still too wide: cut at the edge (the line never grows the frame).
  const last = [...join(kept, 'narrow')];
  return last.length <= width ? last.join('') : `${last.slice(0, Math.max(0, width - 1)).join('')}…`;
}

/** Width of the key line's own text (every character in the table is one column wide). */
function textWidth(s: string): number {
  return [...s].length;
}

/** Where a `when` value is, in words (help and README). */
const WHEN_WORDS: Record<string, string> = {
  filter: 'typing a filter',
  filtered: 'filtered',
  pick: 'choosing',
  path: 'path',
  field: 'MAC, bridge',
  preview: 'preview',
  confirm: 'confirm',
  result: 'result',
  params: 'parameters',
  output: 'output',
  value: 'size, name, MAC, link',
  running: 'running',
};

/** The binding's description with where it holds (`(preview, result) scroll up one line`). */
export function describe(b: KeyBinding): string {
  if (!b.when) return b.description;
  return `(${b.when.map((w) => WHEN_WORDS[w] ?? w).join(', ')}) ${b.description}`;
}

/** The help screen's text: every screen's keys (lines not wrapped). */
export function helpLines(): string[] {
  const out: string[] = [];
  for (const s of KEYMAP as readonly ScreenKeys[]) {
    if (out.length > 0) out.push('');
    out.push(s.title);
    for (const b of s.bindings) out.push(`  ${b.keys.join(' ').padEnd(13)}${describe(b)}`);
  }
  return out;
}

/** The README's key section: a Markdown table per screen. */
export function keymapMarkdown(): string {
  const out: string[] = [];
  for (const s of KEYMAP as readonly ScreenKeys[]) {
    out.push(`**${s.title}**`, '', '| keys | what they do |', '| --- | --- |');
    for (const b of s.bindings) out.push(`| ${b.keys.map((k) => `\`${k}\``).join(' ')} | ${describe(b).replaceAll('|', '\\|')} |`);
    out.push('');
  }
  return out.join('\n');
}
