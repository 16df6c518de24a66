/**
 * The built Lambda handler, loaded from the build output and driven like Lambda's SQS event
 * source mapping (test/support/lambda-poller.ts) against fauxqs and dynalite.
 */
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, chord, createApp } from '../../core/index.js';
import type { RemoteTaskError } from '../../core/errors.js';
import { encodeEnvelope } from '../../core/envelope.js';
import { buildTaskMessage } from '../../core/message-builder.js';
import type { SqsEvent, SqsRecord } from '../../deploy/aws/lambda-types.js';
import { type LambdaFunction, containerFunctions } from '../support/lambda-function.js';
import { type InvocationRecord, LambdaPoller, toEvent } from '../support/lambda-poller.js';
import { until } from '../core/helpers.js';
import { type AwsWorld, mappingFor, startAwsWorld, producerFor } from './aws-harness.js';

const TIMEOUT_MS = 2000;
let world: AwsWorld;
let fn: LambdaFunction;
let producer: App;
let claimUrl: string;

beforeAll(async () => {
  world = await startAwsWorld();
  // The handler resolves claim checks from the results table: its broker URL says where.
  claimUrl = `${world.brokerUrl}&claim_check=${encodeURIComponent(world.backendUrl)}`;
  // Each invocation runs in a function process of its own, with the deployed environment.
  fn = containerFunctions(world.build.handler, TIMEOUT_MS, { ...world.env, CELERIAC_BROKER_URL: claimUrl });
  producer = producerFor(world);
});

afterAll(async () => {
  await producer?.close();
  await fn?.stop();
  await world?.close();
});

/** Drain a queue with the poller until `done`, then stop it; returns its invocations. */
async function drain(sqsName: string, done: () => Promise<boolean>, timeoutMs = 30_000): Promise<InvocationRecord[]> {
  const m = mappingFor(world, sqsName);
  const poller = new LambdaPoller(world.sqs, fn, {
    queueUrl: m.queue.url,
    queueArn: m.queue.arn,
    batchSize: m.batchSize,
    batchingWindowS: m.batchingWindowS,
    maxConcurrency: 2,
  }).start();
  try {
    await until(done, timeoutMs, `draining ${sqsName}`);
  } finally {
    await poller.stop();
  }
  return poller.invocations;
}

/**
 * Receive the messages of these tasks from the FIFO queue as the event source would, in the order
 * of `ids`. Any other (handed back by an earlier test) is deleted.
 */
async function receiveFifo(ids: string[]): Promise<{ queue: ReturnType<typeof mappingFor>['queue']; received: Message[] }> {
  const queue = mappingFor(world, 't-ordered.fifo').queue;
  const received: Message[] = [];
  const at = (m: Message) => ids.indexOf(m.MessageAttributes?.['celeriac.id']?.StringValue ?? '');
  while (received.length < ids.length) {
    const out = await world.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: 10,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    for (const m of out.Messages ?? []) {
      if (at(m) >= 0) received.push(m);
      else await world.sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return { queue, received: received.sort((a, b) => at(a) - at(b)) };
}

const ready = (ids: string[]) => async () => (await Promise.all(ids.map((id) => producer.AsyncResult(id).ready()))).every(Boolean);

async function sendRaw(queue: string, body: string, eta?: Date): Promise<{ messageId: string; taskId?: string }> {
  const url = mappingFor(world, `t-${queue}`).queue.url;
  const out = await world.sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
  return { messageId: out.MessageId as string, taskId: eta ? JSON.parse(body).headers.id : undefined };
}

function envelopeFor(name: string, args: unknown[], eta: Date): string {
  const message = buildTaskMessage({
    name,
    args,
    kwargs: {},
    queue: 'celery',
    call: { eta },
    task: {},
    defaults: { ignoreResult: false, priority: null, timeLimit: null, softTimeLimit: null },
    replyTo: 'test',
  });
  return encodeEnvelope(message, { routingKey: 'celery' });
}

describe('the built Lambda handler', () => {
  it('runs tasks whose results a producer reads with AsyncResult.get()', async () => {
    const sum = await producer.sendTask('awstasks.add', [2, 3]);
    const failed = await producer.sendTask('awstasks.fail', ['boom']);
    const invocations = await drain('t-celery', ready([sum.id, failed.id]));
    expect(await sum.get({ timeout: 5000 })).toBe(5);
    await expect(failed.get({ timeout: 5000 })).rejects.toThrow(/boom/);
    expect(failed.traceback).toMatch(/ValueError/);
    expect(invocations.every((i) => i.invocation.ok && i.failed.length === 0)).toBe(true);
  });

  it('completes a chord: the header tasks run in invocations, the one that completes it sends the body', async () => {
    const header = Array.from({ length: 7 }, (_, i) => producer.signature('awstasks.add', [i, i]));
    const result = await chord(header, producer.signature('awstasks.total')).applyAsync();
    const invocations = await drain('t-celery', ready([result.id]));
    expect(await result.get({ timeout: 5000 })).toBe(42);
    expect(invocations.flatMap((i) => i.failed)).toEqual([]);
  });

  it('re-sends a record that arrives before its ETA with its delay, reporting nothing failed (no receive counted)', async () => {
    const adds = await Promise.all([1, 2, 3].map((n) => producer.sendTask('awstasks.add', [n, n])));
    // Visible now but due in a minute (as a message that arrives early).
    const early = await sendRaw('celery', envelopeFor('awstasks.add', [9, 9], new Date(Date.now() + 60_000)), new Date());
    const invocations = await drain('t-celery', ready(adds.map((r) => r.id)));
    expect(await Promise.all(adds.map((r) => r.get({ timeout: 5000 })))).toEqual([2, 4, 6]);
    const batch = invocations.find((i) => i.messageIds.includes(early.messageId)) as InvocationRecord;
    expect(batch.invocation.ok).toBe(true);
    expect(invocations.flatMap((i) => i.failed)).toEqual([]);
    // A copy waits in the queue, delayed (DelaySeconds up to its ETA), its result not written.
    const { Attributes } = await world.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: mappingFor(world, 't-celery').queue.url,
        AttributeNames: ['ApproximateNumberOfMessagesDelayed', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(Attributes).toMatchObject({ ApproximateNumberOfMessagesDelayed: '1', ApproximateNumberOfMessagesNotVisible: '0' });
    expect(await producer.AsyncResult(early.taskId as string).ready()).toBe(false);
  });

  it('re-sends retries with their countdown instead of failing the record', async () => {
    const r = await producer.sendTask('awstasks.flaky', [2]);
    const invocations = await drain('t-celery', ready([r.id]));
    expect(await r.get({ timeout: 5000 })).toBe(2);
    expect(invocations.length).toBeGreaterThanOrEqual(3);
    expect(invocations.flatMap((i) => i.failed)).toEqual([]);
  });

  it('dead-letters malformed messages and unknown tasks with their reason, without failing the batch', async () => {
    const good = await producer.sendTask('awstasks.add', [20, 22]);
    const unknown = await producer.sendTask('awstasks.nope', []);
    await sendRaw('celery', 'this is not a task message');
    const dlqUrl = world.stack.queues.get('CeleryDeadLetterQueue')?.url as string;
    const dead: Array<{ body: string; reason: string }> = [];
    const invocations = await drain('t-celery', async () => {
      const out = await world.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
      );
      for (const m of out.Messages ?? [])
        dead.push({ body: m.Body ?? '', reason: m.MessageAttributes?.['celeriac.reason']?.StringValue ?? '' });
      return dead.length >= 2 && (await good.ready());
    });
    expect(await good.get({ timeout: 5000 })).toBe(42);
    expect(dead.map((d) => d.reason).sort()).toEqual([
      expect.stringMatching(/^malformed message/),
      expect.stringMatching(/unknown task 'awstasks\.nope'/),
    ]);
    expect(dead.find((d) => /^malformed/.test(d.reason))?.body).toBe('this is not a task message');
    await expect(unknown.get({ timeout: 5000 })).rejects.toThrow(/awstasks\.nope/);
    expect(invocations.flatMap((i) => i.failed)).toEqual([]);
  });

  it('refuses an oversize payload at send time, or carries it by claim check to the handler', async () => {
    const big = 'x'.repeat(300_000);
    await expect(producer.sendTask('awstasks.size', [big])).rejects.toThrow(/at most 262144/);
    const claiming = createApp('claiming', { broker: claimUrl, backend: world.backendUrl });
    try {
      const r = await claiming.sendTask('awstasks.size', [big]);
      await drain('t-celery', ready([r.id]));
      expect(await r.get({ timeout: 5000 })).toBe(300_000);
    } finally {
      await claiming.close();
    }
  });

  it("skips only the message group of a FIFO record that must come back: it and the group's later records are reported, other groups run on", async () => {
    const send = (n: number, group: string, eta?: Date) =>
      producer.sendTask('awstasks.ordered', [n], {}, { queue: 'ordered.fifo', headers: { message_group: group }, ...(eta ? { eta } : {}) });
    const first = await send(1, 'g1');
    const early = await send(2, 'g2', new Date(Date.now() + 60_000)); // FIFO has no per-message delay: arrives early
    const behind = await send(3, 'g3');
    const last = await send(4, 'g4');
    const { queue, received } = await receiveFifo([first.id, early.id, behind.id, last.id]);
    const event: SqsEvent = toEvent(received, queue.arn);
    // fauxqs hands out one message of a group at a time, SQS several in order: this record stands for one behind `early`.
    (event.Records[2] as SqsRecord).attributes.MessageGroupId = 'g2';
    const out = await fn.invoke(event);
    expect(out.ok && out.response?.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      received[1]?.MessageId,
      received[2]?.MessageId,
    ]);
    expect(await first.get({ timeout: 5000 })).toBe(1);
    expect(await last.get({ timeout: 5000 })).toBe(4);
    expect(await behind.ready()).toBe(false);
    // Lambda leaves a reported failure hidden for the visibility timeout: the record not run is made
    // visible again at once; the one handed back waits for its ETA.
    const again = await world.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }),
    );
    expect(again.Messages?.map((m) => m.MessageAttributes?.['celeriac.id']?.StringValue)).toEqual([behind.id]);
    await world.sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: again.Messages?.[0]?.ReceiptHandle }));
  });

  it('runs countdown tasks of many FIFO groups after one wait each, none dead-lettered for waiting', async () => {
    // maxReceiveCount is 3: each record hidden for its countdown is received once more, when due.
    const sent = [];
    for (let n = 0; n < 6; n++) {
      sent.push(
        await producer.sendTask(
          'awstasks.ordered',
          [n],
          {},
          { queue: 'ordered.fifo', countdown: 2, headers: { message_group: `wait${n}` } },
        ),
      );
    }
    const invocations = await drain('t-ordered.fifo', ready(sent.map((r) => r.id)), 15_000);
    expect(await Promise.all(sent.map((r) => r.get({ timeout: 5000 })))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(invocations.every((i) => i.invocation.ok)).toBe(true);
    const dlq = world.stack.queues.get('OrderedFifoDeadLetterQueue')?.url as string;
    const dead = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10 }));
    expect(dead.Messages ?? []).toEqual([]);
  });

  it('hands back a FIFO record that started late in its batch and ran out of invocation time, instead of failing it', async () => {
    // One group each: fauxqs hands out one message per group at a time (the handler does not look at groups).
    const send = (name: string, args: unknown[], group: string) =>
      producer.sendTask(name, args, {}, { queue: 'ordered.fifo', headers: { message_group: group } });
    const slow = await send('awstasks.sleep', [1300], 'late1');
    const late = await send('awstasks.waitForLimit', [], 'late2');
    const { queue, received } = await receiveFifo([slow.id, late.id]);
    const out = await fn.invoke(toEvent(received, queue.arn));
    expect(out.ok && out.response?.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([received[1]?.MessageId]);
    expect(await slow.get({ timeout: 5000 })).toBe(1300);
    // Not FAILURE SoftTimeLimitExceeded: it comes back to run in a fresh invocation.
    expect(await late.refresh()).toBeUndefined();
  });

  it('abandons a task that ignores its signal at the deadline and still answers for the batch', async () => {
    // awstasks.sleep does not listen to ctx.signal: without a hard limit it would outlast the 2 s invocation.
    const stuck = await producer.sendTask('awstasks.sleep', [5000]);
    const sum = await producer.sendTask('awstasks.add', [1, 1]);
    const invocations = await drain('t-celery', ready([stuck.id, sum.id]));
    expect(await sum.get({ timeout: 5000 })).toBe(2);
    const error = (await stuck.get({ timeout: 5000, propagate: false })) as RemoteTaskError;
    // It had the whole invocation: it fails, as it would again in a fresh one.
    expect(error.name).toBe('TimeLimitExceeded');
    expect(invocations.every((i) => i.invocation.ok && i.failed.length === 0)).toBe(true);

    // One that started late in its batch is handed back to run in a fresh invocation instead.
    const send = (ms: number, group: string) =>
      producer.sendTask('awstasks.sleep', [ms], {}, { queue: 'ordered.fifo', headers: { message_group: group } });
    const slow = await send(1300, 'stuck1');
    const late = await send(5000, 'stuck2');
    const { queue, received } = await receiveFifo([slow.id, late.id]);
    const out = await fn.invoke(toEvent(received, queue.arn));
    expect(out.ok && out.response?.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([received[1]?.MessageId]);
    expect(await slow.get({ timeout: 5000 })).toBe(1300);
    expect(await late.refresh()).toBeUndefined();
  });

  it('fails an invocation that is not an SQS event and says so (the console test event, a wrong trigger)', async () => {
    const invoke = async (event: unknown) => {
      const out = await fn.invoke(event as SqsEvent);
      return out.ok ? 'ok' : out.error;
    };
    expect(await invoke({ key1: 'value1' })).toContain(
      'This celeriac handler runs SQS messages from an event source mapping (Records from aws:sqs); it was invoked with an event with keys ["key1"].',
    );
    expect(await invoke({ Records: [{ EventSource: 'aws:sns' }] })).toContain('it was invoked with a record from "aws:sns"');
    expect(await invoke({ Records: [] })).toBe('ok');
  });

  it('uses the remaining invocation time as the soft time limit', async () => {
    const r = await producer.sendTask('awstasks.waitForLimit', []);
    const invocations = await drain('t-celery', ready([r.id]));
    const error = (await r.get({ timeout: 5000, propagate: false })) as RemoteTaskError;
    expect(error.name).toBe('SoftTimeLimitExceeded');
    expect(error.message).toMatch(/^Task exceeded its soft time limit of 1\.\d+s$/);
    // Its limit (s): what was left of the 2 s invocation, less the margin kept to store the result.
    const limit = Number(error.excArgs[0]);
    expect(limit).toBeGreaterThan(1);
    expect(limit).toBeLessThan(2);
    expect(invocations[0]?.invocation.ok).toBe(true);
  });
});
