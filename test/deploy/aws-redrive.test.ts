/**
 * Redrive, as Lambda's event source mapping and SQS do it: a record the built handler keeps
 * reporting failed comes back after each visibility timeout, and once it has been received
 * maxReceiveCount times SQS moves it, whole, to the dead-letter queue. On a FIFO queue: there a
 * hand-back is a visibility change, which SQS counts (a standard queue re-sends the message).
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../core/index.js';
import { until } from '../core/helpers.js';
import { containerFunctions } from '../support/lambda-function.js';
import { LambdaPoller } from '../support/lambda-poller.js';
import { type AwsWorld, startAwsWorld, producerFor } from './aws-harness.js';

let world: AwsWorld;
let fn: ReturnType<typeof containerFunctions>;
let producer: App;

/** A loopback port nothing listens on: a result store that is down. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function createQueue(name: string, attributes: Record<string, string>): Promise<{ url: string; arn: string }> {
  const { QueueUrl } = await world.sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const { Attributes } = await world.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl as string, arn: Attributes?.QueueArn as string };
}

beforeAll(async () => {
  world = await startAwsWorld();
  const downStore = `dynamodb://celeriac-results?region=us-east-1&endpoint=http://127.0.0.1:${await closedPort()}`;
  fn = containerFunctions(world.build.handler, 2000, { ...world.env, CELERIAC_RESULT_BACKEND: downStore });
  producer = producerFor(world);
});

afterAll(async () => {
  await producer?.close();
  await fn?.stop();
  await world?.close();
});

describe('redrive to the dead-letter queue', () => {
  it('moves a record that keeps failing to the DLQ after maxReceiveCount receives, with nothing lost', async () => {
    // A queue of its own: 1 s visibility, maxReceiveCount 2 (the fixture's queues use 12 s and 3).
    const dlq = await createQueue('t-redrive-dlq.fifo', { FifoQueue: 'true' });
    const queue = await createQueue('t-redrive.fifo', {
      FifoQueue: 'true',
      VisibilityTimeout: '1',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: 2 }),
    });
    const sent = await producer.sendTask('awstasks.add', [2, 3], undefined, { queue: 'redrive.fifo' });

    // With its result store down, the handler reports the record failed every time.
    const poller = new LambdaPoller(world.sqs, fn, {
      queueUrl: queue.url,
      queueArn: queue.arn,
      batchSize: 10,
      batchingWindowS: 0,
      maxConcurrency: 1,
    }).start();
    const deadLetters: { Body?: string; Attributes?: Record<string, string> }[] = [];
    try {
      await until(
        async () => {
          const out = await world.sqs.send(
            new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10, MessageSystemAttributeNames: ['All'] }),
          );
          deadLetters.push(...(out.Messages ?? []));
          return deadLetters.length > 0;
        },
        15_000,
        'the message in the DLQ',
      );
    } finally {
      await poller.stop();
    }

    // Received twice, reported failed both times (never an invocation error), then redriven by SQS.
    expect(poller.invocations).toHaveLength(2);
    for (const { invocation, failed, messageIds } of poller.invocations) {
      expect(invocation.ok).toBe(true);
      expect(failed).toEqual(messageIds);
    }
    // Nothing lost: the whole message, once, in the DLQ; nothing left in the queue.
    expect(deadLetters).toHaveLength(1);
    expect(JSON.parse(deadLetters[0]?.Body ?? '{}').headers.id).toBe(sent.id);
    const left = await world.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queue.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(left.Attributes).toMatchObject({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    // And no result was ever stored, so a later run (after a redrive back) starts from PENDING.
    expect(await sent.ready()).toBe(false);
  });
});
