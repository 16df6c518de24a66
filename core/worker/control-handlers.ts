/**
 * The worker's answers to remote-control commands (Celery's worker/control.py, §6), with
 * Celery's reply wording so `celeriac control` prints what `celery control` prints.
 */
import type { ControlCommand } from '../ports.js';
import type { RateLimiter } from '../rate-limit.js';
import type { RevokedIds } from './revoked-ids.js';

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
  worker_pid: number;
}

/** What the handlers read from and change on their worker. */
export interface WorkerState {
  readonly hostname: string;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly queues: readonly string[];
  readonly brokerUrl: string;
  readonly startedAt: number;
  readonly processed: Readonly<Record<string, number>>;
  readonly revoked: RevokedIds;
  readonly rateLimiter: RateLimiter;
  readonly rateLimitsDisabled: boolean;
  taskNames(): string[];
  active(): RequestInfo[];
  reserved(): RequestInfo[];
  /** Send a worker-heartbeat event now (Celery's event receivers ask for one when they start, §7). */
  heartbeat(): void;
  /** Whether the broker carries events at all. */
  readonly canSendEvents: boolean;
  /** Turn task events on or off; returns whether they were on. */
  setTaskEvents(on: boolean): boolean;
}

type Handler = (state: WorkerState, args: Record<string, unknown>) => unknown;

const handlers: Record<string, Handler> = {
  ping: () => ({ ok: 'pong' }),
  registered: (s) =>
    s.taskNames().map((name) => {
      const rate = s.rateLimiter.get(name);
      return rate === null ? name : `${name} [rate_limit=${rate}/s]`;
    }),
  active: (s) => s.active(),
  reserved: (s) => s.reserved(),
  // ETA tasks are never held in memory here (they go back to the broker until due), so none are scheduled.
  scheduled: () => [],
  revoked: (s) => s.revoked.list(),
  stats: (s) => ({
    hostname: s.hostname,
    pid: process.pid,
    uptime: Math.floor((Date.now() - s.startedAt) / 1000),
    total: { ...s.processed },
    pool: { 'max-concurrency': s.concurrency, processes: [process.pid] },
    prefetch_count: s.prefetch,
    broker: { url: s.brokerUrl },
    rusage: { maxrss: Math.round(process.memoryUsage().rss / 1024) },
  }),
  rate_limit: (s, args) => {
    const name = String(args.task_name ?? '');
    if (!s.taskNames().includes(name)) return { error: 'unknown task' };
    if (s.rateLimitsDisabled) return { error: 'rate limits disabled' };
    const rate = args.rate_limit as string | number | null | undefined;
    try {
      s.rateLimiter.set(name, rate);
    } catch (err) {
      return { error: `Invalid rate limit string: ${(err as Error).message}` };
    }
    return s.rateLimiter.get(name) === null ? { ok: 'rate limit disabled successfully' } : { ok: 'new rate limit set successfully' };
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
  revoke: (s, args) => {
    const ids = Array.isArray(args.task_id) ? args.task_id.map(String) : [String(args.task_id)];
    s.revoked.add(ids);
    // Running tasks are not interrupted: JavaScript cannot kill them (terminate is not supported).
    return { ok: `tasks ${ids.join(', ')} flagged as revoked` };
  },
};

export function handleControl(state: WorkerState, command: ControlCommand): unknown {
  const handler = handlers[command.method];
  if (!handler) return { error: `unknown command '${command.method}'; known: ${Object.keys(handlers).join(', ')}` };
  return handler(state, command.arguments ?? {});
}
