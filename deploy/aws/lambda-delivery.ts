/**
 * One record of Lambda's SQS event as a Delivery, through the sqs:// provider's own lease
 * (providers/sqs/lease.ts): dead-lettering, retry re-sends, ETA hops and claim checks are the
 * provider's code, the same the classic worker runs. Only deleting differs: Lambda's event
 * source deletes every record the handler does not report as failed, so a lease's delete is
 * recorded as "succeeded" instead of being sent.
 */
import type { Message, MessageAttributeValue, MessageSystemAttributeName } from '@aws-sdk/client-sqs';
import { type OwnedDelivery, toDelivery } from '../../core/pull-consumer.js';
import { type LeaseContext, leaseFor } from '../../providers/sqs/lease.js';
import type { SqsQueue } from '../../providers/sqs/queues.js';
import { type Handle, SettleBatches } from '../../providers/sqs/settle-batches.js';
import type { SqsRecord } from './lambda-types.js';

/**
 * The settle batches of one invocation: deletes are only noted (the partial batch response
 * reports the rest as failures); visibility changes are sent, batched, as the provider sends them.
 */
export class InvocationSettle extends SettleBatches {
  readonly #succeeded = new Set<string>();

  override delete(handle: Handle): Promise<void> {
    this.#succeeded.add(handle.receiptHandle);
    return Promise.resolve();
  }

  succeeded(record: SqsRecord): boolean {
    return this.#succeeded.has(record.receiptHandle);
  }
}

/** The SQS queue name in an event source ARN (arn:aws:sqs:REGION:ACCOUNT:NAME). */
export function queueNameOf(record: SqsRecord): string {
  return record.eventSourceARN.slice(record.eventSourceARN.lastIndexOf(':') + 1);
}

/** The record as the SDK's ReceiveMessage returns it, which is what the provider's lease takes. */
export function toSdkMessage(record: SqsRecord): Message {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, a] of Object.entries(record.messageAttributes ?? {})) {
    attributes[name] = {
      DataType: a.dataType,
      StringValue: a.stringValue ?? undefined,
      BinaryValue: a.binaryValue ? Buffer.from(a.binaryValue, 'base64') : undefined,
    };
  }
  return {
    MessageId: record.messageId,
    ReceiptHandle: record.receiptHandle,
    Body: record.body,
    Attributes: record.attributes as Partial<Record<MessageSystemAttributeName, string>>,
    MessageAttributes: attributes,
  };
}

/**
 * A Delivery for one record, taken as received (for SQS's 12 h visibility cap) at `invokedAt`,
 * when the invocation got it: the event source received it just before. Only a FIFO record is
 * ever hidden for long (until its ETA), and FIFO event sources have no batching window; the
 * minute send.ts keeps for reaching a worker covers the gap. A claim-check store error
 * propagates: the record is then reported failed and comes back.
 */
export async function recordDelivery(record: SqsRecord, queue: SqsQueue, invokedAt: number, ctx: LeaseContext): Promise<OwnedDelivery> {
  return toDelivery(await leaseFor(queue, toSdkMessage(record), invokedAt, ctx));
}
