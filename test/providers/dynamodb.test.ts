/** dynamodb:// against dynalite: the shared store and backend suites, then what is special to DynamoDB. */
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../core/app.js';
import { ConfigError, OperationalError, type RemoteTaskError, ResultTooLarge } from '../../core/errors.js';
import { KeyValueResultBackend, resultKey } from '../../core/kv-result-backend.js';
import { openStore } from '../../core/registry.js';
import { dynamoDbStore, parseDynamoDbUrl } from '../../providers/dynamodb/index.js';
import { countRequests } from '../../providers/sqs/request-counter.js';
import type { MemoryBroker } from '../../providers/memory/broker.js';
import { backendConformance, eventually, meta, storeConformance } from '../conformance/index.js';
import { nextEvent } from '../core/helpers.js';
import { type Emulator, startDynalite, startStallingEndpoint, useEmulatorEnvironment } from '../support/aws-emulators.js';

useEmulatorEnvironment();
let dynalite: Emulator;
beforeAll(async () => {
  dynalite = await startDynalite();
});
afterAll(() => dynalite?.stop());

const table = `results-${randomUUID().slice(0, 8)}`;
const url = (name = table, create = true) => `dynamodb://${name}?endpoint=${dynalite.endpoint}${create ? '&create=true' : ''}`;

// DynamoDB has no change notifications: waiting polls with consistent reads (providers/dynamodb/store.ts).
storeConformance('dynamodb', () => dynamoDbStore(url()), { watch: false, unindexedChordParts: false });
backendConformance('dynamodb', ({ resultExpires }) => new KeyValueResultBackend(dynamoDbStore(url()), { resultExpires }));

describe('dynamodb:// specifics', () => {
  it('is found by its URL scheme', async () => {
    const store = await openStore(url(), { transportOptions: {} });
    await store.put('k', 'v', { ready: false, keepReady: false });
    expect(await store.get('k')).toBe('v');
    await store.close();
  });

  it('a missing table is a clear error naming it and create=true, and is never created without it', async () => {
    const name = `missing-${randomUUID().slice(0, 8)}`;
    const store = dynamoDbStore(url(name, false));
    const err = await store.get('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(new RegExp(`table '${name}'.*does not exist.*create=true`));
    await expect(store.put('x', 'y', { ready: true, keepReady: false })).rejects.toBeInstanceOf(ConfigError);
    await store.close();
  });

  it("a table keyed on 'id' (as Celery's DynamoDB backend makes it) is a ConfigError naming it and the key celeriac needs", async () => {
    const name = `celery-${randomUUID().slice(0, 8)}`;
    const existing = dynamoDbStore(url(name, false));
    await existing.client.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // dynalite answers ResourceNotFound while a new table is CREATING: wait until it is there.
    await eventually('the table to be ACTIVE', async () => {
      const { Table } = await existing.client.send(new DescribeTableCommand({ TableName: name }));
      return Table?.TableStatus === 'ACTIVE';
    });
    const needs = new RegExp(`table '${name}'.* is keyed on 'id' \\(HASH\\): celeriac's results table needs the partition key 'pk'`);
    const created = dynamoDbStore(url(name)); // create=true checks the key of the table it finds
    for (const store of [existing, created]) {
      for (const call of [store.get('k'), store.put('k', 'v', { ready: true, keepReady: false }), store.incr('n', 1)]) {
        const err = await call.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as Error).message).toMatch(
          store === created ? needs : new RegExp(`table '${name}'.* has another key: .*'pk' of type S`),
        );
      }
      await store.close();
    }
  });

  it('creates the table with create=true and notes that dynalite cannot turn on TTL', async () => {
    const store = dynamoDbStore(url(`created-${randomUUID().slice(0, 8)}`));
    await store.put('k', 'v', { ready: true, keepReady: false });
    expect(store.timeToLive).toBe('unsupported');
    expect(await store.get('k')).toBe('v');
    await store.close();
  });

  it('stores one item per key: the value, the ready flag and expires_at in epoch seconds', async () => {
    const store = dynamoDbStore(url());
    const key = resultKey(randomUUID());
    const before = Math.floor(Date.now() / 1000);
    await store.put(key, '{"status":"SUCCESS"}', { ttlMs: 86_400_000, ready: true, keepReady: false });
    const { Item } = await store.client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: key } }, ConsistentRead: true }));
    expect(Item?.value?.S).toBe('{"status":"SUCCESS"}');
    expect(Item?.ready?.BOOL).toBe(true);
    const expiresAt = Number(Item?.expires_at?.N);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 86_400);
    expect(expiresAt).toBeLessThanOrEqual(before + 86_402);
    await store.close();
  });

  it("a result over DynamoDB's item limit fails its task with the reason, once, instead of running it again and again", async () => {
    const app = createApp('tasks', { broker: `memory://${randomUUID()}`, backend: url() });
    let runs = 0;
    const big = app.task('tasks.big', (bytes: number) => {
      runs++;
      return 'x'.repeat(bytes);
    });
    const worker = await app.worker({ concurrency: 1 });
    await worker.start();
    try {
      const err = (await (await big.delay(500_000)).get({ timeout: 10_000 }).catch((e: unknown) => e)) as RemoteTaskError;
      expect(err.name).toBe('ResultTooLarge');
      expect(err.message).toMatch(/over its limit of 409600 bytes: keep large data elsewhere/);
      expect(await (await big.delay(1000)).get({ timeout: 10_000 })).toHaveLength(1000);
      expect(runs).toBe(2);
      await expect(dynamoDbStore(url()).put('k', 'y'.repeat(410_000), { ready: false, keepReady: false })).rejects.toThrow(ResultTooLarge);
    } finally {
      await worker.stop();
      await app.close();
    }
  });

  it('an item past expires_at reads as gone while DynamoDB still holds it', async () => {
    const store = dynamoDbStore(url());
    const key = `short-${randomUUID()}`;
    await store.put(key, 'v', { ttlMs: 100, ready: true, keepReady: false });
    await eventually('expiry', async () => (await store.get(key)) === undefined, 3000);
    const { Item } = await store.client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: key } }, ConsistentRead: true }));
    expect(Item?.value?.S).toBe('v');
    await store.close();
  });

  it('late STARTED writes racing a SUCCESS never hide it', async () => {
    const backend = new KeyValueResultBackend(dynamoDbStore(url()));
    const id = randomUUID();
    await backend.store(id, meta(id, 'STARTED'));
    await Promise.all([
      ...Array.from({ length: 10 }, () => backend.store(id, meta(id, 'STARTED'))),
      backend.store(id, meta(id, 'SUCCESS', 8)),
      ...Array.from({ length: 10 }, () => backend.store(id, meta(id, 'RETRY'))),
    ]);
    expect(await backend.get(id)).toMatchObject({ status: 'SUCCESS', result: 8 });
    await backend.close();
  });

  it('an endpoint that accepts connections but never answers fails with OperationalError after the request timeout, not never', async () => {
    const stalled = await startStallingEndpoint();
    process.env.AWS_MAX_ATTEMPTS = '1'; // the SDK's retries multiply the wait; one attempt shows the timeout
    const store = dynamoDbStore(`dynamodb://results?endpoint=${stalled.endpoint}`);
    try {
      const t0 = Date.now();
      const hung = new Promise((resolve) => setTimeout(resolve, 15_000, 'still waiting after 15 s'));
      const err = await Promise.race([store.get('k').catch((e: unknown) => e), hung]);
      expect(err).toBeInstanceOf(OperationalError);
      expect((err as Error).message).toMatch(/Cannot reach DynamoDB for 'dynamodb:\/\/results\?endpoint=.*5000 ms/);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(4900);
    } finally {
      delete process.env.AWS_MAX_ATTEMPTS;
      await store.close();
      await stalled.stop();
    }
  });

  it('get() timing out on a result store that never answers blames the store, not the worker', async () => {
    const stalled = await startStallingEndpoint();
    const app = createApp('tasks', { broker: `memory://${randomUUID()}`, backend: `dynamodb://results?endpoint=${stalled.endpoint}` });
    try {
      const result = await app.sendTask('tasks.add', [1, 2]);
      const err = (await result.get({ timeout: 500 }).catch((e: unknown) => e)) as Error;
      expect(err.name).toBe('TimeoutError');
      expect(err.message).toMatch(
        /did not finish within 500 ms: the result store dynamodb:\/\/results\?endpoint=\S+ did not answer within 500 ms/,
      );
      expect(err.message).not.toMatch(/PENDING|no worker/);
    } finally {
      await app.close();
      await stalled.stop();
    }
  });

  it("a task id over DynamoDB's key limit is refused when sent, and a worker given one dead-letters it with the reason", async () => {
    const broker = `memory://${randomUUID()}`;
    const app = createApp('tasks', { broker, backend: url() });
    let runs = 0;
    app.task('tasks.add', (x: number, y: number) => {
      runs++;
      return x + y;
    });
    const longId = 'i'.repeat(2100);
    const limit =
      /task id 'i+\.\.\.' is 2100 bytes: the result store dynamodb:\/\/\S+ keys a result as celery-task-meta-<id> in at most 2048 bytes, so a task id may be at most 2031 bytes/;
    const refused = await app.sendTask('tasks.add', [1, 2], {}, { taskId: longId }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toMatch(limit);
    // A producer whose result store has no such limit sends one anyway.
    const other = createApp('tasks', { broker, backend: `memory://${randomUUID()}` });
    const worker = await app.worker({ concurrency: 1 });
    const rejected = nextEvent(worker, 'rejected');
    await worker.start();
    try {
      await other.sendTask('tasks.add', [1, 2], {}, { taskId: longId });
      expect((await rejected).reason).toMatch(limit);
      const queues = (await app.broker()) as MemoryBroker;
      expect((await queues.deadLetters()).map((d) => d.reason)).toEqual([expect.stringMatching(limit)]);
      expect(runs).toBe(0);
      expect(await app.sendTask('tasks.add', [1, 2], {}, { taskId: 'i'.repeat(2031) }).then((r) => r.get({ timeout: 10_000 }))).toBe(3);
      // The store itself names the limit rather than passing on DynamoDB's bare ValidationException.
      const store = dynamoDbStore(url());
      await expect(store.get(`celery-task-meta-${longId}`)).rejects.toThrow(/is 2117 bytes, over DynamoDB's limit of 2048 bytes/);
      await store.close();
    } finally {
      await worker.stop();
      await other.close();
      await app.close();
    }
  });

  it("get()'s interval is the wait between reads, as Celery's: a 1 s wait reading every 400 ms reads 4 or 5 times, not 16", async () => {
    const app = createApp('tasks', { broker: `memory://${randomUUID()}`, backend: url() });
    const { kv } = (await app.backend()) as KeyValueResultBackend;
    let reads = 0;
    (kv as ReturnType<typeof dynamoDbStore>).client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetItemCommand') reads++;
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      const result = await app.sendTask('tasks.add', [1, 2]);
      await expect(result.get({ timeout: 1000, interval: 400 })).rejects.toThrow(/did not finish within 1000 ms/);
      // At 0, 400, 800 (and 1000) ms, then once more for the timeout's message.
      expect(reads).toBeGreaterThanOrEqual(4);
      expect(reads).toBeLessThanOrEqual(5);
    } finally {
      await app.close();
    }
  });

  it('a chord costs each header task the same few requests however big it is; a part written before its worker died is counted when the task runs again', async () => {
    const store = dynamoDbStore(url());
    const requests = countRequests(store.client);
    const group = `celery-taskset-meta-${randomUUID()}`;
    const keys = { parts: `${group}.j`, size: `${group}.s`, extra: `${group}.t` };
    const n = 250;
    await store.put(keys.size, String(n), { ready: false, keepReady: false });
    const member = (i: number) => JSON.stringify([1, `t${i}`, 'SUCCESS', i]);
    // Part 0 as a worker killed between its two writes left it: the part item, uncounted.
    await store.client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: `${keys.parts}#0` }, part: { S: member(0) } } }));
    for (let i = 1; i < n; i++) {
      requests.reset();
      expect(await store.addChordPart(keys, { taskId: `t${i}`, member: member(i), score: i }, 60_000)).toBeUndefined();
      expect(requests.total).toBe(4);
    }
    requests.reset();
    // Task 0 runs again: its first part stays, and now counts.
    const parts = await store.addChordPart(keys, { taskId: 't0', member: JSON.stringify([1, 't0', 'SUCCESS', 'again']), score: 0 }, 60_000);
    expect(parts).toEqual(Array.from({ length: n }, (_, i) => member(i)));
    expect(requests.byCommand.BatchGetItemCommand).toBe(3);
    await expect(store.addChordPart(keys, { taskId: 'x', member: 'x', score: null })).rejects.toThrow(
      /^task x is a header task of chord \S+ without a group index: dynamodb:\/\/ keeps a chord's parts by their place in the header/,
    );
    await store.close();
  });

  it('a chord whose header outlasts result_expires still completes with its first parts; DynamoDB leaving keys unprocessed is asked again, then fails for the moment', async () => {
    const store = dynamoDbStore(url());
    const group = `celery-taskset-meta-${randomUUID()}`;
    const keys = { parts: `${group}.j`, size: `${group}.s`, extra: `${group}.t` };
    await store.put(keys.size, '3', { ready: false, keepReady: false, ttlMs: 60_000 });
    await store.addChordPart(keys, { taskId: 'a', member: 'first', score: 0 }, 60_000);
    await store.addChordPart(keys, { taskId: 'b', member: 'second', score: 1 }, 60_000);
    // The first part written longer ago than result_expires (DynamoDB has not deleted it yet).
    await store.client.send(
      new UpdateItemCommand({
        TableName: table,
        Key: { pk: { S: `${keys.parts}#0` } },
        UpdateExpression: 'SET expires_at = :past',
        ExpressionAttributeValues: { ':past': { N: String(Math.floor(Date.now() / 1000) - 10) } },
      }),
    );
    expect(await store.addChordPart(keys, { taskId: 'c', member: 'third', score: 2 }, 60_000)).toEqual(['first', 'second', 'third']);

    // Throttled: every BatchGetItem answers with all its keys unprocessed.
    let reads = 0;
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'BatchGetItemCommand') return next(args);
        reads++;
        const input = (args.input as { RequestItems: Record<string, unknown> }).RequestItems;
        return { output: { Responses: {}, UnprocessedKeys: input, $metadata: {} }, response: {} } as never;
      },
      { step: 'initialize' },
    );
    const throttled = { parts: `${group}-2.j`, size: `${group}-2.s`, extra: `${group}-2.t` };
    await store.put(throttled.size, '1', { ready: false, keepReady: false });
    const err = await store.addChordPart(throttled, { taskId: 'c', member: 'only', score: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationalError);
    expect((err as Error).message).toMatch(/^DynamoDB kept leaving the parts of chord \S+ unread \(throttled 8 times\)/);
    expect(reads).toBe(8);
    await store.close();
  });

  it('refuses URLs without a table or with unknown options', () => {
    expect(() => parseDynamoDbUrl('dynamodb://?region=us-east-1')).toThrow(/must name the results table/);
    expect(() => parseDynamoDbUrl('dynamodb://t1?regoin=x')).toThrow(/Unknown option 'regoin'/);
    expect(() => parseDynamoDbUrl('dynamodb://tbl?create=yes')).toThrow(/create .* must be true or false/);
    expect(parseDynamoDbUrl('dynamodb://tbl?region=eu-west-1')).toEqual({
      table: 'tbl',
      region: 'eu-west-1',
      endpoint: undefined,
      create: false,
    });
  });
});
