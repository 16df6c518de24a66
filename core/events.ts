/**
 * Celery events (celery-protocol.md §7): the executor's events and the worker's life turned into
 * the event dicts `celery events`, Flower and Celery's own State read. Transport-neutral: a
 * broker's EventChannel publishes them where Celery's receivers listen.
 */
import { loadavg, type as osType } from 'node:os';
import { celeriacVersion } from './cli/version.js';
import { parsedBody } from './envelope.js';
import type { ExecutorEvent } from './executor.js';
import { shownName } from './executor/types.js';
import type { TaskMessage } from './message.js';
import type { EventChannel } from './ports.js';
import { argsRepr, errorRepr, kwargsRepr, resultRepr } from './repr.js';

/** Seconds between worker-heartbeat events, as Celery's worker sends them (§7). */
export const HEARTBEAT_FREQ_S = 2;

type Fields = Record<string, unknown>;

/** Stamps events with the fields every Celery event carries and hands them to the channel. */
export class EventDispatcher {
  #clock = 0;

  constructor(
    private readonly channel: EventChannel,
    readonly hostname: string,
    /** Events are best effort, as in Celery: a failed send is reported here and never thrown. */
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  async send(type: string, fields: Fields = {}): Promise<void> {
    const event = {
      hostname: this.hostname,
      utcoffset: utcoffset(),
      pid: process.pid,
      clock: ++this.#clock,
      timestamp: Date.now() / 1000,
      ...fields,
    };
    try {
      await this.channel.send(type, event);
    } catch (err) {
      this.onError(err);
    }
  }
}

/** Celery's utcoffset(): hours west of UTC, floored (§7). */
function utcoffset(): number {
  return Math.floor(new Date().getTimezoneOffset() / 60);
}

/** The task-* event for an executor event, with the fields Celery's worker sends (§7); undefined for the rest. */
export function taskEvent(e: ExecutorEvent): { type: string; fields: Fields } | undefined {
  switch (e.type) {
    case 'received': {
      const h = e.message.headers;
      const [args, kwargs] = reprsOf(e.message);
      return {
        type: 'task-received',
        fields: {
          uuid: e.id,
          // Its shadow name when its sender set one, as Celery's worker sends it (the result keeps the real one).
          name: shownName(e),
          args,
          kwargs,
          root_id: h.root_id,
          parent_id: h.parent_id,
          retries: h.retries,
          eta: h.eta,
          expires: h.expires,
        },
      };
    }
    case 'started':
      return { type: 'task-started', fields: { uuid: e.id, pid: process.pid } };
    case 'succeeded':
      return {
        type: 'task-succeeded',
        fields: {
          uuid: e.id,
          result: resultRepr(e.result),
          runtime: e.runtimeMs / 1000,
        },
      };
    case 'failed':
      return {
        type: 'task-failed',
        fields: {
          uuid: e.id,
          exception: errorRepr(e.error),
          traceback: e.traceback,
        },
      };
    case 'retried': {
      const cause = e.retry.exc ?? e.retry;
      return {
        type: 'task-retried',
        fields: {
          uuid: e.id,
          exception: errorRepr(cause),
          traceback: cause instanceof Error ? (cause.stack ?? null) : null,
        },
      };
    }
    case 'revoked':
      return {
        type: 'task-revoked',
        fields: {
          uuid: e.id,
          terminated: false,
          signum: null,
          expired: e.reason === 'expired',
        },
      };
    case 'rejected':
      return e.id ? { type: 'task-rejected', fields: { uuid: e.id, requeue: false } } : undefined;
    default:
      return undefined;
  }
}

/** The task-sent event a producer sends with task_send_sent_event (§7). */
export function taskSentFields(message: TaskMessage): Fields {
  const h = message.headers;
  const [args, kwargs] = reprsOf(message);
  return {
    uuid: h.id,
    root_id: h.root_id,
    parent_id: h.parent_id,
    name: h.task,
    args,
    kwargs,
    retries: h.retries,
    eta: h.eta,
    expires: h.expires,
    queue: message.queue,
    // Celery 5.2 publishes to the default exchange with the queue as routing key (§1.5).
    exchange: '',
    routing_key: message.queue,
  };
}

/** argsrepr/kwargsrepr from the headers, or made from the body when a producer left them out. */
function reprsOf(message: TaskMessage): [string, string] {
  const { argsrepr, kwargsrepr } = message.headers;
  if (argsrepr && kwargsrepr) return [argsrepr, kwargsrepr];
  try {
    // decodeEnvelope has parsed a consumed message's body already (a producer's has repr headers).
    const [args, kwargs] = (parsedBody(message) ?? JSON.parse(message.body)) as [unknown[], Fields];
    return [argsrepr || argsRepr(args), kwargsrepr || kwargsRepr(kwargs)];
  } catch {
    return [argsrepr, kwargsrepr];
  }
}

/** worker-online, a worker-heartbeat every HEARTBEAT_FREQ_S, worker-offline (§7). */
export class WorkerHeartbeat {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dispatcher: EventDispatcher,
    private readonly stats: () => { active: number; processed: number },
  ) {}

  async start(): Promise<void> {
    await this.#send('worker-online');
    this.#timer = setInterval(() => void this.beat(), HEARTBEAT_FREQ_S * 1000);
    this.#timer.unref();
  }

  /** One heartbeat now (also what the `heartbeat` control command asks for). */
  beat(): Promise<void> {
    return this.#send('worker-heartbeat');
  }

  async stop(): Promise<void> {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#send('worker-offline');
  }

  #send(type: string): Promise<void> {
    return this.dispatcher.send(type, {
      freq: HEARTBEAT_FREQ_S,
      ...this.stats(),
      loadavg: loadavg().map((n) => Math.round(n * 100) / 100),
      sw_ident: 'celeriac',
      sw_ver: celeriacVersion(),
      sw_sys: osType(),
    });
  }
}
