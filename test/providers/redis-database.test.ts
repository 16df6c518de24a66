/**
 * A redis:// URL naming a database the server does not have: a redis-server of this test's own
 * with two databases. The SELECT is refused; nothing may go to database 0 instead, and the
 * producer, a reader and a worker each get the ConfigError saying so, without waiting.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, ConfigError, createApp } from '../../core/index.js';
import { eventually } from '../conformance/index.js';
import { freePort, startRedisServer } from '../support/redis-server.js';

let server: ChildProcess | undefined;
let port = 0;
let app: App | undefined;

beforeAll(async () => {
  port = await freePort();
  server = await startRedisServer(['--port', String(port), '--databases', '2', '--busy-reply-threshold', '50']);
});

afterAll(() => {
  server?.kill('SIGKILL');
});

afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('redis:// with a database the server does not have', () => {
  it('refuses to send, read or consume, saying which database, and writes nothing to database 0', async () => {
    const url = `redis://127.0.0.1:${port}/5`;
    app = createApp('db', { broker: url, backend: url, broker_connection_timeout: 30 });
    const add = app.task('db.add', (a: number, b: number) => a + b);
    const refused = /^Redis refused database 5 \(ERR DB index is out of range\): use a database number the server has/;
    const started = Date.now();
    await expect(add.delay(1, 2)).rejects.toThrow(refused);
    await expect(add.delay(1, 2)).rejects.toBeInstanceOf(ConfigError);
    await expect(app.AsyncResult('some-id').get({ timeout: 30_000 })).rejects.toThrow(refused);
    const worker = await app.worker({ concurrency: 1 });
    await expect(worker.start()).rejects.toThrow(refused);
    // Told at once, not after broker_connection_timeout or a get() timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
    const db0 = new Redis({ port, db: 0 });
    expect(await db0.keys('*')).toEqual([]);
    db0.disconnect();
  });

  it('a SELECT refused for the moment (the server BUSY with a script) is tried again: the task goes to its database, not to 0', async () => {
    const busy = new Redis({ port });
    // Connected before the script starts, a probe's PING is answered BUSY while it runs (3 s).
    const probe = new Redis({ port });
    await probe.ping();
    const script = busy.eval(
      "local t = redis.call('TIME'); local s = t[1] * 1000 + t[2] / 1000; while true do local n = redis.call('TIME'); if n[1] * 1000 + n[2] / 1000 - s > 3000 then return 1 end end",
      0,
    );
    await eventually('the server to be busy', () =>
      probe.ping().then(
        () => false,
        (err: Error) => /BUSY/.test(err.message),
      ),
    );
    probe.disconnect();
    const url = `redis://127.0.0.1:${port}/1`;
    app = createApp('db', { broker: url, backend: url, broker_connection_timeout: 10 });
    const add = app.task('db.add', (a: number, b: number) => a + b);
    await add.delay(1, 2);
    await script;
    const [db0, db1] = [new Redis({ port, db: 0 }), new Redis({ port, db: 1 })];
    expect(await db0.keys('*')).toEqual([]);
    expect(await db1.llen('celery')).toBe(1);
    for (const r of [db0, db1, busy]) r.disconnect();
  }, 20_000);
});
