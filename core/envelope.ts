/**
 * kombu's JSON envelope for Redis and other "virtual" transports (celery-protocol.md §2.1):
 * the exact key set a Python Celery 5.2.6 producer writes, and a decoder that refuses every
 * defect that kills a Python worker (§10) with a MalformedMessage saying what is wrong.
 */
import { randomUUID } from 'node:crypto';
import { inflateSync } from 'node:zlib';
import { MalformedMessage, type TaskOfMessage } from './errors.js';
import { contentTypeOf, parseJson, stringify } from './serialization.js';
import { type TaskHeaders, type TaskMessage, type TaskProperties, parseCeleryTime } from './message.js';

export interface EnvelopeOptions {
  /** kombu puts a uuid4 here (§1.3); a fresh one is made when absent. */
  deliveryTag?: string;
  /**
   * Celery 5.2.6 publishes to the default exchange '' with routing key = queue (§1.5). A received
   * message re-published (a retry) keeps the route it came by instead (TaskMessage.route).
   */
  exchange?: string;
  routingKey?: string;
}

/** The envelope text a Python 5.2.6 producer would write for this message (§2.1). */
export function encodeEnvelope(msg: TaskMessage, opts: EnvelopeOptions = {}): string {
  const p = msg.properties;
  const route = msg.route ?? { exchange: opts.exchange ?? '', routingKey: opts.routingKey ?? msg.queue };
  const properties: Record<string, unknown> = {
    correlation_id: p.correlation_id,
    reply_to: p.reply_to,
    delivery_mode: p.delivery_mode,
    delivery_info: { exchange: route.exchange, routing_key: route.routingKey },
    priority: p.priority,
    body_encoding: 'base64',
    delivery_tag: opts.deliveryTag ?? randomUUID(),
  };
  // Celery 5.2 sets `expiration` only when the task has `expires` (§1.3).
  if (p.expiration !== undefined) properties.expiration = p.expiration;
  // A header nested too deeply for the stack can never be written: refused for good (SerializationError).
  return stringify(
    {
      body: Buffer.from(msg.body, 'utf8').toString('base64'),
      'content-encoding': msg.contentEncoding,
      'content-type': msg.contentType,
      headers: msg.headers,
      properties,
    },
    'the envelope',
  );
}

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};
const bad = (reason: string): never => {
  throw new MalformedMessage(`malformed message: ${reason}`);
};

/**
 * Decode an envelope fetched from `queue` into a TaskMessage; throws MalformedMessage (and nothing
 * else) on any defect. Without a queue, the routing key stands for it.
 */
export function decodeEnvelope(raw: string, queue?: string): TaskMessage {
  if (typeof raw !== 'string') bad(`envelope must be JSON text, got ${typeof raw}`);
  let env: unknown;
  try {
    env = JSON.parse(raw);
  } catch (err) {
    return bad(`envelope is not JSON (${(err as Error).message})`);
  }
  if (!isObject(env)) return bad(`envelope must be a JSON object, got ${show(env)}`);

  let headers: TaskHeaders;
  try {
    headers = decodeHeaders(env.headers);
  } catch (err) {
    // Whoever waits for the task is told why it will never run: its id and name may still be
    // readable (another header is wrong), or it is a task protocol 1 message, named in its body.
    if (err instanceof MalformedMessage) err.task = namedTask(env.headers) ?? protocolOneTask(env);
    throw err;
  }
  try {
    return decodeRest(env, headers, queue);
  } catch (err) {
    // The headers were read: whoever waits for this task can be told why it will never run.
    if (err instanceof MalformedMessage) err.task = namedTask(headers);
    throw err;
  }
}

/**
 * The task a message names, read from its headers alone (its body is not decoded): for a message
 * refused before decoding (over the size limit), so whoever waits for the task is told why.
 */
export function taskOfEnvelope(raw: string): TaskOfMessage | undefined {
  try {
    const env: unknown = JSON.parse(raw);
    return isObject(env) ? namedTask(env.headers) : undefined;
  } catch {
    return undefined;
  }
}

/** The task headers name when their id and task are readable, whatever else is wrong with them. */
function namedTask(headers: unknown): TaskOfMessage | undefined {
  if (!isObject(headers) || typeof headers.id !== 'string' || !headers.id || typeof headers.task !== 'string' || !headers.task)
    return undefined;
  return { id: headers.id, name: headers.task };
}

/** The task of a protocol-1 message (a JSON body {task, id, args, kwargs, ...}, §1.6), if it is one. */
function protocolOneTask(env: Obj): TaskOfMessage | undefined {
  if (typeof env.body !== 'string' || env['content-type'] !== 'application/json') return undefined;
  const encoding = isObject(env.properties) ? env.properties.body_encoding : undefined;
  try {
    const body = parseJson(encoding === 'base64' ? Buffer.from(env.body, 'base64').toString('utf8') : env.body);
    if (isObject(body) && typeof body.id === 'string' && body.id && typeof body.task === 'string' && body.task) {
      return { id: body.id, name: body.task };
    }
  } catch {
    // not JSON: no task to tell
  }
  return undefined;
}

function decodeRest(env: Obj, headers: TaskHeaders, fetchedFrom: string | undefined): TaskMessage {
  const properties = decodeProperties(env.properties);
  const contentType = env['content-type'];
  // §10 case 5: without a content type the Python worker cannot unpack the message.
  if (typeof contentType !== 'string' || contentType === '') return bad(`'content-type' missing or not a string (${show(contentType)})`);
  const contentEncoding = env['content-encoding'] ?? 'utf-8';
  if (typeof contentEncoding !== 'string') return bad(`'content-encoding' must be a string, got ${show(contentEncoding)}`);

  if (typeof env.body !== 'string') return bad(`'body' must be a string, got ${show(env.body)}`);
  // Only a JSON body is decoded. Any other is refused by its content type (accept_content,
  // executor/parse.ts) before it is read, so a pickle body, which is not text, is kept as received.
  const json = contentTypeOf(contentType) === 'application/json';
  const body = json ? decodeBody(env.body, properties.bodyEncoding, headers) : env.body;
  const { exchange, routingKey } = properties;
  const queue = fetchedFrom ?? routingKey;
  const message: TaskMessage = { headers, properties: properties.props, contentType, contentEncoding, body, queue };
  // Sent through a named exchange (its binding named the queue): kept, so a retry goes the same way.
  if (exchange !== '' || routingKey !== queue) message.route = { exchange, routingKey };
  if (json) parsedBodies.set(message, checkJsonBody(body));
  return message;
}

/** Bodies decodeEnvelope has parsed to check them (§10 case 4), kept so the executor does not parse them again. */
const parsedBodies = new WeakMap<TaskMessage, unknown[]>();

/** The `[args, kwargs, embed]` decodeEnvelope already parsed for this message, if it did. */
export function parsedBody(message: TaskMessage): unknown[] | undefined {
  return parsedBodies.get(message);
}

function decodeProperties(value: unknown): {
  props: TaskProperties;
  exchange: string;
  routingKey: string;
  bodyEncoding: string | undefined;
} {
  if (!isObject(value)) return bad(`'properties' must be an object, got ${show(value)}`);
  const info = value.delivery_info;
  // §10 case 1: delivery_info with exchange and routing_key is required.
  if (!isObject(info)) return bad(`properties.delivery_info missing or not an object (${show(info)})`);
  if (typeof info.exchange !== 'string') return bad(`properties.delivery_info.exchange missing or not a string (${show(info.exchange)})`);
  if (typeof info.routing_key !== 'string')
    return bad(`properties.delivery_info.routing_key missing or not a string (${show(info.routing_key)})`);
  // §10 case 2.
  if (typeof value.delivery_tag !== 'string' && typeof value.delivery_tag !== 'number') {
    return bad(`properties.delivery_tag missing (${show(value.delivery_tag)})`);
  }
  // §10 case 3: only base64 or no encoding at all can be read.
  const bodyEncoding = value.body_encoding;
  if (bodyEncoding !== undefined && bodyEncoding !== 'base64') {
    return bad(`properties.body_encoding must be "base64" or absent, got ${show(bodyEncoding)}`);
  }
  const priority = value.priority ?? 0;
  if (typeof priority !== 'number' || !Number.isInteger(priority))
    return bad(`properties.priority must be an integer, got ${show(priority)}`);
  const mode = value.delivery_mode ?? 2;
  if (mode !== 1 && mode !== 2) return bad(`properties.delivery_mode must be 1 or 2, got ${show(mode)}`);
  const props: TaskProperties = {
    correlation_id: optString(value, 'correlation_id', 'properties') ?? '',
    reply_to: optString(value, 'reply_to', 'properties') ?? '',
    delivery_mode: mode,
    // kombu clamps priorities to 0–9 (§2.2).
    priority: Math.min(9, Math.max(0, priority)),
  };
  const expiration = optString(value, 'expiration', 'properties');
  if (expiration !== undefined) props.expiration = expiration;
  return { props, exchange: info.exchange, routingKey: info.routing_key, bodyEncoding };
}

function optString(obj: Obj, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return bad(`${where}.${key} must be a string, got ${show(v)}`);
  return v;
}

function optNullableString(h: Obj, key: string): string | null {
  return optString(h, key, 'headers') ?? null;
}

function optTime(h: Obj, key: string): string | null {
  const v = optNullableString(h, key);
  if (v !== null && Number.isNaN(parseCeleryTime(v))) return bad(`headers.${key} is not an ISO-8601 time: ${show(v)}`);
  return v;
}

function optLimit(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    return bad(`headers.timelimit entries must be seconds or null, got ${show(v)}`);
  return v;
}

function decodeHeaders(value: unknown): TaskHeaders {
  if (!isObject(value)) return bad(`'headers' must be an object, got ${show(value)}`);
  // Protocol v2 is recognised by the `task` header (§1.1); v1 messages carry everything in the body.
  if (typeof value.task !== 'string' || value.task === '') {
    return bad(`headers.task missing or not a string (${show(value.task)}): only task protocol 2 is supported`);
  }
  if (typeof value.id !== 'string' || value.id === '') return bad(`headers.id missing or not a string (${show(value.id)})`);
  const retries = value.retries ?? 0;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0) {
    return bad(`headers.retries must be a non-negative integer, got ${show(retries)}`);
  }
  const groupIndex = value.group_index ?? null;
  if (groupIndex !== null && (typeof groupIndex !== 'number' || !Number.isInteger(groupIndex))) {
    return bad(`headers.group_index must be an integer or null, got ${show(groupIndex)}`);
  }
  const tl = value.timelimit ?? [null, null];
  if (!Array.isArray(tl) || tl.length !== 2) return bad(`headers.timelimit must be [hard, soft], got ${show(tl)}`);
  const ignore = value.ignore_result ?? false;
  if (typeof ignore !== 'boolean') return bad(`headers.ignore_result must be a boolean, got ${show(ignore)}`);
  // A Python producer may send only {id, task} (§1.1); fill the rest with what 5.2.6 would send.
  // Written into the freshly parsed object (no copy): same keys, same order as a spread would give.
  const h = value as Obj & TaskHeaders;
  h.lang = optString(value, 'lang', 'headers') ?? 'py';
  h.shadow = optNullableString(value, 'shadow');
  h.eta = optTime(value, 'eta');
  h.expires = optTime(value, 'expires');
  h.group = optNullableString(value, 'group');
  h.group_index = groupIndex;
  h.retries = retries;
  h.timelimit = [optLimit(tl[0]), optLimit(tl[1])];
  h.root_id = optString(value, 'root_id', 'headers') ?? value.id;
  h.parent_id = optNullableString(value, 'parent_id');
  h.argsrepr = optString(value, 'argsrepr', 'headers') ?? '';
  h.kwargsrepr = optString(value, 'kwargsrepr', 'headers') ?? '';
  h.origin = optString(value, 'origin', 'headers') ?? '';
  h.ignore_result = ignore;
  return h;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeBody(body: string, encoding: string | undefined, headers: TaskHeaders): string {
  if (encoding === undefined && headers.compression === undefined) return body; // plain text body (§2.1)
  let bytes: Buffer = Buffer.from(body, 'utf8');
  if (encoding === 'base64') {
    if (body.length % 4 !== 0 || !BASE64.test(body)) return bad('body is not valid base64');
    bytes = Buffer.from(body, 'base64');
  }
  if (headers.compression !== undefined) {
    // kombu's 'gzip'/'zlib' codec is a zlib stream under the MIME application/x-gzip (§1.4).
    if (headers.compression !== 'application/x-gzip') return bad(`unsupported compression ${show(headers.compression)}`);
    try {
      bytes = inflateSync(bytes);
    } catch (err) {
      return bad(`body could not be decompressed (${(err as Error).message})`);
    }
    // The body is handed on uncompressed, so the header must not claim otherwise.
    delete headers.compression;
  }
  try {
    return utf8.decode(bytes);
  } catch {
    return bad('body is not UTF-8 text');
  }
}

/** §10 case 4: a JSON body must be `[args, kwargs, embed]`; returns it parsed. */
function checkJsonBody(body: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = parseJson(body);
  } catch (err) {
    bad(`body is not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) bad(`body must be a 3-element array [args, kwargs, embed], got ${show(parsed)}`);
  const [args, kwargs, embed] = parsed as unknown[];
  if (!Array.isArray(args)) bad(`body args must be an array, got ${show(args)}`);
  if (!isObject(kwargs)) bad(`body kwargs must be an object, got ${show(kwargs)}`);
  if (!isObject(embed)) bad(`body embed must be an object, got ${show(embed)}`);
  return parsed as unknown[];
}
