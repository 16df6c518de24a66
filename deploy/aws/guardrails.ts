/**
 * Build-time checks of an AWS plan against the rules of Lambda's SQS event source, so a
 * deployment that would redeliver messages mid-run, lose ordering or land in another region
 * than its producers fails at `celeriac build`, with what to change, instead of in production.
 */
import { ConfigError } from '../../core/errors.js';
import { redact } from '../../core/registry.js';
import { splitUrl } from '../../core/provider-options.js';
import { MAX_BATCH } from '../../providers/sqs/limits.js';
import type { AwsPlan, QueuePlan } from './plan.js';

/** One or more guardrails failed; the message lists every problem. */
export class GuardrailError extends ConfigError {
  constructor(readonly problems: readonly string[]) {
    super(`celeriac build --target aws: ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
  }
}

/** Lambda's synchronous invocation payload cap (the event source invokes synchronously): 6 MB. */
export const LAMBDA_PAYLOAD_BYTES = 6_291_456;
/** A record's envelope in the event (ids, receipt handle, attributes, ARN) plus JSON escaping of the body: a generous allowance. */
const RECORD_OVERHEAD_BYTES = 2048;
const BODY_ESCAPING = 1.25;
/** DynamoDB's item size cap: a result (or a claim-checked payload) above it cannot be stored. */
const DYNAMODB_ITEM_BYTES = 409_600;

/** Throws GuardrailError listing every problem; returns warnings (risks that are allowed). */
export function checkGuardrails(plan: AwsPlan): string[] {
  const problems: string[] = [];
  const warnings: string[] = [];
  const { fn, sqs } = plan;
  const fifo = plan.queues.filter((q) => q.fifo);

  if (plan.tasks.length === 0) problems.push('the app registers no tasks: nothing to deploy.');
  checkRegions(plan, problems);
  if (!Number.isInteger(fn.timeoutS) || fn.timeoutS < 1 || fn.timeoutS > 900) {
    problems.push(`--timeout ${fn.timeoutS}: a Lambda function timeout is a whole number of seconds from 1 to 900.`);
  }
  if (!Number.isInteger(fn.memoryMb) || fn.memoryMb < 128 || fn.memoryMb > 10_240) {
    problems.push(`--memory ${fn.memoryMb}: Lambda takes 128 to 10240 MB.`);
  }
  if (!/^nodejs(\d+)\.x$/.test(fn.runtime) || Number(/\d+/.exec(fn.runtime)?.[0]) < 20) {
    problems.push(`--runtime ${fn.runtime}: use a Node.js Lambda runtime of version 20 or later (default nodejs22.x).`);
  }
  if (!Number.isInteger(fn.maxConcurrency) || fn.maxConcurrency < 2 || fn.maxConcurrency > 1000) {
    problems.push(`--max-concurrency ${fn.maxConcurrency}: ScalingConfig.MaximumConcurrency takes 2 to 1000.`);
  }

  // AWS: the queue's visibility timeout should be at least six times the function timeout plus
  // the batching window, or a message still being processed (or retried after throttling) is delivered again.
  const visibilityS = sqs.visibilityTimeoutMs / 1000;
  const neededS = 6 * fn.timeoutS + fn.batchingWindowS;
  if (visibilityS < neededS) {
    problems.push(
      `the queues' visibility timeout (${visibilityS} s) is less than 6 × the function timeout (${fn.timeoutS} s) + the batching window (${fn.batchingWindowS} s) = ${neededS} s: ` +
        `messages still being processed would be delivered again. Raise visibility_timeout in the sqs:// URL to at least ${neededS}, or lower --timeout.`,
    );
  }

  const maxBatch = fifo.length > 0 ? MAX_BATCH : 10_000;
  if (!Number.isInteger(fn.batchSize) || fn.batchSize < 1 || fn.batchSize > maxBatch) {
    problems.push(
      `--batch-size ${fn.batchSize}: an SQS event source takes 1 to ${maxBatch} records${fifo.length > 0 ? ` (FIFO queue ${names(fifo)}: at most ${MAX_BATCH})` : ''}.`,
    );
  }
  if (!Number.isInteger(fn.batchingWindowS) || fn.batchingWindowS < 0 || fn.batchingWindowS > 300) {
    problems.push(`--batching-window ${fn.batchingWindowS}: MaximumBatchingWindowInSeconds takes 0 to 300.`);
  } else if (fn.batchSize > MAX_BATCH && fn.batchingWindowS < 1) {
    problems.push(`--batch-size ${fn.batchSize} needs --batching-window of at least 1 s (Lambda's rule for batches over ${MAX_BATCH}).`);
  }
  if (fifo.length > 0 && fn.batchingWindowS > 0) {
    problems.push(`FIFO queue ${names(fifo)}: Lambda does not support a batching window on FIFO queues; use --batching-window 0.`);
  }
  if (fifo.length > 0) {
    // Partial batch responses on FIFO keep order only if the handler stops at the first failure
    // and reports it with every later record: it does, so a FIFO batch runs one task at a time.
    warnings.push(
      `FIFO queue ${names(fifo)}: records run one at a time in batch order; after a record that must come back (a result that could not be stored, an ETA not reached, no time left) the rest of the batch is returned and comes back in order. ` +
        'A retry is a new message at the end of its group, as Celery sends retries. ' +
        'An ETA cannot delay one FIFO message: it is hidden (12 h at most) and its group waits behind it.',
    );
  }

  checkBatchTime(plan, problems, warnings);

  // Lambda's event source ends a batch when its payload reaches 6 MB (a limit that cannot be
  // changed): large messages come in smaller batches than --batch-size, which is allowed.
  const recordBytes = sqs.maxMessageBytes * BODY_ESCAPING + RECORD_OVERHEAD_BYTES;
  if (fn.batchSize * recordBytes > LAMBDA_PAYLOAD_BYTES) {
    warnings.push(
      `a batch of ${fn.batchSize} messages of up to ${sqs.maxMessageBytes} bytes (max_message_bytes) can exceed Lambda's 6 MB invocation payload: ` +
        `the event source then ends the batch at 6 MB, so batches of such messages hold about ${Math.floor(LAMBDA_PAYLOAD_BYTES / recordBytes)} records, fewer than --batch-size ${fn.batchSize}.`,
    );
  }
  if (sqs.claimCheck) {
    // The function's role may use only the stack's own table: claim checks go there too.
    if (!plan.table || splitUrl(sqs.claimCheck).rest.replace(/\/$/, '') !== plan.table.name) {
      problems.push(
        `claim_check '${redact(sqs.claimCheck)}' must be the results table (dynamodb://${plan.table?.name ?? 'TABLE'}): the function may use only its stack's table.`,
      );
    } else {
      warnings.push(
        `claim_check stores oversized payloads in DynamoDB, whose items hold at most ${DYNAMODB_ITEM_BYTES} bytes: larger payloads are still refused.`,
      );
    }
  }
  if (!plan.table) warnings.push('result_backend is not set: tasks run but their results are not stored (no DynamoDB table is created).');

  if (problems.length > 0) throw new GuardrailError(problems);
  return warnings;
}

/**
 * The stack — queues, table, function — lives in one region, and the function reaches each of
 * them there: URLs naming different regions would be collapsed into one, and producers using the
 * app's URLs would look for queues or a table where none were deployed.
 */
function checkRegions(plan: AwsPlan, problems: string[]): void {
  const named = plan.regions.filter((r) => r.region !== undefined);
  if (named.length === 0) return; // every URL leaves it to the SDK's default region: one region still
  const shown = plan.regions.map((r) => `${r.setting} ${r.region ? `in ${r.region}` : 'naming none'}`).join(', ');
  if (new Set(named.map((r) => r.region)).size > 1) {
    problems.push(
      `the app's URLs name different AWS regions (${shown}), but a deployment is one stack in one region: name the same region (?region=) in each URL.`,
    );
  } else if (named.length < plan.regions.length) {
    problems.push(
      `the app's URLs do not all name the AWS region (${shown}): one naming none uses the AWS SDK's default region wherever the app runs, not necessarily the stack's: name the same region (?region=) in each URL.`,
    );
  }
}

/**
 * A batch must finish within the function timeout: a standard queue's batch runs
 * `concurrency` tasks at once, a FIFO batch one at a time. Checked against each queue's
 * longest task time limit; tasks without one are a warning (the platform's timeout is then the limit).
 */
function checkBatchTime(plan: AwsPlan, problems: string[], warnings: string[]): void {
  const { fn } = plan;
  const unlimited: string[] = [];
  for (const task of plan.tasks) {
    const limit = task.timeLimit ?? task.softTimeLimit;
    if (limit === null) unlimited.push(task.name);
    else if (limit > fn.timeoutS) {
      problems.push(
        `task ${task.name} may run ${limit} s (its time limit), longer than the function timeout of ${fn.timeoutS} s: raise --timeout or lower the limit.`,
      );
    }
  }
  for (const queue of plan.queues) {
    const limits = plan.tasks.filter((t) => t.queue === queue.name).map((t) => t.timeLimit ?? t.softTimeLimit ?? 0);
    const longest = Math.max(0, ...limits);
    const rounds = queue.fifo ? fn.batchSize : Math.ceil(fn.batchSize / Math.max(1, plan.concurrency));
    if (longest > 0 && longest <= fn.timeoutS && rounds * longest > fn.timeoutS) {
      problems.push(
        `queue '${queue.name}': a batch of ${fn.batchSize} runs in ${rounds} round(s) of up to ${longest} s = ${rounds * longest} s, more than the function timeout of ${fn.timeoutS} s; ` +
          `lower --batch-size to ${Math.min(queue.fifo ? MAX_BATCH : Number.POSITIVE_INFINITY, Math.max(1, Math.floor(fn.timeoutS / longest) * (queue.fifo ? 1 : plan.concurrency)))} or raise --timeout.`,
      );
    }
  }
  if (unlimited.length > 0) {
    warnings.push(
      `task(s) ${unlimited.join(', ')} have no time limit: a batch must finish within the function timeout (${fn.timeoutS} s) or it comes back whole; set time_limit to have this checked.`,
    );
  }
}

function names(queues: QueuePlan[]): string {
  return queues.map((q) => `'${q.name}'`).join(', ');
}
