/**
 * Creating queues (create=true, development only): the dead-letter queue, then the queue with
 * a RedrivePolicy naming it. Its own module, loaded by QueueDirectory with import() when a
 * queue is missing: a producer or a Lambda that never creates a queue carries none of it.
 */
import { CreateQueueCommand, GetQueueAttributesCommand, type QueueAttributeName, type SQSClient } from '@aws-sdk/client-sqs';
import { MAX_RETENTION_S, MAX_VISIBILITY_S, wholeSeconds } from './limits.js';
import type { SqsOptions } from './options.js';

/** A queue whose dead letters go to `deadLetterUrl` (created first). */
export async function createQueue(client: SQSClient, opts: SqsOptions, sqsName: string, deadLetterUrl: string): Promise<string> {
  const arn = await queueArn(client, deadLetterUrl);
  return create(client, sqsName, {
    VisibilityTimeout: String(wholeSeconds(opts.visibilityTimeoutMs, MAX_VISIBILITY_S)),
    MaximumMessageSize: String(opts.maxMessageBytes),
    // SQS moves a message here after maxReceiveCount receives: crash loops end in the DLQ.
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: arn,
      maxReceiveCount: opts.maxReceiveCount,
    }),
  });
}

export function createDeadLetterQueue(client: SQSClient, opts: SqsOptions, dlqName: string): Promise<string> {
  return create(client, dlqName, {
    MaximumMessageSize: String(opts.maxMessageBytes),
    MessageRetentionPeriod: String(MAX_RETENTION_S),
  });
}

async function create(client: SQSClient, sqsName: string, attributes: Partial<Record<QueueAttributeName, string>>): Promise<string> {
  const fifo = sqsName.endsWith('.fifo');
  const out = await client.send(
    new CreateQueueCommand({
      QueueName: sqsName,
      Attributes: { ...attributes, ...(fifo ? { FifoQueue: 'true' } : {}) },
    }),
  );
  if (!out.QueueUrl) throw new Error(`CreateQueue ${sqsName} returned no QueueUrl`);
  return out.QueueUrl;
}

async function queueArn(client: SQSClient, url: string): Promise<string> {
  const out = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['QueueArn'],
    }),
  );
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`GetQueueAttributes returned no QueueArn for ${url}`);
  return arn;
}
