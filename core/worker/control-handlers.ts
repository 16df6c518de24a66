/**
 * The worker's answers to remote-control commands (Celery's worker/control.py, §6), with
 * Celery's reply wording so `celeriac control` prints what `celery control` prints.
 */
import { showValue } from '../config/checks.js';
import { rateLimitReply, revokeReply, unknownTaskReply } from '../control-replies.js';
import type { ControlCommand } from '../ports.js';
import type { RateLimiter } from '../rate-limit.js';
import { type RevokedIds, isTaskId, revokedIdsOf } from './revoked-ids.js';

/** One request as `inspect active/reserved` lists it (§6). */
export interface RequestInfo {
  id: string;
  name: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  type: string;
  hostname: string;
  time_start: number | null;
  acknowledged: boolean;
  delivery_info: { exchange: string; routing_key: string; priority: number; redelivered: boolean };
  worker_pid: number | null;
}

/** One entry of `inspect scheduled` (Celery's: the ETA, the timer entry's priority, the request). */
export interface ScheduledInfo {
  eta: string | null;
  priority: number;
  request: RequestInfo;
}

/** What the handlers read from and change on their worker. */
export interface WorkerState {
  readonly hostname: string;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly queues: readonly string[];
  readonly brokerUrl: string;
  readonly startedAt: number;
  readonly processed: ReadonlyMap<string, number>;
  readonly revoked: RevokedIds;
  readonly rateLimiter: RateLimiter;
  readonly rateLimitsDisabled: boolean;
  taskNames(): string[];
  active(): RequestInfo[];
  reserved(): RequestInfo[];
  /** What this worker set aside until due (its broker keeps it meanwhile; only redis:// has any). */
  scheduled(): Promise<ScheduledInfo[]>;
  /** Send a worker-heartbeat event now (Celery's event receivers ask for one when they start, §7). */
  heartbeat(): void;
  /** Whether the broker carries events at all. */
  readonly canSendEvents: boolean;
  /** Turn task events on or off; returns whether they were on. */
  setTaskEvents(on: boolean): boolean;
  /** Change a registered task's time limits on this worker (seconds; null = the app's default); false when the task is unknown. */
  setTimeLimits(name: string, hard: number | null, soft: number | null): boolean;
  /** The app's settings that differ from the defaults (or all of them), secrets masked. */
  conf(withDefaults: boolean): Record<string, unknown>;
}

type Handler = (state: WorkerState, args: Record<string, unknown>) => unknown;

const handlers: Record<string, Handler> = {
  ping: () => ({ ok: 'pong' }),
  registered: (s) =>
    s.taskNames().map((name) => {
      const rate = s.rateLimiter.given(name);
      return rate === null ? name : `${name} [rate_limit=${rate}]`;
    }),
  active: (s) => s.active(),
  reserved: (s) => s.reserved(),
  scheduled: (s) => s.scheduled(),
  revoked: (s) => s.revoked.list(),
  stats: (s) => ({
    hostname: s.hostname,
    pid: process.pid,
    uptime: Math.floor((Date.now() - s.startedAt) / 1000),
    total: Object.fromEntries(s.processed),
    pool: { 'max-concurrency': s.concurrency, processes: [process.pid] },
    prefetch_count: s.prefetch,
    broker: { url: s.brokerUrl },
    rusage: { maxrss: Math.round(process.memoryUsage().rss / 1024) },
  }),
  rate_limit: (s, args) => {
    const name = String(args.task_name ?? '');
    if (!s.taskNames().includes(name)) return unknownTaskReply();
    if (s.rateLimitsDisabled) return { error: 'rate limits disabled' };
    const rate = args.rate_limit as string | number | null | undefined;
    try {
      s.rateLimiter.set(name, rate);
    } catch (err) {
      return { error: `Invalid rate limit string: ${(err as Error).message}` };
    }
    return { ok: rateLimitReply(s.rateLimiter.get(name) === null) };
  },
  heartbeat: (s) => {
    s.heartbeat();
    return null;
  },
  enable_events: (s) =>
    s.canSendEvents
      ? { ok: s.setTaskEvents(true) ? 'task events already enabled' : 'task events enabled' }
      : { error: 'this broker carries no events' },
  disable_events: (s) => ({ ok: s.setTaskEvents(false) ? 'task events disabled' : 'task events already disabled' }),
  time_limit: (s, args) => {
    const limit = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
    const [hard, soft] = [limit(args.hard), limit(args.soft)];
    if ([hard, soft].some((v) => v !== null && !(v >= 0)))
      return { error: `time limits must be seconds, got hard=${args.hard} soft=${args.soft}` };
    return s.setTimeLimits(String(args.task_name ?? ''), hard, soft) ? { ok: 'time limits set successfully' } : unknownTaskReply();
  },
  active_queues: (s) => s.queues.map(queueInfo),
  query_task: (s, args) => {
    const ids = new Set(idList(args.ids));
    // A Map: a task id (any publisher picks it) may be '__proto__'.
    const found = new Map<string, [string, RequestInfo]>();
    for (const [state, requests] of [
      ['active', s.active()],
      ['reserved', s.reserved()],
    ] as const) {
      for (const r of requests) if (ids.has(r.id)) found.set(r.id, [state, r]);
    }
    return Object.fromEntries(found);
  },
  conf: (s, args) => s.conf(args.with_defaults === true),
  // Mingle (§6): a Python worker starting up shares its revoked ids (a dict keyed by id) and gets
  // ours, as a list (Celery's LimitedSet.update takes one; a dict would need float timestamps).
  hello: (s, args) => {
    if (args.from_node === s.hostname) return null;
    s.revoked.add(revokedIdsOf(args.revoked));
    return { revoked: s.revoked.list(), clock: 0 };
  },
  revoke: (s, args) => {
    const ids = idList(args.task_id);
    // A command from any client on the pidbox: nothing to flag is said, not flagged as 'undefined'.
    if (ids.length === 0) return { error: `revoke needs task_id: a task id or a list of them, got ${showValue(args.task_id)}` };
    s.revoked.add(ids);
    // Running tasks are not interrupted: JavaScript cannot kill them. Asked to, the reply says so
    // (Celery's would say 'terminate: <id>'), rather than let the caller think it was done.
    const unsupported = args.terminate === true ? '; terminate is not supported: a running task goes on (it can watch ctx.signal)' : '';
    return { ok: `${revokeReply(ids)}${unsupported}` };
  },
};

/** One task id or a list of them, as Celery's commands take them; anything but a non-empty string is no id. */
function idList(value: unknown): string[] {
  return (Array.isArray(value) ? value : [value]).filter(isTaskId);
}

/** A consumed queue as kombu's Queue.as_dict() describes it (a direct exchange named like the queue). */
function queueInfo(name: string): Record<string, unknown> {
  const exchange = {
    name,
    type: 'direct',
    arguments: null,
    durable: true,
    passive: false,
    auto_delete: false,
    delivery_mode: null,
    no_declare: false,
  };
  return {
    name,
    exchange,
    routing_key: name,
    queue_arguments: null,
    binding_arguments: null,
    consumer_arguments: null,
    durable: true,
    exclusive: false,
    auto_delete: false,
    no_ack: false,
    alias: null,
    bindings: [],
    no_declare: null,
    expires: null,
    message_ttl: null,
    max_length: null,
    max_length_bytes: null,
    max_priority: null,
  };
}

export function handleControl(state: WorkerState, command: ControlCommand): unknown {
  // Own keys only: 'constructor' would find Object and answer with the worker's state (its broker URL).
  const handler = Object.hasOwn(handlers, command.method) ? handlers[command.method] : undefined;
  if (!handler) return { error: `unknown command '${command.method}'; known: ${Object.keys(handlers).join(', ')}` };
  return handler(state, command.arguments ?? {});
}
