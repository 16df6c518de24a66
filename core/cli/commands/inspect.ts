/**
 * `celeriac inspect METHOD`: ask the running workers (remote control, §6) and print each
 * node's answer as Celery does: `-> worker@host: OK` then the payload, indented.
 */
import { Argument, type Command } from 'commander';
import { INSPECT_METHODS, type InspectMethod } from '../../control.js';
import { redact } from '../../registry.js';
import { CliExit } from '../exit.js';
import { type AppOptions, loadApp } from '../load-app.js';
import { destinationOption, jsonOption, type RemoteOptions, timeoutOption } from '../remote-options.js';
import { nodeReplies, noReplies, onlineSummary, payloadLines, repliesJson, statusOf } from '../replies.js';

type InspectOptions = AppOptions & RemoteOptions;

/**
 * The methods taking arguments after their name, read as Celery's Panel declares them
 * (`inspect query_task ID...`, `inspect conf [include_defaults]`); the others take none.
 */
const METHOD_ARGUMENTS = {
  query_task: { signature: '[id1 [id2 [... [idN]]]]', compile: (ids: string[]) => ({ ids }) },
  conf: {
    signature: '[include_defaults=False]',
    compile: (args: string[]) => (args.length ? { with_defaults: strtobool(args) } : undefined),
  },
} as const;
type Method = InspectMethod | keyof typeof METHOD_ARGUMENTS;
const METHODS: readonly Method[] = [...INSPECT_METHODS, 'query_task'];

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description(`Ask the running workers: ${METHODS.join(', ')}`)
    .addArgument(new Argument('<method>', 'what to ask').choices(METHODS))
    .argument('[arguments...]', "the method's arguments: query_task ID..., conf [include_defaults]")
    .addOption(timeoutOption())
    .addOption(destinationOption())
    .addOption(jsonOption())
    .action(async (method: Method, args: string[], _opts: unknown, cmd: Command) =>
      inspect(method, args, cmd.optsWithGlobals<InspectOptions>()),
    );
}

async function inspect(method: Method, args: string[], opts: InspectOptions): Promise<void> {
  const taking = method in METHOD_ARGUMENTS ? METHOD_ARGUMENTS[method as keyof typeof METHOD_ARGUMENTS] : undefined;
  if (!taking && args.length) throw new CliExit(`inspect ${method} takes no arguments; got ${args.join(' ')}`, 2);
  const compiled = taking?.compile(args);
  const app = await loadApp(opts);
  try {
    const options = { timeout: opts.timeout, destination: opts.destination };
    const replies = compiled
      ? await app.control.broadcast(method, compiled, options)
      : await app.control.inspect(method as InspectMethod, options);
    if (!replies.length) throw noReplies(opts.timeout, redact(app.brokerUrl()));
    const nodes = nodeReplies(replies);
    if (opts.json) {
      process.stdout.write(`${repliesJson(nodes)}\n`);
    } else {
      const lines = nodes.flatMap((n) => [`-> ${n.node}: ${statusOf(n)}`, ...payloadLines(n.payload)]);
      process.stdout.write(`${lines.join('\n')}\n\n${onlineSummary(nodes.length)}\n`);
    }
    if (nodes.some((n) => n.failed)) process.exitCode = 1;
  } finally {
    await app.close();
  }
}

/** Celery's strtobool, for `inspect conf [include_defaults]`. */
function strtobool(args: string[]): boolean {
  const [value] = args;
  if (args.length === 1 && value !== undefined) {
    if (/^(y|yes|t|true|on|1)$/i.test(value)) return true;
    if (/^(n|no|f|false|off|0)$/i.test(value)) return false;
  }
  throw new CliExit(`inspect conf takes arguments: ${METHOD_ARGUMENTS.conf.signature}; got ${args.join(' ')}`, 2);
}
