/** What a broker's consumers, leases and restorer share: the main connection, key names, settings. */
import type { Redis } from 'ioredis';
import type { PendingAcks } from './acks.js';
import type { BrokerKeys } from './keys.js';
import type { RedisBrokerSettings } from './options.js';
import type { SetAside } from './set-aside.js';

export interface BrokerContext {
  /** The main connection (auto-pipelined): every non-blocking command goes through it. */
  readonly client: Redis;
  readonly keys: BrokerKeys;
  readonly settings: RedisBrokerSettings;
  /** What this process set aside in unacked until due, for `inspect scheduled`. */
  readonly setAside: SetAside;
  /** Acks waiting to ride along with the next fetch. */
  readonly acks: PendingAcks;
  /** Tell this process's consumers to look again (a message was handed back or delayed here). */
  wake(): void;
  /** Have a restore pass run at `dueMs` (epoch ms), when a record in unacked comes due (a held ETA, a lease running out). */
  restoreAt(dueMs: number): void;
}
