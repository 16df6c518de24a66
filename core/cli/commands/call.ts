/**
 * `celeriac call NAME [ARGS_JSON]`: send a task by name (no task code needed, like
 * app.sendTask) and print its id, or with --wait its result as JSON.
 */
import { type Command, Option } from 'commander';
import { RemoteTaskError, TimeoutError } from '../../errors.js';
import { CliExit } from '../exit.js';
import { type AppOptions, loadApp } from '../load-app.js';
import { isoDate, jsonArray, jsonObject, nonEmpty, seconds, secondsToMs } from '../parse.js';

interface CallOptions extends AppOptions {
  /** Celery's -a/--args, refused with where the arguments go here. */
  args?: string;
  kwargs?: Record<string, unknown>;
  countdown?: number;
  eta?: Date;
  expires?: number;
  queue?: string;
  wait?: boolean;
  timeout?: number;
}

export function registerCall(program: Command): void {
  program
    .command('call')
    .description('Send a task by name and print its id (or, with --wait, its result)')
    .argument('<name>', "the task's registered name, e.g. tasks.add")
    .argument('[args]', "positional arguments as a JSON array, e.g. '[4, 4]'", jsonArray)
    .addOption(new Option('-a, --args <json>', "Celery's option: here the JSON array follows the task name").hideHelp())
    .option('-k, --kwargs <json>', 'keyword arguments as a JSON object', jsonObject)
    .addOption(new Option('--countdown <seconds>', 'run no earlier than this many seconds from now').argParser(seconds).conflicts('eta'))
    .option('--eta <iso>', 'run no earlier than this date-time (ISO 8601; no offset means UTC, as in Celery)', isoDate)
    .option('--expires <seconds>', 'revoke instead of running when not started within this many seconds', seconds)
    .option('--queue <queue>', 'send to this queue instead of the routed one', nonEmpty)
    .option('--wait', 'wait for the result and print it as JSON')
    .option('--timeout <seconds>', 'with --wait: give up after this many seconds (default: wait forever)', secondsToMs)
    .action(async (name: string, args: unknown[] | undefined, _opts: unknown, cmd: Command) => {
      await callTask(name, args ?? [], cmd.optsWithGlobals<CallOptions>());
    });
}

async function callTask(name: string, args: unknown[], opts: CallOptions): Promise<void> {
  if (opts.args !== undefined) {
    throw new CliExit(`-a/--args is Celery's form: here the arguments follow the task name, as in celeriac call ${name} '${opts.args}'`, 2);
  }
  if (opts.timeout !== undefined && !opts.wait) throw new CliExit('--timeout only applies with --wait', 2);
  const app = await loadApp(opts);
  try {
    // Refused before sending: a task sent and then not awaited is run again by a retry of this command.
    if (opts.wait && !app.conf.result_backend)
      throw new CliExit(
        '--wait needs a result backend to read the result from: set result_backend or pass --result-backend. Nothing was sent.',
      );
    const result = await app.sendTask(name, args, opts.kwargs ?? {}, {
      countdown: opts.countdown,
      eta: opts.eta,
      expires: opts.expires,
      queue: opts.queue,
    });
    if (!opts.wait) {
      process.stdout.write(`${result.id}\n`);
      return;
    }
    try {
      const value = await result.get({ timeout: opts.timeout });
      process.stdout.write(`${JSON.stringify(value ?? null)}\n`);
    } catch (err) {
      // The task's own failure is its outcome, not a CLI error: print it as Celery names it.
      if (err instanceof RemoteTaskError) throw new CliExit(`${err.name}: ${err.message}`);
      if (err instanceof TimeoutError) throw new CliExit(`${err.message} (task id ${result.id})`);
      // The task is on its way whatever went wrong reading its result: a retry would run it twice.
      throw new CliExit(`error: ${err instanceof Error ? err.message : String(err)} (the task was sent: task id ${result.id})`);
    }
  } finally {
    await app.close();
  }
}
