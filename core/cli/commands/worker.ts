/**
 * `celeriac worker`: run the -A app's tasks from its queues (issue item 9). Prints the banner,
 * logs through core/log.ts, and handles Celery's signals (class Shutdown below).
 */
import { hostname as osHostname } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import { createLogger, type Logger, type LogLevel, parseLogLevel, stdioWriter } from '../../log.js';
import { renderBanner } from '../../worker/banner.js';
import type { RequestInfo } from '../../worker/control-handlers.js';
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
    .option('-n, --hostname <name>', 'node name (celery@<name> without @); %h = host name, %n = its first label, %d = its domain')
    .option(
      '--pidfile <file>',
      'refuse to start while another live worker holds this file; %n = node name before @, %h = after it, %p = whole, %i/%I = process index',
    )
    .option('--logfile <file>', 'append log lines to this file instead of stderr; %n, %h, %p, %i, %I as for --pidfile')
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
  const hostname = opts.hostname ? expandHostname(opts.hostname) : undefined;
  const nodename = hostname ?? `celery@${osHostname()}`;
  const pidfile = opts.pidfile ? acquirePidfile(nodeFormat(opts.pidfile, nodename)) : undefined;
  const logger = createLogger({ level: opts.loglevel, file: opts.logfile && nodeFormat(opts.logfile, nodename) });
  // From the start: a signal while the app loads or the worker starts stops it too, cleanly.
  const shutdown = new Shutdown(pidfile, logger);
  try {
    const app = await loadApp(opts);
    const worker = await app.worker({
      hostname,
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
    shutdown.attach({
      warm: async () => {
        await worker.stop();
        await app.close();
      },
      cold: () => worker.handBackAll(),
      active: () => worker.active(),
    });
    // Not after start(): a worker stopped while it waits for the broker returns from start() without being ready.
    worker.once('ready', () => logger.info(`${worker.hostname} ready.`));
    if (!shutdown.stopping) await worker.start();
    await shutdown.done;
  } finally {
    shutdown.dispose();
    logger.close();
    pidfile?.release();
  }
}

/**
 * The worker's signal handling, from before the app loads, as Celery 5.2's worker:
 * - a first SIGTERM or SIGINT runs the warm shutdown (once the worker exists; before, there is
 *   nothing to stop and the start is skipped), and `done` resolves;
 * - SIGHUP: Celery re-executes itself (a warm restart). celeriac shuts down warm instead and
 *   leaves the restart to the supervisor: a re-exec would change the process id a supervisor
 *   and the pidfile know it by, and pick up a half-deployed tree;
 * - SIGQUIT is Celery's cold shutdown: every held message, running tasks' too, is handed back (for
 *   a moment at most, Worker.handBackAll: what is left comes back after its lease) and the process
 *   exits 0. A second SIGINT is the user insisting (Ctrl-C twice): the same, exit 130;
 * - SIGUSR1 logs the running tasks (Celery dumps its threads' tracebacks). Without a handler,
 *   Node would open its inspector on 127.0.0.1:9229: anyone on the machine could run code in the
 *   worker.
 *
 * A task's stray promise rejection (one nobody awaits) is logged and the worker goes on: by
 * default Node would exit, taking every running task with it, their messages back only after
 * their visibility timeout. An exception thrown outside any task (a callback of a timer a task
 * set) leaves the process in an unknown state: it is logged and the worker shuts down warm
 * (running tasks finish, waiting ones are handed back) and exits 1, for its supervisor to restart.
 */
class Shutdown {
  stopping = false;
  readonly done: Promise<void>;
  #resolve: () => void = () => {};
  #reject: (err: unknown) => void = () => {};
  #steps: ShutdownSteps | undefined;
  readonly #stderr = stdioWriter(process.stderr);

  constructor(
    private readonly pidfile: Pidfile | undefined,
    private readonly logger: Logger,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    for (const signal of SIGNALS) process.on(signal, this.#onSignal);
    process.on('unhandledRejection', this.#onRejection);
    process.on('uncaughtException', this.#onException);
  }

  /** The worker exists: what a shutdown does. A signal that came before runs it now. */
  attach(steps: ShutdownSteps): void {
    this.#steps = steps;
    if (this.stopping) this.#warm();
  }

  dispose(): void {
    for (const signal of SIGNALS) process.off(signal, this.#onSignal);
    process.off('unhandledRejection', this.#onRejection);
    process.off('uncaughtException', this.#onException);
  }

  #stop(): void {
    this.stopping = true;
    this.#stderr('\nworker: Warm shutdown (MainProcess)\n');
    if (this.#steps) this.#warm();
  }

  #warm(): void {
    (this.#steps as { warm: () => Promise<void> }).warm().then(this.#resolve, this.#reject);
  }

  readonly #onSignal = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGUSR1') this.#logActive();
    else if (signal === 'SIGQUIT') this.#cold(0);
    else if (!this.stopping) {
      if (signal === 'SIGHUP')
        this.logger.warning('SIGHUP: celeriac does not restart itself: warm shutdown (let the supervisor restart it)');
      this.#stop();
    } else if (signal === 'SIGINT') this.#cold(130); // 128 + SIGINT, as a shell reports it
  };

  #cold(code: number): void {
    this.#stderr('\nworker: Cold shutdown (MainProcess)\n');
    const exit = (): never => {
      this.pidfile?.release();
      process.exit(code);
    };
    void (this.#steps?.cold() ?? Promise.resolve()).then(exit, exit);
  }

  #logActive(): void {
    const active = this.#steps?.active() ?? [];
    const lines = active.map((r) => `\n  ${r.name}[${r.id}] running for ${(Date.now() / 1000 - (r.time_start ?? 0)).toFixed(1)}s`);
    this.logger.warning(`SIGUSR1: ${active.length} running task(s)${lines.join('')}`);
  }

  readonly #onRejection = (reason: unknown): void => {
    this.logger.error(`Unhandled promise rejection (a promise nobody awaited or caught); the worker goes on: ${describe(reason)}`);
  };

  // Its log line cannot fail into another uncaught exception (stdioWriter): when it could, a lost
  // stderr reader made this handler call itself forever, a tick loop that froze every promise.
  readonly #onException = (err: unknown): void => {
    this.logger.error(`Uncaught exception outside any task; shutting down: ${describe(err)}`);
    process.exitCode = 1;
    if (!this.stopping) this.#stop();
  };
}

/** What a shutdown does once the worker exists, and what SIGUSR1 reports. */
interface ShutdownSteps {
  warm: () => Promise<void>;
  cold: () => Promise<void>;
  active: () => RequestInfo[];
}

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1'];

function describe(value: unknown): string {
  try {
    return value instanceof Error ? (value.stack ?? `${value.name}: ${value.message}`) : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/**
 * Celery's default_nodename and host_format for `-n`: a name without '@' is a host (`-n foo` is
 * celery@foo, `-n %h` celery@<host>); %h is the host name, %n its first label, %d its domain.
 */
export function expandHostname(name: string, host: string = osHostname()): string {
  return hostFormat(name.includes('@') ? name : `celery@${name}`, host);
}

/**
 * Celery's node_format, for --pidfile and --logfile (`run/%n.pid`): %p is the node name, %n its
 * name part (before '@'), %h its host part, %d that host's domain, %i the process index and %I
 * the same after a '-', which for the main process are '0' and '' (celeriac runs one process).
 */
export function nodeFormat(text: string, nodename: string): string {
  const at = nodename.indexOf('@');
  const [name, host] = at < 0 ? ['celery', nodename] : [nodename.slice(0, at), nodename.slice(at + 1)];
  return hostFormat(text, host, { n: name, p: nodename });
}

/** Celery's host_format: %h, %n (unless `extra` names it otherwise), %d, %i, %I and %% expanded; other %x left as written. */
function hostFormat(text: string, host: string, extra: Record<string, string> = {}): string {
  const dot = host.indexOf('.');
  const keys: Record<string, string> = {
    h: host,
    n: dot < 0 ? host : host.slice(0, dot),
    d: dot < 0 ? '' : host.slice(dot + 1),
    i: '0',
    I: '',
    '%': '%',
    ...extra,
  };
  return text.replace(/%([\w%])/g, (whole, c: string) => keys[c] ?? whole);
}

function logLevel(value: string): LogLevel {
  try {
    return parseLogLevel(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}
