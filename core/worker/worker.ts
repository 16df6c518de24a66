/**
 * The classic worker: a driver of the executor over `broker.consume`. It adds prefetch
 * (concurrency × prefetch multiplier), run slots, remote control, log lines and stats, and a
 * graceful stop. Every message's fate is decided by the executor.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import { availableParallelism, hostname as osHostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventDispatcher, WorkerHeartbeat, taskEvent } from '../events.js';
import { type ExecutorEvent, type RunnableTask, executeDelivery } from '../executor.js';
import { type ExecutorApp, executorDeps } from '../executor/deps.js';
import { type Logger, silentLogger } from '../log.js';
import type { Broker, Consumer, ControlChannel, Delivery } from '../ports.js';
import { RateLimiter } from '../rate-limit.js';
import { redact } from '../registry.js';
import { confReply } from './conf-reply.js';
import { type RequestInfo, type WorkerState, handleControl } from './control-handlers.js';
import { RevokedIds } from './revoked-ids.js';
import { logTaskEvent } from './task-log.js';

/** What the worker needs from its app. */
export interface WorkerApp extends ExecutorApp {
  broker(): Promise<Broker>;
}

export interface WorkerOptions {
  /** Node name; default `celery@<host>`, as Celery's. */
  hostname?: string;
  /** Tasks run at once; default worker_concurrency, else the CPU count. */
  concurrency?: number;
  /** Queues to consume; default [task_default_queue]. */
  queues?: string[];
  prefetchMultiplier?: number;
  logger?: Logger;
  /** How long stop() lets running tasks finish (default 30 s). */
  shutdownGraceMs?: number;
  /** Send task events (Celery's -E; default worker_send_task_events). Worker heartbeats are sent either way. */
  sendEvents?: boolean;
}

// AMQP's largest prefetch count: what "no limit" (multiplier 0) becomes.
const UNLIMITED_PREFETCH = 65_535;

/** Pause between attempts to reach the broker at start: 2 s more each time, at most this (kombu's interval_max). */
const CONNECT_RETRY_MAX_S = 30;

/** How long the start-up hello (mingle) collects replies, as Celery's. */
const MINGLE_MS = 1000;

/** How often the same fetch error is logged again while it lasts. */
const FETCH_ERROR_LOG_MS = 30_000;

export class Worker extends EventEmitter {
  readonly hostname: string;
  readonly queues: string[];
  readonly concurrency: number;
  readonly prefetch: number;
  readonly rateLimiter = new RateLimiter();
  readonly revoked = new RevokedIds();
  readonly processed: Record<string, number> = {};
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
  /** The fetch error logged last, so a failing broker is reported without a line per retry. */
  private lastFetchError = { reason: '', at: 0 };

  constructor(
    private readonly app: WorkerApp,
    opts: WorkerOptions = {},
  ) {
    super();
    const conf = app.conf;
    this.hostname = opts.hostname ?? `celery@${osHostname()}`;
    this.queues = opts.queues?.length ? opts.queues : [conf.task_default_queue];
    this.concurrency = opts.concurrency ?? conf.worker_concurrency ?? availableParallelism();
    const multiplier = opts.prefetchMultiplier ?? conf.worker_prefetch_multiplier;
    this.prefetch = multiplier === 0 ? UNLIMITED_PREFETCH : this.concurrency * multiplier;
    this.log = opts.logger ?? silentLogger;
    this.graceMs = opts.shutdownGraceMs ?? 30_000;
    this.sendTaskEvents = opts.sendEvents ?? conf.worker_send_task_events;
    // Every delivery waiting for a slot or a rate-limit token listens to this one signal.
    setMaxListeners(0, this.shutdown.signal);
  }

  async start(): Promise<void> {
    const broker = await this.app.broker();
    this.brokerUrl = redact(broker.url);
    if (!(await this.connect(broker))) return;
    this.unwatchConnection = broker.onConnection?.((e) =>
      e.up
        ? this.log.info(`consumer: Connected to ${this.brokerUrl} again.`)
        : this.log.warning(`consumer: Connection to broker lost (${e.reason}). Trying to re-establish the connection...`),
    );
    const deps = await executorDeps(this.app, {
      concurrency: this.concurrency,
      rateLimiter: this.rateLimiter,
      hostname: this.hostname,
      // Without a broadcast (SQS, Pub/Sub) revokes and rate limits come from the result store instead.
      isRevoked: broker.control ? (id: string) => this.revoked.has(id) : undefined,
      republish: (m: Parameters<Broker['publish']>[1][number]) => broker.publish(m.queue, [m]),
      shutdown: this.shutdown.signal,
      onEvent: (e: ExecutorEvent) => this.onEvent(e),
    });
    this.tasks = deps.tasks;
    if (broker.events) {
      this.events = new EventDispatcher(broker.events, this.hostname, (err) =>
        this.log.warning(`${this.hostname}: could not send an event: ${(err as Error)?.message ?? err}`),
      );
      this.heartbeat = new WorkerHeartbeat(this.events, () => ({
        active: this.requests(true).length,
        processed: Object.values(this.processed).reduce((a, b) => a + b, 0),
      }));
    }
    this.stopControl = await broker.control?.listen({ hostname: this.hostname, queues: this.queues }, async (c) =>
      handleControl(this.state(), c),
    );
    if (broker.control) void this.mingle(broker.control);
    this.startedAt = Date.now();
    this.consumer = await broker.consume(
      this.queues,
      async (delivery) => {
        const entry: { timeStart: number | null } = { timeStart: null };
        this.held.set(delivery, entry);
        if (delivery.message) this.heldByMessage.set(delivery.message, entry);
        try {
          const headers = delivery.message?.headers;
          if (headers) await deps.overrides?.refresh({ id: headers.id, name: headers.task });
          await executeDelivery(delivery, deps);
        } catch (error) {
          // Not settled: the message comes back after its lease. The worker keeps going.
          this.onEvent({
            type: 'internal-error',
            id: delivery.message?.headers.id,
            name: delivery.message?.headers.task,
            during: 'executing',
            error,
          });
        } finally {
          this.held.delete(delivery);
          this.heldByMessage.delete(delivery.message);
          this.emit('settled');
        }
      },
      { prefetch: this.prefetch, onError: (err) => this.fetchFailed(err) },
    );
    await this.heartbeat?.start();
    this.emit('ready');
  }

  /** Wait for the broker as Celery's consumer does: each failed attempt logged, retried until it works or the worker stops. */
  private async connect(broker: Broker): Promise<boolean> {
    for (let attempt = 1; !this.shutdown.signal.aborted; attempt++) {
      try {
        await broker.connected?.();
        return true;
      } catch (err) {
        const pauseS = Math.min(CONNECT_RETRY_MAX_S, 2 * attempt);
        this.log.error(`consumer: ${(err as Error).message} Trying again in ${pauseS} seconds... (attempt ${attempt})`);
        await sleep(pauseS * 1000, undefined, { signal: this.shutdown.signal }).catch(() => undefined);
      }
    }
    return false;
  }

  /**
   * Celery's mingle: ask the running workers (celeriac or Python) for the ids they were told to
   * revoke, since a revoke is a broadcast a worker started later never hears. Unlike Celery's,
   * it does not hold up the start: replies are merged as they come, within MINGLE_MS.
   */
  private async mingle(control: ControlChannel): Promise<void> {
    try {
      const replies = await control.broadcast(
        { method: 'hello', arguments: { from_node: this.hostname, revoked: this.revoked.list() } },
        { timeoutMs: MINGLE_MS },
      );
      const peers = replies.flatMap((r) => Object.entries(r)).filter(([node, reply]) => node !== this.hostname && reply);
      for (const [, reply] of peers) {
        const revoked = (reply as { revoked?: unknown }).revoked;
        if (Array.isArray(revoked)) this.revoked.add(revoked.map(String));
        else if (revoked && typeof revoked === 'object') this.revoked.add(Object.keys(revoked));
      }
      this.log.info(peers.length ? `mingle: sync with ${peers.length} nodes` : 'mingle: all alone');
    } catch (err) {
      // Best effort: without it the worker only misses revokes sent before it started.
      this.log.warning(`mingle: could not ask the other workers: ${(err as Error).message}`);
    }
  }

  /** A failed fetch is retried by the consumer; logged when its reason changes and at most every FETCH_ERROR_LOG_MS while it does not. */
  private fetchFailed(err: unknown): void {
    const reason = err instanceof Error ? err.message : String(err);
    const now = Date.now();
    if (reason === this.lastFetchError.reason && now - this.lastFetchError.at < FETCH_ERROR_LOG_MS) return;
    this.lastFetchError = { reason, at: now };
    this.log.error(`consumer: cannot fetch messages from ${this.brokerUrl}: ${reason} (retrying)`);
  }

  /** Stop taking messages, hand back those not started, let running tasks finish within the grace period. */
  async stop(): Promise<void> {
    if (this.shutdown.signal.aborted) return;
    this.unwatchConnection?.(); // closing connections on the way out is not a lost connection
    this.log.info(
      `${this.hostname}: warm shutdown (waiting up to ${this.graceMs / 1000}s for ${this.requests(true).length} running task(s))`,
    );
    await this.consumer?.stop();
    this.shutdown.abort(new Error('worker stopping'));
    const deadline = Date.now() + this.graceMs;
    while (this.held.size > 0 && Date.now() < deadline) await onceOrTimeout(this, 'settled', deadline - Date.now());
    for (const delivery of this.held.keys()) {
      // Past the grace period: give the message back now rather than after its lease. The task
      // function cannot be stopped (JS), so it may still finish here; a second settle is a no-op.
      const h = delivery.message?.headers;
      this.log.warning(`Task ${h?.task}[${h?.id}] did not finish within the grace period: handed back`);
      await delivery.retryLater(0).catch(() => undefined);
    }
    await this.stopControl?.();
    await this.heartbeat?.stop();
    this.emit('stopped');
  }

  /** Requests as `inspect active` (running) or `inspect reserved` (waiting) lists them. */
  private requests(running: boolean): RequestInfo[] {
    return [...this.held]
      .filter(([d, h]) => d.message && (h.timeStart !== null) === running)
      .map(([d, h]) => requestInfo(d, h.timeStart, this.hostname));
  }

  private onEvent(e: ExecutorEvent): void {
    logTaskEvent(this.log, e);
    if (e.type === 'started') {
      const entry = this.heldByMessage.get(e.message);
      if (entry) entry.timeStart = Date.now() / 1000;
    }
    if (e.type === 'succeeded' || e.type === 'failed') this.processed[e.name] = (this.processed[e.name] ?? 0) + 1;
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

function requestInfo(d: Delivery, timeStart: number | null, hostname: string): RequestInfo {
  const m = d.message as NonNullable<Delivery['message']>;
  let args: unknown[] = [];
  let kwargs: Record<string, unknown> = {};
  try {
    [args, kwargs] = JSON.parse(m.body) as [unknown[], Record<string, unknown>];
  } catch {
    // a malformed body is the executor's to report
  }
  return {
    id: m.headers.id,
    name: m.headers.task,
    args,
    kwargs,
    type: m.headers.task,
    hostname,
    time_start: timeStart,
    acknowledged: false,
    delivery_info: { exchange: '', routing_key: d.queue, priority: m.properties?.priority ?? 0, redelivered: d.receiveCount > 1 },
    worker_pid: process.pid,
  };
}

function onceOrTimeout(emitter: EventEmitter, event: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, Math.max(0, ms));
    function done() {
      clearTimeout(timer);
      emitter.off(event, done);
      resolve();
    }
    emitter.on(event, done);
  });
}
