/**
 * `celeriac deploy --target aws -A tasks [--run]`: build, then print (or, with --run, run) the
 * one standard command that deploys the output. Lazy-imports deploy/, as `build` does.
 */
import type { Command } from 'commander';
import { CliExit } from '../exit.js';
import { type BuildCommandOptions, awsOptions, withBuildOptions } from './build.js';

interface DeployCommandOptions extends BuildCommandOptions {
  stackName?: string;
  run?: boolean;
  guided?: boolean;
}

export function registerDeploy(program: Command): void {
  withBuildOptions(program.command('deploy').description('Build, then print (or --run) the command that deploys the output'))
    .option('--stack-name <name>', 'CloudFormation stack (default celeriac-<app>)')
    .option('--guided', 'let the deploy tool ask for the settings (sam deploy --guided)')
    .option('--run', 'run the deploy command instead of printing it')
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<DeployCommandOptions>();
      const { deployAws, runDeployCommand, shellLine } = await import('../../../deploy/aws/deploy.js');
      const { build, command } = await deployAws({ ...awsOptions(opts), stackName: opts.stackName, guided: opts.guided });
      for (const warning of build.warnings) process.stderr.write(`warning: ${warning}\n`);
      if (!opts.run) {
        process.stdout.write(`Built ${build.handler} and ${build.template}. Deploy with:\n\n  ${shellLine(command)}\n`);
        return;
      }
      process.stdout.write(`$ ${shellLine(command)}\n`);
      const code = await runDeployCommand(command, process.cwd());
      if (code !== 0) throw new CliExit(`${command[0]} exited with code ${code}`, 1);
    });
}
