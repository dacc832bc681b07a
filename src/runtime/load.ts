/**
 * Reading runtime files: text → RuntimeFile, with Ganeti's legacy upgrades
 * (`_UpgradeSerializedRuntime`) applied and reported.
 */

import { closeSync, constants as fsc, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { InputError, NotFoundError, PlugboardError, RefusedError, RuntimeFileError } from '../errors.js';
import { diskDriver, nicDriver } from './hvparams.js';
import { legacyDeviceId, newUuid } from './ids.js';
import { formatPath } from './issues.js';
import { copyJsonHints, deepFreeze, JsonSyntaxError, parseJson, setOwn } from './json.js';
import { checkRootTree, pathUnderRoot } from './root.js';
import { checkDocument, checkTopLevel, TOP_LEVEL_NAMES } from './schema.js';
import type {
  Hvinfo,
  Json,
  JsonObject,
  KnownHvparams,
  RuntimeDisk,
  RuntimeFile,
  RuntimeFormat,
  RuntimeNic,
  Upgrade,
} from './types.js';
import { PCI_BUS } from './types.js';

/** Runtime files larger than this are refused (real ones are a few KiB). */
export const MAX_RUNTIME_FILE_BYTES = 16 * 1024 * 1024;

type RawDoc = RuntimeFile['raw'];

/**
 * JSON values (numbers, strings, lists, objects…) one runtime file may hold. A real one holds a few
 * thousand (about 70 hvparams, a few hundred kvm_cmd items, ~30 per device); 16 MiB of `1, 1, 1…`
 * would be 8 million and take seconds to read: refused at the 200 001st, within milliseconds.
 */
export const MAX_RUNTIME_JSON_VALUES = 200_000;

/** Duplicate keys reported per file (each one is a line in `upgrades`). */
const MAX_REPORTED_DUPLICATES = 20;

/**
 * The instance name a runtime file belongs to: the explicit one, else `NAME` of a `NAME.runtime`
 * file name, else the `-name` value in kvm_cmd (`NAME`, `NAME,debug-threads=on`, `guest=NAME,…`),
 * else the file's base name.
 */
export function instanceNameOf(source: string, kvmCmd: readonly Json[], explicit?: string): string {
  if (explicit) return explicit;
  const base = basename(source);
  if (base.endsWith('.runtime') && base.length > '.runtime'.length) return base.slice(0, -'.runtime'.length);
  const idx = kvmCmd.indexOf('-name');
  const v = idx >= 0 ? kvmCmd[idx + 1] : undefined;
  if (typeof v === 'string' && v !== '') {
    const first = v.split(',')[0] ?? '';
    const name = first.startsWith('guest=') ? first.slice('guest='.length) : first;
    if (name) return name;
  }
  return base;
}

/** `[3, 0, 0, 'hvinfo']` → `['disks', 0, 0, 'hvinfo']` (the top-level items by their names). */
function namedPath(path: (string | number)[]): (string | number)[] {
  const head = path[0];
  const name = typeof head === 'number' ? TOP_LEVEL_NAMES[head] : undefined;
  return name === undefined ? path : [name, ...path.slice(1)];
}

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function nicView(n: JsonObject, index: number): RuntimeNic {
  const np = n.nicparams;
  const params = np !== null && typeof np === 'object' && !Array.isArray(np) ? np : undefined;
  return {
    index,
    uuid: n.uuid as string,
    mac: n.mac as string,
    mode: str(params?.mode),
    link: str(params?.link),
    name: str(n.name),
    hvinfo: n.hvinfo as Hvinfo,
    raw: n,
  };
}

function diskView(entry: [JsonObject, string, string | null], index: number): RuntimeDisk {
  const [d, link, uri] = entry;
  return {
    index,
    uuid: d.uuid as string,
    size: typeof d.size === 'number' ? d.size : undefined,
    ivName: str(d.iv_name),
    name: str(d.name),
    devType: str(d.dev_type),
    link,
    uri,
    hvinfo: d.hvinfo as Hvinfo,
    raw: d,
  };
}

export interface DocumentMeta {
  source: string;
  instance?: string;
  format?: RuntimeFormat;
  upgrades?: Upgrade[];
}

/**
 * Build a RuntimeFile around a current-format document (4 items, every NIC with uuid, every device
 * with hvinfo). Validates it; throws RuntimeFileError listing every issue. The document is frozen.
 */
export function runtimeFileFromDocument(doc: Json, meta: DocumentMeta): RuntimeFile {
  const top = checkTopLevel(doc);
  if (top) throw new RuntimeFileError(meta.source, top);
  const arr = doc as Json[];
  if (arr.length !== 4) {
    throw new RuntimeFileError(meta.source, [
      { path: '', message: `expected [kvm_cmd, nics, hvparams, disks] (4 items), got ${arr.length} items` },
    ]);
  }
  const { issues, hvparams } = checkDocument(arr, 'strict');
  if (issues.length) throw new RuntimeFileError(meta.source, issues);
  return assemble(deepFreeze(arr) as unknown as RawDoc, hvparams, {
    source: meta.source,
    instance: instanceNameOf(meta.source, arr[0] as Json[], meta.instance),
    format: meta.format ?? 'current',
    upgrades: meta.upgrades ?? [],
  });
}

function assemble(
  raw: RawDoc,
  hvparams: KnownHvparams,
  meta: { source: string; instance: string; format: RuntimeFormat; upgrades: Upgrade[] },
): RuntimeFile {
  return {
    source: meta.source,
    instance: meta.instance,
    format: meta.format,
    kvmCmd: raw[0] as (string | number)[],
    nics: raw[1].map(nicView),
    disks: raw[3].map(diskView),
    hvparamsRaw: raw[2],
    hvparams,
    upgrades: meta.upgrades,
    raw,
  };
}

/**
 * Ganeti's `update_hvinfo` for one device, copy-on-write: a device without hvinfo gets `{}`, or,
 * with a legacy `pci` slot, `{driver, id, addr, bus}` (that key order) and loses `pci`. A NIC
 * without uuid first gets a fresh one (appended, as Ganeti does). Returns the same object when
 * nothing changes.
 */
function upgradeDevice(
  dev: JsonObject,
  kind: 'disk' | 'nic',
  path: (string | number)[],
  hvparams: KnownHvparams,
  upgrades: Upgrade[],
): JsonObject {
  const needsUuid = kind === 'nic' && !Object.hasOwn(dev, 'uuid');
  const needsHvinfo = !Object.hasOwn(dev, 'hvinfo');
  if (!needsUuid && !needsHvinfo) return dev;
  const out: JsonObject = {};
  for (const k of Object.keys(dev)) setOwn(out, k, dev[k] as Json);
  copyJsonHints(dev, out);
  if (needsUuid) {
    const uuid = newUuid();
    out.uuid = uuid;
    upgrades.push({
      path: formatPath([...path, 'uuid']),
      message: `NIC without uuid (file from before Ganeti 2.8): gave it ${uuid}`,
    });
  }
  if (needsHvinfo) {
    const hvinfo: JsonObject = {};
    if (Object.hasOwn(dev, 'pci')) {
      const slot = dev.pci as number;
      const uuid = out.uuid as string;
      hvinfo.driver = kind === 'disk' ? diskDriver(hvparams.disk_type) : nicDriver(hvparams.nic_type);
      hvinfo.id = legacyDeviceId(kind, uuid, slot);
      hvinfo.addr = `0x${slot.toString(16)}`;
      hvinfo.bus = PCI_BUS;
      delete out.pci;
      upgrades.push({
        path: formatPath([...path, 'pci']),
        message:
          `legacy PCI slot ${slot} turned into hvinfo (driver ${hvinfo.driver}, id ${hvinfo.id}, ` +
          `bus ${PCI_BUS}, addr ${hvinfo.addr})`,
      });
    } else {
      upgrades.push({
        path: formatPath([...path, 'hvinfo']),
        message: 'no hvinfo (device not placed on an explicit bus): set to {}',
      });
    }
    out.hvinfo = hvinfo;
  }
  return out;
}

/**
 * Parse the text of a runtime file. Accepts the current format and every legacy form Ganeti 3.0
 * still reads (3 items; NIC without uuid; `pci` slot instead of hvinfo) and upgrades them exactly as
 * Ganeti's `_UpgradeSerializedRuntime` does, recording each change in `upgrades`. kvm_cmd is kept as
 * stored (old spellings like `-balloon virtio` and `-localtime` are not rewritten). A key that
 * appears twice in one object (Ganeti never writes that; a hand edit may) is read as Ganeti reads it,
 * the last value at the first key's place, and reported in `upgrades` (it is written once).
 *
 * @param source where the text came from, used in messages (`conf/web1.runtime`)
 * @param instance the instance name, when the caller knows it
 * @throws RuntimeFileError listing every problem found, each with its JSON path
 */
export function parseRuntimeText(text: string, source: string, instance?: string): RuntimeFile {
  // simplejson reads a leading byte order mark; so do we (it is not written back).
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let doc: Json;
  const duplicates: Upgrade[] = [];
  try {
    doc = parseJson(body, {
      maxValues: MAX_RUNTIME_JSON_VALUES,
      onDuplicateKey: (objectPath, key) => {
        if (duplicates.length >= MAX_REPORTED_DUPLICATES) return;
        duplicates.push({
          path: formatPath(namedPath([...objectPath, key])),
          message:
            `key ${JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key)} appears more than once in this object: ` +
            'the last value is used, as Ganeti (Python\'s json) reads it; a rewrite writes the key once, with that value',
        });
      },
    });
  } catch (err) {
    if (err instanceof JsonSyntaxError) {
      throw new RuntimeFileError(source, [{ path: '', message: err.message }], { cause: err });
    }
    throw err;
  }
  const top = checkTopLevel(doc);
  if (top) throw new RuntimeFileError(source, top);
  const arr = doc as Json[];
  const { issues, hvparams } = checkDocument(arr, 'legacy');
  if (issues.length) throw new RuntimeFileError(source, issues);

  const upgrades: Upgrade[] = [...duplicates];
  const format: RuntimeFormat = arr.length === 3 ? 'legacy-3-items' : 'current';
  if (format === 'legacy-3-items') {
    upgrades.push({
      path: '',
      message: 'old runtime file with 3 items (no disks list): read as no disks; written back with an empty disks list',
    });
  }
  const nicsIn = arr[1] as JsonObject[];
  const disksIn = (arr.length >= 4 ? arr[3] : []) as [JsonObject, string, string | null][];
  const nics = nicsIn.map((n, i) => upgradeDevice(n, 'nic', ['nics', i], hvparams, upgrades));
  const disks = disksIn.map((entry, i) => {
    const d = upgradeDevice(entry[0], 'disk', ['disks', i, 0], hvparams, upgrades);
    if (d === entry[0]) return entry;
    const e: [JsonObject, string, string | null] = [d, entry[1], entry[2]];
    copyJsonHints(entry, e);
    return e;
  });
  const nicsOut = nics.some((n, i) => n !== nicsIn[i]) ? nics : nicsIn;
  const disksOut = arr.length === 3 || disks.some((d, i) => d !== disksIn[i]) ? disks : disksIn;
  let raw: RawDoc;
  if (nicsOut === nicsIn && disksOut === disksIn) {
    raw = arr as unknown as RawDoc;
  } else {
    raw = [arr[0] as Json[], nicsOut, arr[2] as JsonObject, disksOut];
  }
  return assemble(deepFreeze(raw as unknown as Json) as unknown as RawDoc, hvparams, {
    source,
    instance: instanceNameOf(source, arr[0] as Json[], instance),
    format,
    upgrades,
  });
}

function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'EISDIR':
      return 'is a directory';
    default:
      return e?.code ? `${e.code}: ${e.message}` : String(err);
  }
}

const openFlags = (noFollow: boolean | undefined): number =>
  fsc.O_RDONLY | fsc.O_NONBLOCK | (fsc.O_NOCTTY ?? 0) | (noFollow ? (fsc.O_NOFOLLOW ?? 0) : 0);

/** What a failed open of a runtime file means, as the error to throw. */
function openError(err: unknown, path: string, noFollow: boolean | undefined): PlugboardError {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    return new NotFoundError(`no runtime file at ${path}`, { cause: err });
  }
  if (noFollow && (err as NodeJS.ErrnoException).code === 'ELOOP') {
    return new RefusedError(`refusing to read ${path}: it is a symbolic link; plugboard does not follow links under its root`, { cause: err });
  }
  return new PlugboardError(`cannot read runtime file ${path}: ${describeFsError(err)}`, { cause: err });
}

/** Why the opened file is not read (not a regular file, over 16 MiB), or null. */
function statProblem(st: Stats, path: string): InputError | null {
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'not a regular file';
    return new InputError(`refusing to read ${path}: it is ${kind}, not a runtime file`);
  }
  if (st.size > MAX_RUNTIME_FILE_BYTES) {
    return new InputError(
      `refusing to read ${path}: ${st.size} bytes is more than ${MAX_RUNTIME_FILE_BYTES} (16 MiB); runtime files are a few KiB`,
    );
  }
  return null;
}

const grewError = (path: string): InputError =>
  new InputError(`refusing to read ${path}: it grew beyond ${MAX_RUNTIME_FILE_BYTES} bytes (16 MiB) while being read`);

const readChunkSize = (st: Stats): number => Math.min(Math.max(st.size + 1, 64 * 1024), MAX_RUNTIME_FILE_BYTES + 1);

/**
 * Read a runtime file's text: refuses anything but a regular file (a FIFO does not block the
 * reader: it is opened non-blocking) and files over 16 MiB; checks the bytes are UTF-8.
 * `noFollow`: refuse a symbolic link instead of reading what it points at.
 */
export async function readRuntimeText(path: string, opts: { noFollow?: boolean } = {}): Promise<string> {
  let fh;
  try {
    fh = await open(path, openFlags(opts.noFollow));
  } catch (err) {
    throw openError(err, path, opts.noFollow);
  }
  try {
    const st = await fh.stat();
    const problem = statProblem(st, path);
    if (problem) throw problem;
    // Read until EOF but never more than the limit (the file may grow after fstat).
    const chunks: Buffer[] = [];
    let total = 0;
    const chunkSize = readChunkSize(st);
    for (;;) {
      const chunk = Buffer.allocUnsafe(chunkSize);
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_RUNTIME_FILE_BYTES) throw grewError(path);
      chunks.push(chunk.subarray(0, bytesRead));
    }
    return decodeUtf8(Buffer.concat(chunks), path);
  } catch (err) {
    if (err instanceof PlugboardError) throw err;
    throw new PlugboardError(`cannot read runtime file ${path}: ${describeFsError(err)}`, { cause: err });
  } finally {
    await fh.close();
  }
}

/**
 * readRuntimeText with blocking system calls, the same checks and errors. For a process that has
 * nothing else to do meanwhile (`plugboard list` reads hundreds of files): a handful of syscalls on
 * a tmpfs take microseconds, where each asynchronous step costs a round through the thread pool.
 */
export function readRuntimeTextSync(path: string, opts: { noFollow?: boolean } = {}): string {
  let fd: number;
  try {
    fd = openSync(path, openFlags(opts.noFollow));
  } catch (err) {
    throw openError(err, path, opts.noFollow);
  }
  try {
    const st = fstatSync(fd);
    const problem = statProblem(st, path);
    if (problem) throw problem;
    // One buffer of the file's size and a byte more (the read that finds the end needs room), grown
    // if the file grows meanwhile; never more than the limit and a byte.
    let buf = Buffer.allocUnsafe(Math.min(st.size + 1, MAX_RUNTIME_FILE_BYTES + 1));
    let total = 0;
    for (;;) {
      if (total === buf.length) {
        if (total > MAX_RUNTIME_FILE_BYTES) throw grewError(path);
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, MAX_RUNTIME_FILE_BYTES + 1));
        buf.copy(bigger, 0, 0, total);
        buf = bigger;
      }
      const bytesRead = readSync(fd, buf, total, buf.length - total, null);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
    if (total > MAX_RUNTIME_FILE_BYTES) throw grewError(path);
    return decodeUtf8(buf.subarray(0, total), path);
  } catch (err) {
    if (err instanceof PlugboardError) throw err;
    throw new PlugboardError(`cannot read runtime file ${path}: ${describeFsError(err)}`, { cause: err });
  } finally {
    closeSync(fd);
  }
}

function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (err) {
    throw new RuntimeFileError(path, [{ path: '', message: 'not valid UTF-8 text' }], { cause: err });
  }
}

/**
 * Read and parse a runtime file (see readRuntimeText and parseRuntimeText). With `root` (the file is
 * an instance's under the node's root, not one the operator named), the root is checked first
 * (checkRootTree: no symbolic links, nothing writable by others) and a link is never followed.
 */
export async function loadRuntimeFile(path: string, opts: { instance?: string; root?: string } = {}): Promise<RuntimeFile> {
  if (opts.root !== undefined) {
    const rel = pathUnderRoot(opts.root, path);
    if (rel === null) throw new RefusedError(`refusing to read ${path}: it is not under the root ${opts.root}`);
    await checkRootTree(opts.root, { dirs: [dirname(rel)], files: [rel] });
  }
  const text = await readRuntimeText(path, { noFollow: opts.root !== undefined });
  return parseRuntimeText(text, path, opts.instance);
}
