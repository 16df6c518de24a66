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
  /** The serialized body text: `[args, kwargs, embed]` in the content type's encoding. */
  body: string;
  /** The queue (routing key) the message was sent to. */
  queue: string;
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

/** Parses an ISO time as Celery does: a naive time (no offset) is UTC (§1.1 [obs]). */
export function parseCeleryTime(iso: string): number {
  const naive = !/(Z|[+-]\d\d:?\d\d)$/i.test(iso);
  return Date.parse(naive ? `${iso}Z` : iso);
}
