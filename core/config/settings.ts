/**
 * Every setting celeriac reads (app.conf), with Celery's lowercase names, Celery's defaults
 * (celery-protocol.md §9) except where marked, and the check that validates a value before
 * it is accepted.
 */
import type { TaskAnnotations } from '../annotations.js';
import { checkAnnotations } from '../annotations.js';
import { parseRate } from '../rate-limit.js';
import { contentTypeOf } from '../serialization.js';
import type { TaskRoutes } from '../routing.js';
import { checkRoutes } from '../routing.js';
import * as check from './checks.js';
import type { Check } from './checks.js';

export interface Settings {
  /** Transport URL. Unset: local://.celeriac (see Config: the embedded default). */
  broker_url: string | null;
  /** Result store URL. Unset: local://.celeriac when broker_url is unset too, else disabled. */
  result_backend: string | null;
  /** Passed to the broker as-is (e.g. visibility_timeout). */
  broker_transport_options: Record<string, unknown>;
  /** Seconds to wait when connecting to the broker. */
  broker_connection_timeout: number;
  task_serializer: 'json';
  result_serializer: 'json';
  /**
   * Content types (or serializer names) a worker accepts; anything else is dead-lettered. JSON
   * only: celeriac decodes nothing else, so listing another is an error rather than a promise.
   */
  accept_content: string[];
  /**
   * Content types a client accepts in results; null = accept_content (as Celery). Results are
   * always JSON, so this too lists JSON only and changes nothing: accepted so a Celery config loads.
   */
  result_accept_content: string[] | null;
  /**
   * Accepted (and checked) so a Celery config loads, but they change nothing: celeriac writes and
   * reads every time in UTC, and an ETA without an offset is UTC, as Celery 5.2's worker reads it.
   */
  timezone: string | null;
  enable_utc: boolean;
  task_routes: TaskRoutes | null;
  task_annotations: TaskAnnotations | null;
  task_default_queue: string;
  /** 0-9, null = the transport's default. */
  task_default_priority: number | null;
  task_ignore_result: boolean;
  task_track_started: boolean;
  /** **true in celeriac** (Celery: false): ack after the result is stored, so a dead worker loses nothing. */
  task_acks_late: boolean;
  task_acks_on_failure_or_timeout: boolean;
  task_default_rate_limit: string | number | null;
  /** Seconds. */
  task_time_limit: number | null;
  /** Seconds. */
  task_soft_time_limit: number | null;
  task_send_sent_event: boolean;
  /** Seconds a result is kept; null or 0 = forever. */
  result_expires: number | null;
  result_extended: boolean;
  /** Tasks run at once per worker; null = CPU count. */
  worker_concurrency: number | null;
  /** Messages reserved per concurrency slot; 0 = no limit. */
  worker_prefetch_multiplier: number;
  worker_disable_rate_limits: boolean;
  worker_send_task_events: boolean;
}

export type SettingKey = keyof Settings;

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  broker_url: null,
  result_backend: null,
  broker_transport_options: {},
  broker_connection_timeout: 4,
  task_serializer: 'json',
  result_serializer: 'json',
  accept_content: ['json'],
  result_accept_content: null,
  timezone: null,
  enable_utc: true,
  task_routes: null,
  task_annotations: null,
  task_default_queue: 'celery',
  task_default_priority: null,
  task_ignore_result: false,
  task_track_started: false,
  task_acks_late: true,
  task_acks_on_failure_or_timeout: true,
  task_default_rate_limit: null,
  task_time_limit: null,
  task_soft_time_limit: null,
  task_send_sent_event: false,
  result_expires: 86_400,
  result_extended: false,
  worker_concurrency: null,
  worker_prefetch_multiplier: 4,
  worker_disable_rate_limits: false,
  worker_send_task_events: false,
} satisfies Settings);

export const SETTING_KEYS: readonly SettingKey[] = Object.keys(DEFAULT_SETTINGS) as SettingKey[];

/** Local store used when neither broker_url nor result_backend is configured (DESIGN.md). */
export const EMBEDDED_DEFAULT_URL = 'local://.celeriac';

/**
 * What to do instead of some Celery settings celeriac does not implement. Every Celery setting
 * celeriac does not read (celery-settings.ts) is refused, with this advice where there is some:
 * accepting one silently would let a ported Celery config believe it is in effect.
 */
export const UNSUPPORTED_SETTINGS: Readonly<Record<string, string>> = {
  task_always_eager: 'call task.run(...args) to run a task in-process',
  task_eager_propagates: 'call task.run(...args) to run a task in-process',
  task_protocol: 'celeriac always sends protocol v2 (Celery 4+)',
  task_queues: 'queues are created on first use; route with task_routes',
  task_create_missing_queues: 'queues are always created on first use',
  task_default_exchange: 'exchanges are not configurable; route with task_routes',
  task_default_routing_key: 'routing keys follow the queue name; route with task_routes',
  task_compression: 'messages are not compressed',
  result_compression: 'results are not compressed',
  broker_pool_limit: 'each provider manages its own connections',
  broker_heartbeat: 'each provider manages its own connections',
  worker_pool: 'celeriac runs tasks on the event loop, limited by worker_concurrency',
  worker_max_tasks_per_child: 'tasks run in the worker process itself',
  beat_schedule: 'periodic tasks (beat) are not implemented yet',
  task_queue_max_priority: "it sets RabbitMQ's x-max-priority, and celeriac has no RabbitMQ transport yet",
  worker_direct: 'workers consume no per-node queue; route with task_routes and -Q',
  task_inherit_parent_priority: 'a task sent from a task gets the priority it is sent with (task_default_priority otherwise)',
};

const URL_MESSAGE = 'expected a URL such as local://.celeriac or redis://localhost:6379/0';
const url = check.string(URL_MESSAGE, (s) => /^[a-z][a-z0-9+.-]*:\/\//i.test(s));
const seconds = check.number((n) => n > 0, 'expected a number of seconds > 0');
const bool = check.boolean();
const PRIORITY = 'expected an integer priority 0-9';
const onlyJson: Check = (v) => (v === 'json' ? null : "celeriac serializes with 'json' only");
const CONTENT_TYPES = "expected a list of content types such as ['json']";

function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const acceptContent: Check = (v) => {
  if (!Array.isArray(v) || !v.every((t) => typeof t === 'string' && t.length > 0)) return CONTENT_TYPES;
  if (v.length === 0) return 'must accept at least one content type';
  const undecodable = v.filter((t: string) => contentTypeOf(t) !== 'application/json');
  if (undecodable.length === 0) return null;
  return `celeriac decodes JSON only ('json' or 'application/json'), so it cannot accept ${undecodable.map((t) => `'${t}'`).join(', ')}: a message in it fails with ContentDisallowed whatever this list says; remove it`;
};

const rate: Check = (value) => {
  if (value !== null && typeof value !== 'string' && typeof value !== 'number')
    return "expected a rate such as '10/s', '10/m', '10/h' or null";
  try {
    parseRate(value);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
};

/** What each setting accepts: a check returning the problem with a value, or null (config/checks.ts). */
export const SETTING_CHECKS: Readonly<Record<SettingKey, Check>> = {
  broker_url: check.nullable(url),
  result_backend: check.nullable(url),
  broker_transport_options: (v) => (check.isPlainObject(v) ? null : 'expected an object of transport options'),
  broker_connection_timeout: seconds,
  task_serializer: onlyJson,
  result_serializer: onlyJson,
  accept_content: acceptContent,
  result_accept_content: check.nullable(acceptContent),
  timezone: check.nullable(check.string("expected an IANA time zone such as 'UTC' or 'Europe/London'", isTimezone)),
  enable_utc: bool,
  task_routes: check.nullable(checkRoutes),
  task_annotations: check.nullable(checkAnnotations),
  task_default_queue: check.string('expected a non-empty queue name'),
  task_default_priority: check.nullable(check.integer((n) => n >= 0 && n <= 9, PRIORITY)),
  task_ignore_result: bool,
  task_track_started: bool,
  task_acks_late: bool,
  task_acks_on_failure_or_timeout: bool,
  task_default_rate_limit: rate,
  task_time_limit: check.nullable(seconds),
  task_soft_time_limit: check.nullable(seconds),
  task_send_sent_event: bool,
  result_expires: check.nullable(check.number((n) => n >= 0, 'expected seconds >= 0 (0 or null: keep forever)')),
  result_extended: bool,
  worker_concurrency: check.nullable(check.integer((n) => n > 0, 'expected a whole number of tasks > 0 (null: CPU count)')),
  worker_prefetch_multiplier: check.integer((n) => n >= 0, 'expected a whole number >= 0 (0: no limit)'),
  worker_disable_rate_limits: bool,
  worker_send_task_events: bool,
};
