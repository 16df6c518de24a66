/**
 * A fetched message as a Lease for core's pull consumer, and its settle operations, each one
 * guarded script (providers/redis/scripts). The lease remembers the unacked_index score it
 * wrote; extendLease moves it, and only the current holder's score settles the message.
 */
import { randomUUID } from 'node:crypto';
import { encodeEnvelope } from '../../core/envelope.js';
import { OperationalError } from '../../core/errors.js';
import type { TaskMessage } from '../../core/message.js';
import type { Lease } from '../../core/pull-consumer.js';
import type { BrokerContext } from './context.js';
import { bytesOverLimit } from './options.js';
import { markHeld, markRedelivered, mayBeRedelivered, parseObject, previousDeliveries, reencoded, withoutMarks } from './redelivery.js';
import { dueAtScore, scoreDueAt } from './restore-score.js';
import { deadLetterMessage } from './scripts/dead-letter-message.js';
import { delayMessage } from './scripts/delay-message.js';
import { extendLease } from './scripts/extend-lease.js';

/** One message as fetch-and-lease returned it. */
export interface Fetched {
  tag: string;
  queue: string;
  /** The envelope exactly as it was in the list. */
  raw: string;
  /** The unacked_index score written for it (epoch seconds, kombu's unit). */
  score: string;
}

/**
 * What a held message becomes: `envelope` under `tag` in `queue`, due at `dueMs` (0 = now). A
 * replacement (a retry) carries its `priority`: due now, it is published to the back of that
 * priority's list; without one, the message is handed back to the front of the bare list.
 */
export interface Deferral {
  tag: string;
  envelope: string;
  queue: string;
  dueMs: number;
  priority?: number;
}

/**
 * Hand a held message back or re-publish its replacement (due now), or, due later, keep it in
 * unacked under the score at which restore brings it back, and have restore run then (delay-message.ts).
 */
export async function delay(ctx: BrokerContext, f: Fetched, to: Deferral): Promise<boolean> {
  const { keys, settings } = ctx;
  const later = to.dueMs > 0;
  const score = later ? scoreDueAt(to.dueMs, settings.visibilityTimeoutMs) : '';
  const published = to.priority !== undefined;
  const moved = await delayMessage.run<number>(
    ctx.client,
    [keys.unacked, keys.unackedIndex, keys.list(to.queue, to.priority)],
    [f.tag, f.score, later ? markHeld(to.envelope) : to.envelope, score, to.tag, to.queue, published ? 'back' : 'front'],
  );
  if (moved === 1 && later) {
    ctx.setAside.add(to.tag, { envelope: to.envelope, queue: to.queue, score, dueMs: to.dueMs });
    ctx.restoreAt(dueAtScore(score, settings.visibilityTimeoutMs));
  }
  return moved === 1;
}

/** The envelope to hand back after `deliveries` deliveries (garbage goes back as it came). */
export function handBack(raw: string, deliveries: number): string {
  const env = parseObject(raw);
  return env ? reencoded(markRedelivered(env, deliveries)) : raw;
}

/** The lease for a fetched message; a SerializationError when its envelope, marked redelivered, cannot be written again (see reencoded). */
export function toLease(ctx: BrokerContext, f: Fetched): Lease {
  return new RedisLease(ctx, f);
}

/** Move a fetched message from unacked to its queue's dead letters, with the reason. */
export async function deadLetter(ctx: BrokerContext, f: Fetched, reason: string): Promise<void> {
  const { keys, client } = ctx;
  const entry = JSON.stringify({ reason, raw: f.raw, at: Date.now() });
  await deadLetterMessage.run(client, [keys.unacked, keys.unackedIndex, keys.dead(f.queue)], [f.tag, f.score, entry]);
}

// A class rather than an object of closures: thousands are made a second.
class RedisLease implements Lease {
  readonly raw: string;
  readonly queue: string;
  readonly receiveCount: number;
  readonly leaseMs: number;
  readonly malformed: string | undefined;
  /** The score this holder wrote last (extendLease moves it); settles are guarded by it. */
  #score: string;
  /** The extension in flight, if any: a settle waits for it, so it goes out under the score that holds. */
  #extending: Promise<void> | undefined;
  /** Its record was restored while it was held: no extension can bring it back. */
  #lost = false;
  /** Settled or settling: no extension may move the score under a settle any more. */
  #settling = false;

  constructor(
    private readonly ctx: BrokerContext,
    private readonly f: Fetched,
  ) {
    const { settings } = ctx;
    let raw = f.raw;
    let previous = 0;
    if (mayBeRedelivered(f.raw)) {
      const env = parseObject(f.raw);
      if (env) {
        previous = previousDeliveries(env);
        raw = reencoded(withoutMarks(env));
      }
    }
    this.raw = raw;
    this.queue = f.queue;
    this.receiveCount = previous + 1;
    this.leaseMs = settings.visibilityTimeoutMs;
    this.#score = f.score;
    const bytes = bytesOverLimit(f.raw, settings.maxMessageBytes);
    this.malformed =
      bytes > 0
        ? `message of ${bytes} bytes is over the limit of ${settings.maxMessageBytes} bytes (transport option max_message_size)`
        : undefined;
  }

  ack(): Promise<void> {
    const waiting = this.#beginSettle();
    return waiting ? waiting.then(() => this.ctx.acks.add(this.f.tag, this.#score)) : this.ctx.acks.add(this.f.tag, this.#score);
  }

  async retryLater(delayMs: number, replacement?: TaskMessage): Promise<void> {
    await this.#beginSettle();
    // A retry goes back to the queue it came from, whatever exchange and routing key brought it
    // there (the replacement keeps those in its envelope, as Celery's retry re-publishes them).
    const queue = this.f.queue;
    const dueMs = delayMs > 0 ? Date.now() + delayMs : 0;
    // A replacement is a new message (retries+1): fresh delivery tag, deliveries counted afresh.
    const tag = replacement ? randomUUID() : this.f.tag;
    const envelope = replacement
      ? encodeEnvelope(replacement, { routingKey: queue, deliveryTag: tag })
      : handBack(this.f.raw, this.receiveCount);
    // Celery re-publishes a retry as a new message: to the back of its priority's list (§8).
    const priority = replacement?.properties.priority;
    await delay(this.ctx, this.#held(), { tag, envelope, queue, dueMs, priority });
    this.ctx.wake();
  }

  async deadLetter(reason: string): Promise<void> {
    await this.#beginSettle();
    await deadLetter(this.ctx, this.#held(), reason);
  }

  /**
   * Extensions go one after another, and none after a settle has begun: an extension moving the
   * score under a settle sent with the old one would make the settle a no-op (the guard), and the
   * finished task would come back after the visibility timeout and run again.
   */
  extendLease(ms: number): Promise<void> {
    if (this.#settling) return Promise.resolve();
    const extending = this.#settled().then(() => this.#extend(ms));
    this.#extending = extending;
    const done = (): void => {
      if (this.#extending === extending) this.#extending = undefined;
    };
    void extending.then(done, done);
    return extending;
  }

  async #extend(ms: number): Promise<void> {
    if (this.#settling) return;
    const { keys, client, settings } = this.ctx;
    // Restore takes this record `ms` from now, unless the lease is extended again.
    const next = scoreDueAt(Date.now() + ms, settings.visibilityTimeoutMs);
    if (this.#lost) return;
    const moved = await extendLease.run<number>(client, [keys.unacked, keys.unackedIndex], [this.f.tag, this.#score, next]);
    if (moved === 1) {
      this.#score = next;
      return;
    }
    // Restored already (reported once): its record went back to the queue, and another worker may be running it too.
    this.#lost = true;
    const seconds = settings.visibilityTimeoutMs / 1000;
    throw new OperationalError(
      `its lease was lost: it was not renewed within the visibility timeout (${seconds}s), so the message went back to its queue and another worker may run it as well. A task must not block the event loop that long (await at least every ${Math.floor(seconds / 3)}s: split synchronous work, or move it to a worker thread), or raise broker_transport_options visibility_timeout`,
    );
  }

  /** A settle begins: no extension starts after it; it waits for the one in flight, if any (returned). */
  #beginSettle(): Promise<void> | undefined {
    this.#settling = true;
    return this.#extending && this.#settled();
  }

  /** Once the extension in flight (if any) is done, whether it worked or not. */
  #settled(): Promise<void> {
    return this.#extending ? this.#extending.catch(() => undefined) : Promise.resolve();
  }

  #held(): Fetched {
    return { ...this.f, score: this.#score };
  }
}
