/**
 * `celeriac deploy --target aws`: build, then the one standard command that deploys the
 * output — `sam deploy`, which uploads the handler folder the template's `Code` names (to a
 * bucket SAM manages, --resolve-s3) and creates or updates the CloudFormation stack, in the
 * region the app's URLs name (else the AWS CLI's default one). Printed by default; run with --run.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CeleriacError, ConfigError } from '../../core/errors.js';
import { type AwsBuildOptions, type AwsBuildResult, buildAws } from './build.js';
import { MAX_STACK_NAME } from './template.js';

export interface AwsDeployOptions extends AwsBuildOptions {
  /** Default `celeriac-<app name>`. */
  stackName?: string;
  /** Let SAM ask for the stack's settings and remember them (samconfig.toml). */
  guided?: boolean;
}

export function stackNameFor(appName: string): string {
  // CloudFormation: letters, digits and hyphens, starting with a letter; short enough for the function's name.
  return `celeriac-${appName}`
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .slice(0, MAX_STACK_NAME)
    .replace(/-+$/, '');
}

/** The command as argv. Paths are relative to `cwd` when inside it, so the printed line is short. */
export function deployCommand(build: AwsBuildResult, opts: AwsDeployOptions, cwd: string): string[] {
  const stackName = opts.stackName ?? stackNameFor(build.plan.appName);
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(stackName)) {
    throw new ConfigError(
      `--stack-name '${stackName}' is not a CloudFormation stack name: use letters, digits and hyphens, starting with a letter.`,
    );
  }
  if (stackName.length > MAX_STACK_NAME) {
    throw new ConfigError(
      `--stack-name '${stackName}' is ${stackName.length} characters: the function would be '${stackName}-tasks', over Lambda's 64. Use at most ${MAX_STACK_NAME}.`,
    );
  }
  const template = path.relative(cwd, build.template) || build.template;
  // The stack must be where the app's producers look for its queues and table (one region: guardrails.ts).
  const region = build.plan.regions.find((r) => r.region)?.region;
  return [
    'sam',
    'deploy',
    '--template-file',
    template.startsWith('..') ? build.template : template,
    '--stack-name',
    stackName,
    ...(region ? ['--region', region] : []),
    '--resolve-s3',
    // The stack creates the function's role (not named: CAPABILITY_IAM is enough).
    '--capabilities',
    'CAPABILITY_IAM',
    '--no-fail-on-empty-changeset',
    ...(opts.guided ? ['--guided'] : []),
  ];
}

/** A line a POSIX shell reads back as the same argv. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`)).join(' ');
}

export async function deployAws(opts: AwsDeployOptions): Promise<{ build: AwsBuildResult; command: string[] }> {
  const cwd = opts.cwd ?? process.cwd();
  const build = await buildAws(opts);
  return { build, command: deployCommand(build, opts, cwd) };
}

/** Runs the command with the terminal attached; resolves with its exit code. */
export function runDeployCommand(argv: readonly string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { cwd, stdio: 'inherit' });
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') return reject(err);
      reject(
        new CeleriacError(
          `'${cmd}' (the AWS SAM CLI) is not installed. Install it (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html), or run the printed command elsewhere.`,
        ),
      );
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}
