/**
 * `celeriac inspect METHOD`: ask the running workers (remote control, §6) and print each
 * node's answer as Celery does: `-> worker@host: OK` then the payload, indented.
 */
import { Argument, type Command } from 'commander';
import { INSPECT_METHODS, type InspectMethod } from '../../control.js';
import { redact } from '../../registry.js';
import { type AppOptions, loadApp } from '../load-app.js';
import { destinationOption, type RemoteOptions, timeoutOption } from '../remote-options.js';
import { nodeReplies, noReplies, onlineSummary, payloadLines, statusOf } from '../replies.js';

interface InspectOptions extends AppOptions, RemoteOptions {
  json?: boolean;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(`Ask the running workers: ${INSPECT_METHODS.join(', ')}`)
    .addArgument(new Argument('<method>', 'what to ask').choices(INSPECT_METHODS))
    .addOption(timeoutOption())
    .addOption(destinationOption())
    .option('-j, --json', 'print the raw replies as one JSON object')
    .action(async (method: InspectMethod, _opts: unknown, cmd: Command) => inspect(method, cmd.optsWithGlobals<InspectOptions>()));
}

async function inspect(method: InspectMethod, opts: InspectOptions): Promise<void> {
  const app = await loadApp(opts);
  try {
    const replies = await app.control.inspect(method, { timeout: opts.timeout, destination: opts.destination });
    if (!replies.length) throw noReplies(opts.timeout, redact(app.brokerUrl()));
    const nodes = nodeReplies(replies);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(Object.fromEntries(nodes.map((n) => [n.node, n.payload])))}\n`);
    } else {
      const lines = nodes.flatMap((n) => [`-> ${n.node}: ${statusOf(n)}`, ...payloadLines(n.payload)]);
      process.stdout.write(`${lines.join('\n')}\n\n${onlineSummary(nodes.length)}\n`);
    }
    if (nodes.some((n) => n.failed)) process.exitCode = 1;
  } finally {
    await app.close();
  }
}
