/**
 * Celery's old UPPERCASE setting names (celery-protocol.md §9, celery/app/defaults.py) mapped
 * to the lowercase names celeriac uses, so a Celery 3-style config module loads unchanged.
 */

/** Old name → new name, as Celery 5.2 maps them. */
export const OLD_SETTING_NAMES: Readonly<Record<string, string>> = {
  BROKER_URL: 'broker_url',
  BROKER_TRANSPORT_OPTIONS: 'broker_transport_options',
  BROKER_CONNECTION_TIMEOUT: 'broker_connection_timeout',
  BROKER_POOL_LIMIT: 'broker_pool_limit',
  BROKER_HEARTBEAT: 'broker_heartbeat',
  CELERY_RESULT_BACKEND: 'result_backend',
  CELERY_TASK_RESULT_EXPIRES: 'result_expires',
  CELERY_RESULT_SERIALIZER: 'result_serializer',
  CELERY_RESULT_EXTENDED: 'result_extended',
  CELERY_RESULT_COMPRESSION: 'result_compression',
  CELERY_TASK_SERIALIZER: 'task_serializer',
  CELERY_ACCEPT_CONTENT: 'accept_content',
  CELERY_TASK_PROTOCOL: 'task_protocol',
  CELERY_ROUTES: 'task_routes',
  CELERY_ANNOTATIONS: 'task_annotations',
  CELERY_IGNORE_RESULT: 'task_ignore_result',
  CELERY_TRACK_STARTED: 'task_track_started',
  CELERY_ACKS_LATE: 'task_acks_late',
  CELERY_ACKS_ON_FAILURE_OR_TIMEOUT: 'task_acks_on_failure_or_timeout',
  CELERYD_TASK_TIME_LIMIT: 'task_time_limit',
  CELERYD_TASK_SOFT_TIME_LIMIT: 'task_soft_time_limit',
  CELERY_DEFAULT_RATE_LIMIT: 'task_default_rate_limit',
  CELERY_DEFAULT_QUEUE: 'task_default_queue',
  CELERY_DEFAULT_EXCHANGE: 'task_default_exchange',
  CELERY_DEFAULT_ROUTING_KEY: 'task_default_routing_key',
  CELERY_DEFAULT_PRIORITY: 'task_default_priority',
  CELERY_QUEUES: 'task_queues',
  CELERY_CREATE_MISSING_QUEUES: 'task_create_missing_queues',
  CELERY_ALWAYS_EAGER: 'task_always_eager',
  CELERY_EAGER_PROPAGATES_EXCEPTIONS: 'task_eager_propagates',
  CELERY_MESSAGE_COMPRESSION: 'task_compression',
  CELERY_SEND_TASK_SENT_EVENT: 'task_send_sent_event',
  CELERY_SEND_EVENTS: 'worker_send_task_events',
  CELERYD_PREFETCH_MULTIPLIER: 'worker_prefetch_multiplier',
  CELERYD_CONCURRENCY: 'worker_concurrency',
  CELERYD_POOL: 'worker_pool',
  CELERYD_MAX_TASKS_PER_CHILD: 'worker_max_tasks_per_child',
  CELERY_DISABLE_RATE_LIMITS: 'worker_disable_rate_limits',
  CELERY_TIMEZONE: 'timezone',
  // Not CELERY_ENABLE_UTC: see MISSPELLED_OLD_NAMES.
  ENABLE_UTC: 'enable_utc',
  CELERYBEAT_SCHEDULE: 'beat_schedule',
};

/**
 * Old-looking names that Celery 5.2.6 silently ignores (§9 "Surprise", observed): celeriac
 * accepts them for the setting they obviously mean, and warns that the same file would not
 * have this effect under Celery.
 */
export const MISSPELLED_OLD_NAMES: Readonly<Record<string, { key: string; celeryName: string }>> = {
  CELERY_ENABLE_UTC: { key: 'enable_utc', celeryName: 'ENABLE_UTC' },
  CELERY_RESULT_EXPIRES: { key: 'result_expires', celeryName: 'CELERY_TASK_RESULT_EXPIRES' },
};

export interface ResolvedName {
  /** The lowercase name the key stands for (possibly one celeriac does not support). */
  key: string;
  /** Set when the name is accepted here but means nothing to Celery 5.2. */
  warning?: string;
}

/** Maps an old UPPERCASE name to its new name; other names are returned unchanged. */
export function resolveSettingName(name: string): ResolvedName {
  const old = OLD_SETTING_NAMES[name];
  if (old !== undefined) return { key: old };
  const misspelled = MISSPELLED_OLD_NAMES[name];
  if (misspelled !== undefined) {
    return {
      key: misspelled.key,
      warning:
        `${name} is read as ${misspelled.key}, but Celery 5.2 silently ignores ${name}: ` +
        `write ${misspelled.key} (or ${misspelled.celeryName}) so the file means the same to Celery.`,
    };
  }
  return { key: name };
}
