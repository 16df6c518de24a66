/**
 * sqs:// — Amazon SQS as the broker (DESIGN.md: the queue service is the broker).
 *
 *   sqs://?region=us-east-1                                   AWS, queues named as the routes
 *   sqs://?region=us-east-1&prefix=prod-                      queue 'celery' is SQS queue 'prod-celery'
 *   sqs://?endpoint=http://127.0.0.1:4566&prefix=dev-&create=true   an emulator; missing queues created
 *
 * Options: see options.ts. The body of every SQS message is kombu's JSON envelope (§2.1), the
 * same text local:// and redis:// carry: one decoder (core/envelope.ts) for every transport and
 * the Lambda handler, a dead letter that can be redriven as-is, and the task's headers kept
 * together with its body. What SQS or Lambda can filter on is copied into message attributes:
 * celeriac.task, celeriac.id, celeriac.priority (when > 0), and on dead letters celeriac.reason.
 *
 * `@aws-sdk/client-sqs` is an optional peer dependency: it is imported only here, and this
 * module is loaded only when a URL names sqs://.
 */
import type { KeyValueStore, ProviderFactories } from '../../core/ports.js';
import { SqsBroker } from './broker.js';
import { parseSqsUrl } from './options.js';

export { SqsBroker, type SqsBrokerDeps } from './broker.js';
export { CLAIM_CHECK_ATTRIBUTE, resolveBody } from './claim-check.js';
export { REASON_ATTRIBUTE } from './lease.js';
export { MessageTooLarge } from '../../core/errors.js';
export { MAX_DELAY_S, messageBytes } from './limits.js';
export { parseSqsUrl, type SqsOptions } from './options.js';
export { deadLetterName, type SqsQueue } from './queues.js';
export { countRequests, type RequestCounts } from './request-counter.js';

export interface SqsBrokerOptions {
  /** broker_transport_options (Celery's SQS names); the URL's query wins. */
  transportOptions?: Record<string, unknown>;
  client?: import('@aws-sdk/client-sqs').SQSClient;
  claimCheckStore?: KeyValueStore;
  /** broker_connection_timeout (ms), for the claim-check store. */
  connectTimeoutMs?: number;
}

export function sqsBroker(url = 'sqs://', options: SqsBrokerOptions = {}): SqsBroker {
  const transportOptions = options.transportOptions ?? {};
  return new SqsBroker(url, parseSqsUrl(url, transportOptions), {
    ...options,
    transportOptions,
  });
}

export const provider: ProviderFactories = {
  broker: (url, ctx) => sqsBroker(url, { transportOptions: ctx.transportOptions, connectTimeoutMs: ctx.connectTimeoutMs }),
};
