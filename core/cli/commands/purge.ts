/**
 * `celeriac purge`: remove every waiting message from the app's queues. Destructive, so it asks
 * first unless -f, and refuses when nobody is there to answer (stdin is not a terminal).
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { App } from '../../app.js';
import { routeMapQueues } from '../../routing.js';
import { CliExit } from '../exit.js';
import { type AppOptions, loadApp } from '../load-app.js';
import { commaList } from '../parse.js';

interface PurgeOptions extends AppOptions {
  queues?: string[];
  force?: boolean;
}

export function registerPurge(program: Command): void {
  program
    .command('purge')
    .description('Remove all waiting tasks from the queues (no undo)')
    .option(
      '-Q, --queues <list>',
      "comma-separated queues (default: the app's default queue, its tasks' queues and those task_routes names; not the queues a router function picks)",
      commaList,
    )
    .option('-f, --force', 'do not ask for confirmation')
    .action(async (_opts: unknown, cmd: Command) => purge(cmd.optsWithGlobals<PurgeOptions>()));
}

async function purge(opts: PurgeOptions): Promise<void> {
  const app = await loadApp(opts);
  try {
    const queues = opts.queues ?? knownQueues(app);
    if (!opts.force && !(await confirm(queues))) throw new CliExit('Nothing purged.');
    const broker = await app.broker();
    let removed = 0;
    for (const queue of queues) removed += await broker.purge(queue);
    const where = `${queues.length} ${queues.length === 1 ? 'queue' : 'queues'} (${queues.join(', ')})`;
    process.stdout.write(
      removed ? `Purged ${removed} ${removed === 1 ? 'message' : 'messages'} from ${where}.\n` : `No messages purged from ${where}.\n`,
    );
  } finally {
    await app.close();
  }
}

function knownQueues(app: App): string[] {
  const queues = new Set<string>([app.conf.task_default_queue]);
  for (const task of app.tasks.values()) if (task.options.queue) queues.add(task.options.queue);
  for (const queue of routeMapQueues(app.conf.task_routes)) queues.add(queue);
  return [...queues];
}

async function confirm(queues: string[]): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new CliExit('purge asks for confirmation, but stdin is not a terminal: pass -f to purge without asking.');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    process.stderr.write(`This removes every waiting task from: ${queues.join(', ')}. There is no undo.\n(-f skips this question)\n`);
    const answer = await rl.question('Purge them? (yes/NO) ');
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
