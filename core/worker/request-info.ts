/**
 * A task message as Celery's `inspect` replies describe it: Request.info() for active, reserved
 * and scheduled requests, and the scheduled entry around it (Celery 5.2 worker/control.py).
 */
import { shownName } from '../executor/types.js';
import { parsedBody } from '../envelope.js';
import { celeryIso } from '../message-builder.js';
import { parseCeleryTime, routeOf, type TaskMessage } from '../message.js';
import type { SetAsideMessage } from '../ports.js';
import type { RequestInfo, ScheduledInfo } from './control-handlers.js';

/** Celery's timer priority for an ETA task's entry (strategy.py: call_at(eta, ..., priority=6)). */
const ETA_TIMER_PRIORITY = 6;

export interface RequestState {
  hostname: string;
  /** When it started running (epoch s), null while it waits. */
  timeStart: number | null;
  redelivered: boolean;
  /** The process running it: null while no process has it (Celery's before the pool accepts it). */
  workerPid: number | null;
}

export function requestInfo(m: TaskMessage, s: RequestState): RequestInfo {
  const route = routeOf(m);
  let args: unknown[] = [];
  let kwargs: Record<string, unknown> = {};
  try {
    // The body as decoding the envelope parsed it, when it did (a held message's was).
    [args, kwargs] = (parsedBody(m) ?? JSON.parse(m.body)) as [unknown[], Record<string, unknown>];
  } catch {
    // a malformed body is the executor's to report
  }
  return {
    id: m.headers.id,
    // As Celery's Request.info(): the name it is shown under (shadow), its type the registered name.
    name: shownName({ name: m.headers.task, shadow: m.headers.shadow }),
    args,
    kwargs,
    type: m.headers.task,
    hostname: s.hostname,
    time_start: s.timeStart,
    acknowledged: false,
    delivery_info: {
      exchange: route.exchange,
      routing_key: route.routingKey,
      priority: m.properties?.priority ?? 0,
      redelivered: s.redelivered,
    },
    worker_pid: s.workerPid,
  };
}

/**
 * A message set aside until due, as `inspect scheduled` lists an ETA task Celery's worker holds:
 * its ETA as Python's isoformat() writes it (null for a message handed back for a while, as
 * Celery's entry for a rate-limited task), not started, in no process yet.
 */
export function scheduledInfo({ message }: SetAsideMessage, hostname: string): ScheduledInfo {
  const eta = message.headers.eta ? parseCeleryTime(message.headers.eta) : Number.NaN;
  return {
    eta: Number.isNaN(eta) ? null : celeryIso(eta),
    priority: ETA_TIMER_PRIORITY,
    request: requestInfo(message, { hostname, timeStart: null, redelivered: false, workerPid: null }),
  };
}
