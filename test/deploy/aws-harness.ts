/**
 * What the AWS deploy tests share: fauxqs and dynalite on loopback, the fixture app built with
 * the real build into a temp project, the template's queues and table created in the
 * emulators, and the environment that points the built handler (and producers) at them.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { type AwsBuildOptions, type AwsBuildResult, buildAws } from '../../deploy/aws/build.js';
import { EMULATOR_CREDENTIALS, EMULATOR_REGION, type Emulator, startDynalite, startFauxqs } from '../support/aws-emulators.js';
import { type LocalStack, type Template, createStack } from '../support/aws-stack.js';
import { ROOT, ensureBuilt } from '../cli/harness.js';
import { type App, createApp } from '../../core/index.js';

export const FIXTURE_BROKER_OPTIONS = 'prefix=t-&visibility_timeout=12&max_receive_count=3';

/** A temp project holding the AWS fixture app, where `import 'celeriac'` resolves to this repo. */
export function makeAwsProject(): { dir: string; markers: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-aws-'));
  const fixtures = join(ROOT, 'test/fixtures/aws');
  for (const file of readdirSync(fixtures)) copyFileSync(join(fixtures, file), join(dir, file));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules/celeriac'), 'dir');
  mkdirSync(join(dir, 'markers'));
  return { dir, markers: join(dir, 'markers'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface AwsWorld {
  project: ReturnType<typeof makeAwsProject>;
  build: AwsBuildResult;
  template: Template;
  stack: LocalStack;
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  brokerUrl: string;
  backendUrl: string;
  /** What the handler's process needs: the emulator URLs and credentials. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A producer App that names the world's URLs itself; only the AWS credentials and endpoints come from
 * the environment (the broker/backend variables are left out so they cannot override the URLs).
 */
export function producerFor(world: AwsWorld): App {
  const { CELERIAC_BROKER_URL: _b, CELERIAC_RESULT_BACKEND: _r, ...aws } = world.env;
  Object.assign(process.env, aws);
  return createApp('producer', { broker: world.brokerUrl, backend: world.backendUrl });
}

export async function startAwsWorld(build: Partial<AwsBuildOptions> = {}): Promise<AwsWorld> {
  await ensureBuilt();
  const project = makeAwsProject();
  const [sqsEmulator, dynamoEmulator] = await Promise.all([startFauxqs(), startDynalite()]);
  const emulators: Emulator[] = [sqsEmulator, dynamoEmulator];
  try {
    // Built with the app's own (production) URLs, as a user builds for AWS.
    const built = await buildAws({ app: 'tasks', cwd: project.dir, outdir: 'out', timeoutS: 2, ...build });
    const template = JSON.parse(readFileSync(built.template, 'utf8')) as Template;
    const clientOptions = { region: EMULATOR_REGION, credentials: EMULATOR_CREDENTIALS };
    const sqs = new SQSClient({ ...clientOptions, endpoint: sqsEmulator.endpoint });
    const dynamodb = new DynamoDBClient({ ...clientOptions, endpoint: dynamoEmulator.endpoint });
    const stack = await createStack(template, sqs, dynamodb);
    const brokerUrl = `sqs://?region=${EMULATOR_REGION}&endpoint=${sqsEmulator.endpoint}&${FIXTURE_BROKER_OPTIONS}`;
    const backendUrl = `dynamodb://celeriac-results?region=${EMULATOR_REGION}&endpoint=${dynamoEmulator.endpoint}`;
    const env = {
      CELERIAC_BROKER_URL: brokerUrl,
      CELERIAC_RESULT_BACKEND: backendUrl,
      AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
      AWS_REGION: EMULATOR_REGION,
    };
    return {
      project,
      build: built,
      template,
      stack,
      sqs,
      dynamodb,
      brokerUrl,
      backendUrl,
      env,
      async close() {
        sqs.destroy();
        dynamodb.destroy();
        await Promise.all(emulators.map((e) => e.stop()));
        project.cleanup();
      },
    };
  } catch (err) {
    await Promise.all(emulators.map((e) => e.stop()));
    project.cleanup();
    throw err;
  }
}

/** The event source mapping of a celeriac queue (by its SQS name). */
export function mappingFor(world: AwsWorld, sqsName: string) {
  const mapping = world.stack.mappings.find((m) => m.queue.name === sqsName);
  if (!mapping) throw new Error(`no event source mapping for ${sqsName}`);
  return mapping;
}
