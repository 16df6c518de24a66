/**
 * redis:// Celery events (celery-protocol.md §7, §2.5): each event is a kombu envelope PUBLISHed on
 * `/{db}.celeryev/<routing key>`, the routing key being the type with '-' → '.' (`task.succeeded`).
 * Celery forces the `celeryev` exchange to fanout on Redis, and its receivers PSUBSCRIBE
 * `/{db}.celeryev/*`. Celery's worker batches task events into lists under `task.multi`; its
 * receivers take single events as well, which is what is sent here: one PUBLISH each, over the
 * broker's auto-pipelined connection, so events of one tick share a round trip.
 */
import type { Redis } from 'ioredis';
import type { EventChannel } from '../../core/ports.js';
import { encodeKombuMessage } from './pidbox-envelope.js';

export interface RedisEventsOptions {
  /** The connection events are published on; the broker owns it and closes it. */
  client: Redis;
  db: number;
  /** kombu's global_keyprefix, which prefixes channel names too (§2.2). */
  keyPrefix?: string;
}

const EXCHANGE = 'celeryev';

export class RedisEvents implements EventChannel {
  #closed = false;

  constructor(private readonly opts: RedisEventsOptions) {}

  /** The channel an event of this type is published on. */
  channelFor(type: string): string {
    return `${this.opts.keyPrefix ?? ''}/${this.opts.db}.${EXCHANGE}/${type.replaceAll('-', '.')}`;
  }

  async send(type: string, fields: Record<string, unknown>): Promise<void> {
    if (this.#closed) return;
    const envelope = encodeKombuMessage(
      { ...fields, type },
      {
        exchange: EXCHANGE,
        routingKey: type.replaceAll('-', '.'),
        headers: { hostname: fields.hostname ?? null },
        deliveryMode: 1,
      },
    );
    await this.opts.client.publish(this.channelFor(type), envelope);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
