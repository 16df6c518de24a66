/**
 * `celeriac result ID`: what the result backend holds for a task. A success prints the value as
 * JSON; a failure prints `FAILURE: Type: message` (and with --traceback the worker's stack) and
 * exits 1; a task not finished yet prints its state and progress meta (not JSON), or, for a state
 * holding an error (RETRY), `RETRY: Type: message` the same way as a failure, exiting 0.
 * Celery's other option, -t/--task, picks a task's own result backend, which celeriac tasks do not have.
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
    .option('--traceback', 'print the traceback of a failed or retrying task')
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
    const { info } = result;
    if (info instanceof Error) {
      if (opts.traceback) process.stdout.write(`${result.traceback ?? '(no traceback stored)'}\n`);
      const summary = `${state}: ${info.name}: ${info.message}`;
      if (isReady(state)) throw new CliExit(summary);
      process.stdout.write(`${summary}\n`);
      return;
    }
    // PENDING also means "unknown id": Celery cannot tell the two apart either (§5).
    process.stdout.write(`${state}${info === null || info === undefined ? '' : ` ${JSON.stringify(info)}`}\n`);
  } finally {
    await app.close();
  }
}
