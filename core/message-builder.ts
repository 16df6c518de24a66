/**
 * Builds a protocol-v2 task message from a call, with every header and property Celery 5.2.6
 * sends (celery-protocol.md §1.1, §1.3), so Python workers and tools read it unchanged.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { CallOptions } from './call-options.js';
import type { TaskEmbed, TaskHeaders, TaskMessage } from './message.js';
import { argsRepr, kwargsRepr } from './repr.js';
import { toJson } from './serialization.js';
import type { TaskOptions } from './task-options.js';

export interface BuildInput {
  name: string;
  args: readonly unknown[];
  kwargs: Record<string, unknown>;
  queue: string;
  call: CallOptions;
  /** The task's options (annotations applied) when the producer knows the task, else {}. */
  task: TaskOptions;
  defaults: { ignoreResult: boolean; priority: number | null; timeLimit: number | null; softTimeLimit: number | null };
  /** Callbacks, errbacks and chain to carry (a chain's next step); none by default. */
  embed?: TaskEmbed;
  /** The producer's reply_to id (Celery's app.thread_oid): always set, even without an rpc backend (§1.3). */
  replyTo: string;
  now?: number;
}

const EMPTY_EMBED: TaskEmbed = { callbacks: null, errbacks: null, chain: null, chord: null };
const EMPTY_EMBED_JSON = JSON.stringify(EMPTY_EMBED);
const ORIGIN = `gen${process.pid}@${hostname()}`;

export function buildTaskMessage(input: BuildInput): TaskMessage {
  const { call, task } = input;
  const now = input.now ?? Date.now();
  const id = call.taskId ?? randomUUID();
  // Serialize args and kwargs apart so an error names the exact place (args[1].when).
  const body = `[${toJson(input.args, 'args')}, ${toJson(input.kwargs, 'kwargs')}, ${input.embed ? toJson(input.embed, 'embed') : EMPTY_EMBED_JSON}]`;

  // Call options, task options and settings were checked where they were given (call-options.ts,
  // annotations.ts, config/settings.ts).
  const etaMs = call.eta ? call.eta.getTime() : call.countdown !== undefined ? now + call.countdown * 1000 : null;
  const expiresOpt = call.expires ?? task.expires;
  const expiresMs = expiresOpt === undefined ? null : expiresOpt instanceof Date ? expiresOpt.getTime() : now + expiresOpt * 1000;
  const priority = call.priority ?? task.priority ?? input.defaults.priority ?? 0;
  const messageGroup = call.messageGroup ?? task.messageGroup;

  const headers: TaskHeaders = {
    lang: 'py', // what 5.2.6 sends; workers ignore it (§1.1)
    task: input.name,
    id,
    shadow: null,
    eta: etaMs === null ? null : celeryIso(etaMs),
    expires: expiresMs === null ? null : celeryIso(expiresMs),
    group: null,
    group_index: null,
    retries: 0,
    // [hard, soft]: Celery sends the task's own limits with every message (§1.1).
    timelimit: [
      call.timeLimit ?? task.timeLimit ?? input.defaults.timeLimit ?? null,
      call.softTimeLimit ?? task.softTimeLimit ?? input.defaults.softTimeLimit ?? null,
    ],
    root_id: id,
    parent_id: null,
    argsrepr: argsRepr(input.args),
    kwargsrepr: kwargsRepr(input.kwargs),
    origin: ORIGIN,
    ignore_result: call.ignoreResult ?? task.ignoreResult ?? input.defaults.ignoreResult,
    // Read by the SQS provider for FIFO queues (providers/sqs/send.ts); other brokers carry it along.
    ...(messageGroup === undefined ? {} : { message_group: messageGroup }),
    ...call.headers,
  };
  return {
    headers,
    properties: {
      correlation_id: id,
      reply_to: input.replyTo,
      delivery_mode: 2,
      priority,
      // 5.2 sends a per-message TTL in ms only when expires is given, clamped at 0 (§1.3).
      ...(expiresMs === null ? {} : { expiration: String(Math.max(0, Math.trunc(expiresMs - now))) }),
    },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body,
    queue: input.queue,
  };
}

/** ISO-8601 with an explicit `+00:00` offset, as Celery writes tz-aware times with enable_utc. */
export function celeryIso(ms: number): string {
  // Six fraction digits, as Python's isoformat() writes them: Celery 5.2's ISO parser reads the
  // digits as microseconds, so '.123' would be 123 µs and an ETA would fire up to a second early.
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}
