/**
 * bench/aws-requests.ts [--tasks 10000] [--lanes 4]
 *
 * SQS requests and DynamoDB writes per task on the AWS path: enqueue N tasks with a producer,
 * then drain them with the built Lambda handler driven by the event-source stand-in
 * (test/support/lambda-poller.ts), against fauxqs and dynalite. Every SQS request is counted
 * by SDK middleware on every client involved — the producer's, the poller's (Lambda's event
 * source receives and deletes) and the handler's — and every DynamoDB write on the handler's.
 * Targets: ≤ 0.35 SQS requests per task (the floor is 0.30: one tenth each to send, receive,
 * delete), ≤ 1 DynamoDB write per task with task_track_started off. Prints one JSON line.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { parseArgs } from 'node:util';
import { createApp } from 'celeriac';
import { countRequests } from '../providers/sqs/request-counter.js';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, startDynalite, startFauxqs } from '../test/support/aws-emulators.js';
import { type Template, createStack } from '../test/support/aws-stack.js';
import { inProcessFunction } from '../test/support/lambda-function.js';
import { LambdaPoller } from '../test/support/lambda-poller.js';
import { buildBenchHandler } from './aws-fixture.js';

const { values } = parseArgs({ options: { tasks: { type: 'string', default: '10000' }, lanes: { type: 'string', default: '4' } } });
const n = Number(values.tasks);
const built = buildBenchHandler();
const [sqsEmulator, dynamoEmulator] = await Promise.all([startFauxqs(), startDynalite()]);
try {
  const clientOptions = { region: EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS };
  const sqs = new SQSClient({ ...clientOptions, endpoint: sqsEmulator.endpoint });
  const dynamodb = new DynamoDBClient({ ...clientOptions, endpoint: dynamoEmulator.endpoint });
  const stack = await createStack(built.template as unknown as Template, sqs, dynamodb);
  const brokerUrl = `sqs://?region=${EMULATOR_REGION}&endpoint=${sqsEmulator.endpoint}&prefix=b-&visibility_timeout=360`;
  const backendUrl = `dynamodb://bench-results?region=${EMULATOR_REGION}&endpoint=${dynamoEmulator.endpoint}`;
  Object.assign(process.env, {
    CELERIAC_BROKER_URL: brokerUrl,
    CELERIAC_RESULT_BACKEND: backendUrl,
    AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
    AWS_REGION: EMULATOR_REGION,
  });

  const producer = createApp('producer', { broker: brokerUrl, backend: backendUrl });
  const fn = await inProcessFunction(built.handler, 60_000);
  // The handler's own clients: the bundle's app opens them as it will on Lambda.
  const handlerApp = fn.module.app as ReturnType<typeof createApp>;
  type WithClient = { client: SQSClient };
  const counts = {
    producer: countRequests(((await producer.broker()) as unknown as WithClient).client),
    poller: countRequests(sqs),
    handler: countRequests(((await handlerApp.broker()) as unknown as WithClient).client),
  };
  const dynamoWrites = countRequests(((await handlerApp.backend()) as unknown as { kv: { client: DynamoDBClient } }).kv.client);

  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => producer.sendTask('bench.noop', [i + j])));
  }
  const enqueueMs = performance.now() - t0;

  const mapping = stack.mappings[0];
  if (!mapping) throw new Error('the template has no event source mapping');
  const poller = new LambdaPoller(sqs, fn, {
    queueUrl: mapping.queue.url,
    queueArn: mapping.queue.arn,
    batchSize: mapping.batchSize,
    batchingWindowS: mapping.batchingWindowS,
    maxConcurrency: Number(values.lanes),
    waitTimeSeconds: 5,
  });
  let done = 0;
  let failures = 0;
  const t1 = performance.now();
  await new Promise<void>((resolve) => {
    poller.on('invoked', (r: { messageIds: string[]; failed: string[] }) => {
      done += r.messageIds.length - r.failed.length;
      failures += r.failed.length;
      if (done >= n) resolve();
    });
    poller.start();
  });
  const drainMs = performance.now() - t1;
  await poller.stop();

  const sqsTotal = counts.producer.total + counts.poller.total + counts.handler.total;
  const writes = Object.entries(dynamoWrites.byCommand)
    .filter(([command]) => /^(Put|Update|Delete)Item/.test(command))
    .reduce((sum, [, c]) => sum + c, 0);
  console.log(
    JSON.stringify({
      bench: 'aws-requests',
      tasks: n,
      sqsRequestsPerTask: +(sqsTotal / n).toFixed(4),
      sqsRequests: {
        producer: counts.producer.byCommand,
        eventSource: counts.poller.byCommand,
        handler: counts.handler.byCommand,
      },
      dynamoWritesPerTask: +(writes / n).toFixed(4),
      dynamoRequests: dynamoWrites.byCommand,
      reportedFailures: failures,
      enqueueMs: Math.round(enqueueMs),
      drainMs: Math.round(drainMs),
      targets: { sqsRequestsPerTask: 0.35, dynamoWritesPerTask: 1 },
    }),
  );
  await producer.close();
  await handlerApp.close();
  sqs.destroy();
  dynamodb.destroy();
} finally {
  await Promise.all([sqsEmulator.stop(), dynamoEmulator.stop()]);
  built.cleanup();
}
