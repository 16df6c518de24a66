/**
 * What an AWS deployment of an app consists of, worked out once from the app and the build
 * options: its queues (with dead-letter queues), the results table, the function and its
 * event sources. Guardrails check it, the template is written from it.
 */
import type { App } from '../../core/app.js';
import { ConfigError } from '../../core/errors.js';
import { splitUrl } from '../../core/provider-options.js';
import { redact, schemeOf } from '../../core/registry.js';
import { routeFor, routeMapQueues } from '../../core/routing.js';
import { parseDynamoDbUrl } from '../../providers/dynamodb/options.js';
import { parseSqsUrl, type SqsOptions } from '../../providers/sqs/options.js';
import { checkQueueName, deadLetterName } from '../../providers/sqs/queues.js';
import type { AwsFunctionOptions } from './options.js';

export interface QueuePlan {
  /** The celeriac queue name (what task_routes name). */
  name: string;
  sqsName: string;
  dlqName: string;
  fifo: boolean;
  /** CloudFormation logical ids. */
  logicalId: string;
  dlqLogicalId: string;
  mappingLogicalId: string;
}

export interface TaskPlan {
  name: string;
  queue: string;
  /** Hard and soft time limits in seconds, as the executor would apply them (task option, else the setting). */
  timeLimit: number | null;
  softTimeLimit: number | null;
}

export interface AwsPlan {
  /** app.main: names the stack and the function. */
  appName: string;
  queues: QueuePlan[];
  tasks: TaskPlan[];
  sqs: SqsOptions;
  /** The sqs:// URL the function uses: the app's, without endpoint/create, in the stack's region. */
  deployedBrokerUrl: string;
  /** The results table, or null when results are off (result_backend unset). */
  table: { name: string; deployedUrl: string } | null;
  /** The region each AWS URL names (undefined: none, the SDK's default region): broker_url, and result_backend and claim_check when set. */
  regions: Array<{ setting: string; region: string | undefined }>;
  fn: AwsFunctionOptions;
  /** Tasks a single invocation runs at once (worker_concurrency, else the whole batch). */
  concurrency: number;
}

/** Query options that only make sense off AWS (an emulator endpoint) or in development (create). */
const LOCAL_ONLY = ['endpoint', 'create', 'region'];

export function planFor(app: App, fn: AwsFunctionOptions, extraQueues: readonly string[] = []): AwsPlan {
  const conf = app.conf;
  const brokerUrl = app.brokerUrl();
  if (schemeOf(brokerUrl) !== 'sqs') {
    throw new ConfigError(
      `celeriac build --target aws needs an sqs:// broker, but broker_url is '${redact(brokerUrl)}'. Set it in the app, or pass -b 'sqs://?region=us-east-1'.`,
    );
  }
  const sqs = parseSqsUrl(brokerUrl, conf.broker_transport_options);
  const tasks = [...app.runnableTasks().values()].map(
    (t): TaskPlan => ({
      name: t.name,
      queue: routeFor(t.name, [], {}, {}, conf, t.options).queue,
      timeLimit: t.options.timeLimit ?? conf.task_time_limit,
      softTimeLimit: t.options.softTimeLimit ?? conf.task_soft_time_limit,
    }),
  );
  const names = new Set([conf.task_default_queue, ...tasks.map((t) => t.queue), ...routeMapQueues(conf.task_routes), ...extraQueues]);
  const used = new Set<string>();
  const queues = [...names].sort().map((name) => queuePlan(name, sqs.prefix, used));
  return {
    appName: app.main,
    queues,
    tasks,
    sqs,
    deployedBrokerUrl: deployedUrl(sqsUrlOf(sqs)),
    table: tablePlan(conf.result_backend),
    regions: namedRegions(sqs, conf.result_backend),
    fn,
    concurrency: conf.worker_concurrency ?? fn.batchSize,
  };
}

function queuePlan(name: string, prefix: string, used: Set<string>): QueuePlan {
  const sqsName = `${prefix}${name}`;
  checkQueueName(name, sqsName);
  // 'a-b' and 'a_b' give the same logical name, and 'a' and 'a-dead-letter' the same resource
  // ('ADeadLetterQueue' is a's DLQ and the other's queue): number the later ones.
  const idsOf = (base: string) => [`${base}Queue`, `${base}DeadLetterQueue`, `${base}EventSource`];
  let id = logicalName(name);
  for (let n = 2; idsOf(id).some((taken) => used.has(taken)); n++) id = `${logicalName(name)}${n}`;
  const [logicalId, dlqLogicalId, mappingLogicalId] = idsOf(id) as [string, string, string];
  for (const taken of [logicalId, dlqLogicalId, mappingLogicalId]) used.add(taken);
  return { name, sqsName, dlqName: deadLetterName(sqsName), fifo: sqsName.endsWith('.fifo'), logicalId, dlqLogicalId, mappingLogicalId };
}

function tablePlan(backend: string | null): AwsPlan['table'] {
  if (!backend) return null;
  if (schemeOf(backend) !== 'dynamodb') {
    throw new ConfigError(
      `celeriac build --target aws stores results in DynamoDB, but result_backend is '${redact(backend)}'. Set it to dynamodb://TABLE (or pass --result-backend dynamodb://TABLE), or leave it unset for no results.`,
    );
  }
  return { name: parseDynamoDbUrl(backend).table, deployedUrl: deployedUrl(backend) };
}

function namedRegions(sqs: SqsOptions, backend: string | null): AwsPlan['regions'] {
  return [
    { setting: 'broker_url', region: sqs.region },
    ...(backend ? [{ setting: 'result_backend', region: parseDynamoDbUrl(backend).region }] : []),
    ...(sqs.claimCheck ? [{ setting: 'claim_check', region: splitUrl(sqs.claimCheck).query.get('region') || undefined }] : []),
  ];
}

/**
 * Every setting the app gives its sqs:// broker, in the URL or in broker_transport_options, as
 * one URL (settings left at their defaults left out): the deployed function takes its broker from
 * this URL alone (deploy/aws/handler.ts), not from development transport options bundled with the
 * app (an emulator endpoint, a local claim_check store).
 */
function sqsUrlOf(sqs: SqsOptions): string {
  const defaults = parseSqsUrl('sqs://');
  const query = new URLSearchParams();
  const settings: Array<[string, string | number | undefined, string | number | undefined]> = [
    ['prefix', sqs.prefix, defaults.prefix],
    ['visibility_timeout', sqs.visibilityTimeoutMs / 1000, defaults.visibilityTimeoutMs / 1000],
    ['wait_time_seconds', sqs.waitTimeSeconds, defaults.waitTimeSeconds],
    ['max_receive_count', sqs.maxReceiveCount, defaults.maxReceiveCount],
    ['max_message_bytes', sqs.maxMessageBytes, defaults.maxMessageBytes],
    ['claim_check', sqs.claimCheck, undefined],
  ];
  for (const [key, value, fallback] of settings) if (value !== undefined && value !== fallback) query.set(key, String(value));
  const options = query.toString();
  return `sqs://${options ? `?${options}` : ''}`;
}

/**
 * The URL as the deployed function uses it: no emulator endpoint, no create, the stack's own
 * region (a CloudFormation Fn::Sub string) — in a claim_check store URL inside it too.
 */
function deployedUrl(url: string): string {
  return regionalUrl(url).replaceAll(STACK_REGION, `\${AWS::Region}`);
}

/** Stands for the stack's region until the URL is encoded: letters only, so encoding leaves it as it is. */
const STACK_REGION = 'CeleriacStackRegion';

function regionalUrl(url: string): string {
  const { scheme, rest, query } = splitUrl(url);
  for (const key of LOCAL_ONLY) query.delete(key);
  const claimCheck = query.get('claim_check');
  if (claimCheck) query.set('claim_check', regionalUrl(claimCheck));
  const options = query.toString();
  return `${scheme}://${rest}?region=${STACK_REGION}${options ? `&${options}` : ''}`;
}

/** A CloudFormation logical id (alphanumeric) from a queue name: 'math-fast.fifo' → 'MathFastFifo'. */
function logicalName(name: string): string {
  const id = name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join('');
  return id || 'Default';
}
