/** memory:// broker: queues in this process, shared by every broker opened on the same URL. */
import { encodeEnvelope } from '../../core/envelope.js';
import { type TaskMessage, notBefore } from '../../core/message.js';
import type { Broker, ConsumeOptions, Consumer, DeadLetter, Delivery } from '../../core/ports.js';
import { type Lease, ConsumerSet, startPullConsumer } from '../../core/pull-consumer.js';
import type { MemoryControl } from './control.js';
import { type Entry, type MemoryQueues, clampPriority } from './queues.js';

export interface MemoryBrokerShared {
  queues: MemoryQueues;
  control: MemoryControl;
  /** Wakes consumers of this URL when something becomes visible. */
  wakers: Set<() => void>;
}

/** An envelope as stored: ETA/countdown become `availableAt` (epoch ms). */
export interface RawMessage {
  body: string;
  priority?: number;
  availableAt?: number;
}

export class MemoryBroker implements Broker {
  readonly #consumers = new ConsumerSet();

  constructor(
    readonly url: string,
    private readonly shared: MemoryBrokerShared,
    readonly visibilityTimeoutMs: number,
  ) {}

  get control(): MemoryControl {
    return this.shared.control;
  }

  async publish(queue: string, messages: TaskMessage[]): Promise<void> {
    await this.publishRaw(
      queue,
      messages.map((m) => ({ body: encodeEnvelope(m, { routingKey: queue }), priority: m.properties.priority, availableAt: notBefore(m) })),
    );
  }

  /** Store envelopes as given (tests use it to plant garbage, as another client could). */
  async publishRaw(queue: string, messages: RawMessage[]): Promise<void> {
    const now = Date.now();
    for (const m of messages) this.shared.queues.add(queue, m.body, m.priority ?? 0, Math.max(now, m.availableAt ?? 0), now);
    this.#wakeAll();
  }

  async consume(queues: string[], handler: (d: Delivery) => Promise<void>, opts: ConsumeOptions): Promise<Consumer> {
    const shared = this.shared;
    const consumer = startPullConsumer(
      {
        fetch: (max) => shared.queues.lease(queues, max, Date.now(), this.visibilityTimeoutMs).map((e) => this.#lease(e)),
        subscribe: (wake) => {
          shared.wakers.add(wake);
          return () => shared.wakers.delete(wake);
        },
        // Only ETA, retry delays and lease expiry need the timer; publishes wake consumers directly.
        idleMinMs: 1,
        idleMaxMs: 25,
      },
      handler,
      opts,
    );
    return this.#consumers.track(consumer);
  }

  async purge(queue: string): Promise<number> {
    return this.shared.queues.purge(queue);
  }

  async size(queue: string): Promise<number> {
    return this.shared.queues.size(queue);
  }

  async deadLetters(queue?: string): Promise<DeadLetter[]> {
    return this.shared.queues.deadLetters.filter((d) => queue === undefined || d.queue === queue);
  }

  async close(): Promise<void> {
    await this.#consumers.stopAll();
  }

  #wakeAll(): void {
    for (const wake of this.shared.wakers) wake();
  }

  #lease(entry: Entry): Lease {
    const queues = this.shared.queues;
    const token = entry.token;
    const held = (): boolean => queues.holds(entry, token);
    return {
      raw: entry.raw,
      queue: entry.queue,
      receiveCount: entry.receiveCount,
      leaseMs: this.visibilityTimeoutMs,
      ack: async () => {
        if (held()) queues.remove(entry);
      },
      retryLater: async (delayMs, replacement) => {
        if (!held()) return;
        if (replacement) {
          // A replacement is a new message (retries+1): it starts counting deliveries afresh. It
          // stays in this queue, whatever exchange and routing key brought the message here.
          entry.raw = encodeEnvelope(replacement);
          entry.priority = clampPriority(replacement.properties.priority);
          entry.receiveCount = 0;
        }
        const now = Date.now();
        queues.release(entry, now + Math.max(0, delayMs), now);
        if (delayMs <= 0) this.#wakeAll();
      },
      deadLetter: async (reason) => {
        if (!held()) return;
        queues.deadLetters.push({ queue: entry.queue, reason, raw: entry.raw, at: Date.now() });
        queues.remove(entry);
      },
      extendLease: async (ms) => {
        if (held()) queues.extend(entry, Date.now() + ms);
      },
    };
  }
}
