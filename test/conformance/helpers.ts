/** Shared helpers of the provider conformance suite: messages to send, waiting with a deadline. */
import { randomUUID } from 'node:crypto';
import type { TaskMessage } from '../../core/message.js';
import type { Broker, ConsumeOptions, Consumer, Delivery } from '../../core/ports.js';

/** A protocol v2 message as a producer would send it (celery-protocol.md §1). */
export function taskMessage(
  queue: string,
  args: unknown[] = [],
  over: { eta?: string; priority?: number; retries?: number; id?: string } = {},
): TaskMessage {
  const id = over.id ?? randomUUID();
  return {
    headers: {
      lang: 'js',
      task: 'tests.echo',
      id,
      shadow: null,
      eta: over.eta ?? null,
      expires: null,
      group: null,
      group_index: null,
      retries: over.retries ?? 0,
      timelimit: [null, null],
      root_id: id,
      parent_id: null,
      argsrepr: JSON.stringify(args),
      kwargsrepr: '{}',
      origin: 'gen1@test',
      ignore_result: false,
    },
    properties: { correlation_id: id, reply_to: 'reply-oid', delivery_mode: 2, priority: over.priority ?? 0 },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: JSON.stringify([args, {}, { callbacks: null, errbacks: null, chain: null, chord: null }]),
    queue,
  };
}

export const uniqueQueue = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

/** Poll `check` until it returns a value other than undefined/false, or fail after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Received {
  delivery: Delivery;
  at: number;
}

/** A consumer that records what it receives, so tests can wait on arrivals. */
export class Recorder {
  readonly received: Received[] = [];
  consumer!: Consumer;

  static async start(
    broker: Broker,
    queues: string[],
    opts: ConsumeOptions = { prefetch: 10 },
    onDelivery?: (d: Delivery) => void,
  ): Promise<Recorder> {
    const r = new Recorder();
    r.consumer = await broker.consume(
      queues,
      async (delivery) => {
        r.received.push({ delivery, at: Date.now() });
        onDelivery?.(delivery);
      },
      opts,
    );
    return r;
  }

  /** Wait until `n` deliveries in all have arrived; returns them all. */
  async waitFor(n: number, timeoutMs = 5000): Promise<Delivery[]> {
    await eventually(`${n} deliveries (have ${this.received.length})`, () => this.received.length >= n, timeoutMs);
    return this.received.map((r) => r.delivery);
  }

  ids(): string[] {
    return this.received.map((r) => r.delivery.message?.headers.id ?? '(malformed)');
  }

  stop(): Promise<void> {
    return this.consumer.stop();
  }
}
