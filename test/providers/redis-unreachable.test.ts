/**
 * redis:// when the server cannot be reached (DB 15 only, through a proxy that refuses
 * connections while "down"): a producer fails after broker_connection_timeout with an error that
 * names the URL and never sends the message later; a worker logs each failed attempt, keeps
 * trying and runs tasks once the server is back; a control command fails the same way.
 */
import { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, OperationalError, createApp } from '../../core/index.js';
import { createLogger } from '../../core/log.js';
import { type RedisStore, redisBroker, redisStore } from '../../providers/redis/index.js';
import { eventually } from '../conformance/index.js';
import { type CutProxy, startCutProxy } from '../fixtures/redis/cut-proxy.js';

const DB = 15;
let proxy: CutProxy | undefined;
let app: App | undefined;

beforeAll(async () => {
  const r = new Redis({ db: DB });
  await r.flushdb();
  r.disconnect();
});

afterEach(async () => {
  await app?.close();
  await proxy?.close();
  app = proxy = undefined;
});

/** An app whose broker and backend go through a proxy that is down for `downMs` from now. */
async function appBehindDownProxy(downMs: number): Promise<{ app: App; url: string; direct: Redis }> {
  proxy = await startCutProxy(6379);
  proxy.cut(downMs);
  const url = `redis://127.0.0.1:${proxy.port}/${DB}`;
  app = createApp('unreachable', { broker: url, backend: url, broker_connection_timeout: 0.3 });
  return { app, url, direct: new Redis({ db: DB }) };
}

/** A task and a worker (not started) whose log lines are kept. */
async function loggingWorker(app: App) {
  const lines: string[] = [];
  const add = app.task('unreachable.add', (a: number, b: number) => a + b);
  const worker = await app.worker({ concurrency: 1, logger: createLogger({ level: 'info', write: (l) => lines.push(l) }) });
  return { add, worker, lines };
}

describe('redis:// unreachable', () => {
  it('a client waiting for a result gets an OperationalError after broker_connection_timeout, then reads it once the server is back', async () => {
    proxy = await startCutProxy(6379);
    proxy.cut(1500);
    const backend = `redis://127.0.0.1:${proxy.port}/${DB}`;
    app = createApp('unreachable', { broker: `memory://unreachable-${Date.now()}`, backend, broker_connection_timeout: 0.3 });
    const add = app.task('unreachable.add', (a: number, b: number) => a + b);
    const r = await add.delay(2, 3);
    const started = Date.now();
    const error = await r.get({ timeout: 30_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationalError);
    expect((error as Error).message).toContain(`Could not reach Redis at ${backend} within 0.3 s`);
    expect(Date.now() - started).toBeLessThan(1500);
    const worker = await app.worker({ concurrency: 1 });
    await worker.start();
    try {
      // Each try fails fast while the proxy is down; once it is up the worker's stored result is read.
      const value = await eventually('the result once the server is back', () => r.get({ timeout: 30_000 }).catch(() => undefined), 15_000);
      expect(value).toBe(5);
    } finally {
      await worker.stop();
    }
  });

  it("get()'s timeout holds while the server is down, also for a client that has read results before", async () => {
    proxy = await startCutProxy(6379);
    const backend = `redis://127.0.0.1:${proxy.port}/${DB}`;
    app = createApp('unreachable', { broker: `memory://unreachable-${Date.now()}`, backend, broker_connection_timeout: 30 });
    const add = app.task('unreachable.add', (a: number, b: number) => a + b);
    const worker = await app.worker({ concurrency: 1 });
    await worker.start();
    // A first result read settles how the client talks to the server (reads on its subscribing connection).
    expect(await (await add.delay(1, 1)).get({ timeout: 10_000 })).toBe(2);
    await worker.stop();
    const r = await add.delay(1, 2);
    proxy.cut(20_000);
    const started = Date.now();
    const error = await r.get({ timeout: 500 }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a producer gets an OperationalError naming the URL, and the message is never sent later', async () => {
    const { app, url, direct } = await appBehindDownProxy(1500);
    const add = app.task('unreachable.add', (a: number, b: number) => a + b);
    const error = await add.delay(1, 2).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OperationalError);
    expect((error as Error).message).toContain(`Could not reach Redis at ${url} within 0.3 s`);
    expect((error as Error).message).toMatch(/broker_connection_timeout/);
    // Once the server is reachable again, the message given up on did not go out after all.
    await eventually(
      'the server to be reachable again',
      () =>
        add.delay(2, 3).then(
          () => true,
          () => false,
        ),
      10_000,
    );
    expect(await direct.llen('celery')).toBe(1);
    direct.disconnect();
  });

  it('a burst of sends shares one wait for the server: each fails the same way, and Node warns of no listener leak', async () => {
    const { app, direct } = await appBehindDownProxy(1500);
    direct.disconnect();
    const add = app.task('unreachable.add', (a: number, b: number) => a + b);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const outcomes = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => add.delay(i, i)));
      expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof OperationalError)).toBe(true);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a control command fails the same way instead of reporting no replies', async () => {
    const { app, direct } = await appBehindDownProxy(5000);
    await expect(app.control.ping({ timeout: 200 })).rejects.toThrow(OperationalError);
    direct.disconnect();
  });

  it('a worker logs each failed attempt, keeps trying and runs tasks once the server is back', async () => {
    const { app, direct } = await appBehindDownProxy(1200);
    const { add, worker, lines } = await loggingWorker(app);
    const ready = new Promise((resolve) => worker.once('ready', resolve));
    const started = worker.start();
    const failed = /ERROR\/MainProcess\] consumer: Could not reach Redis .* Trying again in 2 seconds\.\.\. \(attempt 1\)/;
    await eventually('a logged connection failure', () => failed.test(lines.join('')));
    await ready;
    await started;
    expect(await (await add.delay(20, 22)).get({ timeout: 10_000 })).toBe(42);
    await worker.stop();
    direct.disconnect();
  });

  it('a worker logs a lost connection once, and its return, and goes on', async () => {
    const { app, direct } = await appBehindDownProxy(0);
    const { add, worker, lines } = await loggingWorker(app);
    await worker.start();
    proxy?.cut(800); // refused for 0.8 s: several reconnect attempts fail meanwhile
    await eventually('the return logged', () => lines.some((l) => l.includes('consumer: Connected to redis://')), 10_000);
    expect(
      lines.filter((l) => /WARNING\/MainProcess\] consumer: Connection to broker lost \(.+\)\. Trying to re-establish/.test(l)),
    ).toHaveLength(1);
    expect(await (await add.delay(1, 1)).get({ timeout: 10_000 })).toBe(2);
    await worker.stop();
    direct.disconnect();
  });

  it('a worker whose server went away stops within its grace period, and its app closes (it waited forever)', async () => {
    const { app, direct } = await appBehindDownProxy(0);
    const add = app.task('unreachable.add', (a: number, b: number) => a + b);
    const worker = await app.worker({ concurrency: 1, shutdownGraceMs: 3000 });
    await worker.start();
    expect(await (await add.delay(1, 2)).get({ timeout: 10_000 })).toBe(3);
    proxy?.cut(60_000);
    await eventually(
      'the connection to drop',
      async () => (await app.broker().then((b) => (b as { client?: Redis }).client?.status)) !== 'ready',
      5000,
    );
    const t0 = Date.now();
    await worker.stop();
    await app.close();
    // Nothing ran: the stuck fetch gets a moment, the goodbyes a moment each, never the server's return.
    expect(Date.now() - t0).toBeLessThan(10_000);
    direct.disconnect();
  });

  it('an app whose worker finished a task while the result backend was down closes, the result write failing with why', async () => {
    proxy = await startCutProxy(6379);
    const backend = `redis://127.0.0.1:${proxy.port}/${DB}`;
    app = createApp('unreachable', { broker: `memory://unreachable-${Date.now()}`, backend, broker_connection_timeout: 0.3 });
    let release = (): void => {};
    const running = new Promise<void>((started) => {
      app?.task('unreachable.gated', () => {
        started();
        return new Promise<number>((done) => (release = () => done(1)));
      });
    });
    const lines: string[] = [];
    const worker = await app.worker({ concurrency: 1, logger: createLogger({ level: 'info', write: (l) => lines.push(l) }) });
    await worker.start();
    await app.sendTask('unreachable.gated', []);
    await running;
    proxy.cut(60_000);
    const store = (await app.backend()) as unknown as { kv: RedisStore };
    await eventually('the connection to drop', () => store.kv.client.status !== 'ready');
    release(); // its result write now waits for the server
    await worker.stop();
    let closed = false;
    void app.close().then(() => (closed = true));
    await eventually('app.close() to return', () => closed, 5000);
    await eventually('the failed write logged', () =>
      lines.some((l) => l.includes(`The result store was closed while Redis at ${backend} was unreachable`)),
    );
  });

  it('a result store closed while the server is down returns, and the write waiting for it fails saying why', async () => {
    proxy = await startCutProxy(6379);
    const url = `redis://127.0.0.1:${proxy.port}/${DB}`;
    const store = redisStore(url);
    await store.put('unreachable-warm', 'v', { ready: false, keepReady: false });
    proxy.cut(60_000);
    await eventually('the connection to drop', () => store.client.status !== 'ready');
    const pending = store.put('unreachable-pending', 'v', { ready: false, keepReady: false }).catch((e: unknown) => e);
    let closed = false;
    void store.close().then(() => (closed = true));
    await eventually('store.close() to return', () => closed, 5000);
    const error = await pending;
    expect(error).toBeInstanceOf(OperationalError);
    expect((error as Error).message).toBe(
      `The result store was closed while Redis at ${url} was unreachable: the result writes waiting for it were not made.`,
    );
  });

  it("a broker closed while a worker's control listen() waits for a server that is down returns", async () => {
    proxy = await startCutProxy(6379);
    proxy.cut(60_000);
    const broker = redisBroker(`redis://127.0.0.1:${proxy.port}/${DB}`, { connectTimeoutMs: 300 });
    const listening = broker.control.listen({ hostname: 'down@host', queues: ['q'] }, async () => ({})).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r)); // its SUBSCRIBE is queued
    let closed = false;
    void broker.close().then(() => (closed = true));
    await eventually('broker.close() to return', () => closed, 5000);
    expect(String(await listening)).toContain('the Redis control channel was closed while the server was unreachable');
  });

  it('result waits that failed while the server was down leave no subscription behind once it is back', async () => {
    proxy = await startCutProxy(6379);
    proxy.cut(1000);
    const store = redisStore(`redis://127.0.0.1:${proxy.port}/${DB}`, { connectTimeoutMs: 300 });
    const direct = new Redis({ db: DB });
    try {
      const channels = Array.from({ length: 5 }, (_, i) => `unreachable-abandoned-${i}`);
      const failed = await Promise.all(
        channels.map((c) =>
          store
            .watch(c, () => {})
            .then(
              () => undefined,
              (e: unknown) => e,
            ),
        ),
      );
      expect(failed.every((e) => e instanceof OperationalError)).toBe(true);
      // Confirmed once the server is back: whatever the reconnect sent before it has run.
      const unwatch = await eventually(
        'a watch to succeed again',
        () => store.watch('unreachable-later', () => {}).catch(() => undefined),
        10_000,
      );
      const counts = (await direct.pubsub('NUMSUB', ...channels)) as Array<string | number>;
      expect(counts.filter((_, i) => i % 2 === 1)).toEqual(channels.map(() => 0));
      await unwatch();
    } finally {
      direct.disconnect();
      await store.close();
    }
  });

  it('a worker stopped while it waits for the server stops', async () => {
    const { app, direct } = await appBehindDownProxy(60_000);
    const worker = await app.worker({ concurrency: 1 });
    const started = worker.start();
    await worker.stop();
    await started;
    direct.disconnect();
  });
});
