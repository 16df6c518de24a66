/**
 * kombu's Redis envelope (celery-protocol.md §2.1) for messages that are not tasks: remote-control
 * requests and replies (§6) and events (§7). A JSON body, base64 in `body`, kombu's property set —
 * `delivery_tag` included, since kombu's virtual Message refuses an envelope without one.
 */
import { randomUUID } from 'node:crypto';

export interface KombuMessageOptions {
  exchange: string;
  routingKey: string;
  headers: Record<string, unknown>;
  /** 2 persistent (control requests), 1 transient (replies, events). */
  deliveryMode: 1 | 2;
}

export interface KombuMessage {
  body: unknown;
  headers: Record<string, unknown>;
}

export function encodeKombuMessage(body: unknown, opts: KombuMessageOptions): string {
  return JSON.stringify({
    body: Buffer.from(JSON.stringify(body), 'utf8').toString('base64'),
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: opts.headers,
    properties: {
      delivery_mode: opts.deliveryMode,
      delivery_info: { exchange: opts.exchange, routing_key: opts.routingKey },
      priority: 0,
      body_encoding: 'base64',
      delivery_tag: randomUUID(),
    },
  });
}

/** Decode a JSON kombu envelope; undefined for anything else (such messages are ignored, as kombu logs and drops them). */
export function decodeKombuMessage(raw: string): KombuMessage | undefined {
  try {
    const env = JSON.parse(raw) as {
      body?: unknown;
      headers?: unknown;
      properties?: { body_encoding?: unknown };
      'content-type'?: unknown;
    };
    if (typeof env !== 'object' || env === null || typeof env.body !== 'string') return undefined;
    if (env['content-type'] !== undefined && env['content-type'] !== 'application/json') return undefined;
    const text = env.properties?.body_encoding === 'base64' ? Buffer.from(env.body, 'base64').toString('utf8') : env.body;
    const headers = typeof env.headers === 'object' && env.headers !== null ? (env.headers as Record<string, unknown>) : {};
    return { body: JSON.parse(text), headers };
  } catch {
    return undefined;
  }
}
