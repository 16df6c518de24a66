/**
 * The app: tasks registered by name, one config, and the broker and result backend opened lazily
 * (only the providers its URLs name are loaded) and cached.
 */
import { randomUUID } from 'node:crypto';
import { AsyncResult, type ResultSource, type SentInfo } from './async-result.js';
import { Signature, type SignatureOptions, listOf } from './canvas.js';
import { type AnnotationValues, annotationsFor, normalizeTaskOptions } from './annotations.js';
import { Config } from './config/config.js';
import type { Settings } from './config/settings.js';
import { Control } from './control.js';
import { DisabledBackend } from './disabled-backend.js';
import { AppClosedError, ConfigError } from './errors.js';
import type { RunnableTask } from './executor.js';
import type { FollowUp } from './executor/canvas.js';
import { KeyValueResultBackend, taskIdTooLong } from './kv-result-backend.js';
import { type CallOptions, checkArgs, checkCall, checkSignatureOptions } from './call-options.js';
import { buildTaskMessage } from './message-builder.js';
import type { EventDispatcher } from './events.js';
import { type TaskEmbed, type TaskMessage, parseCeleryTime } from './message.js';
import type { Broker, EventChannel, ProviderContext, ResultBackend } from './ports.js';
import { openBroker, openStore, redact, storeMaxKeyBytes } from './registry.js';
import { routeFor } from './routing.js';
import { type ArgsOf, type ArgsSuffix, type FixedArity, type ResultOf, Task, type TaskFn, type TaskSender } from './task.js';
import type { TaskOptions } from './task-options.js';
import type { Worker, WorkerOptions } from './worker/worker.js';

/** Settings for createApp(); as in Celery('proj', broker=...), configFromObject() does not override them. */
export interface AppOptions extends Partial<Record<keyof Settings, unknown>> {
  /** broker_url. */
  broker?: string;
  /** result_backend. */
  backend?: string;
  [setting: string]: unknown;
}

export function createApp(main: string, options: AppOptions = {}): App {
  // Plain JS callers get no compile-time check: createApp({ broker }) would otherwise run silently on local://.
  if (typeof main !== 'string') {
    throw new ConfigError(
      `createApp(main, options): main must be the app's name, a string (as Celery('tasks', ...)), got ${main === null ? 'null' : typeof main}; write createApp('tasks', { broker: ..., backend: ... })`,
    );
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError(
      `createApp('${main}', options): options must be an object of settings, got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`,
    );
  }
  return new App(main, options);
}

export class App implements TaskSender {
  /**
   * As JSON (an error message showing a value that holds the app, a log line), only its name:
   * its settings hold URLs with passwords.
   */
  toJSON(): { app: string } {
    return { app: this.main };
  }

  readonly conf: Config;
  readonly control: Control;
  readonly #tasks = new Map<string, Task>();
  // Celery's app.thread_oid: this producer's reply_to, always sent (§1.3).
  readonly #oid = randomUUID();
  #sentEvents: EventDispatcher | undefined;
  #source: ResultSource | undefined;
  #broker: Promise<Broker> | undefined;
  #backend: Promise<ResultBackend> | undefined;
  /** Workers made by app.worker() and not stopped yet: close() stops them first. */
  readonly #workers = new Set<Worker>();
  /** Set by close(): a closed app opens no connection again (it would keep the process alive). */
  #closed = false;

  constructor(
    readonly main: string,
    options: AppOptions = {},
  ) {
    this.conf = new Config(options);
    this.control = new Control(
      () => this.broker(),
      () => this.backend(),
      () => this.#tasks,
    );
  }

  get tasks(): ReadonlyMap<string, Task> {
    return this.#tasks;
  }

  /** Register a task: `app.task(function add(x, y) {...})` is named '<main>.add'; or give the name. */
  task<F extends TaskFn>(fn: F & FixedArity<F>, options?: TaskOptions): Task<F>;
  task<F extends TaskFn>(name: string, fn: F & FixedArity<F>, options?: TaskOptions): Task<F>;
  task<F extends TaskFn>(nameOrFn: string | F, fnOrOptions?: F | TaskOptions, maybeOptions?: TaskOptions): Task<F> {
    const [name, fn, options] =
      typeof nameOrFn === 'string'
        ? [nameOrFn, fnOrOptions as F, maybeOptions]
        : [this.#defaultName(nameOrFn), nameOrFn, fnOrOptions as TaskOptions | undefined];
    if (typeof name !== 'string' || name === '')
      throw new ConfigError("app.task(name, fn): name must be a non-empty string such as 'tasks.add'");
    if (typeof fn !== 'function') throw new ConfigError(`app.task('${name}', fn): fn must be a function`);
    if (this.#tasks.has(name)) throw new ConfigError(`A task named '${name}' is already registered; give one of them another name.`);
    const task = new Task<F>(this, name, fn, normalizeTaskOptions((options ?? {}) as AnnotationValues, `app.task('${name}') options`));
    this.#tasks.set(name, task as unknown as Task);
    return task;
  }

  /** Load settings from a module ('celeriacconfig', './config.ts', 'x.json') or take them from an object. */
  async configFromObject(source: string | Record<string, unknown>): Promise<void> {
    // Loaded on demand: a producer that never reads a config module never loads esbuild.
    const settings =
      typeof source === 'string' ? await (await import('./module-loader.js')).loadModule(source, { cwd: process.cwd() }) : source;
    this.conf.fromObject(settings);
  }

  brokerUrl(): string {
    return this.conf.broker_url;
  }

  /** The result backend URL in effect, or 'disabled://' when results are off. */
  backendUrl(): string {
    return this.conf.result_backend ?? 'disabled://';
  }

  broker(): Promise<Broker> {
    if (this.#closed) return Promise.reject(this.#closedError('send or consume'));
    this.#broker ??= openBroker(this.brokerUrl(), this.#providerContext()).catch((err) => {
      this.#broker = undefined; // let a later call try again
      throw err;
    });
    return this.#broker;
  }

  backend(): Promise<ResultBackend> {
    if (this.#closed) return Promise.reject(this.#closedError('read or store results'));
    this.#backend ??= this.#openBackend().catch((err) => {
      this.#backend = undefined;
      throw err;
    });
    return this.#backend;
  }

  /** Send a task by name; typed when given the task's type: `app.sendTask<typeof add>('tasks.add', [1, 2])`. */
  async sendTask<T = TaskFn>(
    name: string,
    args: ArgsOf<T>,
    kwargs: Record<string, unknown> = {},
    options: CallOptions = {},
    task?: Task,
  ): Promise<AsyncResult<ResultOf<T>>> {
    checkCall(name, args, kwargs, options);
    if (options?.taskId !== undefined) await this.#checkTaskId(options.taskId);
    const message = this.#builder(name, options ?? {}, task)((args ?? []) as unknown[], kwargs ?? {});
    const broker = await this.broker();
    await broker.publish(message.queue, [message]);
    if (this.conf.task_send_sent_event && broker.events) await this.#sendSentEvent(broker.events, message);
    return this.#result<ResultOf<T>>(message, name);
  }

  /**
   * Send the task once per entry of `argsList` (positional args), with the same call options,
   * published as one batch per queue (one LPUSH on Redis, one transaction on local://):
   * `await app.sendMany<typeof add>('tasks.add', [[1, 2], [3, 4]])`. Results come in the same order.
   */
  async sendMany<T = TaskFn>(
    name: string,
    argsList: readonly ArgsOf<T>[],
    options: CallOptions = {},
    task?: Task,
  ): Promise<AsyncResult<ResultOf<T>>[]> {
    if (!Array.isArray(argsList))
      throw new ConfigError(`sendMany('${name}', argsList): argsList must be an array of argument lists, such as [[1, 2], [3, 4]]`);
    checkCall(name, [], undefined, options);
    for (const [i, args] of argsList.entries()) checkArgs(`sending ${name} (argsList[${i}])`, args);
    if (options?.taskId !== undefined) {
      throw new ConfigError(`sendMany('${name}', ...): taskId names a single task; leave it out and each call gets its own id.`);
    }
    const build = this.#builder(name, options ?? {}, task);
    const byQueue = new Map<string, TaskMessage[]>();
    const messages = argsList.map((args) => {
      const message = build((args ?? []) as unknown[], {});
      const batch = byQueue.get(message.queue);
      if (batch) batch.push(message);
      else byQueue.set(message.queue, [message]);
      return message;
    });
    const broker = await this.broker();
    await Promise.all([...byQueue].map(([queue, batch]) => broker.publish(queue, batch)));
    if (this.conf.task_send_sent_event && broker.events) {
      for (const message of messages) await this.#sendSentEvent(broker.events, message);
    }
    return messages.map((message) => this.#result<ResultOf<T>>(message, name));
  }

  /**
   * Send a task's follow-up as a Celery worker does (a chain's next step, a link callback or
   * errback, a group member, a chord header task or body): the signature's task, args and kwargs,
   * its pre-assigned task id and queue, under its parent and root (and group), carrying its own
   * links, the rest of the chain and the chord it completes.
   */
  async sendFollowUp(f: FollowUp): Promise<void> {
    const { signature: sig } = f;
    const o = sig.options ?? {};
    // What Celery's Signature.apply_async passes on from the options (a value it could not read is left out).
    const seconds = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);
    const time = (v: unknown): Date | undefined => {
      const t = typeof v === 'string' ? parseCeleryTime(v) : Number.NaN;
      return Number.isNaN(t) ? undefined : new Date(t);
    };
    const group = f.group ?? (typeof o.group_id === 'string' && o.group_id !== '' ? { id: o.group_id, index: o.group_index } : undefined);
    const expires = seconds(o.expires) ?? time(o.expires);
    const options: CallOptions = {
      ...(typeof o.task_id === 'string' && o.task_id !== '' ? { taskId: o.task_id } : {}),
      ...(typeof o.queue === 'string' && o.queue !== '' ? { queue: o.queue } : {}),
      ...(Number.isInteger(o.priority) && (o.priority as number) >= 0 && (o.priority as number) <= 9
        ? { priority: o.priority as number }
        : {}),
      ...(typeof o.countdown === 'number' && Number.isFinite(o.countdown) ? { countdown: o.countdown } : {}),
      ...(time(o.eta) && { eta: time(o.eta) }),
      ...(expires !== undefined && { expires }),
      ...(seconds(o.time_limit) !== undefined && { timeLimit: seconds(o.time_limit) }),
      ...(seconds(o.soft_time_limit) !== undefined && { softTimeLimit: seconds(o.soft_time_limit) }),
      ...(typeof o.ignore_result === 'boolean' && { ignoreResult: o.ignore_result }),
      headers: {
        parent_id: f.parentId,
        ...(f.rootId !== null && { root_id: f.rootId }),
        ...(group && { group: group.id, group_index: Number.isInteger(group.index) ? group.index : null }),
      },
    };
    // Checked as applyAsync checks its call: one no message can carry (a countdown past what a Date
    // holds) is refused for good, so the task that sends it fails rather than runs again forever.
    checkCall(sig.task, f.args, sig.kwargs, options);
    // Celery's client writes null when a signature has none.
    const links = (v: unknown): unknown[] | null => (v === undefined || v === null ? null : listOf(v));
    const embed = {
      callbacks: links(o.link),
      errbacks: links(o.link_error),
      // A step's own chain (a chord body's: the steps after the chord) and chord (a chain's last step in a chord header).
      chain: f.chain?.length ? f.chain : Array.isArray(o.chain) && o.chain.length > 0 ? o.chain : null,
      chord: f.chord ?? o.chord ?? null,
    };
    const message = this.#builder(sig.task, options, undefined, embed)(f.args, sig.kwargs ?? {});
    const broker = await this.broker();
    await broker.publish(message.queue, [message]);
  }

  /** A signature by task name, for tasks this app does not define (another service's, Python's): `app.signature<typeof add>('tasks.add', [2, 2])`. */
  signature<T = TaskFn>(name: string, args?: ArgsSuffix<ArgsOf<T>>, options: SignatureOptions = {}): Signature<ResultOf<T>> {
    checkCall(name, args ?? [], {}, {});
    checkSignatureOptions(`app.signature('${name}', args, options)`, options);
    return new Signature<ResultOf<T>>(this, name, args ?? [], options);
  }

  /**
   * Send a canvas (core/canvas.ts: a frozen Celery signature dict) as Celery's client does: what
   * the worker side would apply (executor/canvas.ts), checked whole before anything is sent.
   */
  async applyCanvas(signature: Record<string, unknown>): Promise<void> {
    // Loaded when first used: a producer that sends plain tasks loads none of the worker's side.
    const [{ applied, holdsChord }, { cannotKeepChords, sendFollowUps, unfollowable }] = await Promise.all([
      import('./executor/canvas.js'),
      import('./executor/send-follow-ups.js'),
    ]);
    const followUps = applied(signature, [], { parentId: null, rootId: null }, 'the canvas');
    const backend = await this.backend();
    const problems = unfollowable(followUps, backend);
    // One further on, met only when its step runs, is refused now too.
    if (!backend.chords && followUps.chords.length === 0 && holdsChord(signature))
      problems.push(`a chord (${cannotKeepChords({ backend })})`);
    if (problems.length > 0) throw new ConfigError(`Cannot send ${problems.join('; ')}.`);
    await sendFollowUps({ backend, sendFollowUp: (f) => this.sendFollowUp(f) }, followUps, () => undefined);
  }

  /** Builds messages for one task name and call options (routed per call: a router may look at the args). */
  #builder(
    name: string,
    options: CallOptions,
    task?: Task,
    embed?: TaskEmbed,
  ): (args: unknown[], kwargs: Record<string, unknown>) => TaskMessage {
    const known = task ?? this.#tasks.get(name);
    const taskOptions = known ? this.taskOptions(known) : {};
    const conf = this.conf;
    const defaults = { ignoreResult: conf.task_ignore_result, priority: conf.task_default_priority, timeLimit: null, softTimeLimit: null };
    const call = options as CallOptions & Record<string, unknown>;
    return (args, kwargs) =>
      buildTaskMessage({
        name,
        args,
        kwargs,
        queue: routeFor(name, args, kwargs, call, conf, taskOptions).queue,
        call: options,
        task: taskOptions,
        defaults,
        embed,
        replyTo: this.#oid,
      });
  }

  #result<R>(message: TaskMessage, taskName: string): AsyncResult<R> {
    return new AsyncResult<R>(message.headers.id, this.#resultSource(), {
      taskName,
      queue: message.queue,
      ignoreResult: message.headers.ignore_result,
    });
  }

  AsyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this.#resultSource());
  }

  /** A task's options in effect: its own, overridden by task_annotations (as Celery's annotations do). */
  taskOptions(task: Task): TaskOptions {
    return { ...task.options, ...annotationsFor(task.name, this.conf) };
  }

  /** Every task as the executor runs it. */
  runnableTasks(): Map<string, RunnableTask> {
    return new Map([...this.#tasks].map(([name, task]) => [name, { name, fn: task.fn, options: this.taskOptions(task) }]));
  }

  /** A worker for this app. Async so that the worker code loads only where a worker runs, never in a producer. */
  async worker(options: WorkerOptions = {}): Promise<Worker> {
    const { Worker } = await import('./worker/worker.js');
    const worker = new Worker(this, options);
    this.#workers.add(worker);
    worker.once('stopped', () => this.#workers.delete(worker));
    return worker;
  }

  /**
   * Stops this app's workers (warm: running tasks finish and store their results), then closes
   * its connections: closed first, a worker would run on and fail to store what it finishes.
   */
  async close(): Promise<void> {
    await Promise.all([...this.#workers].map((w) => w.stop()));
    this.#closed = true;
    const [broker, backend] = [this.#broker, this.#backend];
    this.#broker = this.#backend = undefined;
    this.#sentEvents = undefined;
    await Promise.all([broker?.then((b) => b.close()).catch(() => undefined), backend?.then((b) => b.close()).catch(() => undefined)]);
  }

  /** task-sent (§7), from this producer (named by the message's origin, as Celery's dispatcher is). */
  async #sendSentEvent(channel: EventChannel, message: TaskMessage): Promise<void> {
    // Loaded only by producers that turned task_send_sent_event on.
    const { EventDispatcher, taskSentFields } = await import('./events.js');
    this.#sentEvents ??= new EventDispatcher(channel, message.headers.origin);
    await this.#sentEvents.send('task-sent', taskSentFields(message));
  }

  #closedError(what: string): AppClosedError {
    return new AppClosedError(`App '${this.main}' was closed (app.close()): it cannot ${what} any more; create a new app to go on.`);
  }

  #defaultName(fn: TaskFn): string {
    if (!fn.name) throw new ConfigError('app.task(fn) needs a named function to derive the task name from; or call app.task(name, fn).');
    return `${this.main}.${fn.name}`;
  }

  #providerContext(): ProviderContext {
    return { transportOptions: this.conf.broker_transport_options, connectTimeoutMs: this.conf.broker_connection_timeout * 1000 };
  }

  /** A task id the result store could never key is refused before it is sent (the store is not opened for it). */
  async #checkTaskId(taskId: string): Promise<void> {
    const url = this.conf.result_backend;
    const tooLong = url ? taskIdTooLong(taskId, await storeMaxKeyBytes(url), url) : undefined;
    if (tooLong) throw new ConfigError(`Cannot send this task: ${tooLong}.`);
  }

  async #openBackend(): Promise<ResultBackend> {
    const url = this.conf.result_backend;
    if (!url) return new DisabledBackend();
    const store = await openStore(url, this.#providerContext());
    return new KeyValueResultBackend(store, { resultExpires: this.conf.result_expires });
  }

  /** One per app: every AsyncResult shares it. */
  #resultSource(): ResultSource {
    if (this.#source) return this.#source;
    const backendUrl = (): string => redact(this.backendUrl());
    this.#source = {
      backend: () => this.backend(),
      // A getter: read when a result is printed or diagnosed, not on every send.
      get backendUrl() {
        return backendUrl();
      },
      revoke: (taskIds, opts) => this.control.revoke(taskIds, opts),
      pendingFacts: async (sent: SentInfo | undefined) => {
        if (!sent) return [];
        const broker = await this.broker();
        const waiting = await broker.size?.(sent.queue);
        return waiting === undefined
          ? []
          : [
              `Right now ${waiting} message(s) wait in queue '${sent.queue}' on ${redact(broker.url)}${waiting > 0 ? ' (is any worker consuming it?)' : ''}.`,
            ];
      },
    };
    return this.#source;
  }
}
