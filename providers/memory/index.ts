/**
 * memory:// — queues, results and remote control inside one process, for tests and
 * in-process apps. Every broker or store opened on the same URL (query aside) shares state,
 * so a producer App and a worker App in one test see the same queues.
 * URL: memory://[NAME][?visibility_timeout=SECONDS].
 */
import type { ProviderFactories } from '../../core/ports.js';
import { checkQuery, splitUrl, visibilityTimeoutMs } from '../../core/provider-options.js';
import { MemoryBroker, type MemoryBrokerShared } from './broker.js';
import { MemoryControl } from './control.js';
import { MemoryQueues } from './queues.js';
import { MemoryStore, MemoryStoreData } from './store.js';

export { MemoryBroker } from './broker.js';
export { MemoryStore } from './store.js';

const brokers = new Map<string, MemoryBrokerShared>();
const stores = new Map<string, MemoryStoreData>();

/** The part of the URL that names the shared state, after checking its options. */
function parse(url: string): { name: string; query: URLSearchParams } {
  const { rest, query } = splitUrl(url);
  checkQuery(url, query, ['visibility_timeout']);
  return { name: rest, query };
}

export interface MemoryBrokerOptions {
  /** broker_transport_options; `visibility_timeout` (seconds, default 3600) is read, the URL's query wins. */
  transportOptions?: Record<string, unknown>;
}

export function memoryBroker(url = 'memory://', options: MemoryBrokerOptions = {}): MemoryBroker {
  const { name, query } = parse(url);
  let shared = brokers.get(name);
  if (!shared) {
    shared = { queues: new MemoryQueues(), control: new MemoryControl(), wakers: new Set() };
    brokers.set(name, shared);
  }
  return new MemoryBroker(url, shared, visibilityTimeoutMs(url, query, options.transportOptions ?? {}));
}

export function memoryStore(url = 'memory://'): MemoryStore {
  const { name } = parse(url);
  let data = stores.get(name);
  if (!data) {
    data = new MemoryStoreData();
    stores.set(name, data);
  }
  return new MemoryStore(url, data);
}

export const provider: ProviderFactories = {
  broker: (url, ctx) => memoryBroker(url, { transportOptions: ctx.transportOptions }),
  store: (url) => memoryStore(url),
};
