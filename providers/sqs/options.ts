/**
 * sqs:// URL options, validated once at the edge:
 *
 *   sqs://?region=us-east-1&endpoint=http://127.0.0.1:4566&prefix=dev-&create=true
 *
 * region (else the SDK's default chain: AWS_REGION...), endpoint (an emulator; else AWS),
 * prefix (prepended to every queue name), create (create missing queues and their dead-letter
 * queues — development only), visibility_timeout (s, default 3600, at most SQS's 43200),
 * wait_time_seconds (long polling, 0–20, default 20), max_receive_count (the RedrivePolicy of
 * queues created here, default 10), max_message_bytes (default 262144), claim_check (a store
 * URL, URL-encoded: payloads over the cap are stored there and referenced). The URL wins over
 * broker_transport_options, which take Celery's SQS names (region, queue_name_prefix,
 * wait_time_seconds, visibility_timeout) and endpoint, max_receive_count, max_message_bytes,
 * claim_check; any other key is refused (kombu's other SQS options are named as unsupported).
 */
import { ConfigError } from '../../core/errors.js';
import {
  checkQuery,
  checkTransportOptions,
  createOption,
  credentialsInUrl,
  endpointOption,
  numberOption,
  regionOption,
  splitUrl,
  visibilityTimeoutMs,
} from '../../core/provider-options.js';
import { redact } from '../../core/registry.js';
import { DEFAULT_MAX_MESSAGE_BYTES, MAX_VISIBILITY_S, MAX_WAIT_S } from './limits.js';

export interface SqsOptions {
  region?: string;
  endpoint?: string;
  prefix: string;
  create: boolean;
  visibilityTimeoutMs: number;
  waitTimeSeconds: number;
  maxReceiveCount: number;
  maxMessageBytes: number;
  /** URL of the KeyValueStore that holds oversized payloads. */
  claimCheck?: string;
}

const KNOWN = [
  'region',
  'endpoint',
  'prefix',
  'create',
  'visibility_timeout',
  'wait_time_seconds',
  'max_receive_count',
  'max_message_bytes',
  'claim_check',
] as const;

/** The broker_transport_options read below: kombu's SQS names first, then celeriac's own. */
const TRANSPORT_OPTIONS = [
  'region',
  'queue_name_prefix',
  'visibility_timeout',
  'wait_time_seconds',
  'endpoint',
  'max_receive_count',
  'max_message_bytes',
  'claim_check',
];

const SDK_CREDENTIALS = "credentials come from the AWS SDK's default chain: the environment, AWS_PROFILE, or the role the code runs under";

/**
 * kombu 5.2's other SQS transport options (kombu/transport/SQS.py, virtual/base.py, and the
 * connection retry options of connection.py), with what to do instead where there is something.
 */
const UNSUPPORTED_TRANSPORT_OPTIONS: Readonly<Record<string, string | null>> = {
  predefined_queues: 'each queue is found by its name (with prefix) under the credentials in use',
  polling_interval: 'the broker long-polls SQS for wait_time_seconds rather than polling at an interval',
  'sqs-creation-attributes': 'create production queues with your infrastructure tool (create=true is for development only)',
  'client-config': null,
  sts_role_arn: SDK_CREDENTIALS,
  sts_token_timeout: SDK_CREDENTIALS,
  regioninfo: 'set region',
  is_secure: 'set endpoint',
  port: 'set endpoint',
  sqs_base64_encoding: null,
  body_encoding: null,
  deadletter_queue: null,
  max_retries: null,
  interval_start: null,
  interval_step: null,
  interval_max: null,
};

export function parseSqsUrl(url: string, transportOptions: Record<string, unknown> = {}): SqsOptions {
  const { scheme, rest, query } = splitUrl(url);
  if (scheme !== 'sqs') throw new ConfigError(`'${redact(url)}' is not an sqs:// URL`);
  // Celery's form sqs://KEY:SECRET@.
  if (rest.includes('@')) throw credentialsInUrl('sqs', 'sqs://?region=us-east-1');
  if (rest !== '' && rest !== '/') {
    throw new ConfigError(`'${redact(url)}': sqs:// takes its settings as query options, e.g. sqs://?region=us-east-1&prefix=dev-`);
  }
  checkQuery(url, query, KNOWN);
  checkTransportOptions(url, transportOptions, { transport: 'SQS', read: TRANSPORT_OPTIONS, unsupported: UNSUPPORTED_TRANSPORT_OPTIONS });
  const pick = (key: string, optionKey = key): unknown => query.get(key) ?? transportOptions[optionKey] ?? undefined;
  const text = (key: string, optionKey = key): string | undefined => {
    const v = pick(key, optionKey);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ConfigError(`${key} for '${redact(url)}' must be a string, got ${JSON.stringify(v)}`);
    return v;
  };
  const integer = (key: string, min: number, max: number, fallback: number, optionKey = key): number => {
    const v = pick(key, optionKey);
    if (v === undefined || v === null || v === '') return fallback;
    return numberOption(
      v,
      `${key} for '${redact(url)}'`,
      (n) => Number.isInteger(n) && n >= min && n <= max,
      `a whole number from ${min} to ${max}`,
    );
  };

  const prefix = text('prefix', 'queue_name_prefix') ?? '';
  if (!/^[A-Za-z0-9_-]*$/.test(prefix)) {
    throw new ConfigError(`prefix '${prefix}' for '${redact(url)}' may hold only letters, digits, '-' and '_' (SQS queue name rules)`);
  }
  return {
    region: regionOption(url, text('region')),
    endpoint: endpointOption(url, text('endpoint'), 'http://127.0.0.1:4566'),
    prefix,
    create: createOption(url, query),
    visibilityTimeoutMs: sqsVisibilityTimeoutMs(url, visibilityTimeoutMs(url, query, transportOptions)),
    waitTimeSeconds: integer('wait_time_seconds', 0, MAX_WAIT_S, MAX_WAIT_S),
    // SQS allows 1–1000.
    maxReceiveCount: integer('max_receive_count', 1, 1000, 10),
    // SQS accepts 1 KiB–1 MiB.
    maxMessageBytes: integer('max_message_bytes', 1024, 1_048_576, DEFAULT_MAX_MESSAGE_BYTES),
    claimCheck: claimCheckOption(url, text('claim_check')),
  };
}

/** SQS refuses a visibility timeout over 12 hours: a longer one would be cut short, not kept. */
function sqsVisibilityTimeoutMs(url: string, ms: number): number {
  if (ms > MAX_VISIBILITY_S * 1000) {
    throw new ConfigError(
      `visibility_timeout for '${redact(url)}' must be at most ${MAX_VISIBILITY_S} s (12 hours, SQS's maximum), got ${ms / 1000} s`,
    );
  }
  return ms;
}

function claimCheckOption(url: string, store: string | undefined): string | undefined {
  if (store === undefined) return undefined;
  try {
    splitUrl(store);
    return store;
  } catch {
    throw new ConfigError(
      `claim_check for '${redact(url)}' must be the URL of a store such as dynamodb://TABLE?region=us-east-1 (URL-encoded in the query), got '${redact(store)}'`,
    );
  }
}
