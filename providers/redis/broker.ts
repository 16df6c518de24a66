/**
 * redis:// broker: kombu 5.2.4's Redis transport layout (§2), so Python Celery and celeriac
 * workers share queues. Publish = LPUSH of the §2.1 envelope to the queue's list or priority
 * sub-list and SADD of the queue's binding; consume = core's pull loop over RedisSource.
 */
import type { Redis } from 'ioredis';
import { Batcher } from '../../core/batcher.js';
import { encodeEnvelope } from '../../core/envelope.js';
import { CeleriacError, MessageTooLarge } from '../../core/errors.js';
import type { TaskMessage } from '../../core/message.js';
import type { Broker, ConsumeOptions, Consumer, DeadLetter, Delivery, SetAsideMessage } from '../../core/ports.js';
import { startPullConsumer } from '../../core/pull-consumer.js';
import { closeClient, createClient, watchConnection, whenReady } from './connection.js';
import type { BrokerContext } from './context.js';
import { PendingAcks } from './acks.js';
import { RedisControl } from './control.js';
import { RedisEvents } from './events.js';
import { BrokerKeys } from './keys.js';
import { type RedisBrokerSettings, bytesOverLimit } from './options.js';
import { Restorer } from './restore.js';
import { ackMessages } from './scripts/ack-messages.js';
import { SetAside } from './set-aside.js';
import { RedisSource } from './source.js';

/** Values per LPUSH: one command per chunk keeps a huge batch from building one giant request. */
const PUSH_CHUNK = 5000;

export class RedisBroker implements Broker {
  readonly keys: BrokerKeys;
  readonly restorer: Restorer;
  readonly control: RedisControl;
  readonly events: RedisEvents;
  readonly #ctx: BrokerContext;
  readonly #sources = new Set<RedisSource>();
  readonly #consumers = new Set<Consumer>();
  /** Queues whose binding this broker has written (kombu declares once per channel). */
  readonly #declared = new Set<string>();
  /** Single-message publishes of one tick: one write, one LPUSH per list (many delay() calls, one command). */
  readonly #pushes: Batcher<readonly [string, string], void>;
  #closed = false;

  constructor(
    readonly url: string,
    readonly client: Redis,
    readonly settings: RedisBrokerSettings,
  ) {
    this.keys = new BrokerKeys(settings.keyPrefix, settings.sep, settings.prioritySteps);
    const acks = new PendingAcks((args) => ackMessages.run(client, [this.keys.unacked, this.keys.unackedIndex], args));
    this.#pushes = new Batcher<readonly [string, string], void>(
      async (items) => {
        const byList = new Map<string, string[]>();
        for (const [list, envelope] of items) {
          const envelopes = byList.get(list);
          if (envelopes) envelopes.push(envelope);
          else byList.set(list, [envelope]);
        }
        // An explicit pipeline is written at once; LPUSH with many values keeps their order (FIFO with RPOP).
        const pipeline = client.pipeline();
        for (const [list, envelopes] of byList) pipeline.lpush(list, ...envelopes);
        const results = (await pipeline.exec()) ?? [];
        const failed = new Map([...byList.keys()].map((list, i) => [list, results[i]?.[0] ?? null]));
        return items.map(([list]) => failed.get(list) ?? undefined);
      },
      PUSH_CHUNK,
      'tick',
    );
    this.#ctx = {
      client,
      keys: this.keys,
      settings,
      setAside: new SetAside(client, this.keys.unackedIndex),
      acks,
      wake: () => this.#wake(),
      restoreAt: (dueMs) => this.restorer.restoreAt(dueMs),
    };
    this.restorer = new Restorer(this.#ctx);
    const { db } = settings.connection;
    this.control = new RedisControl({
      connect: () => createClient(settings.connection, { name: 'celeriac-control' }),
      whenReady: (c) => whenReady(c, settings.connectTimeoutMs, url),
      db,
      keyPrefix: settings.keyPrefix,
      sep: settings.sep,
    });
    this.events = new RedisEvents({
      client,
      db,
      keyPrefix: settings.keyPrefix,
    });
  }

  async publish(queue: string, messages: TaskMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const connecting = whenReady(this.client, this.settings.connectTimeoutMs, this.url);
    if (connecting) await connecting;
    const byList = new Map<string, string[]>();
    for (const m of messages) {
      const envelope = encodeEnvelope(m, { routingKey: queue });
      const bytes = bytesOverLimit(envelope, this.settings.maxMessageBytes);
      if (bytes > 0) {
        throw new MessageTooLarge(
          `Task ${m.headers.task}[${m.headers.id}] is ${bytes} bytes as a message, over the limit of ${this.settings.maxMessageBytes} bytes: ` +
            'pass a reference (a key, a URL) instead of the data, or raise the transport option max_message_size.',
        );
      }
      const list = this.keys.list(queue, m.properties.priority);
      const batch = byList.get(list);
      if (batch) batch.push(envelope);
      else byList.set(list, [envelope]);
    }
    const declare = !this.#declared.has(queue);
    const [single] = byList;
    if (!declare && messages.length === 1 && single) {
      // The common case (one delay()): joins the other publishes of this tick.
      await this.#pushes.add([single[0], single[1][0] as string]);
    } else if (!declare && byList.size === 1 && single && single[1].length <= PUSH_CHUNK) {
      // One batch for one list: a single LPUSH.
      await this.client.lpush(single[0], ...single[1]);
    } else {
      // One MULTI: a batch lands whole or not at all. LPUSH with many values keeps their order (FIFO with RPOP).
      const multi = this.client.multi();
      if (declare) multi.sadd(this.keys.binding(queue), this.keys.bindingMember(queue, queue));
      for (const [list, envelopes] of byList) {
        for (let i = 0; i < envelopes.length; i += PUSH_CHUNK) multi.lpush(list, ...envelopes.slice(i, i + PUSH_CHUNK));
      }
      const results = await multi.exec();
      const failed = results?.find(([err]) => err);
      if (failed) throw failed[0];
      this.#declared.add(queue);
    }
    this.#wake();
  }

  async connected(): Promise<void> {
    await whenReady(this.client, this.settings.connectTimeoutMs, this.url);
  }

  onConnection(listener: (event: { up: boolean; reason?: string }) => void): () => void {
    return watchConnection(this.client, listener);
  }

  /** Push envelopes as given (tests plant garbage the way a foreign producer could). */
  async publishRaw(queue: string, raws: string[], priority = 0): Promise<void> {
    await this.client.lpush(this.keys.list(queue, priority), ...raws);
    this.#wake();
  }

  async consume(queues: string[], handler: (d: Delivery) => Promise<void>, opts: ConsumeOptions): Promise<Consumer> {
    if (queues.length === 0) throw new CeleriacError('consume needs at least one queue');
    // kombu declares each consumed queue: its binding makes restores by Python workers find it (§2.3).
    const multi = this.client.multi();
    for (const q of queues) if (!this.#declared.has(q)) multi.sadd(this.keys.binding(q), this.keys.bindingMember(q, q));
    await multi.exec();
    for (const q of queues) this.#declared.add(q);

    const source = new RedisSource(this.#ctx, queues, opts.prefetch);
    this.#sources.add(source);
    this.restorer.start();
    const loop = startPullConsumer(source, handler, opts);
    const consumer: Consumer = {
      stop: async () => {
        const stopping = loop.stop();
        source.stop();
        await stopping;
        this.#sources.delete(source);
        this.#consumers.delete(consumer);
        if (this.#sources.size === 0) await this.restorer.stop();
      },
    };
    this.#consumers.add(consumer);
    return consumer;
  }

  /**
   * Every list of the queue plus its (celeriac 0.1) delayed set: what is waiting, not what is
   * leased — nor what a worker set aside in unacked until its ETA, as Celery's purge leaves the
   * ETA tasks its workers hold.
   */
  async purge(queue: string): Promise<number> {
    const lists = this.keys.lists(queue);
    const multi = this.client.multi();
    for (const l of lists) multi.llen(l);
    multi.zcard(this.keys.delayed(queue));
    multi.del(...lists, this.keys.delayed(queue));
    const results = (await multi.exec()) ?? [];
    return results.slice(0, lists.length + 1).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  async size(queue: string): Promise<number> {
    const counts = await Promise.all([
      ...this.keys.lists(queue).map((l) => this.client.llen(l)),
      this.client.zcard(this.keys.delayed(queue)),
    ]);
    return counts.reduce((a, b) => a + b, 0);
  }

  setAside(): Promise<SetAsideMessage[]> {
    return this.#ctx.setAside.list();
  }

  async deadLetters(queue?: string): Promise<DeadLetter[]> {
    const queues = queue === undefined ? await this.#deadQueues() : [queue];
    const lists = await Promise.all(
      queues.map(async (q) => ({
        q,
        entries: await this.client.lrange(this.keys.dead(q), 0, -1),
      })),
    );
    return lists.flatMap(({ q, entries }) =>
      entries.map((text) => {
        const e = JSON.parse(text) as {
          reason: string;
          raw: string;
          at: number;
        };
        return { queue: q, reason: e.reason, raw: e.raw, at: e.at };
      }),
    );
  }

  async #deadQueues(): Promise<string[]> {
    const found = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', this.keys.dead('*'), 'COUNT', 1000);
      cursor = next;
      for (const k of keys) {
        const q = this.keys.queueOfDead(k);
        if (q !== undefined) found.add(q);
      }
    } while (cursor !== '0');
    return [...found].sort();
  }

  #wake(): void {
    for (const s of this.#sources) s.wake();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.client.status !== 'ready') {
      // The server is gone: a fetch, a restore pass, acks or pushes wait for a reconnect that may
      // never come. They are not waited for and the connections are dropped, so the process can
      // exit; what this broker held comes back after its lease.
      for (const c of this.#consumers) void c.stop().catch(() => undefined);
      void this.restorer.stop();
      await Promise.all([this.control.close(), this.events.close()]);
      this.client.disconnect();
      return;
    }
    await Promise.all([...this.#consumers].map((c) => c.stop()));
    await this.restorer.stop();
    await Promise.all([this.#pushes.drain(), this.#ctx.acks.flush()]);
    await Promise.all([this.control.close(), this.events.close()]);
    await closeClient(this.client);
  }
}
