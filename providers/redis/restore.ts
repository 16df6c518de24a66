/**
 * Restore of expired unacked messages, as kombu's restore_visible does it (§2.4): under the
 * `unacked_mutex` lock, every tag in unacked_index older than now − visibility timeout goes back
 * to the front of its queue marked redelivered. Works on messages fetched by either language, so a
 * Python or celeriac worker killed mid-task loses nothing. Each message moves in one guarded script.
 */
import { randomUUID } from 'node:crypto';
import type { BrokerContext } from './context.js';
import { SerializationError } from '../../core/errors.js';
import { deadLetter } from './leases.js';
import { isObject, reencoded, restored } from './redelivery.js';
import { scoreDueAt } from './restore-score.js';
import { releaseMutex } from './scripts/release-mutex.js';
import { restoreMessage } from './scripts/restore-message.js';

/** Records read and moved at a time within a pass. */
const BATCH = 1000;

export class Restorer {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(private readonly ctx: BrokerContext) {}

  /** Run now and then periodically: often enough that a message is back soon after its timeout, rarely enough to cost nothing. */
  start(): void {
    if (this.#timer) return;
    const period = Math.min(10_000, Math.max(50, this.ctx.settings.visibilityTimeoutMs / 4));
    this.#timer = setInterval(() => void this.restore().catch(() => {}), period);
    this.#timer.unref();
    void this.restore().catch(() => {});
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  /** One pass; returns how many messages went back to their queues. */
  restore(): Promise<number> {
    this.#running ??= this.#pass().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #pass(): Promise<number> {
    const { client, keys, settings } = this.ctx;
    const token = randomUUID();
    // Another restorer (of either language) is at it: let it finish (kombu skips too). A SET
    // re-sent after a lost reply finds this pass's own token: the lock is this pass's.
    const locked = (await client.set(keys.unackedMutex, token, 'PX', settings.mutexExpireMs, 'NX')) === 'OK';
    if (!locked && (await client.get(keys.unackedMutex)) !== token) return 0;
    try {
      const cutoff = scoreDueAt(Date.now(), settings.visibilityTimeoutMs);
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
        if (typeof record !== 'string') return 0;
        let target: { list: string; envelope: string } | undefined;
        try {
          target = await this.#target(record);
        } catch (err) {
          if (!(err instanceof SerializationError)) throw err;
          // Left in unacked it would fail every pass: out of the way, with the reason.
          await this.#deadLetter(tag, record, `restore could not write its envelope again: ${err.message}`);
          return 0;
        }
        if (!target) return 0;
        return restoreMessage.run<number>(client, [keys.unacked, keys.unackedIndex, target.list], [tag, record, cutoff, target.envelope]);
      }),
    );
    return moved.reduce((a, b) => a + b, 0);
  }

  /** Where a record `[envelope, exchange, routing_key]` goes back to, and the envelope to push. */
  async #target(record: string): Promise<{ list: string; envelope: string } | undefined> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(record);
    } catch {
      return undefined;
    }
    if (!Array.isArray(parsed) || typeof parsed[2] !== 'string') return undefined;
    const [message, exchange, routingKey] = parsed as [unknown, unknown, string];
    const queue = await this.#queueOf(exchange, routingKey);
    // Undecodable messages were recorded as their raw text: they go back as they came.
    if (typeof message === 'string') return { list: this.ctx.keys.list(queue), envelope: message };
    // The record is parsed already: mark the envelope in it rather than re-parse its text.
    const envelope = isObject(message) ? reencoded(restored(message)) : JSON.stringify(message);
    // kombu restores to the bare list: the priority bucket is lost (§2.4).
    return { list: this.ctx.keys.list(queue), envelope };
  }

  /**
   * A record whose envelope cannot be written again (a header nested too deeply for JSON) goes to
   * its queue's dead letters as it was fetched: celeriac's fetch writes `[raw,"exchange","rk"]`.
   */
  async #deadLetter(tag: string, record: string, reason: string): Promise<void> {
    const [, exchange, routingKey] = JSON.parse(record) as [unknown, string, string];
    const suffix = `,${JSON.stringify(exchange)},${JSON.stringify(routingKey)}]`;
    // kombu writes its records with other spacing: then the record itself is kept.
    const raw = record.startsWith('[') && record.endsWith(suffix) ? record.slice(1, -suffix.length) : record;
    const queue = await this.#queueOf(exchange, routingKey);
    const score = await this.ctx.client.zscore(this.ctx.keys.unackedIndex, tag);
    if (score !== null) await deadLetter(this.ctx, { tag, queue, raw, score }, reason);
  }

  /** The queue a record's message came from: through the exchange's bindings, as kombu restores it. */
  #queueOf(exchange: unknown, routingKey: string): Promise<string> | string {
    return typeof exchange === 'string' && exchange !== '' ? this.#lookup(exchange, routingKey) : routingKey;
  }

  /** kombu routes a restore through the exchange's bindings; a direct binding matches its routing key. */
  async #lookup(exchange: string, routingKey: string): Promise<string> {
    const members = await this.ctx.client.smembers(this.ctx.keys.binding(exchange));
    for (const m of members) {
      const [rk, , queue] = m.split(this.ctx.keys.sep);
      if (rk === routingKey && queue) return queue;
    }
    return routingKey;
  }
}
