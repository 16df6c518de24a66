/**
 * `celeriac build --target aws` and `celeriac deploy --target aws`: the bundle, the
 * CloudFormation template (resources and least-privilege IAM), and the guardrails.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.js';
import { createApp } from '../../core/index.js';
import { createLogger } from '../../core/log.js';
import { type AwsBuildResult, buildAws } from '../../deploy/aws/build.js';
import { deployCommand, stackNameFor } from '../../deploy/aws/deploy.js';
import { GuardrailError, checkGuardrails } from '../../deploy/aws/guardrails.js';
import { lambdaHandler } from '../../deploy/aws/handler.js';
import { AWS_FUNCTION_DEFAULTS, type AwsFunctionOptions } from '../../deploy/aws/options.js';
import { planFor } from '../../deploy/aws/plan.js';
import { cloudFormationTemplate } from '../../deploy/aws/template.js';
import { celeriac, ensureBuilt } from '../cli/harness.js';
import { makeAwsProject } from './aws-harness.js';
import { thrownMessage } from '../core/helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: a parsed template is read by path, as a test reads JSON.
type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] };
type Intrinsic = { 'Fn::GetAtt'?: [string, string] };
let project: ReturnType<typeof makeAwsProject>;
let build: AwsBuildResult;
let resources: Record<string, Resource>;

beforeAll(async () => {
  await ensureBuilt();
  project = makeAwsProject();
  build = await buildAws({ app: 'tasks', cwd: project.dir, outdir: 'out', timeoutS: 2, maxConcurrency: 5 });
  resources = JSON.parse(readFileSync(build.template, 'utf8')).Resources;
});

afterAll(() => project?.cleanup());

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

describe('celeriac build --target aws', () => {
  it('bundles the tasks and the handler into one minified ESM file with a source map, without the other providers', () => {
    expect(build.handler).toBe(join(project.dir, 'out/handler/index.mjs'));
    expect(existsSync(`${build.handler}.map`)).toBe(true);
    const code = readFileSync(build.handler, 'utf8');
    expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/);
    expect(code).toContain('awstasks.fail');
    for (const absent of ['better-sqlite3', 'ioredis', 'journal_mode', 'commander']) expect(code).not.toContain(absent);
    expect(code).toContain('is not in the AWS Lambda bundle');
    expect(build.bytes).toBeLessThan(1_500_000);
  });

  it('writes a CloudFormation template with queues and DLQs per route, the results table with TTL, the function and its event sources', () => {
    const queues = Object.fromEntries(ofType('AWS::SQS::Queue').map(([id, r]) => [id, r.Properties]));
    expect(
      Object.values(queues)
        .map((q) => q.QueueName)
        .sort(),
    ).toEqual(['t-celery', 't-celery-dlq', 't-ordered-dlq.fifo', 't-ordered.fifo']);
    expect(queues.CeleryQueue).toMatchObject({
      VisibilityTimeout: 12,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['CeleryDeadLetterQueue', 'Arn'] }, maxReceiveCount: 3 },
    });
    expect(queues.OrderedFifoQueue?.FifoQueue).toBe(true);
    expect(queues.OrderedFifoDeadLetterQueue?.FifoQueue).toBe(true);

    const [[, table] = []] = ofType('AWS::DynamoDB::Table');
    expect(table?.Properties).toMatchObject({
      TableName: 'celeriac-results',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
    });

    const [[, fn] = []] = ofType('AWS::Lambda::Function');
    expect(fn?.Properties).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler', Code: 'handler', Timeout: 2 });
    expect(fn?.Properties.Environment.Variables.CELERIAC_BROKER_URL['Fn::Sub']).toBe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax, not a JS template.
      'sqs://?region=${AWS::Region}&prefix=t-&visibility_timeout=12&max_receive_count=3',
    );

    const mappings = ofType('AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties);
    expect(mappings).toHaveLength(2);
    for (const m of mappings) {
      expect(m).toMatchObject({
        BatchSize: 10,
        ScalingConfig: { MaximumConcurrency: 5 },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
    const fifo = mappings.find((m) => m.EventSourceArn['Fn::GetAtt'][0] === 'OrderedFifoQueue');
    expect(fifo).not.toHaveProperty('MaximumBatchingWindowInSeconds');
  });

  it('gives the function a least-privilege role: only the actions it uses, only on the stack resources', () => {
    const [[, role] = []] = ofType('AWS::IAM::Role');
    expect(role?.Properties.ManagedPolicyArns).toBeUndefined();
    const statements = role?.Properties.Policies.flatMap(
      (p: { PolicyDocument: { Statement: unknown[] } }) => p.PolicyDocument.Statement,
    ) as Array<{ Action: string[]; Resource: unknown[] }>;
    const actions = statements.flatMap((s) => s.Action).sort();
    expect(actions).toEqual(
      [
        'dynamodb:BatchGetItem',
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
        'sqs:SendMessage',
      ].sort(),
    );
    const stackIds = new Set(Object.keys(resources));
    for (const s of statements) {
      expect(s.Action.some((a) => a.includes('*'))).toBe(false);
      for (const r of s.Resource) {
        // Every resource is one of this stack's (by GetAtt of its ARN): no wildcards, no other accounts.
        const named = (r as Intrinsic)['Fn::GetAtt']?.[0];
        expect(stackIds.has(named ?? '')).toBe(true);
      }
    }
    // The log group's Arn attribute ends in ':*', which covers its streams: nothing appended to it.
    expect(statements.find((s) => s.Action.includes('logs:PutLogEvents'))?.Resource).toEqual([
      { 'Fn::GetAtt': ['FunctionLogGroup', 'Arn'] },
    ]);
    const consume = statements.find((s) => s.Action.includes('sqs:ReceiveMessage'));
    expect(consume?.Resource).toEqual([{ 'Fn::GetAtt': ['CeleryQueue', 'Arn'] }, { 'Fn::GetAtt': ['OrderedFifoQueue', 'Arn'] }]);
  });
});

describe('guardrails', () => {
  const app = (broker = 'sqs://?region=eu-west-1&visibility_timeout=3600', settings: Record<string, unknown> = {}) => {
    // The results table in the broker's region, if it names one (the guardrails want one region named throughout).
    const region = new URLSearchParams(broker.split('?')[1]).get('region');
    const a = createApp('g', { broker, backend: `dynamodb://results${region ? `?region=${region}` : ''}`, ...settings });
    a.task('g.add', (x: number) => x);
    a.task('g.slow', (x: number) => x, { timeLimit: 30, queue: 'slow' });
    return a;
  };
  const check = (fn: Partial<AwsFunctionOptions>, a = app()) => checkGuardrails(planFor(a, { ...AWS_FUNCTION_DEFAULTS, ...fn }));
  const problems = (fn: Partial<AwsFunctionOptions>, a = app()): string => thrownMessage(() => check(fn, a), GuardrailError);

  it('passes a sound plan, warning about tasks without a time limit', () => {
    expect(check({ timeoutS: 300, batchSize: 10 }, app('sqs://?visibility_timeout=3600', { worker_concurrency: 10 }))).toEqual([
      expect.stringMatching(/g\.add have no time limit/),
    ]);
  });

  it('wants a visibility timeout of at least 6 × the function timeout', () => {
    expect(problems({ timeoutS: 900 })).toMatch(/visibility timeout \(3600 s\) is less than 6 × the function timeout \(900 s\).*5400/);
  });

  it('checks the batch size against the time a batch may take', () => {
    expect(problems({ timeoutS: 60, batchSize: 10 }, app(undefined, { worker_concurrency: 1 }))).toMatch(
      /queue 'slow': a batch of 10 runs in 10 round\(s\) of up to 30 s = 300 s, more than the function timeout of 60 s/,
    );
    expect(problems({ timeoutS: 20 })).toMatch(/task g\.slow may run 30 s .* longer than the function timeout of 20 s/);
    expect(problems({ batchSize: 50 })).toMatch(/--batch-size 50 needs --batching-window of at least 1 s/);
  });

  it('refuses what FIFO event sources do not support', () => {
    const fifo = app('sqs://?visibility_timeout=3600', { task_routes: { 'g.add': { queue: 'in-order.fifo' } } });
    expect(problems({ batchingWindowS: 5 }, fifo)).toMatch(/FIFO queue 'in-order.fifo': Lambda does not support a batching window/);
    expect(problems({ batchSize: 20, batchingWindowS: 0 }, fifo)).toMatch(/takes 1 to 10 records \(FIFO queue 'in-order.fifo'/);
    expect(check({}, fifo).join('\n')).toMatch(/records run one at a time in batch order/);
  });

  it('warns that batches of large messages end at the 6 MB invocation payload (Lambda then invokes with fewer records)', () => {
    expect(check({}, app('sqs://?visibility_timeout=3600&max_message_bytes=1048576')).join('\n')).toMatch(
      /a batch of 10 messages of up to 1048576 bytes .* 6 MB invocation payload: the event source then ends the batch at 6 MB, so batches of such messages hold about 4 records, fewer than --batch-size 10/,
    );
    expect(check({ batchSize: 4 }, app('sqs://?visibility_timeout=3600&max_message_bytes=1048576')).join('\n')).not.toMatch(/6 MB/);
  });

  it("refuses queue names SQS would refuse, the dead-letter queue's included", () => {
    const routed = (queue: string, prefix = '') =>
      app(`sqs://?visibility_timeout=3600&prefix=${prefix}`, { task_routes: { 'g.add': { queue } } });
    expect(() => check({}, routed('my queue'))).toThrow(/Queue 'my queue' gives the SQS queue name 'my queue'.*which SQS refuses/);
    expect(() => check({}, routed('math.fast'))).toThrow(/which SQS refuses/);
    // 77 characters: SQS takes it, but not its 81-character dead-letter queue.
    expect(() => check({}, routed('q'.repeat(70), 'prefix-'))).toThrow(/dead-letter queue 'prefix-q+-dlq'.*at most 76 characters/);
    expect(() => check({}, routed(`${'q'.repeat(65)}.fifo`, 'prefix'))).not.toThrow();
  });

  it("gives every queue, dead-letter queue and event source its own resource, even for 'emails' and 'emails-dead-letter'", () => {
    const a = app('sqs://?visibility_timeout=3600', {
      task_routes: { 'g.add': { queue: 'emails' }, 'g.slow': { queue: 'emails-dead-letter' } },
    });
    const plan = planFor(a, AWS_FUNCTION_DEFAULTS);
    const ids = plan.queues.flatMap((q) => [q.logicalId, q.dlqLogicalId, q.mappingLogicalId]);
    expect(new Set(ids).size).toBe(ids.length);
    const resources = cloudFormationTemplate(plan).Resources as Record<string, { Properties?: { QueueName?: string } }>;
    const names = Object.values(resources)
      .map((r) => r.Properties?.QueueName)
      .filter(Boolean);
    expect(names).toEqual(expect.arrayContaining(['emails', 'emails-dlq', 'emails-dead-letter', 'emails-dead-letter-dlq']));
  });

  it("deploys a claim_check store URL as the stack's, without the emulator endpoint or create", () => {
    const claim = encodeURIComponent('dynamodb://results?region=eu-west-1&endpoint=http://127.0.0.1:8000&create=true');
    const plan = planFor(app(`sqs://?visibility_timeout=3600&endpoint=http://127.0.0.1:4566&claim_check=${claim}`), AWS_FUNCTION_DEFAULTS);
    expect(plan.deployedBrokerUrl).toBe(
      `sqs://?region=\${AWS::Region}&claim_check=${encodeURIComponent('dynamodb://results?region=')}\${AWS::Region}`,
    );
    // Given as transport options (which the deployed function ignores), the same settings reach its URL.
    const viaOptions = app('sqs://?region=eu-west-1', {
      broker_transport_options: {
        endpoint: 'http://127.0.0.1:4566',
        queue_name_prefix: 'prod-',
        visibility_timeout: 7200,
        claim_check: 'dynamodb://results?region=eu-west-1&endpoint=http://127.0.0.1:8000',
      },
    });
    expect(planFor(viaOptions, AWS_FUNCTION_DEFAULTS).deployedBrokerUrl).toBe(
      `sqs://?region=\${AWS::Region}&prefix=prod-&visibility_timeout=7200&claim_check=${encodeURIComponent('dynamodb://results?region=')}\${AWS::Region}`,
    );
  });

  it('refuses URLs naming different AWS regions: the stack lives in one', () => {
    const split = createApp('r', {
      broker: 'sqs://?region=eu-west-1&visibility_timeout=3600',
      backend: 'dynamodb://results?region=us-east-1',
    });
    split.task('r.add', (x: number) => x, { timeLimit: 5 });
    expect(problems({}, split)).toMatch(
      /the app's URLs name different AWS regions \(broker_url in eu-west-1, result_backend in us-east-1\), but a deployment is one stack in one region: name the same region \(\?region=\) in each URL/,
    );
    const claim = encodeURIComponent('dynamodb://results?region=us-west-2');
    expect(problems({}, app(`sqs://?region=eu-west-1&visibility_timeout=3600&claim_check=${claim}`))).toMatch(
      /regions \(broker_url in eu-west-1, result_backend in eu-west-1, claim_check in us-west-2\)/,
    );
    // One URL naming none would use the SDK's default region where the app runs, the stack's or not.
    const half = createApp('r', { broker: 'sqs://?visibility_timeout=3600', backend: 'dynamodb://results?region=eu-west-1' });
    half.task('r.add', (x: number) => x, { timeLimit: 5 });
    expect(problems({}, half)).toMatch(
      /the app's URLs do not all name the AWS region \(broker_url naming none, result_backend in eu-west-1\): .* name the same region \(\?region=\) in each URL/,
    );
    // No result backend: only the broker's region counts.
    const noResults = createApp('r', { broker: 'sqs://?region=eu-west-1&visibility_timeout=3600' });
    noResults.task('r.add', (x: number) => x, { timeLimit: 5 });
    expect(checkGuardrails(planFor(noResults, AWS_FUNCTION_DEFAULTS)).join('\n')).not.toMatch(/region/);
    // None naming one: the SDK's default region for all, the stack's too.
    const none = createApp('r', { broker: 'sqs://?visibility_timeout=3600', backend: 'dynamodb://results' });
    none.task('r.add', (x: number) => x, { timeLimit: 5 });
    expect(checkGuardrails(planFor(none, AWS_FUNCTION_DEFAULTS)).join('\n')).not.toMatch(/region/);
  });

  it('never shows the password of a URL it refuses, at build time or in the function', async () => {
    const messages = [
      thrownMessage(() => planFor(createApp('x', { broker: 'redis://:s3cretB@h/0' }), AWS_FUNCTION_DEFAULTS)),
      thrownMessage(() => planFor(createApp('x', { broker: 'sqs://', backend: 'redis://:s3cretR@h/0' }), AWS_FUNCTION_DEFAULTS)),
      thrownMessage(() => check({}, app(`sqs://?region=eu-west-1&claim_check=${encodeURIComponent('redis://:s3cretC@h/0')}`))),
    ];
    const redisApp = createApp('x', { broker: 'redis://:s3cretL@127.0.0.1:1/3' });
    const handler = lambdaHandler(redisApp, { logger: createLogger({ level: 'error' }) });
    const context = { functionName: 'x', awsRequestId: '1', getRemainingTimeInMillis: () => 60_000 };
    messages.push(((await handler({ Records: [] }, context).catch((e: unknown) => e)) as Error).message);
    await redisApp.close();
    expect(messages[0]).toContain("broker_url is 'redis://:**@h/0'");
    expect(messages[3]).toContain("broker_url is 'redis://:**@127.0.0.1:1/3'");
    for (const m of messages) expect(m).not.toContain('s3cret');
  });

  it('needs an sqs:// broker and a dynamodb:// result backend', () => {
    expect(() => planFor(createApp('x', { broker: 'local://.celeriac' }), AWS_FUNCTION_DEFAULTS)).toThrow(/needs an sqs:\/\/ broker/);
    expect(() => planFor(createApp('x', { broker: 'sqs://', backend: 'redis://localhost' }), AWS_FUNCTION_DEFAULTS)).toThrow(
      /stores results in DynamoDB/,
    );
  });
});

describe('the celeriac command line', () => {
  it('builds with `celeriac build --target aws`', async () => {
    const out = await celeriac(project.dir, ['build', '--target', 'aws', '-A', 'tasks', '--outdir', 'cli-out', '--timeout', '2']);
    expect(out.stderr).toMatch(/warning: .*no time limit/);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/Built 9 task\(s\) of app 'awstasks' for AWS Lambda \(nodejs22\.x\)/);
    expect(existsSync(join(project.dir, 'cli-out/handler/index.mjs'))).toBe(true);
    expect(existsSync(join(project.dir, 'cli-out/template.json'))).toBe(true);
  });

  it('fails the build with the guardrail that was broken', async () => {
    const out = await celeriac(project.dir, ['build', '--target', 'aws', '-A', 'tasks', '--outdir', 'bad-out']);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/visibility timeout \(12 s\) is less than 6 × the function timeout \(60 s\)/);
    expect(existsSync(join(project.dir, 'bad-out'))).toBe(false);
    const unknown = await celeriac(project.dir, ['build', '--target', 'azure', '-A', 'tasks']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown --target 'azure'/);
  });

  it('prints the one deploy command with `celeriac deploy --target aws`', async () => {
    const out = await celeriac(project.dir, ['deploy', '--target', 'aws', '-A', 'tasks', '--timeout', '2']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(
      'sam deploy --template-file dist/aws/template.json --stack-name celeriac-awstasks --region us-east-1 --resolve-s3 --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset',
    );
    // The stack goes to the region the app's URLs name, where its producers look; naming none, to the AWS CLI's default.
    expect(deployCommand({ ...build, plan: { ...build.plan, regions: [] } }, { app: 'tasks' }, project.dir)).not.toContain('--region');
    // The function is '<stack name>-tasks', and Lambda takes at most 64 characters.
    const long = await celeriac(project.dir, [
      'deploy',
      '--target',
      'aws',
      '-A',
      'tasks',
      '--timeout',
      '2',
      '--stack-name',
      's'.repeat(59),
    ]);
    expect(long.code).not.toBe(0);
    expect(long.stderr).toMatch(
      /--stack-name 's+' is 59 characters: the function would be 's+-tasks', over Lambda's 64\. Use at most 58\./,
    );
    expect(stackNameFor('billing-reconciliation-service-invoices-production-eu')).toHaveLength(58);
  });

  it('refuses a --stack-name CloudFormation would refuse, with its rule', () => {
    for (const stackName of ['my stack', '9_lives', '-stack', 'stack_1']) {
      expect(() => deployCommand(build, { app: 'tasks', stackName }, project.dir)).toThrow(ConfigError);
      expect(() => deployCommand(build, { app: 'tasks', stackName }, project.dir)).toThrow(
        `--stack-name '${stackName}' is not a CloudFormation stack name: use letters, digits and hyphens, starting with a letter.`,
      );
    }
    expect(deployCommand(build, { app: 'tasks', stackName: 'Billing-2' }, project.dir)).toContain('Billing-2');
  });
});
