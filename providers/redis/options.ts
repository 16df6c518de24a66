/**
 * redis:// and rediss:// URLs and transport options, validated once at the edge (STYLE.md §4).
 * URL: `redis://[[user]:password@]host[:port][/db][?option=value...]`; `rediss://` turns on TLS.
 * Options come from the URL query or broker_transport_options (the URL wins), under kombu's names
 * where kombu has one (§2.2).
 */
import { ConfigError } from '../../core/errors.js';
import { checkQuery, checkTransportOptions, numberOption, seconds, splitUrl, visibilityTimeoutMs } from '../../core/provider-options.js';
import { redact } from '../../core/registry.js';
import { unquote } from '../../core/unquote.js';
import { PRIORITY_STEPS, SEP } from './keys.js';

/** Default cap on one envelope: well above any task a queue should carry, far below Redis's 512 MB string limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;
/** The UTF-8 size of `text` when it is over `limit`, else 0. A UTF-16 unit is at most 3 UTF-8 bytes: only a long text is counted. */
export function bytesOverLimit(text: string, limit: number): number {
  if (text.length * 3 <= limit) return 0;
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > limit ? bytes : 0;
}

/** kombu's `unacked_mutex_expire` default (§2.2). */
const DEFAULT_MUTEX_EXPIRE_S = 300;

export interface RedisConnectionOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** `ssl_cert_reqs=none` (Celery's spelling) skips certificate checks, e.g. for a self-signed test server. */
  rejectUnauthorized: boolean;
  /** `ssl_ca_certs=PATH` (Celery's spelling): the CA bundle the server's certificate is checked against, instead of Node's. */
  caFile?: string;
}

export interface RedisBrokerSettings {
  connection: RedisConnectionOptions;
  /** How long a fetched, unacked message stays hidden before it is restored (kombu `visibility_timeout`). */
  visibilityTimeoutMs: number;
  /** Prefix of every broker key, as kombu 5.2's `global_keyprefix`. */
  keyPrefix: string;
  /** Envelopes longer than this are refused at publish and dead-lettered at fetch. */
  maxMessageBytes: number;
  /** Lifetime of the restore lock (kombu `unacked_mutex_expire`): how long a crashed restorer blocks others. */
  mutexExpireMs: number;
  /** How long a publish or a control command waits for an unreachable server (broker_connection_timeout). */
  connectTimeoutMs: number;
  /** kombu's `sep`: between a queue name and its priority step, and inside binding members. */
  sep: string;
  /** kombu's `priority_steps`: the priority lists of each queue, ascending, the first 0 (the bare list). */
  prioritySteps: readonly number[];
  /** kombu's `queue_order_strategy`: which queue is served first within a priority step. */
  queueOrder: QueueOrder;
}

/**
 * kombu's queue order strategies (kombu.utils.scheduling): round_robin starts with another queue
 * each time, priority keeps the order the queues were given in (-Q), sorted serves them by name.
 * Whatever the strategy, every queue's lower step is served before any queue's next step (§2.3).
 */
const QUEUE_ORDERS = ['round_robin', 'priority', 'sorted'] as const;
export type QueueOrder = (typeof QUEUE_ORDERS)[number];

const QUERY_OPTIONS = [
  'visibility_timeout',
  'global_keyprefix',
  'max_message_size',
  'unacked_mutex_expire',
  'ssl_cert_reqs',
  'ssl_ca_certs',
] as const;

/** What the result store reads of its URL's query: the TLS settings. */
const STORE_QUERY_OPTIONS = ['ssl_cert_reqs', 'ssl_ca_certs'] as const;

/** The broker_transport_options this transport reads, as kombu names them (max_message_size is celeriac's). */
const TRANSPORT_OPTIONS = [
  'visibility_timeout',
  'global_keyprefix',
  'max_message_size',
  'unacked_mutex_expire',
  'priority_steps',
  'sep',
  'queue_order_strategy',
];

const CONNECTIONS =
  'the Redis client keeps its connections and reconnects with backoff; broker_connection_timeout bounds how long a call waits';
const LAYOUT = "Celery and celeriac workers share the queues only under kombu's default key names";

/** kombu 5.2's other Redis transport options (kombu/transport/redis.py, virtual/base.py, connection retries). */
const UNSUPPORTED_TRANSPORT_OPTIONS: Readonly<Record<string, string | null>> = {
  ack_emulation: 'messages are always acked through unacked and its visibility timeout',
  unacked_key: LAYOUT,
  unacked_index_key: LAYOUT,
  unacked_mutex_key: LAYOUT,
  unacked_restore_limit: null,
  fanout_prefix: 'fanout channels are always named /{db}.<exchange>, as kombu names them by default',
  fanout_patterns: 'fanout channels always carry the routing key, as kombu does by default',
  socket_timeout: CONNECTIONS,
  socket_connect_timeout: 'set broker_connection_timeout',
  socket_keepalive: CONNECTIONS,
  socket_keepalive_options: CONNECTIONS,
  max_connections: CONNECTIONS,
  health_check_interval: CONNECTIONS,
  retry_on_timeout: CONNECTIONS,
  polling_interval: 'idle workers block on the lists (BLMOVE) rather than polling',
  body_encoding: null,
  deadletter_queue: 'dead letters go to <queue>.celeriac.dead with their reason',
  max_retries: CONNECTIONS,
  interval_start: CONNECTIONS,
  interval_step: CONNECTIONS,
  interval_max: CONNECTIONS,
  master_name: 'Redis Sentinel is not supported: give the address of the primary',
  min_other_sentinels: 'Redis Sentinel is not supported',
  sentinel_kwargs: 'Redis Sentinel is not supported',
};

const CLIENT_CERTIFICATES =
  'celeriac sends no client certificate (it checks the server against ssl_ca_certs; a password identifies the client)';

/**
 * Celery's and redis-py's other Redis URL options (celery/backends/redis.py; redis-py's URL
 * arguments, which Celery hands the connection): taken without effect, they would seem in force.
 */
const UNSUPPORTED_QUERY_OPTIONS: Readonly<Record<string, string>> = {
  ssl_certfile: CLIENT_CERTIFICATES,
  ssl_keyfile: CLIENT_CERTIFICATES,
  ssl_check_hostname: "the server's name is checked against its certificate unless ssl_cert_reqs=none",
  socket_timeout: CONNECTIONS,
  socket_connect_timeout: 'set broker_connection_timeout',
  socket_keepalive: CONNECTIONS,
  retry_on_timeout: CONNECTIONS,
  retry_on_error: CONNECTIONS,
  max_connections: CONNECTIONS,
  health_check_interval: CONNECTIONS,
};

/** Refuses a query parameter not in `known`: Celery's and redis-py's own are named with what to do instead. */
function checkRedisQuery(url: string, query: URLSearchParams, known: readonly string[]): void {
  for (const key of query.keys()) {
    if (known.includes(key) || !Object.hasOwn(UNSUPPORTED_QUERY_OPTIONS, key)) continue;
    throw new ConfigError(`'${key}' in '${redact(url)}' is a Redis option celeriac does not support: ${UNSUPPORTED_QUERY_OPTIONS[key]}.`);
  }
  checkQuery(url, query, known);
}

/** kombu options set to what celeriac does anyway (Celery configs often spell out fanout_prefix/fanout_patterns: true). */
const asKombuDefault = (key: string, value: unknown): boolean => (key === 'fanout_prefix' || key === 'fanout_patterns') && value === true;

export function parseConnection(url: string): RedisConnectionOptions {
  const { scheme, query } = splitUrl(url);
  if (scheme !== 'redis' && scheme !== 'rediss') throw new ConfigError(`'${redact(url)}' is not a redis:// or rediss:// URL`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`'${redact(url)}' is not a valid URL: expected redis://[:password@]host[:port][/db]`);
  }
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0)
    throw new ConfigError(`The database in '${redact(url)}' must be a number such as /0, got '/${redact(dbText)}'`);
  const certReqs = query.get('ssl_cert_reqs');
  if (certReqs !== null && !['none', 'required', 'optional', 'CERT_NONE', 'CERT_REQUIRED', 'CERT_OPTIONAL'].includes(certReqs)) {
    throw new ConfigError(`ssl_cert_reqs in '${redact(url)}' must be none, optional or required, got '${certReqs}'`);
  }
  const caFile = query.get('ssl_ca_certs') || undefined;
  if (caFile && scheme !== 'rediss') throw new ConfigError(`ssl_ca_certs in '${redact(url)}' needs TLS: use rediss://`);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    // Decoded as redis-py and kombu decode them: a '%' not starting an escape is kept (100%pure).
    username: parsed.username ? unquote(parsed.username) : undefined,
    password: parsed.password ? unquote(parsed.password) : undefined,
    tls: scheme === 'rediss',
    rejectUnauthorized: certReqs === null || !/none/i.test(certReqs),
    caFile,
  };
}

/** The result store's connection: its URL's query holds only the TLS settings (Celery's backend refuses the rest too). */
export function parseStoreConnection(url: string): RedisConnectionOptions {
  const { query } = splitUrl(url);
  const brokerOnly = [...query.keys()].find((key) => QUERY_OPTIONS.some((o) => o === key) && !STORE_QUERY_OPTIONS.some((o) => o === key));
  if (brokerOnly) {
    throw new ConfigError(
      `'${brokerOnly}' in the result backend URL '${redact(url)}' is a broker option: give it in the broker's URL. ` +
        `The result backend's URL takes ${STORE_QUERY_OPTIONS.join(' and ')}.`,
    );
  }
  checkRedisQuery(url, query, STORE_QUERY_OPTIONS);
  return parseConnection(url);
}

/** Celery's broker_connection_timeout default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 4000;

export function parseBrokerSettings(
  url: string,
  transportOptions: Record<string, unknown> = {},
  connectTimeoutMs = DEFAULT_CONNECT_TIMEOUT_MS,
): RedisBrokerSettings {
  const { query } = splitUrl(url);
  checkRedisQuery(url, query, QUERY_OPTIONS);
  checkTransportOptions(url, transportOptions, {
    transport: 'Redis',
    read: TRANSPORT_OPTIONS,
    unsupported: UNSUPPORTED_TRANSPORT_OPTIONS,
    accepted: asKombuDefault,
  });
  const fromQuery = Object.fromEntries(
    [...query.entries()].filter(([k]) => !['visibility_timeout', 'ssl_cert_reqs', 'ssl_ca_certs'].includes(k)),
  );
  const o: Record<string, unknown> = { ...given(transportOptions), ...fromQuery };
  const where = (name: string): string => `Redis transport option ${name} in '${redact(url)}'`;
  if (o.global_keyprefix !== undefined && typeof o.global_keyprefix !== 'string') {
    throw new ConfigError(`${where('global_keyprefix')} must be a string, got ${JSON.stringify(o.global_keyprefix)}`);
  }
  return {
    connection: parseConnection(url),
    visibilityTimeoutMs: visibilityTimeoutMs(url, query, transportOptions),
    keyPrefix: o.global_keyprefix ?? '',
    maxMessageBytes:
      o.max_message_size === undefined
        ? DEFAULT_MAX_MESSAGE_BYTES
        : numberOption(o.max_message_size, where('max_message_size'), (n) => Number.isInteger(n) && n > 0, 'a whole number of bytes > 0'),
    mutexExpireMs:
      (o.unacked_mutex_expire === undefined ? DEFAULT_MUTEX_EXPIRE_S : seconds(o.unacked_mutex_expire, where('unacked_mutex_expire'))) *
      1000,
    connectTimeoutMs,
    sep: o.sep === undefined ? SEP : sepOption(o.sep, where('sep')),
    prioritySteps: o.priority_steps === undefined ? PRIORITY_STEPS : prioritySteps(o.priority_steps, where('priority_steps')),
    queueOrder: o.queue_order_strategy === undefined ? 'round_robin' : queueOrder(o.queue_order_strategy, where('queue_order_strategy')),
  };
}

function sepOption(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${where} must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Ascending whole numbers from 0, e.g. Celery's recipe `list(range(10))`. kombu takes any list but
 * restores messages to the bare list, the one of step 0: without 0 they would wait there unread.
 */
function prioritySteps(value: unknown, where: string): number[] {
  const steps = Array.isArray(value) ? value : [];
  const ok = steps[0] === 0 && steps.every((s, i) => Number.isInteger(s) && (i === 0 || s > steps[i - 1]));
  if (!ok)
    throw new ConfigError(
      `${where} must be a list of ascending whole numbers starting at 0, such as [0, 3, 6, 9], got ${JSON.stringify(value)}`,
    );
  return steps as number[];
}

function queueOrder(value: unknown, where: string): QueueOrder {
  const order = QUEUE_ORDERS.find((o) => o === value);
  if (!order)
    throw new ConfigError(
      `${where} must be one of ${QUEUE_ORDERS.join(', ')} (celeriac takes no cycle class), got ${JSON.stringify(value)}`,
    );
  return order;
}

/** The options given a value (null and undefined leave the default). */
function given(options: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([key, v]) => TRANSPORT_OPTIONS.includes(key) && v !== undefined && v !== null));
}
