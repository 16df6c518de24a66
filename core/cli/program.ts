/**
 * The `celeriac` command line (commander). Global options (-A, --broker, --result-backend) are
 * accepted before or after the command, as Celery users type them either way. Every error ends
 * here: one line on stderr and exit 1 (failed), 2 (bad command line) or 69 (no worker replied); a stack only for bugs.
 */
import { Command, CommanderError } from 'commander';
import { CeleriacError } from '../errors.js';
import { registerBuild } from './commands/build.js';
import { registerCall } from './commands/call.js';
import { registerCheckConfig } from './commands/check-config.js';
import { registerControl } from './commands/control.js';
import { registerDeploy } from './commands/deploy.js';
import { registerInspect } from './commands/inspect.js';
import { registerPurge } from './commands/purge.js';
import { registerResult } from './commands/result.js';
import { registerStatus } from './commands/status.js';
import { registerWorker } from './commands/worker.js';
import { CliExit } from './exit.js';
import { nonEmpty } from './parse.js';
import { celeriacVersion } from './version.js';

export function buildProgram(): Command {
  const program = new Command('celeriac')
    .description("Celery's tasks, brokers and results for TypeScript")
    .version(celeriacVersion(), '-V, --version')
    .option('-A, --app <module>', 'module that exports your app (tasks, ./src/tasks.ts, tasks:myApp or tasks.myApp)', nonEmpty)
    .option('-b, --broker <url>', 'broker URL (overrides broker_url)', nonEmpty)
    .option('--result-backend <url>', 'result backend URL (overrides result_backend)', nonEmpty)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError()
    .exitOverride();
  for (const register of [
    registerWorker,
    registerCall,
    registerResult,
    registerPurge,
    registerInspect,
    registerControl,
    registerStatus,
    registerCheckConfig,
    registerBuild,
    registerDeploy,
  ]) {
    register(program);
  }
  return program;
}

/** Runs the command line and returns the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander has printed its message (or the help) already; help shown for a missing command is a usage error.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof CliExit) {
    process.stderr.write(`${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof CeleriacError || isSystemError(err)) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
  // Not a user mistake we know: a bug, or an error thrown by the user's own module. The stack helps both.
  process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

/** ENOENT/EACCES from a path the user gave (--logfile, --pidfile...): the message says it all. */
function isSystemError(err: unknown): boolean {
  return (
    err instanceof Error &&
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    typeof (err as NodeJS.ErrnoException).syscall === 'string'
  );
}
