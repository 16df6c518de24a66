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
  /** Per task name with takers waiting for a rate-limit token: how many, and the timer re-reading its rate meanwhile. */
  readonly #waiting = new Map<string, { takers: number; timer: NodeJS.Timeout }>();

  constructor(
    private readonly kv: KeyValueStore,
    private readonly rateLimiter: RateLimiter,
    private readonly cacheMs = CACHE_MS,
  ) {}

  /**
   * Learn whether this task id is revoked, and set its task's rate limit if an override says so.
   * Resolves with the revoke counter read: given back as `revokesSeen` on the next refresh of the
   * same task (after it waited), the id is read again only if a revoke came since.
   */
  async refresh(task: { id: string; name: string }, revokesSeen?: number): Promise<number> {
    const [revokes] = await Promise.all([this.#refreshRevoked(task.id, revokesSeen), this.#refreshRate(task.name)]);
    return revokes;
  }

  /**
   * Resolves with `token` (a rate-limit take), re-reading the task's rate every cacheMs
   * meanwhile: a rate changed in the store then re-plans the takers already waiting
   * (RateLimiter.set), as one heard on a control channel does. One timer per task name, stopped
   * when its last taker is through.
   */
  async whileWaiting(name: string, token: Promise<void>): Promise<void> {
    let waiting = this.#waiting.get(name);
    if (!waiting) {
      // A failed read is let go: the takers keep the rate they have, and the next tick reads again.
      const timer = setInterval(() => this.#refreshRate(name).catch(() => undefined), this.cacheMs).unref();
      waiting = { takers: 0, timer };
      this.#waiting.set(name, waiting);
    }
    waiting.takers++;
    try {
      await token;
    } finally {
      if (--waiting.takers === 0) {
        clearInterval(waiting.timer);
        this.#waiting.delete(name);
      }
    }
  }

  /** For ExecutorDeps.isRevoked: the ids `refresh` found revoked. */
  isRevoked(id: string): boolean {
    return this.#revoked.has(id);
  }

  /** Sets the task's rate when the rate-limit counter moved since it was last read. */
  async #refreshRate(name: string): Promise<void> {
    const version = await this.#counter(RATE_LIMITS);
    if (version > 0 && this.#rates.get(name)?.version !== version) await this.#readRate(name, version);
  }

  /**
   * While any id is revoked (the counter lives), whether this one is: one read, until it is found
   * revoked, and none when the counter is still what it was at this id's last read (every revoke
   * raises it). Resolves with the counter.
   */
  async #refreshRevoked(id: string, seen: number | undefined): Promise<number> {
    const revokes = await this.#counter(REVOKES);
    if (revokes > 0 && revokes !== seen && !this.#revoked.has(id) && (await this.kv.get(revokedKey(id))) !== undefined) {
      this.#revoked.add([id]);
    }
    return revokes;
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
