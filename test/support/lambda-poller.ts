/**
 * A stand-in for Lambda's SQS event source mapping, for tests and the bench: up to
 * MaximumConcurrency lanes each receive a batch (ReceiveMessage, up to BatchSize, filling it
 * for at most the batching window), invoke the function, then delete what succeeded — all of
 * it, or with ReportBatchItemFailures all but the reported failures. A failed invocation
 * (error, crash, timeout) deletes nothing: the batch comes back after the visibility timeout,
 * and SQS's RedrivePolicy (fauxqs keeps it) moves a message to its DLQ after maxReceiveCount.
 */
import { EventEmitter } from 'node:events';
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SqsEvent, SqsRecord } from '../../deploy/aws/lambda-types.js';
import type { Invocation, LambdaFunction } from './lambda-function.js';

export interface EventSourceMapping {
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  batchingWindowS: number;
  maxConcurrency: number;
  /** Long polling per receive (Lambda's pollers use 20 s); default 1 s, so tests stop quickly. */
  waitTimeSeconds?: number;
}

export interface InvocationRecord {
  messageIds: string[];
  invocation: Invocation;
  /** Message ids left to come back. */
  failed: string[];
}

export class LambdaPoller extends EventEmitter {
  readonly invocations: InvocationRecord[] = [];
  #stopped = false;
  #lanes: Promise<void>[] = [];

  constructor(
    private readonly client: SQSClient,
    private readonly fn: LambdaFunction,
    private readonly mapping: EventSourceMapping,
  ) {
    super();
  }

  start(): this {
    this.#lanes = Array.from({ length: this.mapping.maxConcurrency }, () => this.#lane());
    return this;
  }

  /**
   * Stop after the receives in flight (at most waitTimeSeconds). They are not aborted: the
   * server would still hand messages to an abandoned long poll, hiding them for a visibility timeout.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#lanes);
  }

  async #lane(): Promise<void> {
    while (!this.#stopped) {
      const messages = await this.#gather();
      if (messages.length === 0) continue;
      const invocation = await this.fn.invoke(toEvent(messages, this.mapping.queueArn));
      const failed = failedIds(invocation, messages);
      const done = messages.filter((m) => !failed.includes(m.MessageId as string));
      for (let i = 0; i < done.length; i += 10) {
        await this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.mapping.queueUrl,
            Entries: done.slice(i, i + 10).map((m, k) => ({ Id: String(k), ReceiptHandle: m.ReceiptHandle as string })),
          }),
        );
      }
      const record = { messageIds: messages.map((m) => m.MessageId as string), invocation, failed };
      this.invocations.push(record);
      this.emit('invoked', record);
    }
  }

  /** One receive, then more (without waiting) until the batch is full or the batching window has passed. */
  async #gather(): Promise<Message[]> {
    const { batchSize, batchingWindowS } = this.mapping;
    const windowEnds = Date.now() + batchingWindowS * 1000;
    const got: Message[] = [];
    let wait = this.mapping.waitTimeSeconds ?? 1;
    do {
      const out = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.mapping.queueUrl,
          MaxNumberOfMessages: Math.min(10, batchSize - got.length),
          WaitTimeSeconds: wait,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      got.push(...(out.Messages ?? []));
      wait = 0;
      if (got.length === 0) break;
    } while (got.length < batchSize && Date.now() < windowEnds && !this.#stopped);
    return got;
  }
}

/** Lambda's rules: a failed invocation fails the batch; so does a response naming an id not in it. */
function failedIds(invocation: Invocation, messages: Message[]): string[] {
  const all = messages.map((m) => m.MessageId as string);
  if (!invocation.ok) return all;
  const reported = invocation.response?.batchItemFailures ?? [];
  if (reported.some((f) => !f.itemIdentifier || !all.includes(f.itemIdentifier))) return all;
  return reported.map((f) => f.itemIdentifier);
}

/** Received messages as the records of Lambda's SQS event. */
export function toEvent(messages: Message[], queueArn: string): SqsEvent {
  return {
    Records: messages.map(
      (m): SqsRecord => ({
        messageId: m.MessageId as string,
        receiptHandle: m.ReceiptHandle as string,
        body: m.Body ?? '',
        attributes: { ...m.Attributes },
        messageAttributes: Object.fromEntries(
          Object.entries(m.MessageAttributes ?? {}).map(([name, a]) => [
            name,
            {
              dataType: a.DataType ?? 'String',
              ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
              ...(a.BinaryValue ? { binaryValue: Buffer.from(a.BinaryValue).toString('base64') } : {}),
            },
          ]),
        ),
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: queueArn.split(':')[3] ?? 'us-east-1',
      }),
    ),
  };
}
