/**
 * `celeriac worker`: run the -A app's tasks from its queues (issue item 9). Prints the banner,
 * logs through core/log.ts, and shuts down warm on SIGTERM/SIGINT (stop taking, finish
 * in-flight work within the grace period, hand the rest back); a second SIGINT exits at once.
 */
import { hostname as osHostname } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import { createLogger, type Logger, type LogLevel, parseLogLevel, stdioWriter } from '../../log.js';
import { renderBanner } from '../../worker/banner.js';
import { acquirePidfile, type Pidfile } from '../../worker/pidfile.js';
import { CliExit } from '../exit.js';
import { type AppOptions, loadApp } from '../load-app.js';
import { commaList, positiveInt, wholeNumber } from '../parse.js';
import { celeriacVersion } from '../version.js';

interface WorkerOptions extends AppOptions {
  loglevel: LogLevel;
  concurrency?: number;
  queues?: string[];
  hostname?: string;
  pidfile?: string;
  logfile?: string;
  prefetchMultiplier?: number;
  events?: boolean;
}

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Start a worker that runs the tasks of the -A app')
    .option('-l, --loglevel <level>', 'debug, info, warning, error (or critical)', logLevel, 'warning')
    .option('-c, --concurrency <n>', 'tasks run at once (default: worker_concurrency, else the CPU count)', positiveInt)
    .option('-Q, --queues <list>', 'comma-separated queues to consume (default: task_default_queue)', commaList)
    .option('-n, --hostname <name>', 'node name; %h = host name, %n = its first label, %d = its domain')
    .option('--pidfile <file>', 'refuse to start while another live worker holds this file')
    .option('--logfile <file>', 'append log lines to this file instead of stderr')
    .option(
      '--prefetch-multiplier <n>',
      'deliveries held per concurrency slot, 0 for no limit (default: worker_prefetch_multiplier)',
      wholeNumber,
    )
    .option('-E, --events', 'send task events for monitors such as `celery events` (worker_send_task_events)')
    .action(async (_opts: unknown, cmd: Command) => runWorker(cmd.optsWithGlobals<WorkerOptions>()));
}

async function runWorker(opts: WorkerOptions): Promise<void> {
  if (!opts.app) throw new CliExit('celeriac worker needs the module that exports your app: celeriac worker -A tasks', 2);
  const pidfile = opts.pidfile ? acquirePidfile(opts.pidfile) : undefined;
  try {
    const app = await loadApp(opts);
    const logger = createLogger({ level: opts.loglevel, file: opts.logfile });
    const worker = await app.worker({
      hostname: opts.hostname ? expandHostname(opts.hostname) : undefined,
      concurrency: opts.concurrency,
      queues: opts.queues,
      prefetchMultiplier: opts.prefetchMultiplier,
      logger,
      ...(opts.events ? { sendEvents: true } : {}),
    });
    stdioWriter(process.stdout)(
      renderBanner({
        hostname: worker.hostname,
        version: celeriacVersion(),
        app: app.main,
        transport: app.brokerUrl(),
        results: app.backendUrl(),
        concurrency: worker.concurrency,
        prefetchMultiplier: opts.prefetchMultiplier ?? app.conf.worker_prefetch_multiplier,
        queues: worker.queues,
        tasks: [...app.tasks.keys()],
      }),
    );
    const stopped = untilShutdown(
      {
        warm: async () => {
          await worker.stop();
          await app.close();
          logger.close();
        },
        cold: () => worker.handBackAll(),
      },
      pidfile,
      logger,
    );
    // Not after start(): a worker stopped while it waits for the broker returns from start() without being ready.
    worker.once('ready', () => logger.info(`${worker.hostname} ready.`));
    await worker.start();
    await stopped;
  } finally {
    pidfile?.release();
  }
}

/**
 * Resolves once a first SIGTERM/SIGINT has run the warm shutdown. A second SIGINT is the
 * user insisting (Ctrl-C twice): every held message, running tasks' too, is handed back (for a
 * moment at most, Worker.handBackAll: what is left comes back after its lease) and the process exits.
 *
 * A task's stray promise rejection (one nobody awaits) is logged and the worker goes on: by
 * default Node would exit, taking every running task with it, their messages back only after
 * their visibility timeout. An exception thrown outside any task (a callback of a timer a task
 * set) leaves the process in an unknown state: it is logged and the worker shuts down warm
 * (running tasks finish, waiting ones are handed back) and exits 1, for its supervisor to restart.
 */
function untilShutdown(
  shutdown: { warm: () => Promise<void>; cold: () => Promise<void> },
  pidfile: Pidfile | undefined,
  logger: Logger,
): Promise<void> {
  const stderr = stdioWriter(process.stderr);
  return new Promise((resolve, reject) => {
    let stopping = false;
    const stop = (): void => {
      stopping = true;
      stderr('\nworker: Warm shutdown (MainProcess)\n');
      shutdown.warm().then(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        process.off('unhandledRejection', onRejection);
        resolve();
      }, reject);
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        if (signal !== 'SIGINT') return;
        stderr('\nworker: Cold shutdown (MainProcess)\n');
        const exit = (): never => {
          pidfile?.release();
          process.exit(130); // 128 + SIGINT, as a shell reports it
        };
        void shutdown.cold().then(exit, exit);
        return;
      }
      stop();
    };
    const onRejection = (reason: unknown): void => {
      logger.error(`Unhandled promise rejection (a promise nobody awaited or caught); the worker goes on: ${describe(reason)}`);
    };
    // Its log line cannot fail into another uncaught exception (stdioWriter): when it could, a lost
    // stderr reader made this handler call itself forever, a tick loop that froze every promise.
    const onException = (err: unknown): void => {
      logger.error(`Uncaught exception outside any task; shutting down: ${describe(err)}`);
      process.exitCode = 1;
      if (!stopping) stop();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtException', onException);
  });
}

function describe(value: unknown): string {
  try {
    return value instanceof Error ? (value.stack ?? `${value.name}: ${value.message}`) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Celery's node-name expansions: `-n worker1@%h`. */
export function expandHostname(name: string, host: string = osHostname()): string {
  const dot = host.indexOf('.');
  const short = dot < 0 ? host : host.slice(0, dot);
  const domain = dot < 0 ? '' : host.slice(dot + 1);
  return name.replace(/%([hnd%])/g, (_, c: string) => (c === 'h' ? host : c === 'n' ? short : c === 'd' ? domain : '%'));
}

function logLevel(value: string): LogLevel {
  try {
    return parseLogLevel(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
