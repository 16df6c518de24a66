/** memory:// key-value store: values with expiry in this process, watchable, shared per URL. */
import { CeleriacError } from '../../core/errors.js';
import type { KeyValueStore, PutOptions } from '../../core/ports.js';

interface Row {
  value: string;
  ready: boolean;
  success?: boolean;
  expiresAt: number | undefined;
}

export class MemoryStoreData {
  readonly rows = new Map<string, Row>();
  readonly watchers = new Map<string, Set<() => void>>();

  live(key: string, now = Date.now()): Row | undefined {
    const row = this.rows.get(key);
    if (row?.expiresAt !== undefined && row.expiresAt <= now) {
      this.rows.delete(key);
      return undefined;
    }
    return row;
  }

  changed(key: string): void {
    for (const fn of this.watchers.get(key) ?? []) fn();
  }
}

export class MemoryStore implements KeyValueStore {
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
    this.data.rows.set(key, { value, ready: opts.ready, success: opts.success, expiresAt: opts.ttlMs ? now + opts.ttlMs : undefined });
    this.data.changed(key);
    return true;
  }

  async delete(key: string): Promise<void> {
    this.data.rows.delete(key);
    this.data.changed(key);
  }

  async incr(key: string, by: number, ttlMs?: number): Promise<number> {
    const now = Date.now();
    const row = this.data.live(key, now);
    const current = row ? Number(row.value) : 0;
    if (!Number.isSafeInteger(current)) throw new CeleriacError(`Cannot increment '${key}': its value is not an integer`);
    const next = current + by;
    const expiresAt = ttlMs ? now + ttlMs : row?.expiresAt;
    this.data.rows.set(key, { value: String(next), ready: false, expiresAt });
    this.data.changed(key);
    return next;
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
