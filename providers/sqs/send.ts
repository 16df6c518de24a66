/**
 * Sending to SQS: task messages become entries (the §2.1 envelope as body, metadata that SQS
 * can filter or route on as message attributes), packed into SendMessageBatch requests of up
 * to 10 entries within the size cap. Failed entries are retried; what still fails is an error
 * naming the messages (a publish never loses messages silently).
 */
import { createHash } from 'node:crypto';
import {
  type MessageAttributeValue,
  type SQSClient,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import { encodeEnvelope } from '../../core/envelope.js';
import { CeleriacError, ConfigError, MessageTooLarge } from '../../core/errors.js';
import { type TaskMessage, notBefore } from '../../core/message.js';
import type { KeyValueStore } from '../../core/ports.js';
import { redact } from '../../core/registry.js';
import { CLAIM_CHECK_ATTRIBUTE, checkIn } from './claim-check.js';
import { MAX_BATCH, MAX_DELAY_S, MAX_VISIBILITY_S, messageBytes, wholeSeconds } from './limits.js';
import type { SqsQueue } from './queues.js';

/** An entry ready to send, with its size as SQS counts it. */
export interface Outgoing {
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  delaySeconds?: number;
  groupId?: string;
  deduplicationId?: string;
  /** For error messages: which task this is. */
  label: string;
}

export interface SendContext {
  maxMessageBytes: number;
  /** The claim-check store, when oversized payloads may be stored aside. */
  claimCheck?: () => Promise<KeyValueStore>;
}

const attr = (value: string): MessageAttributeValue => ({
  DataType: 'String',
  StringValue: value,
});

/** FIFO group and deduplication ids: up to 128 printable ASCII characters. */
const FIFO_ID = /^[!-~]{1,128}$/;

/**
 * One task message as an entry. `minDelayMs` raises the delay (a retry's countdown); the ETA
 * header always does: the delay is rounded up, so the message is never visible early, and
 * capped at SQS's 900 s — the executor re-schedules the rest when it sees the message early.
 */
export async function toOutgoing(queue: SqsQueue, m: TaskMessage, ctx: SendContext, minDelayMs = 0): Promise<Outgoing> {
  const { id, task } = m.headers;
  const delayMs = Math.max(minDelayMs, notBefore(m) - Date.now());
  if (queue.fifo) checkFifoDelay(queue, m, delayMs);
  let body = encodeEnvelope(m, { routingKey: queue.name });
  const attributes: Record<string, MessageAttributeValue> = {
    'celeriac.task': attr(task),
    'celeriac.id': attr(id),
  };
  // SQS has no priorities; receivers order each batch they get by this attribute.
  if (m.properties.priority > 0)
    attributes['celeriac.priority'] = {
      DataType: 'Number',
      StringValue: String(m.properties.priority),
    };
  const bytes = messageBytes(body, attributes);
  if (bytes > ctx.maxMessageBytes) {
    if (!ctx.claimCheck) {
      throw new MessageTooLarge(
        `Task ${task}[${id}] is ${bytes} bytes as an SQS message; queue '${queue.sqsName}' takes at most ${ctx.maxMessageBytes}. ` +
          'Send a reference to the data instead (e.g. an object key), raise max_message_bytes if the queue allows up to 1 MiB, ' +
          'or set claim_check to a store URL to store oversized payloads aside.',
      );
    }
    const store = await ctx.claimCheck();
    const ref = await checkIn(store, body, { task, id }).catch((err: unknown) => {
      // The store's own error says why: a DynamoDB item's 400 KB, an unreachable server...
      throw new MessageTooLarge(
        `Task ${task}[${id}] is ${bytes} bytes as an SQS message, over the ${ctx.maxMessageBytes} bytes of queue '${queue.sqsName}', ` +
          `and the claim-check store ${redact(store.url)} could not keep it either: ${(err as Error).message}`,
        { cause: err },
      );
    });
    body = ref.body;
    attributes[CLAIM_CHECK_ATTRIBUTE] = attr(ref.key);
  }
  const out: Outgoing = { body, attributes, label: `${task}[${id}]` };
  if (queue.fifo) {
    // FIFO queues have no per-message delay: an ETA is honoured by the executor handing the message back.
    out.groupId = groupOf(m);
    // The task id is the idempotency key; a retry is a new message, so it gets its own id.
    out.deduplicationId = fifoId(m.headers.retries ? `${id}-retry-${m.headers.retries}` : id);
  } else {
    const delaySeconds = wholeSeconds(delayMs, MAX_DELAY_S);
    if (delaySeconds > 0) out.delaySeconds = delaySeconds;
  }
  return out;
}

/** A FIFO deduplication id as it is, or its SHA-256 when SQS would refuse it (a task id over 128 characters, or with spaces). */
function fifoId(id: string): string {
  return FIFO_ID.test(id) ? id : createHash('sha256').update(id).digest('hex');
}

/** What a FIFO countdown leaves of SQS's 12 h for the message to reach a worker: the 12 h count from its receive. */
const FIFO_DELAY_MARGIN_S = 60;
const MAX_FIFO_DELAY_S = MAX_VISIBILITY_S - FIFO_DELAY_MARGIN_S;

/**
 * A FIFO message cannot be delayed: one that arrives before its ETA is hidden, for at most SQS's
 * 12 h from its receive, and each time it comes back counts towards the queue's maxReceiveCount.
 * Further ahead it would end in the dead-letter queue unrun, so it is refused when sent.
 */
function checkFifoDelay(queue: SqsQueue, m: TaskMessage, delayMs: number): void {
  if (delayMs <= MAX_FIFO_DELAY_S * 1000) return;
  throw new ConfigError(
    `Task ${m.headers.task}[${m.headers.id}]: its ETA or countdown is ${Math.ceil(delayMs / 1000)} s ahead, but a message on FIFO queue '${queue.sqsName}' can wait at most ${MAX_FIFO_DELAY_S} s: ` +
      `SQS hides it (it cannot delay it) for at most ${MAX_VISIBILITY_S / 3600} h from when a worker receives it, and ${FIFO_DELAY_MARGIN_S} s are kept for getting there. ` +
      'Route long delays to a standard queue, or send the task closer to its time.',
  );
}

/** The FIFO message group: header `message_group` (the messageGroup call or task option), else the task name. */
function groupOf(m: TaskMessage): string {
  const group = m.headers.message_group ?? m.headers.task;
  if (typeof group !== 'string' || !FIFO_ID.test(group)) {
    throw new ConfigError(
      `Task ${m.headers.task}[${m.headers.id}]: the FIFO message group ${JSON.stringify(group)} must be 1–128 printable ASCII characters (option messageGroup)`,
    );
  }
  return group;
}

/**
 * Send entries to one queue in as few SendMessageBatch requests as the limits allow. Returns
 * one outcome per entry, in order: undefined when sent, else the Error saying why not.
 */
export async function sendAll(
  client: SQSClient,
  queue: SqsQueue,
  entries: Outgoing[],
  maxBatchBytes: number,
): Promise<Array<Error | undefined>> {
  const outcomes: Array<Error | undefined> = new Array(entries.length).fill(undefined);
  const batches = pack(entries, maxBatchBytes);
  // A FIFO queue keeps send order only if batches go one after another.
  const parallel = queue.fifo ? 1 : 8;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < batches.length) {
      const batch = batches[next++] as number[];
      const failed = await sendBatch(
        client,
        queue,
        batch.map((i) => entries[i] as Outgoing),
      ).catch((err: unknown) => batch.map(() => (err instanceof Error ? err : new Error(String(err)))));
      batch.forEach((i, k) => {
        outcomes[i] = failed[k];
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, batches.length) }, lane));
  return outcomes;
}

export function refused(queue: SqsQueue, failures: Error[]): CeleriacError {
  return new CeleriacError(
    `SQS refused ${failures.length} message(s) sent to '${queue.sqsName}': ${failures.map((e) => e.message).join('; ')}`,
    {
      cause: failures[0],
    },
  );
}

/** Indexes of entries in groups of up to 10 whose sizes add up to no more than the batch cap (SQS counts the batch total too). */
function pack(entries: Outgoing[], maxBatchBytes: number): number[][] {
  const batches: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  entries.forEach((e, i) => {
    const size = messageBytes(e.body, e.attributes);
    if (current.length === MAX_BATCH || (current.length > 0 && bytes + size > maxBatchBytes)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

const ATTEMPTS = 3;

/** One SendMessageBatch, retrying entries SQS failed on its side; returns an outcome per entry. */
async function sendBatch(client: SQSClient, queue: SqsQueue, batch: Outgoing[]): Promise<Array<Error | undefined>> {
  const outcomes: Array<Error | undefined> = new Array(batch.length).fill(undefined);
  let pending = batch.map((_, i) => i);
  for (let attempt = 1; pending.length > 0; attempt++) {
    const entries: SendMessageBatchRequestEntry[] = pending.map((i) => {
      const e = batch[i] as Outgoing;
      return {
        Id: String(i),
        MessageBody: e.body,
        MessageAttributes: e.attributes,
        DelaySeconds: e.delaySeconds,
        MessageGroupId: e.groupId,
        MessageDeduplicationId: e.deduplicationId,
      };
    });
    const out = await client.send(new SendMessageBatchCommand({ QueueUrl: queue.url, Entries: entries }));
    const retry: number[] = [];
    for (const f of out.Failed ?? []) {
      const i = Number(f.Id);
      const e = batch[i];
      if (!e) continue;
      // A sender fault (bad input) will fail again; a service fault may pass on the next try.
      if (f.SenderFault || attempt >= ATTEMPTS) outcomes[i] = new CeleriacError(`${e.label}: ${f.Code} ${f.Message ?? ''}`.trim());
      else retry.push(i);
    }
    pending = retry;
  }
  return outcomes;
}
