/**
 * `celeriac control rate_limit TASK RATE` and `control revoke ID...`: change running workers
 * (remote control, §6). Each node answers `worker@host: OK` and its message, as in the seed.
 */
import { type Command, Option } from 'commander';
import type { App } from '../../app.js';
import type { ControlReply } from '../../ports.js';
import { redact } from '../../registry.js';
import { CliExit } from '../exit.js';
import { type AppOptions, loadApp } from '../load-app.js';
import { seconds } from '../parse.js';
import { destinationOption, jsonOption, type RemoteOptions, timeoutOption } from '../remote-options.js';
import { nodeReplies, noReplies, payloadLines, statusOf } from '../replies.js';

type ControlOptions = AppOptions & RemoteOptions;

export function registerControl(program: Command): void {
  const control = program.command('control').description('Change running workers: rate_limit, time_limit, revoke');
  control
    .command('rate_limit')
    .description("Set a task's rate limit on the workers ('10/s', '10/m', '10/h'; 0 turns it off)")
    .argument('<task>', 'task name, e.g. tasks.add')
    .argument('<rate>', 'tokens per second, minute or hour')
    .addOption(timeoutOption())
    .addOption(destinationOption())
    .addOption(jsonOption())
    .action(async (task: string, rate: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<ControlOptions>();
      await withReplies(opts, (app) => app.control.rateLimit(task, rate, { destination: opts.destination, timeout: opts.timeout }));
    });
  control
    .command('time_limit')
    .description("Set a task's soft and hard time limits on the workers, in seconds")
    .argument('<task>', 'task name, e.g. tasks.add')
    .argument('<soft>', 'soft limit in seconds (the task is told through ctx.signal)', seconds)
    .argument('[hard]', 'hard limit in seconds (the task is marked FAILURE)', seconds)
    .addOption(timeoutOption())
    .addOption(destinationOption())
    .addOption(jsonOption())
    .action(async (task: string, soft: number, hard: number | undefined, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<ControlOptions>();
      await withReplies(opts, (app) =>
        app.control.timeLimit(task, { soft, hard }, { destination: opts.destination, timeout: opts.timeout }),
      );
    });
  control
    .command('revoke')
    .description('Revoke tasks: workers skip them (they are not stopped if already running)')
    .argument('<ids...>', 'task ids')
    .addOption(timeoutOption())
    .addOption(destinationOption())
    .addOption(jsonOption())
    // Celery's flags, refused with the reason rather than as unknown options.
    .addOption(new Option('--terminate', 'not supported: JavaScript cannot stop a running task').hideHelp())
    .addOption(new Option('-s, --signal <signal>', 'not supported, as --terminate').hideHelp())
    .action(async (ids: string[], _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<ControlOptions & { terminate?: boolean; signal?: string }>();
      if (opts.terminate || opts.signal) {
        throw new CliExit(
          'revoke --terminate is not supported: JavaScript cannot stop a running task. A revoked task that has not started is skipped; one that runs can watch ctx.signal (its time limits fire it).',
          2,
        );
      }
      await withReplies(opts, (app) => app.control.revoke(ids, { timeout: opts.timeout, destination: opts.destination }));
    });
}

async function withReplies(opts: ControlOptions, send: (app: App) => Promise<ControlReply[]>): Promise<void> {
  const app = await loadApp(opts);
  try {
    const replies = await send(app);
    if (!replies.length) throw noReplies(opts.timeout, redact(app.brokerUrl()));
    const nodes = nodeReplies(replies);
    // With -j, Celery prints the list of replies, one `{ node: reply }` each.
    const shown = opts.json
      ? JSON.stringify(nodes.map((n) => ({ [n.node]: n.payload })))
      : nodes.flatMap((n) => [`${n.node}: ${statusOf(n)}`, ...payloadLines(n.payload)]).join('\n');
    process.stdout.write(`${shown}\n`);
    if (nodes.some((n) => n.failed)) process.exitCode = 1;
  } finally {
    await app.close();
  }
}
