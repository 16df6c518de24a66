/**
 * The Lambda handler for SQS events: a driver of the one executor (DESIGN.md "One executor,
 * many drivers"). Each record becomes a Delivery (lambda-delivery.ts) and the executor decides
 * its fate; the handler answers with a partial batch response, so only the records that must
 * come back are reported (`batchItemFailures`) and Lambda deletes the rest.
 *
 * - Succeeded, failed (FAILURE stored), revoked, dead-lettered (malformed, unknown task, content
 *   not accepted — moved to the DLQ with its reason by the provider): not reported, deleted.
 * - retryLater, as the provider's lease does it: a retry (retries+1), an ETA not reached and a
 *   hand-back after a delay (a result that could not be stored) are re-sent with DelaySeconds
 *   (900 s hops beyond 15 min) and the original succeeds — so waiting never counts toward the
 *   queue's maxReceiveCount. A hand-back at once (no time left), and every delay on a FIFO queue
 *   (no per-message delay there), is ChangeMessageVisibility and a reported failure: it comes
 *   back after the delay, and repeated failures end in the DLQ.
 * - The invocation's remaining time, less a margin to store the result, caps every task's
 *   soft time limit: the task's AbortSignal fires before Lambda stops the function. A task
 *   that started late in the batch and is stopped by that cap, one that finds no time left, and
 *   one whose rate limit's next token comes after the deadline are handed back (reported
 *   failed) to run in a fresh invocation; a task that had the whole invocation and still ran
 *   out fails with SoftTimeLimitExceeded (a fresh invocation would cut it short again). The
 *   time left caps the hard limit too, a little later: a task that ignores its signal is
 *   abandoned there (handed back, or TimeLimitExceeded, by the same rule) and the handler still
 *   answers in time, rather than Lambda timing out the whole batch.
 * - Standard queues: the batch's records run concurrently (worker_concurrency at most, when
 *   set). FIFO queues: one at a time in order; a record that must come back is reported failed
 *   with every later record of its message group, those unrun, so the group's order holds; the
 *   other groups' records run on (AWS Powertools' skipGroupOnError).
 * - A crash (or the function timeout) fails the whole invocation: every record comes back
 *   after the visibility timeout. Nothing is lost, results are at least once.
 * - SQS has no broadcast: before each record runs, the revokes and rate limits that
 *   `celeriac control` wrote to the result store are read (core/overrides.ts, cached 1 s), so a
 *   revoked id ends REVOKED and a new rate limit holds on every instance (each its own bucket).
 */
import type { App } from '../../core/app.js';
import { type DriverDeps, executorDeps } from '../../core/executor/deps.js';
import { executeDelivery } from '../../core/executor.js';
import { type Logger, createLogger, parseLogLevel } from '../../core/log.js';
import { redact, registerProvider } from '../../core/registry.js';
import { logTaskEvent } from '../../core/worker/task-log.js';
import { provider as dynamoDbProvider } from '../../providers/dynamodb/index.js';
import { SqsBroker } from '../../providers/sqs/broker.js';
import { provider as sqsProvider } from '../../providers/sqs/index.js';
import { InvocationSettle, queueNameOf, recordDelivery } from './lambda-delivery.js';
import type { LambdaContext, SqsBatchResponse, SqsEvent, SqsRecord } from './lambda-types.js';

export type SqsHandler = (event: SqsEvent, context: LambdaContext) => Promise<SqsBatchResponse>;

export interface HandlerOptions {
  logger?: Logger;
}

/** Most records a standard batch runs at once when worker_concurrency is unset: the whole batch (Lambda allows up to 10,000). */
const WHOLE_BATCH = 10_000;
/**
 * Time kept back from the soft limit to store the result and answer: 10% of what is left, at most
 * 2 s. The hard limit falls halfway through it: a task that ignores its signal is abandoned there,
 * leaving the other half to settle it and answer for the whole batch before Lambda times out.
 */
const marginMs = (remainingMs: number): number => Math.min(2000, remainingMs * 0.1);

/** What one function instance sets up once (at its first invocation) and keeps. */
interface Instance {
  deps: DriverDeps;
  broker: SqsBroker;
}

export function lambdaHandler(app: App, options: HandlerOptions = {}): SqsHandler {
  // The two providers a Lambda uses, imported statically: core's registry loads providers with
  // import(), which a one-file bundle can only inline whole (every SDK command, not tree-shaken).
  registerProvider(['sqs'], sqsProvider);
  registerProvider(['dynamodb'], dynamoDbProvider);
  const log = options.logger ?? createLogger({ level: parseLogLevel(process.env.CELERIAC_LOGLEVEL ?? 'warning') });
  let instance: Promise<Instance> | undefined;
  const setUp = (): Promise<Instance> => {
    instance ??= start(app, log).catch((err) => {
      instance = undefined; // the next invocation tries again
      throw err;
    });
    return instance;
  };

  return async (event, context) => {
    const invokedAt = Date.now();
    checkSqsEvent(event);
    // A failure here (a missing queue or table) fails the invocation: the whole batch comes back.
    const { deps, broker } = await setUp();
    const settle = new InvocationSettle(broker.client);
    const leases = broker.leaseContext(settle);
    const margin = marginMs(context.getRemainingTimeInMillis());
    const invocation: DriverDeps = {
      ...deps,
      timeLeftMs: () => context.getRemainingTimeInMillis() - margin,
      timeBudgetMs: context.getRemainingTimeInMillis() - margin,
      hardTimeLeftMs: () => context.getRemainingTimeInMillis() - margin / 2,
    };

    const queueOf = (record: SqsRecord) => broker.queues.get(celeriacQueue(queueNameOf(record), broker.options.prefix));

    const showAgain = async (record: SqsRecord): Promise<void> => {
      try {
        const queue = await queueOf(record);
        await settle.changeVisibility({ queueUrl: queue.url, receiptHandle: record.receiptHandle, seconds: 0 });
      } catch (error) {
        // It then comes back after the visibility timeout, as any reported failure.
        deps.onEvent?.({ type: 'internal-error', during: `making SQS message ${record.messageId} visible again`, error });
      }
    };

    const run = async (record: SqsRecord): Promise<boolean> => {
      try {
        const delivery = await recordDelivery(record, await queueOf(record), invokedAt, leases);
        // SQS has no broadcast: revokes and rate limits set by `celeriac control` are read from the result store (deps.overrides).
        await executeDelivery(delivery, invocation);
        return settle.succeeded(record);
      } catch (error) {
        // Not settled: reported failed, it comes back after the visibility timeout.
        deps.onEvent?.({ type: 'internal-error', during: `handling SQS message ${record.messageId}`, error });
        return false;
      }
    };

    const records = event.Records;
    const failed: SqsRecord[] = [];
    if (records.some((r) => queueNameOf(r).endsWith('.fifo'))) {
      // The message groups with a record that must come back: their later records are not run.
      const stopped = new Set<string>();
      const unrun: SqsRecord[] = [];
      for (const record of records) {
        const group = record.attributes.MessageGroupId ?? '';
        if (stopped.has(group)) {
          unrun.push(record);
          failed.push(record);
        } else if (!(await run(record))) {
          stopped.add(group);
          failed.push(record);
        }
      }
      // Lambda leaves a reported failure hidden for the whole visibility timeout: the records
      // not run are made visible now. SQS keeps them behind the failed one of their group (a
      // group with a message in flight is not served).
      await Promise.all(unrun.map(showAgain));
    } else {
      const outcomes = await Promise.all(records.map(run));
      failed.push(...records.filter((_, i) => !outcomes[i]));
    }
    // Visibility changes go out before the answer: Lambda may freeze the instance right after.
    await settle.drain();
    return { batchItemFailures: failed.map((r) => ({ itemIdentifier: r.messageId })) };
  };
}

async function start(app: App, log: Logger): Promise<Instance> {
  // Deployed (the stack sets CELERIAC_BROKER_URL), the broker URL states every setting
  // (deploy/aws/plan.ts): transport options bundled with the app are development ones.
  if (process.env.CELERIAC_BROKER_URL) await app.configFromObject({ broker_transport_options: {} });
  const broker = await app.broker();
  if (!(broker instanceof SqsBroker)) {
    throw new Error(`The Lambda handler needs an sqs:// broker; broker_url is '${redact(app.brokerUrl())}'.`);
  }
  const deps = await executorDeps(app, {
    concurrency: app.conf.worker_concurrency ?? WHOLE_BATCH,
    hostname: `celery@${process.env.AWS_LAMBDA_FUNCTION_NAME ?? app.main}`,
    republish: (m) => broker.publish(m.queue, [m]),
    onEvent: (e) => logTaskEvent(log, e),
  });
  return { deps, broker };
}

/**
 * The function is meant for an SQS event source mapping; any other event (the console's test
 * event, an API Gateway or SNS trigger wired to it by mistake) fails the invocation and says so,
 * rather than answering "nothing failed" or a TypeError.
 */
function checkSqsEvent(event: unknown): asserts event is SqsEvent {
  const records: unknown = (event as { Records?: unknown } | null)?.Records;
  // SNS and S3 records name their source EventSource, SQS records eventSource.
  type Source = { eventSource?: unknown; EventSource?: unknown; eventSourceARN?: unknown } | null;
  const bad = Array.isArray(records)
    ? (records as Source[]).find((r) => r?.eventSource !== 'aws:sqs' || typeof r.eventSourceARN !== 'string')
    : undefined;
  if (!Array.isArray(records) || bad !== undefined) {
    const got = Array.isArray(records)
      ? `a record from ${JSON.stringify(bad?.eventSource ?? bad?.EventSource ?? 'an unknown source')}`
      : `an event with keys ${JSON.stringify(Object.keys(event ?? {}))}`;
    throw new Error(
      `This celeriac handler runs SQS messages from an event source mapping (Records from aws:sqs); it was invoked with ${got}.`,
    );
  }
}

/** The celeriac queue an SQS queue serves: its name without the broker's prefix. */
function celeriacQueue(sqsName: string, prefix: string): string {
  return prefix && sqsName.startsWith(prefix) ? sqsName.slice(prefix.length) : sqsName;
}
