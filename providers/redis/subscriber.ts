/**
 * One pub/sub connection per store, multiplexing every watched key: Celery's backend publishes
 * each result on a channel named like its key (§4.1), so a waiting get() is woken by the write
 * instead of polling. Subscribing resolves only once Redis has confirmed it, so a write right
 * after watch() is never missed; after a reconnect every watcher is told to re-read, since
 * messages published while the connection was down are gone.
 */
import type { Redis } from 'ioredis';
import { closeClient, createClient } from './connection.js';
import type { RedisConnectionOptions } from './options.js';

interface Channel {
  listeners: Set<() => void>;
  subscribed: Promise<unknown>;
}

export class KeySubscriber {
  #client: Redis | undefined;
  readonly #channels = new Map<string, Channel>();

  constructor(private readonly connection: RedisConnectionOptions) {}

  #connect(): Redis {
    if (this.#client) return this.#client;
    const client = createClient(this.connection, {
      name: 'celeriac-results-sub',
    });
    let connectedBefore = false;
    client.on('ready', () => {
      if (connectedBefore) for (const ch of this.#channels.values()) for (const fn of ch.listeners) fn();
      connectedBefore = true;
    });
    client.on('message', (channel: string) => {
      for (const fn of this.#channels.get(channel)?.listeners ?? []) fn();
    });
    this.#client = client;
    return client;
  }

  async watch(channel: string, onChange: () => void): Promise<() => Promise<void>> {
    const client = this.#connect();
    let ch = this.#channels.get(channel);
    if (!ch) {
      ch = { listeners: new Set(), subscribed: client.subscribe(channel) };
      this.#channels.set(channel, ch);
    }
    const entry = (): void => onChange();
    ch.listeners.add(entry);
    await ch.subscribed;
    const owned = ch;
    return async () => {
      owned.listeners.delete(entry);
      if (owned.listeners.size === 0 && this.#channels.get(channel) === owned) {
        this.#channels.delete(channel);
        await client.unsubscribe(channel);
      }
    };
  }

  async close(): Promise<void> {
    this.#channels.clear();
    if (this.#client) await closeClient(this.#client);
  }
}
