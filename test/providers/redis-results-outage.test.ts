/**
 * redis:// results while the server is down: waiters keep waiting, what they asked for while it
 * was down goes out once when it is back (not once per reconnect attempt), and they get their
 * results written after that.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../core/index.js';
import { eventually } from '../conformance/index.js';
import { freePort, startRedisServer } from '../support/redis-server.js';

let server: ChildProcess | undefined;

afterAll(() => {
  server?.kill('SIGKILL');
});

/** How many times the server has run `command` since it started. */
async function calls(probe: Redis, command: string): Promise<number> {
  const stats = await probe.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
}

describe('redis:// results across an outage', () => {
  it('waiters keep waiting through reconnect attempts, their commands go out once on reconnect, and they get their results', async () => {
    const port = await freePort();
    server = await startRedisServer(['--port', String(port)]);
    const url = `redis://127.0.0.1:${port}/0`;
    const app = createApp('outage', { broker: `memory://outage-${Date.now()}`, backend: url, broker_connection_timeout: 60 });
    let probe = new Redis({ port });
    try {
      const wait = (id: string) => app.AsyncResult<number>(id).get({ timeout: 60_000 });
      const before = Array.from({ length: 10 }, () => randomUUID());
      const during = Array.from({ length: 10 }, () => randomUUID());
      const ids = [...before, ...during];
      const waiters = before.map(wait);
      const subscribed = async () =>
        (await probe.pubsub('NUMSUB', ...ids.map((id) => `celery-task-meta-${id}`))).filter((n, i) => i % 2 === 1 && n === 1).length;
      await eventually('the first waiters to subscribe', async () => (await subscribed()) === before.length);
      probe.disconnect();
      server.kill('SIGKILL');
      await new Promise((resolve) => server?.once('exit', resolve));
      // Waiters that come while the server is down, then several reconnect attempts (backoff: ~0.1, 0.2, 0.4, 0.8, 1.6, 2 s).
      waiters.push(...during.map(wait));
      await new Promise((resolve) => setTimeout(resolve, 6000));
      server = await startRedisServer(['--port', String(port)]);
      probe = new Redis({ port });
      await eventually('every waiter to subscribe again', async () => (await subscribed()) === ids.length, 10_000);
      // Every waiter re-reads after the reconnect: the bounds below count once those reads are in.
      await eventually("the waiters' re-reads", async () => (await calls(probe, 'get')) >= ids.length, 10_000);
      // Once each: ioredis's SUBSCRIBE of the channels it had, one of those asked for while down,
      // and per waiter the read it was making and its re-read after the reconnect.
      expect(await calls(probe, 'subscribe')).toBeLessThanOrEqual(2);
      expect(await calls(probe, 'get')).toBeLessThanOrEqual(2 * ids.length);
      for (const [i, id] of ids.entries()) {
        const meta = JSON.stringify({
          status: 'SUCCESS',
          result: i,
          traceback: null,
          children: [],
          date_done: new Date().toISOString(),
          task_id: id,
        });
        await probe.set(`celery-task-meta-${id}`, meta);
        await probe.publish(`celery-task-meta-${id}`, meta);
      }
      expect(await Promise.all(waiters)).toEqual(ids.map((_, i) => i));
    } finally {
      probe.disconnect();
      await app.close();
    }
  });
});
