/**
 * Deletes (acks) and visibility changes go out together, as DeleteMessageBatch /
 * ChangeMessageVisibilityBatch requests of up to 10 per queue (core/batcher.ts): at load, one
 * request per ten settled messages instead of one each.
 *
 * Visibility changes issued in the same tick share a request. Deletes wait up to
 * ACK_LINGER_MS for others (or until ten are waiting), and an ack resolves as soon as its
 * delete is queued: the executor holds a run slot until ack returns, and a task should not
 * wait for other tasks' acks. The message stays hidden meanwhile; if the process dies in that
 * window, or the delete fails, the message comes back after its visibility timeout and runs
 * again — the at-least-once delivery every provider has, with the task id as idempotency key.
 * close() sends what is waiting.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type BatchResultErrorEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { Batcher } from '../../core/batcher.js';
import { CeleriacError } from '../../core/errors.js';
import { MAX_BATCH } from './limits.js';
import { indexesByQueue } from './queues.js';

export interface Handle {
  queueUrl: string;
  receiptHandle: string;
}

export interface VisibilityChange extends Handle {
  seconds: number;
}

type Request<T> = (queueUrl: string, items: T[]) => Promise<BatchResultErrorEntry[] | undefined>;

/** How long a delete waits for others to share its request. */
export const ACK_LINGER_MS = 100;

export class SettleBatches {
  readonly #deletes: Batcher<Handle, void>;
  #lingering: Handle[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #changes: Batcher<VisibilityChange, void>;

  constructor(client: SQSClient) {
    this.#deletes = new Batcher(
      perQueue<Handle>('delete', async (QueueUrl, items) => {
        const out = await client.send(new DeleteMessageBatchCommand({ QueueUrl, Entries: entries(items) }));
        return out.Failed;
      }),
    );
    this.#changes = new Batcher(
      perQueue<VisibilityChange>('change the visibility of', async (QueueUrl, items) => {
        const Entries = entries(items).map((e, i) => ({ ...e, VisibilityTimeout: (items[i] as VisibilityChange).seconds }));
        const out = await client.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl, Entries }));
        return out.Failed;
      }),
    );
  }

  /** Queue a delete; resolves once queued (see above). */
  delete(handle: Handle): Promise<void> {
    this.#lingering.push(handle);
    if (this.#lingering.length >= MAX_BATCH) this.#flushDeletes();
    else this.#timer ??= setTimeout(() => this.#flushDeletes(), ACK_LINGER_MS);
    return Promise.resolve();
  }

  changeVisibility(change: VisibilityChange): Promise<void> {
    return this.#changes.add(change);
  }

  /** Everything queued so far has been sent. */
  async drain(): Promise<void> {
    this.#flushDeletes();
    await Promise.all([this.#deletes.drain(), this.#changes.drain()]);
  }

  #flushDeletes(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // A failed delete leaves the message to its visibility timeout: it comes back and runs again.
    for (const handle of this.#lingering.splice(0)) this.#deletes.add(handle).catch(() => undefined);
  }
}

/** Batch entries for the handles, with their index as Id (how a failure names its item). */
const entries = (items: Handle[]) => items.map((h, i) => ({ Id: String(i), ReceiptHandle: h.receiptHandle }));

/** A flush that splits the tick's items by queue and into requests of 10, sent in parallel. */
function perQueue<T extends Handle>(verb: string, request: Request<T>) {
  return async (items: T[]): Promise<Array<undefined | Error>> => {
    const outcomes: Array<undefined | Error> = new Array(items.length).fill(undefined);
    const requests: Promise<void>[] = [];
    for (const [queueUrl, indexes] of indexesByQueue(items, (item) => item.queueUrl)) {
      for (let start = 0; start < indexes.length; start += MAX_BATCH) {
        const chunk = indexes.slice(start, start + MAX_BATCH);
        requests.push(
          request(
            queueUrl,
            chunk.map((i) => items[i] as T),
          ).then(
            (failed) => {
              for (const f of failed ?? []) {
                const i = chunk[Number(f.Id)];
                if (i !== undefined)
                  outcomes[i] = new CeleriacError(`SQS could not ${verb} a message of ${queueUrl}: ${f.Code} ${f.Message ?? ''}`.trim());
              }
            },
            (err: unknown) => {
              for (const i of chunk) outcomes[i] = err instanceof Error ? err : new Error(String(err));
            },
          ),
        );
      }
    }
    await Promise.all(requests);
    return outcomes;
  };
}
