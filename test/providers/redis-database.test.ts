/**
 * A redis:// URL naming a database the server does not have: a redis-server of this test's own
 * with two databases. The SELECT is refused; nothing may go to database 0 instead, and the
 * producer, a reader and a worker each get the ConfigError saying so, without waiting.
 */
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, ConfigError, createApp } from '../../core/index.js';
import { freePort, startRedisServer } from '../support/redis-server.js';

let server: ChildProcess | undefined;
let port = 0;
let app: App | undefined;

beforeAll(async () => {
  port = await freePort();
  server = await startRedisServer(['--port', String(port), '--databases', '2']);
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
});
