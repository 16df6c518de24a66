/** What a broker's consumers, leases and restorer share: the main connection, key names, settings. */
import type { Redis } from 'ioredis';
import type { Batcher } from '../../core/batcher.js';
import type { BrokerKeys } from './keys.js';
import type { RedisBrokerSettings } from './options.js';

export interface BrokerContext {
  /** The main connection (auto-pipelined): every non-blocking command goes through it. */
  readonly client: Redis;
  readonly keys: BrokerKeys;
  readonly settings: RedisBrokerSettings;
  /** Acks coalesced per tick into one script call: [tag, lease score]. */
  readonly acks: Batcher<readonly [string, string], void>;
  /** Tell this process's consumers to look again (a message was handed back or delayed here). */
  wake(): void;
}
