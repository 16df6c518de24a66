/**
 * The executor's side of the overrides in the result store (core/overrides.ts): before a task
 * runs, whether its id was revoked and what its task's rate limit is now, with the counters
 * read at most once per CACHE_MS.
 */
import { CACHE_MS, RATE_LIMITS, REVOKES, rateKey, revokedKey } from '../overrides.js';
import type { KeyValueStore } from '../ports.js';
import type { RateLimiter } from '../rate-limit.js';
import { RevokedIds } from '../worker/revoked-ids.js';

/** The executor's side: what applies to a task about to run, read before it runs. */
export class OverrideReader {
  readonly #revoked = new RevokedIds();
  /** Per task: the override applied to the limiter (undefined: none), and the counter value it was read at. */
  readonly #rates = new Map<string, { rate: string | number | null | undefined; version: number }>();
  /** Counter reads, shared by concurrent callers and trusted for cacheMs from when they were asked. */
  readonly #counters = new Map<string, { value: Promise<number>; at: number }>();

  constructor(
    private readonly kv: KeyValueStore,
    private readonly rateLimiter: RateLimiter,
    private readonly cacheMs = CACHE_MS,
  ) {}

  /** Learn whether this task id is revoked, and set its task's rate limit if an override says so. */
  async refresh(task: { id: string; name: string }): Promise<void> {
    const [revokes, rateVersion] = await Promise.all([this.#counter(REVOKES), this.#counter(RATE_LIMITS)]);
    await Promise.all([
      revokes > 0 && !this.#revoked.has(task.id) ? this.#readRevoked(task.id) : undefined,
      rateVersion > 0 && this.#rates.get(task.name)?.version !== rateVersion ? this.#readRate(task.name, rateVersion) : undefined,
    ]);
  }

  /** For ExecutorDeps.isRevoked: the ids `refresh` found revoked. */
  isRevoked(id: string): boolean {
    return this.#revoked.has(id);
  }

  async #readRevoked(id: string): Promise<void> {
    if ((await this.kv.get(revokedKey(id))) !== undefined) this.#revoked.add([id]);
  }

  async #readRate(name: string, version: number): Promise<void> {
    const text = await this.kv.get(rateKey(name));
    const rate = text === undefined ? undefined : (JSON.parse(text) as { rate: string | number | null }).rate;
    // Set only on a change: setting refills the task's token bucket.
    if (rate !== undefined && this.#rates.get(name)?.rate !== rate) this.rateLimiter.set(name, rate);
    this.#rates.set(name, { rate, version });
  }

  /** A counter's value (absent: 0). A failed read is not kept: the next task asks again. */
  #counter(key: string): Promise<number> {
    const cached = this.#counters.get(key);
    if (cached && Date.now() - cached.at < this.cacheMs) return cached.value;
    const value = this.kv.get(key).then((text) => Number(text ?? 0) || 0);
    this.#counters.set(key, { value, at: Date.now() });
    value.catch(() => {
      if (this.#counters.get(key)?.value === value) this.#counters.delete(key);
    });
    return value;
  }
}
