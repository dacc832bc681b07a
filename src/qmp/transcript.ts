/**
 * A bounded record of QMP traffic: every line the client sent and every line it received, with the
 * time and the socket. The UI subscribes to show it live; tests read it to check order.
 *
 * Bounded twice: at most `maxEntries` entries (the oldest drop out: a ring buffer) and each entry's
 * text cut to `maxEntryChars` (`query-qmp-schema` replies are hundreds of KiB). One Transcript may
 * be shared by many connections (the tool connects, works and disconnects for each action).
 */
import { InternalError } from '../errors.js';

export type TranscriptDirection = 'out' | 'in';

export interface TranscriptEntry {
  /** Increases by one for every entry ever recorded in this transcript, dropped ones included. */
  readonly seq: number;
  /** Wall-clock time in ms since the epoch (Date.now()). */
  readonly at: number;
  /** 'out': sent by plugboard; 'in': received from QEMU. */
  readonly direction: TranscriptDirection;
  /** The QMP socket path of the connection. */
  readonly socket: string;
  /** The JSON text of the message as it went over the wire, without the line end; maybe cut. */
  readonly json: string;
  /** Set when `json` was cut: the length of the full text in characters. */
  readonly fullLength?: number;
}

export type TranscriptListener = (entry: TranscriptEntry) => void;

export interface TranscriptOptions {
  /** Entries kept (default 500). */
  maxEntries?: number;
  /** Characters kept per entry (default 16384). */
  maxEntryChars?: number;
}

export class Transcript {
  readonly maxEntries: number;
  readonly maxEntryChars: number;
  private readonly ring: (TranscriptEntry | undefined)[];
  /** Index in `ring` where the next entry goes. */
  private head = 0;
  private count = 0;
  private nextSeq = 1;
  private readonly listeners = new Set<TranscriptListener>();

  constructor(options: TranscriptOptions = {}) {
    this.maxEntries = positiveInt(options.maxEntries ?? 500, 'maxEntries');
    this.maxEntryChars = positiveInt(options.maxEntryChars ?? 16_384, 'maxEntryChars');
    this.ring = new Array<TranscriptEntry | undefined>(this.maxEntries);
  }

  /** Records one message and tells the subscribers. Returns the entry. */
  record(direction: TranscriptDirection, socket: string, json: string): TranscriptEntry {
    const cut = json.length > this.maxEntryChars;
    const entry: TranscriptEntry = {
      seq: this.nextSeq++,
      at: Date.now(),
      direction,
      socket,
      json: cut ? json.slice(0, this.maxEntryChars) : json,
      ...(cut ? { fullLength: json.length } : {}),
    };
    this.ring[this.head] = entry;
    this.head = (this.head + 1) % this.maxEntries;
    if (this.count < this.maxEntries) this.count++;
    for (const listener of this.listeners) {
      try {
        listener(entry);
      } catch (err) {
        // A broken subscriber (a UI bug) must not break the QMP connection that is recording.
        process.emitWarning(`transcript subscriber failed: ${String(err)}`);
      }
    }
    return entry;
  }

  /** The entries still kept, oldest first (a copy). */
  entries(): TranscriptEntry[] {
    const out: TranscriptEntry[] = [];
    const start = (this.head - this.count + this.maxEntries) % this.maxEntries;
    for (let i = 0; i < this.count; i++) {
      const e = this.ring[(start + i) % this.maxEntries];
      if (e) out.push(e);
    }
    return out;
  }

  get size(): number {
    return this.count;
  }

  /** Calls `listener` for every entry recorded from now on. Returns the unsubscribe function. */
  subscribe(listener: TranscriptListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  clear(): void {
    this.ring.fill(undefined);
    this.head = 0;
    this.count = 0;
  }
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new InternalError(`Transcript ${what} must be a positive integer, got ${n}`);
  return n;
}
