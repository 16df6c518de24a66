/**
 * Restore of expired unacked messages, as kombu's restore_visible does it (§2.4): under the
 * `unacked_mutex` lock, every tag in unacked_index older than now − visibility timeout goes back
 * to the front of its queue marked redelivered. Works on messages fetched by either language, so a
 * Python or celeriac worker killed mid-task loses nothing. Each message moves in one guarded script.
 * Besides the periodic pass, one timer runs a pass when the next record comes due (a held ETA, a
 * retry's countdown), whether or not this worker has a slot free: the message is back in its
 * queue on time for any worker, of either language, to take.
 */
import { randomUUID } from 'node:crypto';
import type { BrokerContext } from './context.js';
import { SerializationError } from '../../core/errors.js';
import { boundQueues } from './bound-queues.js';
import { deadLetter } from './leases.js';
import { isObject, reencoded, restored } from './redelivery.js';
import { dueAtScore, scoreDueAt } from './restore-score.js';
import { releaseMutex } from './scripts/release-mutex.js';
import { restoreMessage } from './scripts/restore-message.js';

/** Records read and moved at a time within a pass. */
const BATCH = 1000;

export class Restorer {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  /** The one timer for the next record due before the next periodic pass, and when it fires. */
  #dueTimer: NodeJS.Timeout | undefined;
  #dueAt = Number.POSITIVE_INFINITY;
  readonly #periodMs: number;

  constructor(private readonly ctx: BrokerContext) {
    this.#periodMs = Math.min(10_000, Math.max(50, ctx.settings.visibilityTimeoutMs / 4));
  }

  /** Run now and then periodically: often enough that a message is back soon after its timeout, rarely enough to cost nothing. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.restore().catch(() => {}), this.#periodMs);
    this.#timer.unref();
    void this.restore().catch(() => {});
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#disarm();
    await this.#running?.catch(() => {});
  }

  /**
   * Have a pass run at `dueMs` (epoch ms), when a record comes due. One timer, re-armed to the
   * earliest time asked; a time past the next periodic pass is left to that pass, which arms the
   * timer for its next record itself (so no timer is ever longer than the period).
   */
  restoreAt(dueMs: number): void {
    if (!this.#timer || dueMs >= this.#dueAt || dueMs - Date.now() > this.#periodMs) return;
    this.#disarm();
    this.#dueAt = dueMs;
    this.#dueTimer = setTimeout(
      () => {
        this.#dueTimer = undefined;
        this.#dueAt = Number.POSITIVE_INFINITY;
        void this.restore().catch(() => {});
      },
      Math.max(0, dueMs - Date.now()),
    );
    this.#dueTimer.unref();
  }

  #disarm(): void {
    clearTimeout(this.#dueTimer);
    this.#dueTimer = undefined;
    this.#dueAt = Number.POSITIVE_INFINITY;
  }

  /** One pass; returns how many messages went back to their queues. */
  restore(): Promise<number> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Restore what is due, then arm the timer for the next record to come due (its holder may be busy, or gone). */
  async #pass(): Promise<number> {
    const { client, keys, settings } = this.ctx;
    const now = Date.now();
    this.ctx.setAside.prune(now);
    const cutoff = scoreDueAt(now, settings.visibilityTimeoutMs);
    const moved = await this.#restoreUpTo(cutoff);
    const [, next] = await client.zrangebyscore(keys.unackedIndex, `(${cutoff}`, '+inf', 'WITHSCORES', 'LIMIT', 0, 1);
    if (next !== undefined) this.restoreAt(dueAtScore(next, settings.visibilityTimeoutMs));
    return moved;
  }

  async #restoreUpTo(cutoff: string): Promise<number> {
    const { client, keys, settings } = this.ctx;
    const token = randomUUID();
    // Another restorer (of either language) is at it: let it finish (kombu skips too). A SET
    // re-sent after a lost reply finds this pass's own token: the lock is this pass's.
    const locked = (await client.set(keys.unackedMutex, token, 'PX', settings.mutexExpireMs, 'NX')) === 'OK';
    if (!locked && (await client.get(keys.unackedMutex)) !== token) return 0;
    try {
      let total = 0;
      // Batch after batch while there are more (thousands of ETA tasks due at once), skipping
      // the records of a batch that could not be moved (unreadable, taken meanwhile).
      for (let offset = 0; ; ) {
        const tags = await client.zrangebyscore(keys.unackedIndex, '-inf', cutoff, 'LIMIT', offset, BATCH);
        if (tags.length === 0) break;
        const moved = await this.#restoreBatch(tags, cutoff);
        if (moved > 0) this.ctx.wake();
        total += moved;
        if (tags.length < BATCH) break;
        offset += tags.length - moved;
      }
      return total;
    } finally {
      await releaseMutex.run(client, [keys.unackedMutex], [token]);
    }
  }

  async #restoreBatch(tags: string[], cutoff: string): Promise<number> {
    const { client, keys } = this.ctx;
    const records = await client.hmget(keys.unacked, ...tags);
    const moved = await Promise.all(
      tags.map(async (tag, i) => {
        const record = records[i];
        const parsed = typeof record === 'string' ? readRecord(record) : undefined;
        if (!record || !parsed) return 0;
        const { message, exchange, routingKey } = parsed;
        const queues = await this.#queuesOf(exchange, routingKey);
        if (queues.length === 0) {
          // kombu drops such a message; restored to a list named after its routing key, no worker would read it.
          const reason =
            `restore found no queue bound to exchange '${exchange}' that matches routing key '${routingKey}': ` +
            'declare a queue bound to the exchange with a key that matches, then publish the message again';
          await this.#deadLetter(tag, parsed, record, routingKey, reason);
          return 0;
        }
        let envelope: string;
        try {
          envelope = restoredEnvelope(message);
        } catch (err) {
          if (!(err instanceof SerializationError)) throw err;
          // Left in unacked it would fail every pass: out of the way, with the reason.
          await this.#deadLetter(tag, parsed, record, queues[0] as string, `restore could not write its envelope again: ${err.message}`);
          return 0;
        }
        // kombu restores to the bare list: the priority bucket is lost (§2.4).
        const lists = queues.map((q) => keys.list(q));
        return restoreMessage.run<number>(client, [keys.unacked, keys.unackedIndex, ...lists], [tag, record, cutoff, envelope]);
      }),
    );
    return moved.reduce((a, b) => a + b, 0);
  }

  /**
   * A record that cannot be restored goes to `queue`'s dead letters with the envelope as it was
   * fetched: celeriac's fetch writes `[raw,"exchange","rk"]`.
   */
  async #deadLetter(tag: string, { exchange, routingKey }: UnackedRecord, record: string, queue: string, reason: string): Promise<void> {
    const suffix = `,${JSON.stringify(exchange)},${JSON.stringify(routingKey)}]`;
    // kombu writes its records with other spacing: then the record itself is kept.
    const raw = record.startsWith('[') && record.endsWith(suffix) ? record.slice(1, -suffix.length) : record;
    const score = await this.ctx.client.zscore(this.ctx.keys.unackedIndex, tag);
    if (score !== null) await deadLetter(this.ctx, { tag, queue, raw, score }, reason);
  }

  /** The queues a record's message goes back to: through its exchange's bindings, as kombu restores it. */
  async #queuesOf(exchange: unknown, routingKey: string): Promise<string[]> {
    if (typeof exchange !== 'string' || exchange === '') return [routingKey];
    const members = await this.ctx.client.smembers(this.ctx.keys.binding(exchange));
    return boundQueues(members, routingKey, this.ctx.keys.sep);
  }
}

/** An unacked record `[envelope, exchange, routing_key]`. */
interface UnackedRecord {
  message: unknown;
  exchange: unknown;
  routingKey: string;
}

function readRecord(record: string): UnackedRecord | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(record);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || typeof parsed[2] !== 'string') return undefined;
  const [message, exchange, routingKey] = parsed as [unknown, unknown, string];
  return { message, exchange, routingKey };
}

/** The envelope to push back, marked redelivered; an undecodable message, recorded as its raw text, goes back as it came. */
function restoredEnvelope(message: unknown): string {
  if (typeof message === 'string') return message;
  // The record is parsed already: mark the envelope in it rather than re-parse its text.
  return isObject(message) ? reencoded(restored(message)) : JSON.stringify(message);
}
