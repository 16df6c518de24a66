/**
 * ioredis clients for the broker and the store. A lost connection is retried with capped,
 * jittered backoff, and commands wait for the reconnect instead of failing (maxRetriesPerRequest:
 * null), so nothing sent is dropped; commands whose reply was lost are re-sent on reconnect, which
 * every script here tolerates (each is guarded or idempotent), keeping delivery at-least-once.
 * The results' pub/sub connection is the exception (subscriber.ts says why).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import { ConfigError, OperationalError } from '../../core/errors.js';
import { redact } from '../../core/registry.js';
import type { RedisConnectionOptions } from './options.js';

const RETRY_BASE_MS = 50;
const RETRY_CAP_MS = 2000;

export interface ClientOptions {
  /** Pipeline every command issued in one tick into one write (the main connection, not blocking or pub/sub ones). */
  autoPipelining?: boolean;
  /** Re-send the commands a lost connection left unanswered (default true; the pub/sub connection says false). */
  resendUnanswered?: boolean;
  name: string;
}

export function createClient(conn: RedisConnectionOptions, opts: ClientOptions): Redis {
  const client = new Redis({
    host: conn.host,
    port: conn.port,
    db: conn.db,
    username: conn.username,
    password: conn.password,
    tls: conn.tls ? tlsOptions(conn) : undefined,
    connectionName: opts.name,
    enableAutoPipelining: opts.autoPipelining ?? false,
    autoResendUnfulfilledCommands: opts.resendUnanswered ?? true,
    // Script calls are batched by their callers already (one fetch, one ack batch, one result
    // batch at a time): written at once, they skip the pipeline's wait for the next loop turn.
    autoPipeliningIgnoredCommands: ['evalsha', 'eval'],
    maxRetriesPerRequest: null,
    // After a failover the old primary, demoted to a replica, keeps its connections and answers
    // every write READONLY: connect again (the address now leads to the new primary) and re-send.
    reconnectOnError: (err) => (err.message.includes('READONLY') ? 2 : false),
    retryStrategy: (times) => Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(times, 6)) * (0.5 + Math.random() / 2),
    lazyConnect: false,
  });
  // Connection errors are retried by retryStrategy and surface as failed commands where they matter;
  // without a listener ioredis would print each one as an unhandled error event. The last one is
  // kept for whenReady's message until the connection is up again.
  client.on('error', (err: Error) => {
    lastErrors.set(client, withoutCommand(err));
    // A failed SELECT leaves the connection on database 0, and every command after it there.
    if ((err as { command?: { name?: string } }).command?.name !== 'select') return;
    // Refused for the moment (BUSY running a script, LOADING its data): connect again, SELECT again.
    if (!/DB index is out of range/i.test(err.message)) {
      client.disconnect(true);
      return;
    }
    // A database the server does not have: the client is closed for good, saying so.
    const refused = new ConfigError(
      `Redis refused database ${conn.db} (${err.message}): use a database number the server has (0-15 unless its 'databases' setting says more).`,
    );
    refusals.set(client, refused);
    client.disconnect();
    // Every later command says why, rather than "Connection is closed."
    client.sendCommand = (command) => {
      command.reject(refused);
      return command.promise;
    };
  });
  client.on('ready', () => lastErrors.delete(client));
  return client;
}

/** Clients closed for good because the server refused their settings, with the error that says why. */
const refusals = new WeakMap<Redis, ConfigError>();

/** Why a command on `client` failed: the server's refusal of its settings when that closed it, else `err`. */
export function explained(client: Redis, err: unknown): unknown {
  return refusals.get(client) ?? err;
}

/** A connection's last error, passed on as the cause of a failure (withoutCommand). */
const lastErrors = new WeakMap<Redis, Error>();

/**
 * `err` without the command ioredis attaches to a server's reply: a refused HELLO or AUTH holds
 * the username and password in its arguments, which would reach whoever logs the cause.
 */
function withoutCommand(err: Error): Error {
  if (!('command' in err)) return err;
  const bare = new Error(err.message);
  bare.name = err.name;
  return bare;
}

function tlsOptions(conn: RedisConnectionOptions): ConnectionOptions {
  let ca: Buffer | undefined;
  if (conn.caFile) {
    try {
      ca = readFileSync(conn.caFile);
    } catch (err) {
      throw new ConfigError(`Cannot read the CA bundle ssl_ca_certs=${conn.caFile}: ${(err as Error).message}`);
    }
  }
  // SNI takes host names only; an IP address is still checked against the certificate's IP entries.
  return { rejectUnauthorized: conn.rejectUnauthorized, servername: isIP(conn.host) ? undefined : conn.host, ca };
}

/**
 * Resolves when the client is connected, at once when it already is; rejects with an
 * OperationalError naming the URL and the last connection error after `timeoutMs`. For calls
 * a client makes on a user's behalf (publishing a task, a control command): commands issued while
 * disconnected would wait for the server indefinitely, and a producer should hear that the server
 * is unreachable instead. Checked before the command is issued, so a command given up on is never
 * sent later by the reconnect. Callers arriving while a wait is on share it (one timer, one
 * listener, however many publishes a burst makes): it fails once the server has been unreachable
 * for `timeoutMs`.
 */
export function whenReady(client: Redis, timeoutMs: number, url: string): Promise<void> | undefined {
  if (client.status === 'ready') return undefined;
  const refused = refusals.get(client);
  if (refused) return Promise.reject(refused);
  let wait = waits.get(client);
  if (!wait) {
    wait = new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        client.off('end', onEnd);
        resolve();
      };
      // Closed for good: the server refused the connection's settings (see createClient).
      const onEnd = (): void => {
        const refused = refusals.get(client);
        if (!refused) return;
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('end', onEnd);
        reject(refused);
      };
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        client.off('end', onEnd);
        const cause = lastErrors.get(client);
        reject(
          new OperationalError(
            `Could not reach Redis at ${redact(url)} within ${timeoutMs / 1000} s${cause ? ` (${cause.message})` : ''}: ` +
              'is the server running and the URL right? broker_connection_timeout sets how long to wait.',
            { cause },
          ),
        );
      }, timeoutMs);
      client.once('ready', onReady);
      client.on('end', onEnd);
    }).finally(() => waits.delete(client));
    waits.set(client, wait);
  }
  return wait;
}

/** The wait for each client's connection that callers share. */
const waits = new WeakMap<Redis, Promise<void>>();

/** Where a client connects and how long a caller waits for it (broker_connection_timeout). */
export interface Reachability {
  url: string;
  timeoutMs: number;
}

/** whenReady as a promise to await before a command issued on a caller's behalf. */
export async function reachable(client: Redis, r: Reachability): Promise<void> {
  const connecting = whenReady(client, r.timeoutMs, r.url);
  if (connecting) await connecting;
}

/**
 * Report a client's connection going down (once, with the last error) and coming back; what
 * happens between (ioredis reconnecting with backoff) is not repeated. Returns an unsubscribe.
 */
export function watchConnection(client: Redis, listener: (event: { up: boolean; reason?: string }) => void): () => void {
  let down = false;
  const onClose = (): void => {
    if (down) return;
    down = true;
    listener({ up: false, reason: lastErrors.get(client)?.message ?? 'connection closed' });
  };
  const onReady = (): void => {
    if (!down) return;
    down = false;
    listener({ up: true });
  };
  client.on('close', onClose).on('ready', onReady);
  return () => {
    client.off('close', onClose).off('ready', onReady);
  };
}

/**
 * What an owner closing while its server is down rejects, so that its commands waiting for the
 * server fail instead of waiting forever: ioredis 6 does not reject commands queued while it
 * waits to reconnect when the client is disconnected then (it flushes its queues only when a
 * socket closes, which already happened).
 */
export class Abandon {
  #reject: (reason: unknown) => void = () => {};
  readonly #abandoned = new Promise<never>((_, reject) => {
    this.#reject = reject;
  });

  constructor() {
    this.#abandoned.catch(() => undefined); // rejected whether anything waits or not
  }

  /** `command`'s outcome, or the reason given to now() if that comes first. */
  race<T>(command: Promise<T>): Promise<T> {
    return Promise.race([command, this.#abandoned]);
  }

  now(reason: unknown): void {
    this.#reject(reason);
  }

  /**
   * On close: when one of `clients` is not connected, what waits for the server would wait for a
   * reconnect that may never come, so those connections are dropped and every wait given up with
   * `reason()`.
   */
  dropIfDown(clients: Array<Redis | undefined>, reason: () => unknown): void {
    const down = clients.filter((c): c is Redis => c !== undefined && c.status !== 'ready');
    for (const c of down) c.disconnect();
    if (down.length > 0) this.now(reason());
  }
}

/** Close a client, waiting for queued commands when it is healthy, at once when it is not. */
export async function closeClient(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through: a connection that cannot say goodbye is dropped
    }
  }
  client.disconnect();
}
