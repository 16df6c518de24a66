/**
 * A result bigger than Redis's client-output-buffer-limit for pub/sub clients (32 MB by default;
 * 1 MB on this test's own server): Redis drops the results' subscribed connection when the value
 * is published to it or read on it. The waiter still gets its result, and the connection comes
 * back for every later get() instead of being dropped again and again.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../core/index.js';
import { eventually } from '../conformance/index.js';
import { freePort, startRedisServer } from '../support/redis-server.js';

const BIG = 3 * 1024 * 1024;

let server: ChildProcess | undefined;
let port = 0;
let app: App | undefined;

beforeAll(async () => {
  port = await freePort();
  server = await startRedisServer(['--port', String(port), '--client-output-buffer-limit', 'pubsub 1mb 1mb 0']);
});

afterAll(() => {
  server?.kill('SIGKILL');
});

afterEach(async () => {
  await app?.close();
  app = undefined;
});

function start() {
  const url = `redis://127.0.0.1:${port}/0`;
  app = createApp('big', { broker: url, backend: url });
  return {
    big: app.task('big.text', (n: number) => 'y'.repeat(n)),
    add: app.task('big.add', (a: number, b: number) => a + b),
    // Started when the case says: the second one must be subscribed before the task can run.
    worker: () => app?.worker({ concurrency: 2 }).then((w) => w.start()),
  };
}

describe('redis:// results over the pub/sub output buffer limit', () => {
  it('a stored result too big for the subscribed connection is returned, and later get()s still work', async () => {
    const { big, add, worker } = start();
    await worker();
    const result = await big.delay(BIG);
    const probe = new Redis({ port });
    await eventually('the big result to be stored', async () => (await probe.exists(`celery-task-meta-${result.id}`)) === 1);
    probe.disconnect();
    expect((await result.get({ timeout: 10_000 })).length).toBe(BIG);
    expect(await (await add.delay(1, 2)).get({ timeout: 5000 })).toBe(3);
  });

  it('a waiter gets a result whose publication dropped the subscribed connection, and later get()s still work', async () => {
    const { big, add, worker } = start();
    const result = await big.delay(BIG);
    const waiting = result.get({ timeout: 10_000 });
    const probe = new Redis({ port });
    const channel = `celery-task-meta-${result.id}`;
    await eventually('the waiter to subscribe', async () => (await probe.pubsub('NUMSUB', channel))[1] === 1);
    probe.disconnect();
    await worker();
    expect((await waiting).length).toBe(BIG);
    expect(await (await add.delay(1, 2)).get({ timeout: 5000 })).toBe(3);
  });
});
