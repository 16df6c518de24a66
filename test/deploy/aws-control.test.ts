/**
 * `celeriac control revoke` and `rate_limit` on SQS, which has no broadcast: the control client
 * writes them to the result store (DynamoDB) and the built Lambda handler reads them before it
 * runs a task (core/overrides.ts), so they reach every function instance.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../core/index.js';
import type { AsyncResult } from '../../core/async-result.js';
import { until } from '../core/helpers.js';
import { containerFunctions } from '../support/lambda-function.js';
import { LambdaPoller } from '../support/lambda-poller.js';
import { type AwsWorld, mappingFor, startAwsWorld, producerFor } from './aws-harness.js';

let world: AwsWorld;
let producer: App;

beforeAll(async () => {
  world = await startAwsWorld();
  producer = producerFor(world);
});

afterAll(async () => {
  await producer?.close();
  await world?.close();
});

/**
 * Run the queue 't-celery' through a new function (fresh instances: nothing cached from another
 * test), one invocation at a time, until every result is ready.
 */
async function drain(results: AsyncResult<unknown>[]): Promise<void> {
  const fn = containerFunctions(world.build.handler, 2000, world.env);
  const m = mappingFor(world, 't-celery');
  const poller = new LambdaPoller(world.sqs, fn, {
    queueUrl: m.queue.url,
    queueArn: m.queue.arn,
    batchSize: 10,
    batchingWindowS: 1,
    maxConcurrency: 1,
  }).start();
  try {
    await until(async () => (await Promise.all(results.map((r) => r.ready()))).every(Boolean), 20_000, 'the results');
  } finally {
    await poller.stop();
    await fn.stop();
  }
}

describe('remote control through the result store (sqs:// + dynamodb://)', () => {
  it('revokes a task before the handler sees it: it ends REVOKED, unrun, and the others run', async () => {
    const revoked = await producer.sendTask('awstasks.add', [1, 1]);
    const kept = await producer.sendTask('awstasks.add', [2, 2]);
    expect(await producer.control.revoke(revoked.id)).toEqual([{ 'celeriac@store': { ok: `tasks ${revoked.id} flagged as revoked` } }]);

    await drain([revoked, kept]);
    expect(await kept.get({ timeout: 1000 })).toBe(4);
    const error = await revoked.get({ timeout: 1000, propagate: false });
    expect(revoked.state).toBe('REVOKED');
    expect(String(error)).toMatch(/revoked/i);
  });

  it("sets a task's rate limit that the handler's limiter then applies", async () => {
    expect(await producer.control.rateLimit('awstasks.add', '5/s')).toEqual([
      { 'celeriac@store': { ok: 'new rate limit set successfully' } },
    ]);
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => producer.sendTask<(x: number, y: number) => number>('awstasks.add', [i, i])),
    );

    await drain(results);
    // Unlimited, the five finish within milliseconds of each other; at 5/s they start 200 ms apart.
    const done = await Promise.all(
      results.map(async (r) => Date.parse((await producer.backend().then((b) => b.get(r.id)))?.date_done ?? '')),
    );
    expect(Math.max(...done) - Math.min(...done)).toBeGreaterThanOrEqual(750);
    expect(await Promise.all(results.map((r) => r.get({ timeout: 1000 })))).toEqual([0, 2, 4, 6, 8]);

    expect(await producer.control.rateLimit('awstasks.add', null)).toEqual([
      { 'celeriac@store': { ok: 'rate limit disabled successfully' } },
    ]);
  });

  it('refuses a bad rate before storing it', async () => {
    await expect(producer.control.rateLimit('awstasks.add', 'fast')).rejects.toThrow(/Invalid rate limit 'fast'/);
  });
});
