/**
 * Every send goes through here: entries sent to a queue in the same tick — concurrent
 * `delay()` calls, retries and hops of messages settled together — share SendMessageBatch
 * requests (core/batcher.ts), so a producer firing 1,000 tasks at once makes 100 requests.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { Batcher } from '../../core/batcher.js';
import { type SqsQueue, indexesByQueue } from './queues.js';
import { type Outgoing, refused, sendAll } from './send.js';

interface Item {
  queue: SqsQueue;
  entry: Outgoing;
}

export class PublishBatches {
  readonly #batcher: Batcher<Item, void>;

  constructor(client: SQSClient, maxBatchBytes: number) {
    this.#batcher = new Batcher(async (items) => {
      const outcomes: Array<Error | undefined> = new Array(items.length).fill(undefined);
      await Promise.all(
        [...indexesByQueue(items, (item) => item.queue.url).values()].map(async (indexes) => {
          const queue = (items[indexes[0] as number] as Item).queue;
          const sent = await sendAll(
            client,
            queue,
            indexes.map((i) => (items[i] as Item).entry),
            maxBatchBytes,
          );
          indexes.forEach((i, k) => {
            outcomes[i] = sent[k];
          });
        }),
      );
      return outcomes;
    });
  }

  /** Send entries to a queue (in order); throws naming every entry SQS refused. */
  async send(queue: SqsQueue, entries: Outgoing[]): Promise<void> {
    const results = await Promise.allSettled(entries.map((entry) => this.#batcher.add({ queue, entry })));
    const failures = results.flatMap((r) =>
      r.status === 'rejected' ? [r.reason instanceof Error ? r.reason : new Error(String(r.reason))] : [],
    );
    if (failures.length > 0) throw refused(queue, failures);
  }

  drain(): Promise<void> {
    return this.#batcher.drain();
  }
}
