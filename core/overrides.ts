/**
 * Run-time overrides kept in the result store, for brokers without a control channel (SQS,
 * Pub/Sub — DESIGN.md "Ports"): `celeriac control revoke` and `celeriac control rate_limit`
 * write them (OverrideWriter, here); every executor reads them, cached briefly, before it runs
 * a task and again after the task waited (core/executor/overrides.ts), so they reach every
 * function instance. Keys, in the result store next to celery-task-meta-*:
 *
 *   celeriac-revoked-<task id>       '1', kept REVOKE_EXPIRES (Celery's workers forget revoked ids after 3 h)
 *   celeriac-revokes                 counter of revokes, its TTL renewed by each: while it exists a
 *                                    reader checks each task id (one read per task); absent, none
 *   celeriac-rate-limit-<task name>  {"rate": "10/m"} ({"rate": null}: no limit), kept until changed
 *   celeriac-rate-limits             counter of rate-limit changes: a reader re-reads a task's rate
 *                                    only when it has moved, so a steady state costs two reads per
 *                                    CACHE_MS per instance
 *
 * Each value is written before its counter moves, so a reader that sees the counter sees the
 * value. Rate limits apply per instance (its own token bucket), as Celery's apply per worker.
 */
import type { KeyValueStore } from './ports.js';
import { parseRate } from './rate-limit.js';

/** Celery's REVOKE_EXPIRES (celery/worker/state.py): revoked ids are kept 3 hours. */
export const REVOKE_EXPIRES_MS = 3 * 3600 * 1000;
/** How long a reader trusts what it read: a revoke or a new rate reaches every instance within this. */
export const CACHE_MS = 1000;

export const REVOKES = 'celeriac-revokes';
export const RATE_LIMITS = 'celeriac-rate-limits';
export const revokedKey = (id: string): string => `celeriac-revoked-${id}`;
export const rateKey = (name: string): string => `celeriac-rate-limit-${name}`;
const plainWrite = (ttlMs?: number) => ({ ttlMs, ready: false, keepReady: false });

/** The control client's side: write an override. */
export class OverrideWriter {
  constructor(private readonly kv: KeyValueStore) {}

  async revoke(ids: string[]): Promise<void> {
    await Promise.all(ids.map((id) => this.kv.put(revokedKey(id), '1', plainWrite(REVOKE_EXPIRES_MS))));
    await this.kv.incr(REVOKES, ids.length, REVOKE_EXPIRES_MS);
  }

  async setRateLimit(taskName: string, rate: string | number | null): Promise<void> {
    parseRate(rate); // a bad rate is refused here (RateLimitError), not by every reader
    await this.kv.put(rateKey(taskName), JSON.stringify({ rate }), plainWrite());
    await this.kv.incr(RATE_LIMITS, 1);
  }
}
