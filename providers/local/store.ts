/** local:// key-value store (the result backend's primitives) in the shared SQLite file. */
import { type ChordPartEntry, chordComplete, inHeaderOrder } from '../../core/chord-parts.js';
import { CeleriacError } from '../../core/errors.js';
import type { ChordKeys, ChordPartInput, KeyValueStore, PutOptions } from '../../core/ports.js';
import type { LocalDatabase } from './database.js';

/** An expired row reads as gone even before the sweeper deletes it. */
const LIVE = '(expires_at IS NULL OR expires_at > @now)';

export class LocalStore implements KeyValueStore {
  #closed = false;

  constructor(
    readonly url: string,
    private readonly local: LocalDatabase,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const row = this.local.stmt(`SELECT value FROM kv WHERE key = @key AND ${LIVE}`).get({ key, now: Date.now() }) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  async put(key: string, value: string, opts: PutOptions): Promise<boolean> {
    // One upsert: the guards are checked and the write done in the same statement. Column
    // `ready`: 0 not ready, 1 ready, 2 a success.
    const changed = await this.local.write(() => {
      const now = Date.now();
      return this.local
        .stmt(
          `INSERT INTO kv (key, value, ready, expires_at) VALUES (@key, @value, @ready, @expires)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, ready = excluded.ready, expires_at = excluded.expires_at
           WHERE NOT (((@keepReady AND kv.ready >= 1) OR (@keepSuccess AND kv.ready = 2))
                      AND (kv.expires_at IS NULL OR kv.expires_at > @now))`,
        )
        .run({
          key,
          value,
          ready: opts.success ? 2 : opts.ready ? 1 : 0,
          expires: opts.ttlMs ? now + opts.ttlMs : null,
          keepReady: opts.keepReady ? 1 : 0,
          keepSuccess: opts.keepSuccess ? 1 : 0,
          now,
        }).changes;
    });
    if (changed > 0) this.local.events.emit(`key:${key}`);
    return changed > 0;
  }

  async delete(key: string): Promise<void> {
    await this.local.write(() => {
      this.local.stmt('DELETE FROM kv WHERE key = ?').run(key);
      this.local.stmt('DELETE FROM chord_parts WHERE parts_key = ?').run(key);
    });
    this.local.events.emit(`key:${key}`);
  }

  async incr(key: string, by: number, ttlMs?: number): Promise<number> {
    const next = await this.local.write(() => {
      const now = Date.now();
      const row = this.#live(key, now);
      const current = row ? Number(row.value) : 0;
      if (!Number.isSafeInteger(current)) throw new CeleriacError(`Cannot increment '${key}': its value is not an integer`);
      const expires = ttlMs ? now + ttlMs : (row?.expires_at ?? null);
      this.#replace(key, String(current + by), expires);
      return current + by;
    });
    this.local.events.emit(`key:${key}`);
    return next;
  }

  /**
   * One write transaction (IMMEDIATE: every process's writes wait for it), so two parts added at
   * once cannot both complete the chord. A part is a row of its own; the parts key's kv row holds
   * their count (and their expiry), so an add costs the same at the thousandth part as at the first.
   */
  async addChordPart(keys: ChordKeys, part: ChordPartInput, ttlMs?: number): Promise<string[] | undefined> {
    return this.local.write(() => {
      const now = Date.now();
      const row = this.#live(keys.parts, now);
      // Parts left by an expired count (the sweeper not yet by) are not this chord's.
      if (!row) this.local.stmt('DELETE FROM chord_parts WHERE parts_key = ?').run(keys.parts);
      const added = this.local
        .stmt('INSERT OR IGNORE INTO chord_parts (parts_key, task_id, score, member) VALUES (?, ?, ?, ?)')
        .run(keys.parts, part.taskId, part.score, part.member).changes;
      const count = Number(row?.value ?? 0) + added;
      const expires = ttlMs ? now + ttlMs : (row?.expires_at ?? null);
      this.#replace(keys.parts, String(count), expires);
      if (ttlMs) {
        this.local
          .stmt(`UPDATE kv SET expires_at = @expires WHERE key IN (@size, @extra) AND ${LIVE}`)
          .run({ expires, size: keys.size, extra: keys.extra, now });
      }
      if (!chordComplete(count, this.#live(keys.size, now)?.value, this.#live(keys.extra, now)?.value)) return undefined;
      const rows = this.local.stmt('SELECT score, member FROM chord_parts WHERE parts_key = ?').all(keys.parts) as {
        score: number | null;
        member: string;
      }[];
      return inHeaderOrder(rows.map((r): ChordPartEntry => [r.score, r.member]));
    });
  }

  /** Writes a value that is not a result (a counter, a chord's parts), inside a write transaction. */
  #replace(key: string, value: string, expires: number | null): void {
    this.local.stmt('INSERT OR REPLACE INTO kv (key, value, ready, expires_at) VALUES (?, ?, 0, ?)').run(key, value, expires);
  }

  /** The live row of a key, inside a write transaction. */
  #live(key: string, now: number): { value: string; expires_at: number | null } | undefined {
    return this.local.stmt(`SELECT value, expires_at FROM kv WHERE key = @key AND ${LIVE}`).get({ key, now }) as
      | { value: string; expires_at: number | null }
      | undefined;
  }

  /** In-process writes notify at once; writes from other processes are found by the backend's polling. */
  async watch(key: string, onChange: () => void): Promise<() => Promise<void>> {
    // One event name per key, so a write wakes only its own waiters.
    const event = `key:${key}`;
    const listener = (): void => onChange();
    this.local.events.on(event, listener);
    return async () => {
      this.local.events.off(event, listener);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.local.release();
  }
}
