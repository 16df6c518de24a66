/**
 * The classic worker: a driver of the executor over `broker.consume`. It adds prefetch
 * (concurrency × prefetch multiplier), run slots, remote control, log lines and stats, and a
 * graceful stop. Every message's fate is decided by the executor.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { availableParallelism, hostname as osHostname } from 'node:os';
import { EventDispatcher, WorkerHeartbeat, taskEvent } from '../events.js';
import { type ExecutorEvent, type RunnableTask, executeDelivery, handBack } from '../executor.js';
import { type ExecutorApp, executorDeps } from '../executor/deps.js';
import { shownName } from '../executor/types.js';
import { type Logger, silentLogger } from '../log.js';
import type { TaskMessage } from '../message.js';
import type { Broker, Consumer, Delivery } from '../ports.js';
import { RateLimiter } from '../rate-limit.js';
import { redact } from '../registry.js';
import { connectionLog, fetchErrorLog, mingle, waitForBroker } from './broker-link.js';
import { confReply } from './conf-reply.js';
import { settledBy } from '../deadline.js';
import { CeleriacError } from '../errors.js';
import { setLongTimeout } from '../long-timeout.js';
import { Semaphore } from './semaphore.js';
import { type RequestInfo, type WorkerState, handleControl } from './control-handlers.js';
import { requestInfo, scheduledInfo } from './request-info.js';
import { RevokedIds } from './revoked-ids.js';
import { logTaskEvent } from './task-log.js';
import { type WorkerOptions, checkWorkerOptions } from './worker-options.js';

export type { WorkerOptions } from './worker-options.js';

/** What the worker needs from its app. */
export interface WorkerApp extends ExecutorApp {
  broker(): Promise<Broker>;
}

// AMQP's largest prefetch count: what "no limit" (multiplier 0) becomes.
const UNLIMITED_PREFETCH = 65_535;

export class Worker extends EventEmitter {
  readonly hostname: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly prefetch: number;
  readonly rateLimiter = new RateLimiter();
  readonly revoked = new RevokedIds();
  /** Tasks run to success or failure, by name: a Map, as a task may be named 'constructor' or '__proto__'. */
  readonly processed = new Map<string, number>();
  startedAt = 0;
  /** Whether task-* events are sent (§7); the enable_events/disable_events commands flip it. */
  sendTaskEvents: boolean;

  private readonly log: Logger;
  private readonly graceMs: number;
  /** Deliveries being decided, by task id, with when each started running (null: waiting). */
  private readonly held = new Map<Delivery, { timeStart: number | null }>();
  private readonly heldByMessage = new Map<unknown, { timeStart: number | null }>();
  private readonly shutdown = new AbortController();
  private consumer: Consumer | undefined;
  private stopControl: (() => Promise<void>) | undefined;
  private unwatchConnection: (() => void) | undefined;
  private events: EventDispatcher | undefined;
  private heartbeat: WorkerHeartbeat | undefined;
  private tasks = new Map<string, RunnableTask>();
  private brokerUrl = '';
  private broker: Broker | undefined;

  constructor(
    private readonly app: WorkerApp,
    opts: WorkerOptions = {},
  ) {
    super();
    checkWorkerOptions(opts);
    const conf = app.conf;
    this.hostname = opts.hostname ?? `celery@${osHostname()}`;
    this.queues = opts.queues?.length ? opts.queues : [conf.task_default_queue];
    this.concurrency = opts.concurrency ?? conf.worker_concurrency ?? availableParallelism();
    this.slots = new Semaphore(this.concurrency);
    const multiplier = opts.prefetchMultiplier ?? conf.worker_prefetch_multiplier;
    this.prefetch = multiplier === 0 ? UNLIMITED_PREFETCH : this.concurrency * multiplier;
    this.log = opts.logger ?? silentLogger;
    this.graceMs = opts.shutdownGraceMs ?? 30_000;
    this.sendTaskEvents = opts.sendEvents ?? conf.worker_send_task_events;
    // Every delivery waiting for a slot or a rate-limit token listens to this one signal.
    setMaxListeners(0, this.shutdown.signal);
  }

  /** The run slots the executor takes: how many are in use says whether a task function still runs. */
  private readonly slots: Semaphore;
  #stopping: Promise<void> | undefined;
  #consumerStopped: Promise<void> | undefined;
  /** Aborted when a stop begins: a start still under way gives up at its next step. */
  readonly #stopRequested = new AbortController();
  /** The start under way, which a stop lets end before it closes anything. */
  #starting: Promise<void> | undefined;

  start(): Promise<void> {
    // Its shutdown signal has fired and its consumer is gone: starting again would quietly do nothing.
    if (this.#stopping)
      return Promise.reject(new CeleriacError(`Worker ${this.hostname} was stopped; create a new one with app.worker().`));
    // Started already: the same start (a second consumer would outlive stop(), spinning on hand-backs).
    this.#starting ??= this.#start().catch(async (error: unknown) => {
      // A start that failed (the broker down, say) may be tried again, from nothing: what it opened is closed.
      this.unwatchConnection?.();
      this.unwatchConnection = undefined;
      // Bounded as a stop's last steps are: a connection lost meanwhile must not keep start() from rejecting.
      await settledBy(
        Promise.allSettled([this.consumer?.stop(), this.stopControl?.(), this.heartbeat?.stop()]),
        Date.now() + LAST_STEPS_MS,
      );
      [this.consumer, this.stopControl, this.heartbeat, this.events] = [undefined, undefined, undefined, undefined];
      if (!this.#stopping) this.#starting = undefined;
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const broker = await this.app.broker();
    this.broker = broker;
    this.brokerUrl = redact(broker.url);
    if (!(await waitForBroker(broker, this.log, this.#stopRequested.signal))) return;
    this.unwatchConnection = broker.onConnection?.(connectionLog(this.log, this.brokerUrl));
    const deps = await executorDeps(this.app, {
      concurrency: this.concurrency,
      slots: this.slots,
      rateLimiter: this.rateLimiter,
      hostname: this.hostname,
      // Without a broadcast (SQS, Pub/Sub) revokes and rate limits come from the result store instead.
      isRevoked: broker.control ? (id: string) => this.revoked.has(id) : undefined,
      republish: (m: Parameters<Broker['publish']>[1][number]) => broker.publish(m.queue, [m]),
      shutdown: this.shutdown.signal,
      onEvent: (e: ExecutorEvent) => this.onEvent(e),
    });
    this.tasks = deps.tasks;
    if (this.#stopping) return;
    if (broker.events) {
      this.events = new EventDispatcher(broker.events, this.hostname, (err) =>
        this.log.warning(`${this.hostname}: could not send an event: ${(err as Error)?.message ?? err}`),
      );
      this.heartbeat = new WorkerHeartbeat(this.events, () => ({
        active: this.requests(true).length,
        processed: [...this.processed.values()].reduce((a, b) => a + b, 0),
      }));
    }
    this.stopControl = await broker.control?.listen({ hostname: this.hostname, queues: this.queues, log: this.log }, async (c) =>
      handleControl(this.state(), c),
    );
    if (broker.control && !this.#stopping) await mingle(broker.control, this.hostname, this.revoked, this.log);
    if (this.#stopping) return; // stopped while it started: the stop closes what was opened
    this.startedAt = Date.now();
    this.consumer = await broker.consume(
      this.queues,
      async (delivery) => {
        const entry: { timeStart: number | null } = { timeStart: null };
        this.held.set(delivery, entry);
        if (delivery.message) this.heldByMessage.set(delivery.message, entry);
        try {
          await executeDelivery(delivery, deps);
        } catch (error) {
          // What fails past the executor is handed back with its backoff, which also frees the
          // prefetch slot (left unsettled, the slot is lost and the message hidden for its whole
          // lease). The worker keeps going.
          const task = { id: delivery.message?.headers.id, name: delivery.message?.headers.task };
          await handBack(delivery, deps, task, error, 'executing (the message will come back)');
        } finally {
          this.held.delete(delivery);
          this.heldByMessage.delete(delivery.message);
          this.emit('settled');
        }
      },
      { prefetch: this.prefetch, onError: fetchErrorLog(this.log, this.brokerUrl) },
    );
    await this.heartbeat?.start();
    this.emit('ready');
  }

  /**
   * Warm shutdown: stop taking messages, hand back those not started, let running tasks finish
   * within the grace period. Every call resolves when it is complete (a second does not return early).
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  /**
   * For a cold shutdown (the process exits next): every held message, running tasks' too, is
   * handed back now rather than after its lease, as kombu restores unacked messages when its
   * channel closes. A task function still running is abandoned; if it finishes anyway, its
   * settle is a no-op and the task runs again elsewhere (at least once). Bounded: with the broker
   * unreachable, what cannot be handed back comes back after its lease.
   */
  async handBackAll(): Promise<void> {
    // No fetch after this: a message handed back must not be taken again on the way out. One stop
    // for both paths: a warm shutdown that already waited for it does not wait again here.
    await settledBy(this.#stopConsumer(), Date.now() + LAST_STEPS_MS);
    const all = Promise.all([...this.held.keys()].map((d) => d.retryLater(0).catch(() => undefined)));
    await settledBy(all, Date.now() + LAST_STEPS_MS);
  }

  /** The consumer's stop, asked for once. */
  #stopConsumer(): Promise<void> | undefined {
    this.#consumerStopped ??= this.consumer?.stop();
    return this.#consumerStopped;
  }

  async #stop(): Promise<void> {
    // A start under way ends first (at its next step), so that nothing it opens is left open and
    // nothing it does meets connections the app is closing.
    this.#stopRequested.abort();
    await settledBy(this.#starting, Date.now() + LAST_STEPS_MS);
    this.unwatchConnection?.(); // closing connections on the way out is not a lost connection
    this.log.info(
      `${this.hostname}: warm shutdown (waiting up to ${this.graceMs / 1000}s for ${this.requests(true).length} running task(s))`,
    );
    const deadline = Date.now() + this.graceMs;
    // Every step is bounded: with the broker unreachable, a fetch, a hand-back or a goodbye
    // (pidbox, worker-offline event) waits for a reconnect that may never come, and the process
    // must still exit (what it holds then comes back after its lease).
    const bounded = (step: Promise<unknown> | undefined) => settledBy(step, Date.now() + LAST_STEPS_MS);
    // Nothing running: no reason to give a stuck fetch the whole grace period, only what the
    // consumer's stop takes (an SQS long poll finishing) and a moment.
    const consumerBy =
      this.held.size === 0 ? Math.min(deadline, Date.now() + (this.consumer?.stopWithinMs ?? 0) + LAST_STEPS_MS) : deadline;
    if (!(await settledBy(this.#stopConsumer(), consumerBy))) {
      this.log.warning(`${this.hostname}: the consumer did not stop in time (broker unreachable?): going on without it`);
      this.#consumerStopped = Promise.resolve(); // not waited for again before the hand-back
    }
    this.shutdown.abort(new Error('worker stopping'));
    // Running tasks get the grace period. Once none runs, what is still held only waits to be
    // stored or acked, which a lost broker never lets happen: that gets a moment, not the period.
    let settlingBy = Number.POSITIVE_INFINITY;
    while (this.held.size > 0) {
      if (this.slots.inUse === 0 && settlingBy === Number.POSITIVE_INFINITY) settlingBy = Date.now() + LAST_STEPS_MS;
      const until = this.slots.inUse > 0 ? deadline : Math.min(deadline, settlingBy);
      if (Date.now() >= until) break;
      await onceOrTimeout(this, 'settled', Math.min(until - Date.now(), SHUTDOWN_POLL_MS));
    }
    // Past the grace period: give the messages back now rather than after their lease. A task
    // function cannot be stopped (JS), so it may still finish here; a second settle is a no-op.
    for (const delivery of this.held.keys()) {
      const h = delivery.message?.headers;
      this.log.warning(`Task ${h?.task}[${h?.id}] did not finish within the grace period: handed back`);
    }
    await this.handBackAll();
    await bounded(this.stopControl?.());
    await bounded(this.heartbeat?.stop());
    this.emit('stopped');
  }

  /** The running tasks, as `inspect active` lists them. */
  active(): RequestInfo[] {
    return this.requests(true);
  }

  /** Requests as `inspect active` (running) or `inspect reserved` (waiting) lists them. */
  private requests(running: boolean): RequestInfo[] {
    return [...this.held]
      .filter(([d, h]) => d.message && (h.timeStart !== null) === running)
      .map(([d, h]) =>
        requestInfo(d.message as TaskMessage, {
          hostname: this.hostname,
          timeStart: h.timeStart,
          redelivered: d.receiveCount > 1,
          workerPid: process.pid,
        }),
      );
  }

  private onEvent(e: ExecutorEvent): void {
    logTaskEvent(this.log, e);
    if (e.type === 'started') {
      const entry = this.heldByMessage.get(e.message);
      if (entry) entry.timeStart = Date.now() / 1000;
    }
    if (e.type === 'succeeded' || e.type === 'failed') {
      // Counted under the name it is shown by (shadow or name), as Celery's worker counts its stats' total.
      const name = shownName(e);
      this.processed.set(name, (this.processed.get(name) ?? 0) + 1);
    }
    if (this.sendTaskEvents && this.events) {
      const event = taskEvent(e);
      if (event) void this.events.send(event.type, event.fields);
    }
    this.emit(e.type, e);
    this.emit('event', e);
  }

  private state(): WorkerState {
    return {
      hostname: this.hostname,
      concurrency: this.concurrency,
      prefetch: this.prefetch,
      queues: this.queues,
      brokerUrl: this.brokerUrl,
      startedAt: this.startedAt,
      processed: this.processed,
      revoked: this.revoked,
      rateLimiter: this.rateLimiter,
      rateLimitsDisabled: this.app.conf.worker_disable_rate_limits,
      taskNames: () => [...this.tasks.keys()].sort(),
      active: () => this.requests(true),
      reserved: () => this.requests(false),
      scheduled: async () => ((await this.broker?.setAside?.()) ?? []).map((m) => scheduledInfo(m, this.hostname)),
      heartbeat: () => void this.heartbeat?.beat(),
      canSendEvents: this.events !== undefined,
      setTaskEvents: (on) => {
        const was = this.sendTaskEvents;
        this.sendTaskEvents = on;
        return was;
      },
      setTimeLimits: (name, timeLimit, softTimeLimit) => {
        const task = this.tasks.get(name);
        if (task)
          this.tasks.set(name, {
            ...task,
            options: { ...task.options, timeLimit: timeLimit ?? undefined, softTimeLimit: softTimeLimit ?? undefined },
          });
        return task !== undefined;
      },
      conf: (withDefaults) => confReply(this.app.conf, withDefaults),
    };
  }
}

/** What each step of a shutdown besides the tasks themselves may take. */
const LAST_STEPS_MS = 2000;
/** How often a shutdown looks again whether a task still runs (a task finishing emits nothing until it is settled). */
const SHUTDOWN_POLL_MS = 250;

function onceOrTimeout(emitter: EventEmitter, event: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setLongTimeout(done, Math.max(0, ms));
    function done() {
      timer.clear();
      emitter.off(event, done);
      resolve();
    }
    emitter.on(event, done);
  });
}
