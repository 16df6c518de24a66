/** sqs:// against fauxqs (and dynamodb:// against dynalite): the shared broker suite, then what is special to SQS. */
import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../core/app.js';
import { type Signature, chain, chord, group } from '../../core/canvas.js';
import { decodeEnvelope, encodeEnvelope } from '../../core/envelope.js';
import { ConfigError, OperationalError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import type { KeyValueResultBackend } from '../../core/kv-result-backend.js';
import type { TaskMessage } from '../../core/message.js';
import { rateKey } from '../../core/overrides.js';
import { openBroker } from '../../core/registry.js';
import type { TaskContext } from '../../core/task-context.js';
import type { Worker } from '../../core/worker/worker.js';
import { type DynamoDbStore, dynamoDbStore } from '../../providers/dynamodb/index.js';
import { MessageTooLarge, REASON_ATTRIBUTE, type SqsBroker, countRequests, deadLetterName, sqsBroker } from '../../providers/sqs/index.js';
import { parseConnection } from '../../providers/redis/options.js';
import { parseSqsUrl } from '../../providers/sqs/options.js';
import { parseDynamoDbUrl } from '../../providers/dynamodb/options.js';
import { toLease } from '../../providers/sqs/lease.js';
import { toOutgoing } from '../../providers/sqs/send.js';
import { SettleBatches } from '../../providers/sqs/settle-batches.js';
import { Recorder, brokerConformance, eventually, taskMessage, uniqueQueue } from '../conformance/index.js';
import { gate, nextEvent, thrownMessage } from '../core/helpers.js';
import { type Emulator, startDynalite, startFauxqs, useEmulatorEnvironment } from '../support/aws-emulators.js';
import { freePort } from '../support/redis-server.js';

useEmulatorEnvironment();
let fauxqs: Emulator;
let dynalite: Emulator;
beforeAll(async () => {
  [fauxqs, dynalite] = await Promise.all([startFauxqs(), startDynalite()]);
});
afterAll(async () => {
  await Promise.all([fauxqs?.stop(), dynalite?.stop()]);
});

/** Every queue this file makes is under one prefix. */
const prefix = `t${randomUUID().slice(0, 6)}-`;
/** Long polls of `waitS` (1 s by default): a consumer's stop lets its polls finish. */
const sqsUrl = (query = '&create=true', waitS = 1) =>
  `sqs://?endpoint=${fauxqs.endpoint}&prefix=${prefix}&wait_time_seconds=${waitS}${query}`;
const dynamoUrl = () => `dynamodb://results-${prefix}x?endpoint=${dynalite.endpoint}&create=true`;

async function sendRaw(broker: SqsBroker, queue: string, body: string): Promise<void> {
  const q = await broker.queues.get(queue);
  await broker.client.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: body }));
}

/** Receive straight from SQS (not through the provider) until `n` messages came, or fail; `remove` deletes each (FIFO groups stay locked while one is in flight). */
async function receiveRaw(client: SQSClient, queueUrl: string, n: number, remove = false): Promise<Message[]> {
  const got: Message[] = [];
  await eventually(`${n} raw messages`, async () => {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        VisibilityTimeout: 60,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    got.push(...(out.Messages ?? []));
    if (remove) {
      for (const m of out.Messages ?? [])
        await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
    return got.length >= n;
  });
  return got;
}

/**
 * AWS may answer one ReceiveMessage with several messages of one FIFO group, in order; fauxqs
 * answers with one per group (emulators.md). So the client's first receive from `queueUrl` that
 * finds any answers with every message waiting there, each taken from fauxqs (received, then
 * deleted); the settles of those messages are recorded instead of sent, as `id` → `deleted` or
 * the visibility timeout set, in the order they came.
 */
function receiveGroupsTogether(client: SQSClient, queueUrl: string): Array<[id: string, settle: 'deleted' | number]> {
  const send = client.send.bind(client) as (command: unknown) => Promise<Record<string, unknown>>;
  const taken = new Map<string, string>();
  const settles: Array<[string, 'deleted' | number]> = [];
  (client as { send: unknown }).send = async (command: unknown) => {
    if (command instanceof ReceiveMessageCommand && command.input.QueueUrl === queueUrl && taken.size === 0) {
      const got: Message[] = [];
      for (let out = await send(new ReceiveMessageCommand({ ...command.input, WaitTimeSeconds: 0 })); ; ) {
        const messages = (out.Messages ?? []) as Message[];
        if (messages.length === 0) break;
        for (const m of messages) {
          got.push(m);
          taken.set(m.ReceiptHandle as string, decodeEnvelope(m.Body as string).headers.id);
          await send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
        }
        out = await send(new ReceiveMessageCommand({ ...command.input, WaitTimeSeconds: 0 }));
      }
      if (got.length > 0) return { Messages: got };
    }
    if (command instanceof DeleteMessageBatchCommand || command instanceof ChangeMessageVisibilityBatchCommand) {
      const entries = command.input.Entries ?? [];
      if (entries.every((e) => taken.has(e.ReceiptHandle as string))) {
        for (const e of entries)
          settles.push([
            taken.get(e.ReceiptHandle as string) as string,
            'VisibilityTimeout' in e ? (e.VisibilityTimeout as number) : 'deleted',
          ]);
        return { Successful: entries.map((e) => ({ Id: e.Id })), Failed: [] };
      }
    }
    return send(command);
  };
  return settles;
}

/**
 * The same in a receive the provider makes: fauxqs gives one message per FIFO group per
 * receive, so messages sent to groups of their own come together, and each receive from
 * `queueUrl` names their group `group`. fauxqs still keeps each hidden, and makes it visible
 * again when its visibility timeout runs out, as AWS would one of a group received together.
 */
function asOneGroup(client: SQSClient, queueUrl: string, group: string): void {
  const send = client.send.bind(client) as (...args: unknown[]) => Promise<{ Messages?: Message[] }>;
  (client as { send: unknown }).send = async (command: unknown, ...rest: unknown[]) => {
    const out = await send(command, ...rest);
    if (command instanceof ReceiveMessageCommand && command.input.QueueUrl === queueUrl)
      for (const m of out.Messages ?? []) if (m.Attributes?.MessageGroupId) m.Attributes.MessageGroupId = group;
    return out;
  };
}

async function counts(broker: SqsBroker, queue: string) {
  const q = await broker.queues.get(queue);
  const out = await broker.client.send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['All'] }));
  const a = out.Attributes ?? {};
  return {
    visible: Number(a.ApproximateNumberOfMessages),
    hidden: Number(a.ApproximateNumberOfMessagesNotVisible),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed),
  };
}

brokerConformance('sqs', ({ visibilityTimeoutMs }) => {
  // Short polls: a consumer's stop, which lets its polls finish, is over well within the suite's 1 s leases.
  const broker = sqsBroker(sqsUrl(`&create=true&visibility_timeout=${visibilityTimeoutMs / 1000}`, 0));
  return { broker, publishRaw: (queue, raw) => sendRaw(broker, queue, raw), close: () => broker.close() };
});

describe('sqs:// queues and limits', () => {
  it('is found by its URL scheme; a missing queue is a clear error naming it and create=true, never created', async () => {
    const broker = (await openBroker(sqsUrl(''), { transportOptions: {} })) as SqsBroker;
    const q = uniqueQueue('missing');
    const err = await broker.publish(q, [taskMessage(q)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(new RegExp(`SQS queue '${prefix}${q}'.*does not exist.*create=true`));
    await expect(broker.consume([q], async () => {}, { prefetch: 1 })).rejects.toBeInstanceOf(ConfigError);
    await expect(broker.client.send(new GetQueueUrlCommand({ QueueName: `${prefix}${q}` }))).rejects.toMatchObject({
      name: 'QueueDoesNotExist',
    });
    await broker.close();
  });

  it('names the endpoint of a missing queue without the password it carries', async () => {
    const endpoint = fauxqs.endpoint.replace('://', '://AK:SuperSecretPw@');
    const broker = sqsBroker(`sqs://?endpoint=${encodeURIComponent(endpoint)}&prefix=${prefix}`);
    const err = await broker.publish('missing-ep', [taskMessage('missing-ep')]).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/does not exist at http:\/\/AK:\*\*@127\.0\.0\.1:\d+\. Create it/);
    expect((err as Error).message).not.toContain('SuperSecretPw');
    await broker.close();
  });

  it('create=true makes the queue with its dead-letter queue and a RedrivePolicy', async () => {
    const broker = sqsBroker(sqsUrl('&create=true&max_receive_count=3&visibility_timeout=45'));
    const q = uniqueQueue('created');
    const { url } = await broker.queues.get(q);
    const attrs = (await broker.client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {};
    expect(attrs.VisibilityTimeout).toBe('45');
    const redrive = JSON.parse(attrs.RedrivePolicy ?? '{}');
    expect(redrive.maxReceiveCount).toBe(3);
    expect(redrive.deadLetterTargetArn).toMatch(new RegExp(`${prefix}${q}-dlq$`));
    await broker.close();
  });

  it('refuses a payload over the size cap before sending anything, saying what to do', async () => {
    const broker = sqsBroker(sqsUrl());
    const q = uniqueQueue('big');
    const small = taskMessage(q, ['small']);
    const big = taskMessage(q, ['x'.repeat(300_000)]);
    const err = (await broker.publish(q, [small, big]).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(MessageTooLarge);
    expect(err.message).toContain(`tests.echo[${big.headers.id}]`);
    expect(err.message).toMatch(/is \d+ bytes as an SQS message; queue '.*' takes at most 262144.*claim_check/);
    expect(await broker.size(q)).toBe(0);
    await broker.close();
  });

  it('refuses bad URLs with the option at fault', () => {
    expect(() => sqsBroker('sqs://?regoin=x')).toThrow(/Unknown option 'regoin'/);
    expect(() => sqsBroker('sqs://?wait_time_seconds=21')).toThrow(/wait_time_seconds .* from 0 to 20/);
    expect(() => sqsBroker('sqs://queue-name')).toThrow(/query options/);
    expect(() => sqsBroker('sqs://?create=yes')).toThrow(/create .* true or false/);
    // A bare flag is not read as false (which would silently create nothing).
    expect(() => sqsBroker('sqs://?create')).toThrow(/create .* true or false, got ''/);
    // SQS's maximum is 12 hours: more is refused, not silently cut to it.
    expect(() => sqsBroker('sqs://?visibility_timeout=43201')).toThrow(/visibility_timeout .* at most 43200 s .* got 43201 s/);
    expect(() => sqsBroker('sqs://', { transportOptions: { visibility_timeout: 86_400 } })).toThrow(/at most 43200 s/);
    expect(parseSqsUrl('sqs://?visibility_timeout=43200').visibilityTimeoutMs).toBe(43_200_000);
    expect(() => sqsBroker('sqs://?endpoint=http://local host:1')).toThrow(/endpoint for .* must be an http\(s\) URL/);
    expect(() => sqsBroker('sqs://?region=us_east&prefix=x-')).toThrow(
      new ConfigError("region for 'sqs://?region=us_east&prefix=x-' must be an AWS region such as us-east-1, got 'us_east'"),
    );
    expect(() => sqsBroker('sqs://', { transportOptions: { region: 'us.east' } })).toThrow(/got 'us.east'/);
    // broker_transport_options: a key the broker does not read is refused, never dropped.
    expect(() => parseSqsUrl('sqs://', { wait_time_second: 5 })).toThrow(
      new ConfigError(
        "broker_transport_options for 'sqs://': 'wait_time_second' is not an option of the SQS broker. Did you mean 'wait_time_seconds'? Options: region, queue_name_prefix, visibility_timeout, wait_time_seconds, endpoint, max_receive_count, max_message_bytes, claim_check.",
      ),
    );
    expect(() => parseSqsUrl('sqs://', { prefix: 'dev-' })).toThrow(
      /'prefix' is not an option of the SQS broker\. Did you mean 'queue_name_prefix'\?/,
    );
    expect(() => parseSqsUrl('sqs://', { predefined_queues: { celery: { url: 'https://sqs/1/celery' } } })).toThrow(
      /'predefined_queues' is a kombu SQS option celeriac does not support: each queue is found by its name/,
    );
    expect(() => parseSqsUrl('sqs://', { polling_interval: 1 })).toThrow(
      /'polling_interval' is a kombu SQS option celeriac does not support/,
    );
    expect(() => parseSqsUrl('sqs://', { max_retries: 3 })).toThrow(/'max_retries' is a kombu SQS option celeriac does not support\.$/);
    expect(parseSqsUrl('sqs://', { queue_name_prefix: 'dev-', wait_time_seconds: 5 })).toMatchObject({
      prefix: 'dev-',
      waitTimeSeconds: 5,
    });
    expect(parseSqsUrl('sqs://?region=us-gov-west-1').region).toBe('us-gov-west-1');
    // What the SDK takes: emulator set-ups often name a region such as 'local' (it only signs requests then).
    expect(parseSqsUrl('sqs://?region=local&endpoint=http://127.0.0.1:4566').region).toBe('local');
    expect(() => dynamoDbStore('dynamodb://t1s?region=bad%20region')).toThrow(
      /region for 'dynamodb:\/\/t1s\?region=bad%20region' must be an AWS region such as us-east-1, got 'bad region'/,
    );
    expect(() => sqsBroker('sqs://?claim_check=nonsense')).toThrow(
      /claim_check for .* must be the URL of a store such as dynamodb:\/\/TABLE/,
    );
  });

  it('never echoes a secret from a URL in its errors', () => {
    // Celery's documented form, the secret with a '/' as AWS secrets often have.
    const inUrl = thrownMessage(() => sqsBroker('sqs://AKIAEXAMPLE:wJalrXUtnFEMI/K7MDENG@'));
    expect(inUrl).toMatch(/sqs:\/\/ URLs cannot carry AWS credentials: .*AWS_ACCESS_KEY_ID.*AWS_PROFILE/);
    expect(inUrl).not.toMatch(/wJalr|AKIA/);
    const redis = thrownMessage(() => parseConnection('redis://:SuperSecretPw@127.0.0.1:6379/x'));
    expect(redis).toContain("'redis://:**@127.0.0.1:6379/x'");
    const store = encodeURIComponent('redis://:SuperSecretPw@127.0.0.1:6379/0');
    const claimCheck = thrownMessage(() => sqsBroker(`sqs://?claim_check=${store}&bogus=1`));
    expect(claimCheck).toContain(`claim_check=${encodeURIComponent('redis://:**@127.0.0.1:6379/0')}`);
    for (const m of [redis, claimCheck]) expect(m).not.toContain('SuperSecretPw');
    // Celery's DynamoDB form, refused before anything could quote it (a '/' or '?' in the secret too).
    for (const url of [
      'dynamodb://AKIAEXAMPLE:wJalrXUtnFEMIK7MDENG@us-east-1/celery',
      'dynamodb://AKIAEXAMPLE:wJalrXUtnFEMI/K7MDENG@us-east-1/celery?read=5&write=5',
      'dynamodb://AKIAEXAMPLE:wJalrXUtnFEMI?K7MDENG@us-east-1/celery',
    ]) {
      const refused = thrownMessage(() => parseDynamoDbUrl(url));
      expect(refused).toMatch(/^dynamodb:\/\/ URLs cannot carry AWS credentials: .*dynamodb:\/\/TABLE\?region=.*AWS_ACCESS_KEY_ID/);
      expect(refused).not.toMatch(/wJalr|AKIA/);
    }
    // An endpoint that is not an http(s) URL is shown redacted too.
    const endpoints = [
      thrownMessage(() => parseSqsUrl(`sqs://?endpoint=${encodeURIComponent('ftp://AK:SuperSecretPw@h')}`)),
      thrownMessage(() => parseSqsUrl('sqs://', { endpoint: 'https//AK:SuperSecretPw@h' })),
      thrownMessage(() => parseDynamoDbUrl(`dynamodb://tbl?endpoint=${encodeURIComponent('tcp://AK:SuperSecretPw@h')}`)),
    ];
    expect(endpoints[0]).toContain("got 'ftp://AK:**@h'");
    for (const m of endpoints) expect(m).not.toContain('SuperSecretPw');
  });

  it('says what to do when no AWS region is set, and names the URL when SQS or DynamoDB cannot be reached', async () => {
    const saved = { region: process.env.AWS_REGION, config: process.env.AWS_CONFIG_FILE };
    delete process.env.AWS_REGION;
    process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
    try {
      const noRegion = sqsBroker('sqs://?prefix=x-');
      const err = await noRegion.queues.get('celery').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe(
        "SQS needs an AWS region for 'sqs://?prefix=x-': add ?region=us-east-1 (yours) to the URL, or set AWS_REGION.",
      );
      await noRegion.close();
    } finally {
      process.env.AWS_REGION = saved.region;
      if (saved.config === undefined) delete process.env.AWS_CONFIG_FILE;
      else process.env.AWS_CONFIG_FILE = saved.config;
    }
    const down = sqsBroker('sqs://?endpoint=http://127.0.0.1:1');
    const unreachable = (await down.publish('celery', [taskMessage('celery')]).catch((e: unknown) => e)) as Error;
    expect(unreachable).toBeInstanceOf(OperationalError);
    expect(unreachable.message).toMatch(/^Cannot reach SQS for 'sqs:\/\/\?endpoint=http:\/\/127\.0\.0\.1:1': connect ECONNREFUSED/);
    await down.close();
    const store = dynamoDbStore('dynamodb://results?endpoint=http://127.0.0.1:1');
    expect(((await store.get('k').catch((e: unknown) => e)) as Error).message).toMatch(/^Cannot reach DynamoDB for 'dynamodb:\/\/results/);
    await store.close();
  });
});

describe('sqs:// consuming several queues', () => {
  it('an idle queue’s long poll does not hold up a busy queue', async () => {
    const broker = sqsBroker(sqsUrl('&create=true', 20));
    const [idle, busy] = [uniqueQueue('idle'), uniqueQueue('busy')];
    await broker.queues.get(idle);
    await broker.publish(
      busy,
      Array.from({ length: 30 }, (_, i) => taskMessage(busy, [i])),
    );
    const started = Date.now();
    const r = await Recorder.start(broker, [idle, busy], { prefetch: 4 }, (d) => void d.ack());
    await r.waitFor(30, 10_000);
    // Long polls last 20 s: had the idle queue's poll held the prefetch, this would take that long.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(new Set(r.ids()).size).toBe(30);
    await broker.close(); // cancels the idle queue's poll: a stop would let it finish
  });
});

describe('sqs:// claim check', () => {
  const claimUrl = () => sqsUrl(`&create=true&claim_check=${encodeURIComponent(dynamoUrl())}`);
  const claims = async (id: string) => {
    const store = dynamoDbStore(dynamoUrl());
    const out = await store.client.send(
      new ScanCommand({
        TableName: `results-${prefix}x`,
        FilterExpression: 'begins_with(pk, :p)',
        ExpressionAttributeValues: { ':p': { S: `celeriac-claim-check-${id}` } },
      }),
    );
    await store.close();
    return (out.Items ?? []).map((i) => i.pk?.S as string);
  };

  // taskMessage's argsrepr repeats the args, and the envelope's body is base64: 150 kB of args make a ~350 kB envelope.
  it('an oversized payload is stored aside, delivered whole, and its stored copy removed on ack', async () => {
    const broker = sqsBroker(claimUrl());
    const q = uniqueQueue('claim');
    const big = taskMessage(q, ['y'.repeat(150_000)]);
    await broker.publish(q, [big]);
    expect(await claims(big.headers.id)).toHaveLength(1);
    const r = await Recorder.start(broker, [q]);
    const [d] = await r.waitFor(1);
    expect(d?.message).toEqual(big);
    await d?.ack();
    await eventually('the stored payload to be removed', async () => (await claims(big.headers.id)).length === 0);
    await r.stop();
    await broker.close();
  });

  it('a message whose stored payload is gone is delivered as malformed, with that reason', async () => {
    const broker = sqsBroker(claimUrl());
    const q = uniqueQueue('claimgone');
    const big = taskMessage(q, ['z'.repeat(150_000)]);
    await broker.publish(q, [big]);
    const store = dynamoDbStore(dynamoUrl());
    for (const key of await claims(big.headers.id)) await store.delete(key);
    await store.close();
    const r = await Recorder.start(broker, [q]);
    const [d] = await r.waitFor(1);
    expect(d?.message).toBeUndefined();
    expect(d?.malformed).toMatch(/claim check 'celeriac-claim-check-.*' is not in dynamodb:/);
    await d?.deadLetter(d.malformed as string);
    await r.stop();
    await broker.close();
  });

  it('fails the send of an oversized payload whose store is an unreachable Redis, without hanging or showing its password', async () => {
    const store = `redis://:SuperSecretPw@127.0.0.1:${await freePort()}/0`;
    // broker_connection_timeout, as an app passes it: the store is given up after it.
    const broker = sqsBroker(sqsUrl(`&create=true&claim_check=${encodeURIComponent(store)}`), { connectTimeoutMs: 300 });
    const q = uniqueQueue('claimdown');
    await broker.queues.get(q);
    const err = await broker.publish(q, [taskMessage(q, ['w'.repeat(150_000)])]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MessageTooLarge);
    expect((err as Error).message).toMatch(
      /and the claim-check store redis:\/\/:\*\*@127\.0\.0\.1:\d+\/0 could not keep it either: Could not reach Redis at redis:\/\/:\*\*@\S+ within 0\.3 s/,
    );
    expect((err as Error).message).not.toMatch(/SuperSecretPw|DynamoDB/);
    await broker.close();
  });
});

describe('sqs:// dead letters', () => {
  it('deadLetter moves the message as received to <queue>-dlq with the reason as an attribute', async () => {
    const broker = sqsBroker(sqsUrl());
    const q = uniqueQueue('dead');
    const m = taskMessage(q, ['poison']);
    await broker.publish(q, [m]);
    const r = await Recorder.start(broker, [q]);
    const [d] = await r.waitFor(1);
    await d?.deadLetter("unknown task 'tests.echo'");
    await r.stop();
    const dlqUrl = (await broker.client.send(new GetQueueUrlCommand({ QueueName: deadLetterName(`${prefix}${q}`) }))).QueueUrl as string;
    const [dead] = await receiveRaw(broker.client, dlqUrl, 1);
    expect(decodeEnvelope(dead?.Body as string)).toEqual(m);
    expect(dead?.MessageAttributes?.[REASON_ATTRIBUTE]?.StringValue).toBe("unknown task 'tests.echo'");
    expect(dead?.MessageAttributes?.['celeriac.id']?.StringValue).toBe(m.headers.id);
    // The delete of the original waits up to ACK_LINGER_MS for company.
    await eventually('the original to be deleted', async () => (await counts(broker, q)).hidden === 0);
    expect(await counts(broker, q)).toEqual({ visible: 0, hidden: 0, delayed: 0 });
    await broker.close();
  });

  it('a message with no room left for the reason (at the cap, or over a worker’s lower cap) is moved as received, without it', async () => {
    // The queues take 1 MiB; the worker's URL says the default 256 KiB.
    const big = sqsBroker(sqsUrl('&create=true&max_message_bytes=1048576'));
    const broker = sqsBroker(sqsUrl());
    const q = uniqueQueue('full');
    const dlqUrl = await big.queues.deadLetterUrl(await big.queues.get(q));
    const atCap = 'x'.repeat(broker.options.maxMessageBytes - REASON_ATTRIBUTE.length - 'String'.length - 2);
    const overCap = 'y'.repeat(300_000);
    await sendRaw(big, q, atCap);
    await sendRaw(big, q, overCap);
    const r = await Recorder.start(broker, [q]);
    for (const d of await r.waitFor(2)) await d.deadLetter('malformed message: not JSON');
    await r.stop();
    const dead = await receiveRaw(broker.client, dlqUrl, 2);
    expect(dead.map((m) => m.Body?.length).sort()).toEqual([atCap.length, overCap.length].sort());
    expect(dead.map((m) => m.MessageAttributes?.[REASON_ATTRIBUTE])).toEqual([undefined, undefined]);
    await Promise.all([broker.close(), big.close()]);
  });

  it('a message received more than max_receive_count times is moved to the DLQ by SQS itself', async () => {
    const broker = sqsBroker(sqsUrl('&create=true&max_receive_count=1&visibility_timeout=1'));
    const q = uniqueQueue('redrive');
    const m = taskMessage(q, ['crash-loop']);
    await broker.publish(q, [m]);
    // A consumer that never settles: a worker that dies mid-task, again and again.
    const r = await Recorder.start(broker, [q]);
    await r.waitFor(1);
    const dlqUrl = (await broker.client.send(new GetQueueUrlCommand({ QueueName: deadLetterName(`${prefix}${q}`) }))).QueueUrl as string;
    const [dead] = await receiveRaw(broker.client, dlqUrl, 1);
    expect(decodeEnvelope(dead?.Body as string).headers.id).toBe(m.headers.id);
    expect(r.received).toHaveLength(1);
    await r.stop();
    await broker.close();
  });
});

describe('sqs:// visibility: at most 12 h from the receive', () => {
  const H = 3_600_000;

  /** A message of a queue with a 12 h lease, really received (a real receipt handle), as if received `agoMs` ago; and the visibility each change asks for. */
  async function leaseReceived(agoMs: number) {
    const broker = sqsBroker(sqsUrl('&create=true&visibility_timeout=43200'));
    const q = await broker.queues.get(uniqueQueue('twelve'));
    await broker.publish(q.name, [taskMessage(q.name)]);
    const [message] = await receiveRaw(broker.client, q.url, 1);
    const asked: number[] = [];
    broker.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ChangeMessageVisibilityBatchCommand') {
          for (const e of (args.input as ChangeMessageVisibilityBatchCommand['input']).Entries ?? [])
            asked.push(e.VisibilityTimeout as number);
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const settle = new SettleBatches(broker.client);
    const lease = toLease(
      q,
      { message: message as Message, raw: message?.Body as string, receivedAt: Date.now() - agoMs },
      broker.leaseContext(settle),
    );
    return { broker, lease, asked, settle };
  }

  it('a heartbeat 9.5 h after the receive asks for the 2.5 h left, not a whole 12 h lease SQS would reject', async () => {
    // Received 9.5 h ago less half a second: 2.5 h and half a second are left, rounded down.
    const { broker, lease, asked, settle } = await leaseReceived(9.5 * H - 500);
    await lease.extendLease(43_200_000);
    await lease.extendLease(3_600_000);
    await settle.drain();
    // A request within the time left is as asked.
    expect(asked).toEqual([9000, 3600]);
    await broker.close();
  });

  it('12 h after the receive, extending the lease fails saying SQS delivers the message again', async () => {
    const { broker, lease, asked, settle } = await leaseReceived(12 * H);
    await expect(lease.extendLease(43_200_000)).rejects.toThrow(
      /has been hidden for 12 h since it was received, the most SQS allows: its lease cannot be extended, and SQS delivers it again while its task runs/,
    );
    await settle.drain();
    expect(asked).toEqual([]);
    await broker.close();
  });
});

describe('sqs:// hand-backs', () => {
  it('a message handed back for a while is re-sent with DelaySeconds: waiting never counts towards max_receive_count', async () => {
    const broker = sqsBroker(sqsUrl('&create=true&max_receive_count=1'));
    const q = uniqueQueue('handback');
    const m = taskMessage(q, ['wait']);
    await broker.publish(q, [m]);
    const r = await Recorder.start(broker, [q]);
    const [first] = await r.waitFor(1);
    expect(first?.receiveCount).toBe(1);
    // As the executor hands a message back when the result store is down.
    await first?.retryLater(1000);
    const [, again] = await r.waitFor(2);
    expect(again?.message).toEqual(m);
    // The deliveries go on counting (the executor's backoff doubles with them).
    expect(again?.receiveCount).toBe(2);
    await again?.retryLater(1000);
    const [, , third] = await r.waitFor(3);
    expect(third?.receiveCount).toBe(3);
    await third?.ack();
    await r.stop();
    const dlqUrl = (await broker.client.send(new GetQueueUrlCommand({ QueueName: deadLetterName(`${prefix}${q}`) }))).QueueUrl as string;
    expect((await counts(broker, q)).visible + (await broker.size(q))).toBe(0);
    const dead = await broker.client.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 0 }));
    expect(dead.Messages ?? []).toEqual([]);
    await broker.close();
  });

  it('a message with no room left for the count of its deliveries is re-sent without it, not refused', async () => {
    const broker = sqsBroker(sqsUrl());
    const q = uniqueQueue('handback-full');
    // A byte short of the cap: as it is received, with nothing added.
    const atCap = 'x'.repeat(broker.options.maxMessageBytes - 1);
    await sendRaw(broker, q, atCap);
    const r = await Recorder.start(broker, [q]);
    const [first] = await r.waitFor(1);
    await first?.retryLater(1000);
    const [, again] = await r.waitFor(2);
    expect(again?.raw).toBe(atCap);
    // The count starts again from the copy's own receives.
    expect(again?.receiveCount).toBe(1);
    await again?.ack();
    await r.stop();
    await eventually('the copy deleted', async () => (await counts(broker, q)).hidden === 0);
    expect(await counts(broker, q)).toEqual({ visible: 0, hidden: 0, delayed: 0 });
    await broker.close();
  });
});

describe('sqs:// FIFO queues', () => {
  it('deduplicates by task id; a retry is a new message; the group is header message_group or the task name', async () => {
    const broker = sqsBroker(sqsUrl());
    const q = `${uniqueQueue('jobs')}.fifo`;
    const m = taskMessage(q, [1]);
    const grouped: TaskMessage = { ...taskMessage(q, [2]), headers: { ...taskMessage(q, [2]).headers, message_group: 'customer-42' } };
    await broker.publish(q, [m]);
    await broker.publish(q, [m]); // a producer retrying its send
    await broker.publish(q, [grouped]);
    await broker.publish(q, [taskMessage(q, [1], { id: m.headers.id, retries: 1 })]);
    const { url } = await broker.queues.get(q);
    // fauxqs returns one message per group per receive (AWS returns several): receive until all came.
    const got = await receiveRaw(broker.client, url, 3, true);
    const seen = got.map((x) => ({
      id: decodeEnvelope(x.Body as string).headers.id,
      retries: decodeEnvelope(x.Body as string).headers.retries,
      group: x.Attributes?.MessageGroupId,
    }));
    expect(seen).toEqual(
      expect.arrayContaining([
        { id: m.headers.id, retries: 0, group: 'tests.echo' },
        { id: grouped.headers.id, retries: 0, group: 'customer-42' },
        { id: m.headers.id, retries: 1, group: 'tests.echo' },
      ]),
    );
    expect(seen).toHaveLength(3);
    expect(await counts(broker, q)).toMatchObject({ visible: 0 });
    await broker.close();
  });
});

describe('sqs:// delays beyond 15 minutes', () => {
  it('publish caps DelaySeconds at 900 s and rounds up, so a message is never visible early', async () => {
    const broker = sqsBroker(sqsUrl());
    const q = await broker.queues.get(uniqueQueue('eta'));
    const fifo = await broker.queues.get(`${uniqueQueue('eta')}.fifo`);
    const at = (ms: number) => taskMessage(q.name, [], { eta: new Date(Date.now() + ms).toISOString() });
    const ctx = { maxMessageBytes: 262_144 };
    expect((await toOutgoing(q, at(3_600_000), ctx)).delaySeconds).toBe(900);
    expect((await toOutgoing(q, at(9_200), ctx)).delaySeconds).toBe(10);
    expect((await toOutgoing(q, at(-5_000), ctx)).delaySeconds).toBeUndefined();
    expect((await toOutgoing(q, taskMessage(q.name), ctx, 2_000)).delaySeconds).toBe(2);
    expect((await toOutgoing(fifo, at(3_600_000), ctx)).delaySeconds).toBeUndefined();
    // A FIFO message can only be hidden, 12 h at most from its receive: further ahead it would end
    // in the DLQ unrun. A minute is kept for reaching a worker, which hides it for the rest.
    await expect(toOutgoing(fifo, at(12 * 3_600_000), ctx)).rejects.toThrow(
      /its ETA or countdown is 43200 s ahead, but a message on FIFO queue '.*\.fifo' can wait at most 43140 s: SQS hides it \(it cannot delay it\) for at most 12 h from when a worker receives it, and 60 s are kept for getting there/,
    );
    expect((await toOutgoing(fifo, at(12 * 3_600_000 - 61_000), ctx)).delaySeconds).toBeUndefined();
    // A task id SQS would refuse as a deduplication id (over 128 characters) is hashed.
    const long = await toOutgoing(fifo, taskMessage(fifo.name, [], { id: 'i'.repeat(130) }), ctx);
    expect(long.deduplicationId).toMatch(/^[0-9a-f]{64}$/);
    await broker.close();
  });

  describe('a worker given a message before its ETA', () => {
    let app: App;
    let worker: Worker | undefined;
    const ran: string[] = [];
    beforeAll(async () => {
      app = createApp('tasks', { broker: sqsUrl(), backend: dynamoUrl() });
      app.task('tests.echo', (...args: unknown[]) => {
        ran.push(JSON.stringify(args.slice(0, -1)));
        return null;
      });
    });
    afterAll(async () => {
      await worker?.stop();
      await app.close();
    });

    it('re-sends an ETA hours away with DelaySeconds 900 (a hop), and does not run it', async () => {
      const q = uniqueQueue('hop');
      const broker = (await app.broker()) as SqsBroker;
      const m = taskMessage(q, ['hours'], { eta: new Date(Date.now() + 3 * 3_600_000).toISOString() });
      // As if the previous hop's 900 s had passed: the message is visible now, its ETA still hours away.
      await sendRaw(broker, q, encodeEnvelope(m));
      worker = await app.worker({ queues: [q], concurrency: 2, hostname: 'hop@test' });
      const deferred = nextEvent(worker, 'deferred');
      await worker.start();
      expect((await deferred).delayMs).toBeGreaterThan(3 * 3_600_000 - 60_000);
      await eventually('the hop', async () => {
        const c = await counts(broker, q);
        return c.delayed === 1 && c.hidden === 0 && c.visible === 0;
      });
      expect(ran).toEqual([]);
      await worker.stop();
      worker = undefined;
    });

    it('re-sends an ETA minutes away with DelaySeconds (no visibility change: no receive counted), and does not run it', async () => {
      const q = uniqueQueue('soon');
      const broker = (await app.broker()) as SqsBroker;
      await sendRaw(broker, q, encodeEnvelope(taskMessage(q, ['minutes'], { eta: new Date(Date.now() + 120_000).toISOString() })));
      worker = await app.worker({ queues: [q], concurrency: 2, hostname: 'soon@test' });
      const requests = countRequests(broker.client);
      const deferred = nextEvent(worker, 'deferred');
      await worker.start();
      await deferred;
      await eventually('the re-send', async () => {
        const c = await counts(broker, q);
        return c.delayed === 1 && c.hidden === 0 && c.visible === 0;
      });
      expect(requests.byCommand.SendMessageBatchCommand).toBe(1);
      expect(requests.byCommand.ChangeMessageVisibilityBatchCommand).toBeUndefined();
      expect(ran).toEqual([]);
      requests.detach();
      await worker.stop();
      worker = undefined;
    });
  });
});

describe('the classic worker on sqs:// + dynamodb://', () => {
  let producer: App;
  let workerApp: App;
  let worker: Worker | undefined;
  let runs = 0;
  const define = (a: App) => ({
    add: a.task('tasks.add', (x: number, y: number) => x + y),
    total: a.task('tasks.total', (xs: number[]) => xs.reduce((sum, x) => sum + x, 0)),
    fail: a.task('tasks.fail', () => {
      throw new TypeError('boom');
    }),
    again: a.task('tasks.again', (ctx: TaskContext) => (ctx.retries < 1 ? ctx.retry({ countdown: 0.2 }) : ctx.retries)),
    long: a.task('tasks.long', async (ms: number) => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, ms));
      return 'done';
    }),
  });
  /** The producer and the worker's app on the same broker, each with what `defineOn` defines; gives the producer's. */
  const apps = <T>(defineOn: (a: App) => T, query?: string, waitS?: number): T => {
    producer = createApp('tasks', { broker: sqsUrl(query, waitS), backend: dynamoUrl() });
    workerApp = createApp('tasks', { broker: sqsUrl(query, waitS), backend: dynamoUrl() });
    defineOn(workerApp);
    return defineOn(producer);
  };
  const start = async (query = '&create=true', opts = {}) => {
    const tasks = apps(define, query);
    worker = await workerApp.worker({ hostname: 'w@test', concurrency: 4, ...opts });
    await worker.start();
    return tasks;
  };
  /** tasks.step logging its start and end: a0 takes `a0Ms`, the others 20 ms. */
  const loggedStep = (log: string[], a0Ms: number, options: { queue: string; messageGroup?: string }) => (a: App) =>
    a.task(
      'tasks.step',
      async (name: string) => {
        log.push(`start ${name}`);
        await new Promise((resolve) => setTimeout(resolve, name === 'a0' ? a0Ms : 20));
        log.push(`end ${name}`);
      },
      options,
    );
  const finish = async () => {
    await worker?.stop();
    worker = undefined;
    await producer.close();
    await workerApp.close();
  };

  it('delay → get, a failure, and a retry with countdown', async () => {
    const q = uniqueQueue('e2e');
    const { add, fail, again } = await start('&create=true', { queues: [q] });
    try {
      const opts = { queue: q };
      expect(await (await add.applyAsync([4, 4], {}, opts)).get({ timeout: 15_000 })).toBe(8);
      const err = (await (await fail.applyAsync([], {}, opts)).get({ timeout: 15_000 }).catch((e: unknown) => e)) as Error;
      expect(err.name).toBe('TypeError');
      expect(err.message).toBe('boom');
      expect(await (await again.applyAsync([], {}, opts)).get({ timeout: 15_000 })).toBe(1);
    } finally {
      await finish();
    }
  });

  it('chain, group and chord run on sqs:// with dynamodb:// results', async () => {
    const q = uniqueQueue('canvas');
    const { add, total } = await start('&create=true', { queues: [q] });
    try {
      const on = <T>(sig: Signature<T>) => sig.set({ queue: q });
      expect(await (await chain(on(add.s(1, 2)), on(add.s(10))).applyAsync()).get({ timeout: 15_000 })).toBe(13);
      expect(await (await group(on(add.s(1, 1)), on(add.s(2, 2))).applyAsync()).get({ timeout: 15_000 })).toEqual([2, 4]);
      const header = Array.from({ length: 6 }, (_, i) => on(add.s(i, i)));
      expect(await (await chord(header, on(total.s())).applyAsync()).get({ timeout: 15_000 })).toBe(30);
      // Each part is an item of its own: a big chord costs each header task the same few requests.
      const big = Array.from({ length: 150 }, (_, i) => on(add.s(i, 0)));
      expect(await (await chord(big, on(total.s())).applyAsync()).get({ timeout: 30_000 })).toBe(11_175);
    } finally {
      await finish();
    }
  });

  it('celeriac control revoke reaches the worker through the result store (SQS has no broadcast)', async () => {
    const q = uniqueQueue('revoke');
    const { add } = await start('&create=true', { queues: [q] });
    try {
      const id = `revoked-${Date.now()}`;
      const replies = await producer.control.revoke(id);
      expect(JSON.stringify(replies)).toMatch(/flagged as revoked/);
      const revoked = await add.applyAsync([1, 1], {}, { queue: q, taskId: id });
      const err = (await revoked.get({ timeout: 15_000 }).catch((e: unknown) => e)) as Error;
      expect(err.name).toBe('TaskRevokedError');
      expect(await (await add.applyAsync([2, 2], {}, { queue: q })).get({ timeout: 15_000 })).toBe(4);
    } finally {
      await finish();
    }
  });

  it('a task running longer than the visibility timeout stays hidden (heartbeats) and runs once', async () => {
    const q = uniqueQueue('long');
    const { long } = await start('&create=true&visibility_timeout=1', { queues: [q] });
    try {
      const requests = countRequests(((await workerApp.broker()) as SqsBroker).client);
      runs = 0;
      const r = await long.applyAsync([3500], {}, { queue: q });
      expect(await r.get({ timeout: 20_000 })).toBe('done');
      expect(runs).toBe(1);
      // A lease of 1 s, extended every third of it while the task ran 3.5 s.
      expect(requests.byCommand.ChangeMessageVisibilityBatchCommand ?? 0).toBeGreaterThanOrEqual(5);
      requests.detach();
    } finally {
      await finish();
    }
  });

  it('--prefetch-multiplier 0 (no limit) keeps a few long polls in flight: lease extensions and deletes still go out', async () => {
    const q = uniqueQueue('unlimited');
    const { long } = await start('&create=true&visibility_timeout=1', { queues: [q], prefetchMultiplier: 0 });
    try {
      runs = 0;
      const r = await long.applyAsync([3500], {}, { queue: q });
      expect(await r.get({ timeout: 20_000 })).toBe('done');
      await eventually('the message deleted', async () => (await counts((await producer.broker()) as SqsBroker, q)).hidden === 0, 10_000);
      expect(runs).toBe(1);
    } finally {
      await finish();
    }
  });

  it('FIFO: the message group is the task option or the call option; one group keeps its order while another runs beside it', async () => {
    const q = `${uniqueQueue('groups')}.fifo`;
    const ran: string[] = [];
    const b1Ran = gate();
    const stepOf = (a: App) =>
      a.task(
        'tasks.step',
        async (group: string, n: number) => {
          // a0 holds its group until b1 ran: b's messages must not wait behind a's.
          if (`${group}${n}` === 'a0') await b1Ran.wait;
          ran.push(`${group}${n}`);
          if (`${group}${n}` === 'b1') b1Ran.open();
        },
        { queue: q, messageGroup: 'line-a' },
      );
    const step = apps(stepOf);
    try {
      expect(() => producer.task('tasks.nogroup', () => 1, { messageGroup: '' })).toThrow(/messageGroup: expected a FIFO message group/);
      // SQS's rule, checked when the task is defined rather than at each send.
      expect(() => producer.task('tasks.spaced', () => 1, { messageGroup: 'line a' })).toThrow(
        /1-128 printable ASCII characters, no spaces/,
      );
      await expect(step.applyAsync(['a', 0], {}, { messageGroup: 7 as unknown as string })).rejects.toThrow(
        /messageGroup: expected a FIFO message group/,
      );
      const sent = [];
      for (const n of [0, 1, 2]) sent.push(await step.applyAsync(['a', n]));
      for (const n of [0, 1]) sent.push(await step.applyAsync(['b', n], {}, { messageGroup: 'line-b' }));
      worker = await workerApp.worker({ hostname: 'fifo@test', concurrency: 4, queues: [q] });
      await worker.start();
      for (const r of sent) await r.get({ timeout: 20_000 });
      expect(ran.filter((x) => x.startsWith('a'))).toEqual(['a0', 'a1', 'a2']);
      expect(ran.filter((x) => x.startsWith('b'))).toEqual(['b0', 'b1']);
      expect(ran.indexOf('b1')).toBeLessThan(ran.indexOf('a0'));
    } finally {
      await finish();
    }
  });

  it('FIFO: messages of one group received together run one at a time, in order, beside another group', async () => {
    const q = `${uniqueQueue('batch')}.fifo`;
    const log: string[] = [];
    const step = apps(loggedStep(log, 300, { queue: q, messageGroup: 'line-a' }));
    try {
      const sent = [];
      for (const name of ['a0', 'a1', 'a2']) sent.push(await step.applyAsync([name]));
      sent.push(await step.applyAsync(['b0'], {}, { messageGroup: 'line-b' }));
      const broker = (await workerApp.broker()) as SqsBroker;
      const settles = receiveGroupsTogether(broker.client, (await broker.queues.get(q)).url);
      worker = await workerApp.worker({ hostname: 'fifo-batch@test', concurrency: 4, queues: [q] });
      await worker.start();
      for (const r of sent) await r.get({ timeout: 20_000 });
      expect(log.filter((l) => l.endsWith('a0') || l.endsWith('a1') || l.endsWith('a2'))).toEqual([
        'start a0',
        'end a0',
        'start a1',
        'end a1',
        'start a2',
        'end a2',
      ]);
      // The other group did not wait for line-a.
      expect(log.indexOf('start b0')).toBeLessThan(log.indexOf('end a0'));
      await eventually('four deletes', () => settles.length === 4);
      expect(settles.map(([, settle]) => settle)).toEqual(['deleted', 'deleted', 'deleted', 'deleted']);
    } finally {
      await finish();
    }
  });

  it('FIFO: a message hidden until its ETA hands back the rest of its group received with it, unrun', async () => {
    const q = `${uniqueQueue('held')}.fifo`;
    const ran: string[] = [];
    const stepOf = (a: App) => a.task('tasks.step', (name: string) => ran.push(name), { queue: q, messageGroup: 'line-a' });
    const step = apps(stepOf);
    try {
      const later = await step.applyAsync(['a0'], {}, { countdown: 60 });
      const rest = [await step.applyAsync(['a1']), await step.applyAsync(['a2'])];
      const broker = (await workerApp.broker()) as SqsBroker;
      const settles = receiveGroupsTogether(broker.client, (await broker.queues.get(q)).url);
      worker = await workerApp.worker({ hostname: 'fifo-held@test', concurrency: 4, queues: [q] });
      await worker.start();
      await eventually('three visibility changes', () => settles.length === 3);
      // Still in flight, a0 keeps the group locked: SQS gives a1 and a2 again only after it.
      expect(new Map(settles)).toEqual(
        new Map<string, 'deleted' | number>([
          [later.id, 60],
          [rest[0]?.id as string, 0],
          [rest[1]?.id as string, 0],
        ]),
      );
      expect(ran).toEqual([]);
    } finally {
      await finish();
    }
  });

  it('FIFO: messages held behind a long first one of their group have their lease kept too: each runs once, in order', async () => {
    const q = `${uniqueQueue('kept')}.fifo`;
    const log: string[] = [];
    // A lease of 1 s: a1 and a2, held while a0 runs 3.5 s, would be visible again after 1 s.
    const step = apps(loggedStep(log, 3500, { queue: q }), '&create=true&visibility_timeout=1');
    try {
      const sent = [];
      for (const [i, name] of ['a0', 'a1', 'a2'].entries()) sent.push(await step.applyAsync([name], {}, { messageGroup: `g${i}` }));
      const broker = (await workerApp.broker()) as SqsBroker;
      asOneGroup(broker.client, (await broker.queues.get(q)).url, 'line-a');
      worker = await workerApp.worker({ hostname: 'fifo-kept@test', concurrency: 4, queues: [q] });
      await worker.start();
      for (const r of sent) await r.get({ timeout: 20_000 });
      const empty = async () => {
        const c = await counts(broker, q);
        return c.visible + c.hidden === 0;
      };
      await eventually('the queue empty', empty, 10_000);
      // Past a lease more: a message whose receipt ran out would have come again by now.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await empty()).toBe(true);
      expect(log).toEqual(['start a0', 'end a0', 'start a1', 'end a1', 'start a2', 'end a2']);
    } finally {
      await finish();
    }
  });

  it('a queue deleted under a running worker: the fetch error is logged once, not per retry', async () => {
    const lines: string[] = [];
    const q = uniqueQueue('gone');
    await start('&create=true', { queues: [q], logger: createLogger({ level: 'warning', write: (l) => lines.push(l) }) });
    try {
      const broker = (await producer.broker()) as SqsBroker;
      const queue = await broker.queues.get(q);
      const receives = countRequests(((await workerApp.broker()) as SqsBroker).client);
      await broker.client.send(new DeleteQueueCommand({ QueueUrl: queue.url }));
      const failed = /ERROR\/MainProcess\] consumer: cannot fetch messages from sqs:\/\/.*\(retrying\)/;
      await eventually('a logged fetch failure', () => failed.test(lines.join('')), 10_000);
      // The consumer keeps retrying, but the same reason is not logged again.
      const after = receives.byCommand.ReceiveMessageCommand ?? 0;
      await eventually('three more failed fetches', () => (receives.byCommand.ReceiveMessageCommand ?? 0) >= after + 3, 10_000);
      expect(lines.filter((l) => failed.test(l))).toHaveLength(1);
      receives.detach();
    } finally {
      await finish();
    }
  });

  it('the result store unreachable before a task: the message comes back soon and the worker keeps taking work', async () => {
    const q = uniqueQueue('outage');
    // The worker reads revokes from a table not there yet (an outage), with one prefetch slot.
    const table = `dynamodb://later-${prefix}${q}?endpoint=${dynalite.endpoint}`;
    producer = createApp('tasks', { broker: sqsUrl('&create=true&visibility_timeout=600'), backend: `${table}&create=true` });
    workerApp = createApp('tasks', { broker: sqsUrl('&create=true&visibility_timeout=600'), backend: table });
    const { add } = define(producer);
    define(workerApp);
    try {
      worker = await workerApp.worker({ hostname: 'outage@test', concurrency: 1, prefetchMultiplier: 1, queues: [q] });
      await worker.start();
      const failed = nextEvent(worker, 'internal-error');
      const first = await add.applyAsync([1, 1], {}, { queue: q });
      expect(String((await failed).error)).toMatch(/table|resource/i);
      await producer.backend(); // creates the table: the store is back
      const second = await add.applyAsync([2, 2], {}, { queue: q });
      expect(await first.get({ timeout: 15_000 })).toBe(2);
      expect(await second.get({ timeout: 15_000 })).toBe(4);
    } finally {
      await finish();
    }
  });

  /** The producer and an idle worker (-c 8: a prefetch of 32) on queue `q` with long polls of `waitS`. */
  const idleWorker = async (q: string, waitS: number, query = '&create=true') => {
    const tasks = apps(define, query, waitS);
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });
    worker = await workerApp.worker({ hostname: 'idle@test', concurrency: 8, queues: [q], logger });
    const requests = countRequests(((await workerApp.broker()) as SqsBroker).client);
    await worker.start();
    return { tasks, requests, lines, receives: () => requests.byCommand.ReceiveMessageCommand ?? 0 };
  };

  it('an idle worker keeps one receive per queue in flight: one per long poll, about one a second when short polling', async () => {
    for (const [waitS, most] of [
      // Polls of 2 s, each followed within a second by the next: at most 4 begin in 6 s.
      [2, 4],
      // wait_time_seconds=0: one receive per idle wait of the loop (1 s, once it has grown).
      [0, 8],
    ] as const) {
      const { requests, receives } = await idleWorker(uniqueQueue('idle'), waitS);
      try {
        // Past the start-up (the loop's idle wait grows from 10 ms to 1 s): the steady state.
        await eventually('the idle wait grown', () => receives() >= (waitS === 0 ? 10 : 1), 10_000);
        requests.reset();
        const windowEnds = Date.now() + 6000;
        await eventually('a 6 s window', () => Date.now() >= windowEnds, 10_000);
        expect(receives()).toBeLessThanOrEqual(most);
        expect(receives()).toBeGreaterThanOrEqual(2);
        requests.detach();
      } finally {
        await finish();
      }
    }
  });

  it('an idle worker stopping lets its long poll finish: a message sent meanwhile is handed back at once, not hidden for the visibility timeout', async () => {
    const q = uniqueQueue('stopping');
    const { tasks, lines, receives } = await idleWorker(q, 5, '&create=true&visibility_timeout=60');
    const stopping = worker as Worker;
    try {
      await eventually('a long poll in flight', () => receives() >= 1, 10_000);
      const started = Date.now();
      const stopped = stopping.stop();
      await eventually('the warm shutdown begun', () => lines.join('').includes('warm shutdown'), 5000);
      // Sent 2.5 s into the stop, well within its poll's 5 s.
      await eventually('2.5 s into the stop', () => Date.now() - started >= 2500, 5000);
      const sent = await tasks.add.applyAsync([2, 3], {}, { queue: q });
      await stopped;
      // Within its poll's 5 s: the poll came back with the message, handed back at once.
      expect(Date.now() - started).toBeLessThan(5000 + 2000);
      worker = undefined;
      await workerApp.close();
      // Another worker runs it now, not 60 s later.
      workerApp = createApp('tasks', { broker: sqsUrl('&create=true&visibility_timeout=60', 5), backend: dynamoUrl() });
      define(workerApp);
      worker = await workerApp.worker({ hostname: 'next@test', queues: [q] });
      await worker.start();
      expect(await sent.get({ timeout: 10_000 })).toBe(5);
    } finally {
      await finish();
    }
  });

  it('control rate_limit for a task the app does not define answers "unknown task", as a worker does, and stores nothing', async () => {
    const { add } = apps(define);
    try {
      expect(await producer.control.rateLimit('tasks.nope', '1/s')).toEqual([{ 'celeriac@store': { error: 'unknown task' } }]);
      const kv = ((await producer.backend()) as KeyValueResultBackend).kv;
      expect(await kv.get(rateKey('tasks.nope'))).toBeUndefined();
      expect(await producer.control.rateLimit(add.name, '100/s')).toEqual([
        { 'celeriac@store': { ok: 'new rate limit set successfully' } },
      ]);
      expect(await producer.control.rateLimit(add.name, null)).toEqual([{ 'celeriac@store': { ok: 'rate limit disabled successfully' } }]);
      // An app that defines no task (a producer, the CLI without -A) cannot tell: it stores the limit.
      const bare = createApp('bare', { broker: sqsUrl(), backend: dynamoUrl() });
      expect(await bare.control.rateLimit('tasks.elsewhere', '1/s')).toEqual([
        { 'celeriac@store': { ok: 'new rate limit set successfully' } },
      ]);
      await bare.close();
    } finally {
      await finish();
    }
  });

  it('requests per task: 1,000 tasks enqueued at once, then drained', async () => {
    const q = uniqueQueue('bulk');
    const { add } = apps(define);
    try {
      const producerBroker = (await producer.broker()) as SqsBroker;
      await producerBroker.queues.get(q); // lookups and creation are not per-task costs
      const sent = countRequests(producerBroker.client);
      const n = 1000;
      const results = await Promise.all(Array.from({ length: n }, (_, i) => add.applyAsync([i, i], {}, { queue: q })));
      const enqueue = { ...sent.byCommand };
      worker = await workerApp.worker({ hostname: 'bulk@test', concurrency: 8, queues: [q] });
      const workerBroker = (await workerApp.broker()) as SqsBroker;
      const drained = countRequests(workerBroker.client);
      const resultStore = ((await workerApp.backend()) as KeyValueResultBackend).kv as DynamoDbStore;
      const writes = countRequests(resultStore.client);
      let done = 0;
      worker.on('succeeded', () => done++);
      await worker.start();
      await eventually('all tasks to succeed', () => done === n, 60_000);
      await worker.stop(); // drains the last batched deletes
      worker = undefined;
      const drain = { ...drained.byCommand };
      const perTask = (sent.total + drained.total) / n;
      console.log(
        `SQS requests for ${n} tasks: enqueue ${JSON.stringify(enqueue)}, drain ${JSON.stringify(drain)}; ${perTask.toFixed(3)} per task. ` +
          `DynamoDB requests by the worker: ${JSON.stringify(writes.byCommand)}`,
      );
      // track_started is off: one result write per task.
      expect(writes.byCommand.PutItemCommand).toBe(n);
      expect(enqueue.SendMessageBatchCommand).toBe(n / 10);
      expect(await results[n - 1]?.get({ timeout: 5000 })).toBe(2 * (n - 1));
      expect(await workerBroker.size(q)).toBe(0);
      expect(perTask).toBeLessThan(0.4);
    } finally {
      await finish();
    }
  });
});
