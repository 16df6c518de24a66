/**
 * The built handler when its process dies mid-batch, and a web backend (a plain node:http
 * server) that enqueues tasks and reads their results while the handler runs them.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../core/index.js';
import { until } from '../core/helpers.js';
import { containerFunctions } from '../support/lambda-function.js';
import { LambdaPoller } from '../support/lambda-poller.js';
import { type AwsWorld, mappingFor, startAwsWorld, producerFor } from './aws-harness.js';

let world: AwsWorld;
let fn: ReturnType<typeof containerFunctions>;
let producer: App;

beforeAll(async () => {
  world = await startAwsWorld();
  fn = containerFunctions(world.build.handler, 2000, world.env);
  producer = producerFor(world);
});

afterAll(async () => {
  await producer?.close();
  await fn?.stop();
  await world?.close();
});

function poller(): LambdaPoller {
  const m = mappingFor(world, 't-celery');
  return new LambdaPoller(world.sqs, fn, {
    queueUrl: m.queue.url,
    queueArn: m.queue.arn,
    batchSize: m.batchSize,
    batchingWindowS: m.batchingWindowS,
    maxConcurrency: 1,
  }).start();
}

describe('the built handler, crashing and serving a web backend', () => {
  it('loses nothing when the function process dies mid-batch: the batch comes back after the visibility timeout', {
    timeout: 180_000,
  }, async () => {
    const before = await producer.sendTask('awstasks.add', [1, 1]);
    const crash = await producer.sendTask('awstasks.crash', [world.project.markers]);
    const after = await producer.sendTask('awstasks.add', [2, 2]);
    const p = poller();
    try {
      expect(await crash.get({ timeout: 45_000 })).toBe('survived');
      expect(await before.get({ timeout: 5000 })).toBe(2);
      expect(await after.get({ timeout: 5000 })).toBe(4);
    } finally {
      await p.stop();
    }
    expect(fn.crashes).toBe(1);
    const failed = p.invocations.filter((i) => !i.invocation.ok);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.failed.length).toBe(failed[0]?.messageIds.length);
  });

  it('serves a web backend: a node:http server enqueues tasks and reads their results', async () => {
    const server: Server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      try {
        if (req.method === 'POST' && url.pathname === '/add') {
          const r = await producer.sendTask('awstasks.add', [Number(url.searchParams.get('x')), Number(url.searchParams.get('y'))]);
          res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ id: r.id }));
        } else if (url.pathname.startsWith('/result/')) {
          const r = producer.AsyncResult(url.pathname.slice('/result/'.length));
          const ready = await r.ready();
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ready, result: ready ? await r.get() : null }));
        } else {
          res.writeHead(404).end();
        }
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const p = poller();
    try {
      const { id } = (await (await fetch(`${base}/add?x=40&y=2`, { method: 'POST' })).json()) as { id: string };
      let body: { ready: boolean; result: unknown } = { ready: false, result: null };
      await until(
        async () => {
          body = (await (await fetch(`${base}/result/${id}`)).json()) as typeof body;
          return body.ready;
        },
        20_000,
        'the result over HTTP',
      );
      expect(body.result).toBe(42);
    } finally {
      await p.stop();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
