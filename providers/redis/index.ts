/**
 * redis:// and rediss:// — broker and result store on Redis, wire-compatible with Celery 5.2 /
 * kombu 5.2.4 (celery-protocol.md §2, §4): Python and celeriac workers and clients share queues
 * and results. Remote control (control.ts) and events (events.ts) are added beside these files.
 */
import type { ProviderFactories } from '../../core/ports.js';
import { RedisBroker } from './broker.js';
import { createClient } from './connection.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, parseBrokerSettings, parseStoreConnection } from './options.js';
import { RedisStore } from './store.js';
import { KeySubscriber } from './subscriber.js';

export { RedisBroker } from './broker.js';
export { RedisStore } from './store.js';
export { BrokerKeys, PRIORITY_STEPS, SEP } from './keys.js';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  parseBrokerSettings,
  parseConnection,
  type RedisBrokerSettings,
} from './options.js';

export interface RedisOptions {
  /** broker_transport_options: visibility_timeout, global_keyprefix, max_message_size, unacked_mutex_expire, priority_steps, sep, queue_order_strategy (the URL's query wins). */
  transportOptions?: Record<string, unknown>;
  /** How long publishing waits for an unreachable server before it fails (broker_connection_timeout; default 4 s). */
  connectTimeoutMs?: number;
}

export function redisBroker(url = 'redis://127.0.0.1:6379/0', options: RedisOptions = {}): RedisBroker {
  const settings = parseBrokerSettings(url, options.transportOptions, options.connectTimeoutMs);
  return new RedisBroker(
    url,
    createClient(settings.connection, {
      name: 'celeriac-broker',
      autoPipelining: true,
    }),
    settings,
  );
}

export function redisStore(url = 'redis://127.0.0.1:6379/0', options: Pick<RedisOptions, 'connectTimeoutMs'> = {}): RedisStore {
  const connection = parseStoreConnection(url);
  const reachable = { url, timeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS };
  return new RedisStore(
    url,
    createClient(connection, {
      name: 'celeriac-results',
      autoPipelining: true,
    }),
    new KeySubscriber(connection, reachable),
    reachable,
  );
}

export const provider: ProviderFactories = {
  broker: (url, ctx) => redisBroker(url, ctx),
  store: (url, ctx) => redisStore(url, ctx),
};
