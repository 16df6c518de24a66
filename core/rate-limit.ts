/**
 * Task rate limits as Celery has them (celery-protocol.md §8): "N", "N/s", "N/m", "N/h" (N may
 * be a decimal), enforced by a token bucket per task name, per worker, with room for one token
 * (kombu's TokenBucket as Celery's worker builds it), so tasks are spaced evenly, not bursted.
 */
import { RateLimitError } from './errors.js';
import { setLongTimeout } from './long-timeout.js';
import { onAbort } from './shared-abort.js';

const PER_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };

const FORMS =
  "use 'N/s', 'N/m' or 'N/h' (N tasks per second, minute or hour; N may be a decimal), a plain number (per second), or 0, '' or null for no limit";

/** Tokens per second, or null for no limit. Throws RateLimitError naming the accepted forms. */
export function parseRate(rate: string | number | null | undefined): number | null {
  if (rate === null || rate === undefined) return null;
  if (typeof rate === 'number') {
    if (!Number.isFinite(rate) || rate < 0) throw new RateLimitError(`Invalid rate limit ${rate}: ${FORMS}.`);
    return rate === 0 ? null : rate;
  }
  if (typeof rate !== 'string') throw new RateLimitError(`Invalid rate limit of type ${typeof rate}: ${FORMS}.`);
  const text = rate.trim();
  if (text === '') return null;
  const m = /^(\d+(?:\.\d*)?|\.\d+)(?:\/([smh]))?$/.exec(text);
  if (!m) throw new RateLimitError(`Invalid rate limit '${rate}': ${FORMS}.`);
  const perSecond = Number(m[1]) / (PER_SECONDS[m[2] ?? 's'] as number);
  return perSecond === 0 ? null : perSecond;
}

export interface RateLimiterClock {
  /** Milliseconds, monotonic enough for spacing tasks. Default performance.now. */
  now?: () => number;
  /** Resolves after `ms`, rejects with the signal's reason when it aborts. Default a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Bucket {
  rate: number;
  /** The limit as it was set ('10/m'), as Celery shows it. */
  given: string;
  tokens: number;
  stamp: number;
  /** Aborted when the bucket is replaced (a new rate), so waiters re-plan at the new rate. */
  replaced: AbortController;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      timer.clear();
      reject(signal.reason);
    };
    // A limit slower than one run per ~24.8 days waits longer than a Node timer can.
    const timer = setLongTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(clock: RateLimiterClock = {}) {
    this.#now = clock.now ?? (() => performance.now());
    this.#sleep = clock.sleep ?? sleep;
  }

  /** Sets (or with null/0/'' removes) a task's limit; waiting takers re-plan at the new rate. */
  set(name: string, rate: string | number | null | undefined): void {
    const perSecond = parseRate(rate);
    this.#buckets.get(name)?.replaced.abort();
    if (perSecond === null) this.#buckets.delete(name);
    else this.#buckets.set(name, { rate: perSecond, given: String(rate), tokens: 1, stamp: this.#now(), replaced: new AbortController() });
  }

  /** Tokens per second for the task, or null when it has no limit. */
  get(name: string): number | null {
    return this.#buckets.get(name)?.rate ?? null;
  }

  /** The task's limit as it was set ('10/m'), or null when it has none: what `inspect registered` shows, as Celery's str(rate_limit). */
  given(name: string): string | null {
    return this.#buckets.get(name)?.given ?? null;
  }

  /** How long a take() made now would wait (ms): 0 when a token is free or the task has no limit. */
  waitMs(name: string): number {
    const bucket = this.#buckets.get(name);
    if (bucket === undefined) return 0;
    const tokens = Math.min(1, bucket.tokens + ((this.#now() - bucket.stamp) / 1000) * bucket.rate);
    return tokens >= 1 ? 0 : ((1 - tokens) / bucket.rate) * 1000;
  }

  /**
   * Waits until the task may start. Each taker reserves the next token at once (the bucket may
   * go below zero), so concurrent takers are served in order and each waits exactly its turn.
   * Rejects with the signal's reason if `signal` aborts first; the reservation is given back.
   */
  async take(name: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const bucket = this.#buckets.get(name);
      if (bucket === undefined) return;
      const now = this.#now();
      bucket.tokens = Math.min(1, bucket.tokens + ((now - bucket.stamp) / 1000) * bucket.rate);
      bucket.stamp = now;
      bucket.tokens -= 1;
      if (bucket.tokens >= 0) return;
      const waitMs = (-bucket.tokens / bucket.rate) * 1000;
      // Not AbortSignal.any: on Node 20 every signal it makes stays referenced by its long-lived
      // sources (the worker's shutdown signal) for as long as they live, one per rate-limited wait.
      const either = new AbortController();
      const stops = [bucket.replaced.signal, signal].map((s) => s && onAbort(s, () => either.abort(s.reason)));
      try {
        await this.#sleep(waitMs, either.signal);
        return;
      } catch (err) {
        if (!bucket.replaced.signal.aborted) {
          bucket.tokens += 1;
          throw err;
        }
        // The rate changed while waiting: plan again against the new bucket.
      } finally {
        for (const stop of stops) stop?.();
      }
    }
  }
}
