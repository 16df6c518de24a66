/** local:// broker: durable queues in a SQLite file shared by every process that opens it. */
import { encodeEnvelope } from '../../core/envelope.js';
import { type TaskMessage, notBefore } from '../../core/message.js';
import type { Broker, ConsumeOptions, Consumer, DeadLetter, Delivery } from '../../core/ports.js';
import { ConsumerSet, startPullConsumer } from '../../core/pull-consumer.js';
import { LocalControl } from './control.js';
import type { LocalDatabase } from './database.js';
import { leaseMessages } from './leases.js';

/** Idle polling: other processes' publishes are seen within 1–25 ms; this process's wake consumers at once. */
const IDLE_MIN_MS = 1;
const IDLE_MAX_MS = 25;

export interface RawMessage {
  body: string;
  priority?: number;
  availableAt?: number;
}

export class LocalBroker implements Broker {
  readonly control: LocalControl;
  readonly #consumers = new ConsumerSet();
  #closed = false;

  constructor(
    readonly url: string,
    private readonly local: LocalDatabase,
    readonly visibilityTimeoutMs: number,
  ) {
    this.control = new LocalControl(local);
  }

  async publish(queue: string, messages: TaskMessage[]): Promise<void> {
    await this.publishRaw(
      queue,
      messages.map((m) => ({
        body: encodeEnvelope(m, { routingKey: queue }),
        priority: m.properties.priority,
        // ETA/countdown: not visible before it is due.
        availableAt: notBefore(m),
      })),
    );
  }

  /** Insert rows as given, in one transaction (tests use it to plant garbage, as another writer could). */
  async publishRaw(queue: string, messages: RawMessage[]): Promise<void> {
    const insert = this.local.stmt('INSERT INTO messages (queue, priority, available_at, body) VALUES (?, ?, ?, ?)');
    await this.local.write(() => {
      const now = Date.now();
      for (const m of messages) insert.run(queue, m.priority ?? 0, Math.max(now, m.availableAt ?? 0), m.body);
    });
    this.local.events.emit('wake');
  }

  async consume(queues: string[], handler: (d: Delivery) => Promise<void>, opts: ConsumeOptions): Promise<Consumer> {
    let turn = 0;
    const consumer = startPullConsumer(
      {
        fetch: (max) => {
          this.local.checkStillThere();
          return leaseMessages(this.local, queues, max, this.visibilityTimeoutMs, turn++);
        },
        subscribe: (wake) => {
          this.local.watchForeignWrites();
          this.local.events.on('wake', wake);
          return () => this.local.events.off('wake', wake);
        },
        idleMinMs: IDLE_MIN_MS,
        idleMaxMs: IDLE_MAX_MS,
      },
      handler,
      opts,
    );
    return this.#consumers.track(consumer);
  }

  async purge(queue: string): Promise<number> {
    return this.local.write(
      () => this.local.stmt('DELETE FROM messages WHERE queue = ? AND (lease IS NULL OR available_at <= ?)').run(queue, Date.now()).changes,
    );
  }

  async size(queue: string): Promise<number> {
    const row = this.local
      .stmt('SELECT COUNT(*) AS n FROM messages WHERE queue = ? AND (lease IS NULL OR available_at <= ?)')
      .get(queue, Date.now()) as {
      n: number;
    };
    return row.n;
  }

  async deadLetters(queue?: string): Promise<DeadLetter[]> {
    const all = 'SELECT queue, reason, raw, at FROM dead_letters';
    const rows =
      queue === undefined ? this.local.stmt(`${all} ORDER BY id`).all() : this.local.stmt(`${all} WHERE queue = ? ORDER BY id`).all(queue);
    return rows as DeadLetter[];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#consumers.stopAll();
    await this.control.close();
    await this.local.release();
  }
}
