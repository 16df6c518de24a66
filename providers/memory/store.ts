/** memory:// key-value store: values with expiry in this process, watchable, shared per URL. */
import { type ChordPartEntry, chordComplete, inHeaderOrder } from '../../core/chord-parts.js';
import { CeleriacError } from '../../core/errors.js';
import type { ChordKeys, ChordPartInput, KeyValueStore, PutOptions } from '../../core/ports.js';
import { MinHeap } from './heap.js';

/** How often expired rows are deleted (a read never sees one: live() checks the time). */
const SWEEP_EVERY_MS = 1000;

interface Row {
  value: string;
  ready: boolean;
  success?: boolean;
  expiresAt: number | undefined;
}

export class MemoryStoreData {
  readonly rows = new Map<string, Row>();
  readonly watchers = new Map<string, Set<() => void>>();
  /** A chord's parts by task id, under its parts key; they live as long as that key's row. */
  readonly chordParts = new Map<string, Map<string, ChordPartEntry>>();
  /** Keys by when they expire, so a row nobody reads again is still deleted (by the sweeper). */
  readonly #expiries = new MinHeap<string>();
  /** Runs while rows may expire; unref'd, so it never keeps the process alive. */
  #sweeper: NodeJS.Timeout | undefined;

  live(key: string, now = Date.now()): Row | undefined {
    const row = this.rows.get(key);
    if (row?.expiresAt !== undefined && row.expiresAt <= now) {
      this.delete(key);
      return undefined;
    }
    return row;
  }

  set(key: string, row: Row): void {
    this.rows.set(key, row);
    if (row.expiresAt === undefined) return;
    this.#expiries.push(row.expiresAt, key);
    this.#sweeper ??= setInterval(() => this.#sweep(Date.now()), SWEEP_EVERY_MS).unref();
  }

  #sweep(now: number): void {
    // live() deletes a row only if it has expired: one written again since lives on.
    while ((this.#expiries.peekKey() ?? Number.POSITIVE_INFINITY) <= now) this.live(this.#expiries.pop() as string, now);
    if (this.#expiries.size > 0) return;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  delete(key: string): void {
    this.rows.delete(key);
    this.chordParts.delete(key);
  }

  changed(key: string): void {
    for (const fn of this.watchers.get(key) ?? []) fn();
  }
}

export class MemoryStore implements KeyValueStore {
  /** Every writer is in this process, and every write notifies its watchers. */
  readonly watchesEveryWriter = true;

  constructor(
    readonly url: string,
    private readonly data: MemoryStoreData,
  ) {}

  async get(key: string): Promise<string | undefined> {
    return this.data.live(key)?.value;
  }

  async put(key: string, value: string, opts: PutOptions): Promise<boolean> {
    const now = Date.now();
    const stored = this.data.live(key, now);
    if ((opts.keepReady && stored?.ready) || (opts.keepSuccess && stored?.success)) return false;
    this.data.set(key, { value, ready: opts.ready, success: opts.success, expiresAt: opts.ttlMs ? now + opts.ttlMs : undefined });
    this.data.changed(key);
    return true;
  }

  async delete(key: string): Promise<void> {
    this.data.delete(key);
    this.data.changed(key);
  }

  async incr(key: string, by: number, ttlMs?: number): Promise<number> {
    const now = Date.now();
    const row = this.data.live(key, now);
    const current = row ? Number(row.value) : 0;
    if (!Number.isSafeInteger(current)) throw new CeleriacError(`Cannot increment '${key}': its value is not an integer`);
    const next = current + by;
    const expiresAt = ttlMs ? now + ttlMs : row?.expiresAt;
    this.data.set(key, { value: String(next), ready: false, expiresAt });
    this.data.changed(key);
    return next;
  }

  /** One synchronous step, so two parts added at once cannot both complete the chord. */
  async addChordPart(keys: ChordKeys, part: ChordPartInput, ttlMs?: number): Promise<string[] | undefined> {
    const now = Date.now();
    const row = this.data.live(keys.parts, now);
    // An expired row took its parts with it (MemoryStoreData.delete).
    let parts = this.data.chordParts.get(keys.parts);
    if (!parts) {
      parts = new Map();
      this.data.chordParts.set(keys.parts, parts);
    }
    if (!parts.has(part.taskId)) parts.set(part.taskId, [part.score, part.member]);
    // The row holds the count and the expiry of the parts.
    const expiresAt = ttlMs ? now + ttlMs : row?.expiresAt;
    this.data.set(keys.parts, { value: String(parts.size), ready: false, expiresAt });
    if (ttlMs) {
      for (const key of [keys.size, keys.extra]) {
        const kept = this.data.live(key, now);
        if (kept) this.data.set(key, { ...kept, expiresAt });
      }
    }
    const complete = chordComplete(parts.size, this.data.live(keys.size, now)?.value, this.data.live(keys.extra, now)?.value);
    return complete ? inHeaderOrder(parts.values()) : undefined;
  }

  async watch(key: string, onChange: () => void): Promise<() => Promise<void>> {
    let set = this.data.watchers.get(key);
    if (!set) {
      set = new Set();
      this.data.watchers.set(key, set);
    }
    // A wrapper, so the same callback watched twice unsubscribes once per watch.
    const fn = (): void => onChange();
    set.add(fn);
    return async () => {
      set.delete(fn);
      if (set.size === 0) this.data.watchers.delete(key);
    };
  }

  async close(): Promise<void> {}
}
