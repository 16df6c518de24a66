/** Celery task message, protocol v2 (celery-protocol.md §1). Transport-neutral. */

export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  eta: string | null;
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  /** [hard, soft] seconds — Celery's order, not the reverse. */
  timelimit: [number | null, number | null];
  root_id: string;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  [extra: string]: unknown;
}

export interface TaskProperties {
  correlation_id: string;
  reply_to: string;
  delivery_mode: 1 | 2;
  priority: number;
  /** Per-message TTL in ms as a string, only when expires is set (Celery 5.2). */
  expiration?: string;
}

/** Body embed: canvas links (kept for wire compatibility). */
export interface TaskEmbed {
  callbacks: unknown[] | null;
  errbacks: unknown[] | null;
  chain: unknown[] | null;
  chord: unknown | null;
}

export interface TaskMessage {
  headers: TaskHeaders;
  properties: TaskProperties;
  contentType: string;
  contentEncoding: string;
  /**
   * The serialized body text: `[args, kwargs, embed]` in the content type's encoding. A received
   * body in another content type than JSON, which celeriac does not decode, is kept as received.
   */
  body: string;
  /** The queue the message is sent to or, received, was fetched from. */
  queue: string;
  /**
   * How a received message was routed when not as celeriac sends (the default exchange '' with
   * the queue as routing key, §1.5): a Python client may send through a named exchange, whose
   * binding names the queue. A retry keeps it, as Celery re-publishes to the same exchange and
   * routing key; the result's queue is this routing key, as Celery stores it.
   */
  route?: Route;
}

/** kombu's delivery_info: the exchange and routing key a message was published with. */
export interface Route {
  exchange: string;
  routingKey: string;
}

/** The exchange and routing key a message goes (or went) by: its own route, else the default exchange with its queue as key. */
export function routeOf(message: TaskMessage): Route {
  return message.route ?? { exchange: '', routingKey: message.queue };
}

export interface DecodedBody {
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: TaskEmbed;
}

/** When a message may first run (epoch ms), from its ETA header; 0 when it may run now. */
export function notBefore(message: TaskMessage): number {
  const eta = message.headers.eta;
  if (!eta) return 0;
  const t = parseCeleryTime(eta);
  return Number.isNaN(t) ? 0 : t;
}

/**
 * An ISO-8601 time as Celery 5.2 reads one (celery/utils/iso8601.py): a date, then optionally a
 * time after 'T' or a space (seconds and their fraction optional) and 'Z' or an offset.
 */
const CELERY_TIME = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A time header (eta, expires) in epoch ms, or NaN when it is not such a time: the one reading
 * that both checks a message and schedules it. A naive time (no offset) is UTC (§1.1 [obs]).
 * Date.parse is not used: it also reads 'Mon, 01 Jan 2035 ...' or '5', which Celery refuses.
 */
export function parseCeleryTime(text: string): number {
  const m = CELERY_TIME.exec(text);
  if (!m) return Number.NaN;
  const field = (i: number): number => Number(m[i] ?? 0);
  const [month, day, hour, minute, second] = [field(2), field(3), field(4), field(5), field(6)];
  const offset = offsetMinutes(m[8]);
  if (hour > 23 || minute > 59 || second > 59 || Number.isNaN(offset)) return Number.NaN;
  const date = new Date(0);
  date.setUTCFullYear(field(1), month - 1, day);
  // Month 13 or 30 February would roll over into another date: refused, as Python's datetime refuses them.
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return Number.NaN;
  const ms = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  return date.setUTCHours(hour, minute, second, ms) - offset * 60_000;
}

/** Minutes east of UTC of 'Z', '+05:30', '-0800' or none; NaN beyond ±23:59. */
function offsetMinutes(zone: string | undefined): number {
  if (zone === undefined || zone.toUpperCase() === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(-2));
  if (hours > 23 || minutes > 59) return Number.NaN;
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
}
