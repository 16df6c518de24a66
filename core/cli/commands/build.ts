/**
 * `celeriac build --target aws -A tasks [--outdir dist/aws]`: the app bundled into a cloud
 * function handler with the infrastructure that deploys it. The build itself lives in deploy/
 * and is imported only when the command runs (core never imports deploy/ statically).
 */
import type { Command } from 'commander';
import { CliExit } from '../exit.js';
import type { AppOptions } from '../load-app.js';
import { commaList, positiveInt, seconds } from '../parse.js';

export interface BuildCommandOptions extends AppOptions {
  target: string;
  outdir?: string;
  runtime?: string;
  timeout?: number;
  memory?: number;
  batchSize?: number;
  batchingWindow?: number;
  maxConcurrency?: number;
  queues?: string[];
}

const TARGETS = ['aws'];

/** The options `build` and `deploy` share. */
export function withBuildOptions(command: Command): Command {
  return command
    .requiredOption('--target <target>', `where the tasks run: ${TARGETS.join(', ')}`)
    .option('--outdir <dir>', 'output folder (default dist/<target>)')
    .option('--runtime <runtime>', 'Lambda runtime (default nodejs22.x)')
    .option('--timeout <seconds>', 'function timeout (default 60)', positiveInt)
    .option('--memory <mb>', 'function memory (default 512)', positiveInt)
    .option('--batch-size <n>', 'messages per invocation (default 10)', positiveInt)
    .option('--batching-window <seconds>', 'how long to gather a batch (default 0)', seconds)
    .option('--max-concurrency <n>', 'concurrent invocations per queue (default 10)', positiveInt)
    .option('-Q, --queues <list>', "queues to deploy besides those the app's routes name", commaList);
}

export function registerBuild(program: Command): void {
  withBuildOptions(
    program.command('build').description('Bundle the -A app into a cloud function handler, with the infrastructure to deploy it'),
  ).action(async (_opts: unknown, cmd: Command) => {
    const opts = cmd.optsWithGlobals<BuildCommandOptions>();
    const { buildAws } = await import('../../../deploy/aws/build.js');
    const result = await buildAws(awsOptions(opts));
    for (const warning of result.warnings) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(
      `Built ${result.plan.tasks.length} task(s) of app '${result.plan.appName}' for AWS Lambda (${result.plan.fn.runtime}):\n` +
        `  handler   ${result.handler} (${(result.bytes / 1024).toFixed(0)} KiB)\n` +
        `  template  ${result.template}\n` +
        `  queues    ${result.plan.queues.map((q) => q.sqsName).join(', ')}\n`,
    );
  });
}

/** Checks the target and maps the command line onto the AWS build options. */
export function awsOptions(opts: BuildCommandOptions) {
  if (!TARGETS.includes(opts.target)) throw new CliExit(`Unknown --target '${opts.target}': use one of ${TARGETS.join(', ')}.`, 2);
  if (!opts.app) throw new CliExit(`celeriac needs the module that exports your app: -A tasks`, 2);
  return {
    app: opts.app,
    broker: opts.broker,
    resultBackend: opts.resultBackend,
    outdir: opts.outdir ?? `dist/${opts.target}`,
    runtime: opts.runtime,
    timeoutS: opts.timeout,
    memoryMb: opts.memory,
    batchSize: opts.batchSize,
    batchingWindowS: opts.batchingWindow,
    maxConcurrency: opts.maxConcurrency,
    queues: opts.queues,
  };
}
