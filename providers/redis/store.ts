/**
 * redis:// key-value store, the primitives core's KeyValueResultBackend needs (§4.1): results are
 * plain string keys (`celery-task-meta-<id>`, written by the backend as Celery writes them), set
 * with their TTL and published on the key's channel in one script.
 */
import type { Redis } from 'ioredis';
import type { KeyValueStore } from '../../core/ports.js';
import { closeClient } from './connection.js';
import { putResult } from './scripts/put-result.js';
import type { KeySubscriber } from './subscriber.js';

export class RedisStore implements KeyValueStore {
  #closed = false;

  constructor(
    readonly url: string,
    readonly client: Redis,
    private readonly subscriber: KeySubscriber,
  ) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.client.get(key)) ?? undefined;
  }

  async put(key: string, value: string, opts: { ttlMs?: number; ready: boolean; keepReady: boolean }): Promise<boolean> {
    const written = await putResult.run<number>(
      this.client,
      [key],
      [value, opts.ttlMs ? String(opts.ttlMs) : '', opts.keepReady ? '1' : '0'],
    );
    return written === 1;
  }

  async delete(key: string): Promise<void> {
    await this.client.del(key);
  }

  async incr(key: string, by: number, ttlMs?: number): Promise<number> {
    if (!ttlMs) return this.client.incrby(key, by);
    const results = await this.client.multi().incrby(key, by).pexpire(key, Math.ceil(ttlMs)).exec();
    const [err, value] = results?.[0] ?? [new Error(`INCRBY ${key} got no reply`)];
    if (err) throw err;
    return Number(value);
  }

  watch(key: string, onChange: () => void): Promise<() => Promise<void>> {
    return this.subscriber.watch(key, onChange);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.subscriber.close();
    await closeClient(this.client);
  }
}
