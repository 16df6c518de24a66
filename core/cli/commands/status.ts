/** `celeriac status`: which workers answer a ping (remote control, §6). Exits 69 (EX_UNAVAILABLE) when none does. */
import type { Command } from 'commander';
import { redact } from '../../registry.js';
import { type AppOptions, loadApp } from '../load-app.js';
import { destinationOption, jsonOption, type RemoteOptions, timeoutOption } from '../remote-options.js';
import { nodeReplies, noReplies, onlineSummary, repliesJson, statusOf } from '../replies.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('List the workers that answer, and how many are online')
    .addOption(timeoutOption())
    .addOption(destinationOption())
    .addOption(jsonOption())
    .action(async (_opts: unknown, cmd: Command) => status(cmd.optsWithGlobals<AppOptions & RemoteOptions>()));
}

async function status(opts: AppOptions & RemoteOptions): Promise<void> {
  const app = await loadApp(opts);
  try {
    const nodes = nodeReplies(await app.control.ping({ timeout: opts.timeout, destination: opts.destination }));
    if (!nodes.length) throw noReplies(opts.timeout, redact(app.brokerUrl()));
    // With -j, Celery prints the replies as one JSON object, then still the count.
    const listed = opts.json ? repliesJson(nodes) : nodes.map((n) => `${n.node}: ${statusOf(n)}`).join('\n');
    process.stdout.write(`${listed}\n\n${onlineSummary(nodes.length)}\n`);
  } finally {
    await app.close();
  }
}
