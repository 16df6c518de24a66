/**
 * redis:// key-value store, the primitives core's KeyValueResultBackend needs (§4.1): results are
 * plain string keys (`celery-task-meta-<id>`, written by the backend as Celery writes them), set
 * with their TTL and published on the key's channel in one script — one call for every write of
 * a tick, so a worker finishing thousands of tasks a second makes few round trips. Chord parts
 * go to Celery's `celery-taskset-meta-<group>.j` sorted set (scripts/add-chord-part.ts).
 *
 * A client reading or watching a result on an unreachable server gets an OperationalError after
 * broker_connection_timeout, as a producer does; a worker's writes wait for the server instead
 * (its message stays leased meanwhile, so nothing runs twice for it).
 */
import type { Redis } from 'ioredis';
import { Batcher } from '../../core/batcher.js';
import { OperationalError } from '../../core/errors.js';
import type { ChordKeys, ChordPartInput, KeyValueStore, PutOptions } from '../../core/ports.js';
import { redact } from '../../core/registry.js';
import { Abandon, type Reachability, closeClient, reachable } from './connection.js';
import { addChordPart } from './scripts/add-chord-part.js';
import { putResults } from './scripts/put-results.js';
import type { KeySubscriber } from './subscriber.js';

/** One write: key, value, ttl ms ('' = forever), the guard ('ready', 'success' or ''). */
type Put = readonly [string, string, string, string];

export class RedisStore implements KeyValueStore {
  /** Every result write is published on its key's channel, Celery's and Python's too (§4.1). */
  readonly watchesEveryWriter = true;
  #closed = false;
  /** Ends the worker's writes still waiting for the server when the store is closed while it is down. */
  readonly #abandon = new Abandon();
  readonly #puts: Batcher<Put, boolean>;

  constructor(
    readonly url: string,
    readonly client: Redis,
    private readonly subscriber: KeySubscriber,
    /** Reads (a client waiting for a result) fail after this instead of waiting for an unreachable server. */
    private readonly reachability: Reachability,
  ) {
    this.#puts = new Batcher<Put, boolean>(
      async (items) => {
        const args: string[] = [];
        for (const [, value, ttl, keep] of items) args.push(value, ttl, keep);
        const written = await this.#abandon.race(
          putResults.run<number[]>(
            client,
            items.map((p) => p[0]),
            args,
          ),
        );
        return written.map((n) => n === 1);
      },
      500,
      'tick',
    );
  }

  async get(key: string): Promise<string | undefined> {
    // A watched key is read behind its SUBSCRIBE (on RESP3 in the same write, on the same connection).
    return (await this.subscriber.read(key, () => reachable(this.client, this.reachability).then(() => this.client.get(key)))) ?? undefined;
  }

  async put(key: string, value: string, opts: PutOptions): Promise<boolean> {
    if (opts.failWhenUnreachable) await reachable(this.client, this.reachability);
    return this.#puts.add([key, value, opts.ttlMs ? String(opts.ttlMs) : '', opts.keepReady ? 'ready' : opts.keepSuccess ? 'success' : '']);
  }

  async delete(key: string): Promise<void> {
    await reachable(this.client, this.reachability);
    await this.client.del(key);
  }

  async incr(key: string, by: number, ttlMs?: number): Promise<number> {
    if (!ttlMs) return this.#abandon.race(this.client.incrby(key, by));
    const results = await this.#abandon.race(this.client.multi().incrby(key, by).pexpire(key, Math.ceil(ttlMs)).exec());
    const [err, value] = results?.[0] ?? [new Error(`INCRBY ${key} got no reply`)];
    if (err) throw err;
    return Number(value);
  }

  async addChordPart(keys: ChordKeys, part: ChordPartInput, ttlMs?: number): Promise<string[] | undefined> {
    const parts = await this.#abandon.race(
      addChordPart.run<string[] | null>(
        this.client,
        [keys.parts, keys.size, keys.extra],
        [part.member, part.score ?? '+inf', ttlMs ? Math.ceil(ttlMs) : '', part.taskId],
      ),
    );
    return parts ?? undefined;
  }

  watch(key: string, onChange: (value?: string) => void): Promise<() => Promise<void>> {
    return this.subscriber.watch(key, onChange);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A write waiting for a server that is gone fails with why, so close() returns.
    this.#abandon.dropIfDown(
      [this.client],
      () =>
        new OperationalError(
          `The result store was closed while Redis at ${redact(this.url)} was unreachable: the result writes waiting for it were not made.`,
        ),
    );
    await this.#puts.drain();
    await this.subscriber.close();
    await closeClient(this.client);
  }
}
