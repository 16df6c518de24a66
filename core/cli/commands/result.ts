/**
 * `celeriac result ID`: what the result backend holds for a task. A success prints the value as
 * JSON; a failure prints `Type: message` (and with --traceback the worker's stack) and exits 1;
 * a task not finished yet prints its state (and progress meta), which is not JSON.
 */
import type { Command } from 'commander';
import { isReady, SUCCESS } from '../../states.js';
import { CliExit } from '../exit.js';
import { type AppOptions, loadApp } from '../load-app.js';

interface ResultOptions extends AppOptions {
  traceback?: boolean;
}

export function registerResult(program: Command): void {
  program
    .command('result')
    .description("Print a task's result (or its state, while it is not finished)")
    .argument('<id>', 'the task id printed by call / returned by delay')
    .option('--traceback', "print a failed task's traceback")
    .action(async (id: string, _opts: unknown, cmd: Command) => showResult(id, cmd.optsWithGlobals<ResultOptions>()));
}

async function showResult(id: string, opts: ResultOptions): Promise<void> {
  const app = await loadApp(opts);
  try {
    const result = app.AsyncResult(id);
    await result.refresh();
    const { state } = result;
    if (state === SUCCESS) {
      process.stdout.write(`${JSON.stringify(result.result ?? null)}\n`);
      return;
    }
    if (isReady(state)) {
      const error = result.result as Error;
      if (opts.traceback) process.stdout.write(`${result.traceback ?? '(no traceback stored)'}\n`);
      throw new CliExit(`${state}: ${error.name}: ${error.message}`);
    }
    // PENDING also means "unknown id": Celery cannot tell the two apart either (§5).
    const info = result.info === null || result.info === undefined ? '' : ` ${JSON.stringify(result.info)}`;
    process.stdout.write(`${state}${info}\n`);
  } finally {
    await app.close();
  }
}
