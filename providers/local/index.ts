/**
 * local://PATH — the embedded durable default: queues, results and remote control in one
 * SQLite file (better-sqlite3, WAL) that several processes share at once, with no server.
 * Every transition is atomic, so a process killed at any point loses nothing: an unacked
 * message comes back after its lease (visibility timeout, default 1 h as Celery's).
 */
import type { ProviderFactories } from '../../core/ports.js';
import { LocalBroker } from './broker.js';
import { openDatabase } from './database.js';
import { locate } from './location.js';
import { LocalStore } from './store.js';

export { LocalBroker } from './broker.js';
export { LocalStore } from './store.js';
export { locate } from './location.js';

export interface LocalOptions {
  /** broker_transport_options; `visibility_timeout` (seconds) is read, the URL's query wins. */
  transportOptions?: Record<string, unknown>;
  /** Folder a relative PATH is resolved against (default: the current directory). */
  cwd?: string;
}

export function localBroker(url = 'local://.celeriac', options: LocalOptions = {}): LocalBroker {
  const where = locate(url, options.transportOptions, options.cwd);
  return new LocalBroker(url, openDatabase(where.folder, where.file), where.visibilityTimeoutMs);
}

export function localStore(url = 'local://.celeriac', options: LocalOptions = {}): LocalStore {
  const where = locate(url, options.transportOptions, options.cwd);
  return new LocalStore(url, openDatabase(where.folder, where.file));
}

export const provider: ProviderFactories = {
  broker: (url, ctx) => localBroker(url, { transportOptions: ctx.transportOptions }),
  store: (url, ctx) => localStore(url, { transportOptions: ctx.transportOptions }),
};
