/**
 * Reading a QEMU command line (a runtime file's `kvm_cmd`, or any argv) the way QEMU 7.2 reads it.
 *
 * - `argvStrings`: the argv as strings (runtime files hold numbers too: `"-m", 1024`).
 * - `parseQemuArgv`: the list of options with their argument. QEMU options either always take one
 *   argument or never do (qemu-options.hx `HAS_ARG`); `--opt` is the same as `-opt`. Options not in
 *   the flag table below are taken to have an argument, which is true for every QEMU option not
 *   listed (checked against QEMU 7.2's qemu-options.hx, plus the old flags Ganeti and older
 *   QEMUs used).
 * - `parseOptsValue`: a `QemuOpts` value (`virtio-blk-pci,id=d0,addr=0x5`): the first element
 *   without `=` is the implied key (`driver` for `-device`), `,,` is an escaped comma, a bare key is
 *   `key=on`.
 * - `withoutOptions`: drop options (and their arguments) from an argv, e.g. `-daemonize`, `-pidfile`.
 * - `formatOpts`, `optsElements`, `escOpt`: writing `QemuOpts` values back.
 */

/** QEMU options that take no argument (QEMU 7.2 `qemu-options.hx`, plus removed ones older QEMUs and Ganeti used). */
export const QEMU_FLAG_OPTIONS: ReadonlySet<string> = new Set([
  'h',
  'help',
  'version',
  'nodefaults',
  'no-user-config',
  'nodefconfig',
  'S',
  's',
  'daemonize',
  'snapshot',
  'nographic',
  'no-acpi',
  'no-hpet',
  'no-reboot',
  'no-shutdown',
  'no-quit',
  'usb',
  'enable-kvm',
  'disable-kvm',
  'no-kvm',
  'no-kvm-irqchip',
  'no-kvm-pit',
  'no-kvm-pit-reinjection',
  'enable-nesting',
  'tdf',
  'full-screen',
  'alt-grab',
  'ctrl-grab',
  'no-frame',
  'sdl',
  'curses',
  'portrait',
  'win2k-hack',
  'no-fd-bootchk',
  'singlestep',
  'preconfig',
  'enable-fips',
  'mem-prealloc',
  'localtime',
  'rtc-td-hack',
  'old-param',
  'semihosting',
  'only-migratable',
  'xen-attach',
  'xen-domid-restrict',
  'async-teardown',
  'enable-sync-profile',
  'show-cursor',
]);

export interface QemuOption {
  /** Option name without dashes: `device`, `machine`, `nodefaults`. Empty for a bare argument (a disk image). */
  name: string;
  /** Its argument, when it takes one. */
  value?: string;
  /** Index of the option in the argv given to parseQemuArgv. */
  index: number;
  /** The option as written (`-device`, `--device`). */
  spelled: string;
}

export interface ParsedArgv {
  options: QemuOption[];
  /** An option that needs an argument was the last element. */
  missingArgument?: QemuOption;
}

/** The argv as strings: numbers as Python's `str()` writes them (`1024`). */
export function argvStrings(argv: readonly (string | number)[]): string[] {
  return argv.map((a) => (typeof a === 'number' ? String(a) : a));
}

/**
 * The options of a QEMU command line, in order. `skipBinary` (default true) drops argv[0], the
 * program path. A bare word that is not an option's argument is QEMU's `-hda` shorthand: it is
 * returned with an empty name.
 */
export function parseQemuArgv(argv: readonly (string | number)[], skipBinary = true): ParsedArgv {
  const args = argvStrings(argv);
  const options: QemuOption[] = [];
  for (let i = skipBinary ? 1 : 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      options.push({ name: '', value: arg, index: i, spelled: arg });
      continue;
    }
    const name = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (QEMU_FLAG_OPTIONS.has(name)) {
      options.push({ name, index: i, spelled: arg });
      continue;
    }
    if (i + 1 >= args.length) {
      const opt = { name, index: i, spelled: arg };
      options.push(opt);
      return { options, missingArgument: opt };
    }
    options.push({ name, value: args[i + 1]!, index: i, spelled: arg });
    i++;
  }
  return { options };
}

/** One `key=value` pair of a QemuOpts value, in written order. */
export interface OptsPair {
  key: string;
  value: string;
}

/**
 * Parse a QemuOpts value. `impliedKey` names the key of a first element without `=` (QEMU's
 * `implied_opt_name`: `driver` for `-device`, `type` for `-machine`/`-net`/`-netdev`/`-nic`).
 * `,,` inside an element is a literal comma; an element `flag` without `=` (not first) is
 * `flag=on`. Returns the pairs in order (later duplicates are kept: QEMU uses the last one).
 */
export function parseOptsValue(value: string, impliedKey?: string): OptsPair[] {
  const elements: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === ',') {
      if (value[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      elements.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  elements.push(cur);
  const pairs: OptsPair[] = [];
  elements.forEach((el, i) => {
    if (el === '') return;
    const eq = el.indexOf('=');
    if (eq < 0) {
      if (i === 0 && impliedKey !== undefined) pairs.push({ key: impliedKey, value: el });
      else pairs.push({ key: el, value: 'on' });
      return;
    }
    pairs.push({ key: el.slice(0, eq), value: el.slice(eq + 1) });
  });
  return pairs;
}

/** The last value of `key` in parsed QemuOpts pairs (QEMU: the last one wins), or undefined. */
export function optsGet(pairs: readonly OptsPair[], key: string): string | undefined {
  let v: string | undefined;
  for (const p of pairs) if (p.key === key) v = p.value;
  return v;
}

/**
 * The argv without the named options (and their arguments): e.g. to start a copy of an instance's
 * QEMU without `-daemonize`, `-pidfile`, `-monitor`. Names without dashes. argv[0] is kept.
 */
export function withoutOptions(argv: readonly (string | number)[], names: readonly string[]): string[] {
  const args = argvStrings(argv);
  const drop = new Set(names);
  const { options } = parseQemuArgv(args);
  const out: string[] = args.length > 0 ? [args[0]!] : [];
  for (const o of options) {
    if (drop.has(o.name)) continue;
    out.push(o.spelled);
    if (o.name !== '' && o.value !== undefined) out.push(o.value);
  }
  return out;
}

/**
 * A PCI address as QEMU's `addr` property reads it: `SLOT[.FN]`, both hex with or without `0x`
 * (`"0xd"`, `"d"`, `"10"` = 0x10, `"0x5.0x1"`). Returns null when QEMU would refuse it
 * (slot above 0x1f, function above 7, not hex).
 */
export function parsePciAddr(addr: string): { slot: number; fn: number } | null {
  const m = /^\s*(?:0[xX])?([0-9a-fA-F]{1,2})(?:\.(?:0[xX])?([0-7]))?\s*$/.exec(addr);
  if (!m) return null;
  const slot = parseInt(m[1]!, 16);
  const fn = m[2] === undefined ? 0 : parseInt(m[2], 16);
  if (slot > 0x1f) return null;
  return { slot, fn };
}

/** A QemuOpts value with its commas escaped (`,,`). */
export const escOpt = (v: string): string => v.replace(/,/g, ',,');

/** QemuOpts text from pairs; the implied key (when first) is written bare. */
export function formatOpts(pairs: readonly OptsPair[], impliedKey?: string): string {
  return pairs
    .map((p, i) => (i === 0 && impliedKey !== undefined && p.key === impliedKey ? escOpt(p.value) : `${p.key}=${escOpt(p.value)}`))
    .join(',');
}

/**
 * The elements of a QemuOpts value as written (`,,` kept escaped), for edits that must not
 * rewrite the others (`-cpu host,+vmx`: `+vmx` is not `+vmx=on`).
 */
export function optsElements(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === ',' && value[i + 1] === ',') {
      cur += ',,';
      i++;
    } else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  out.push(cur);
  return out.filter((e) => e !== '');
}
