/**
 * Checks a delivery before anything runs: decoded envelope, accepted content type, a body of
 * `[args, kwargs, embed]` (§1.2, §1.4). A failure is a reason for the dead-letter queue (§10:
 * a worker must not die on bad input).
 */
import { parsedBody } from '../envelope.js';
import { ContentDisallowed, MalformedMessage, type TaskOfMessage } from '../errors.js';
import type { Delivery } from '../ports.js';
import { isPlainObject } from '../config/checks.js';
import type { TaskEmbed, TaskMessage } from '../message.js';
import { contentTypeOf, fromJson } from '../serialization.js';

export interface ParsedCall {
  message: TaskMessage;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** Callbacks, errbacks, chain and chord to follow after the task (§1.2), when the body has them. */
  embed?: TaskEmbed;
}

/** accept_content as content types, worked out once per list (it is the same list for every message). */
const acceptedTypes = new WeakMap<readonly string[], ReadonlySet<string>>();

function accepted(acceptContent: readonly string[]): ReadonlySet<string> {
  let types = acceptedTypes.get(acceptContent);
  if (!types) {
    types = new Set(acceptContent.map(contentTypeOf));
    acceptedTypes.set(acceptContent, types);
  }
  return types;
}

/** Why a delivery cannot run, and the task it was for when that is known (its FAILURE is stored, as `error`). */
export interface Refusal {
  reason: string;
  task?: TaskOfMessage;
  error?: Error;
}

export function parseDelivery(d: Delivery, acceptContent: readonly string[]): ParsedCall | Refusal {
  const message = d.message;
  if (!message) {
    const why = d.malformed ?? 'the envelope could not be decoded';
    return { reason: /^malformed message/i.test(why) ? why : `malformed message: ${why}`, task: d.malformedTask };
  }
  const h = message.headers;
  if (typeof h?.task !== 'string' || !h.task || typeof h.id !== 'string' || !h.id) {
    return { reason: 'malformed message: headers must carry a task name and an id (protocol v2, §1.1)' };
  }
  const refused = (reason: string, error: Error = new MalformedMessage(reason)): Refusal => ({
    reason,
    error,
    task: { id: h.id, name: h.task },
  });
  // accept_content lists JSON only (config/settings.ts refuses what celeriac cannot decode), so an accepted body is JSON.
  if (!accepted(acceptContent).has(contentTypeOf(message.contentType ?? ''))) {
    const reason = `content type '${message.contentType}' is not in accept_content [${acceptContent.join(', ')}]`;
    return refused(`${reason} (ContentDisallowed)`, new ContentDisallowed(`Refusing to deserialize untrusted content: ${reason}`));
  }
  let body: unknown = parsedBody(message);
  try {
    body ??= fromJson(message.body);
  } catch (err) {
    return refused(`malformed message: body is not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(body) || body.length < 2 || body.length > 3) {
    return refused('malformed message: body must be the array [args, kwargs, embed] (§1.2)');
  }
  const [args, kwargs, embed] = body;
  if (!Array.isArray(args)) return refused('malformed message: body[0] (args) must be an array');
  if (typeof kwargs !== 'object' || kwargs === null || Array.isArray(kwargs)) {
    return refused('malformed message: body[1] (kwargs) must be an object');
  }
  return {
    message,
    args,
    kwargs: kwargs as Record<string, unknown>,
    embed: isPlainObject(embed) ? (embed as unknown as TaskEmbed) : undefined,
  };
}
