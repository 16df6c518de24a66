/** What every ControlChannel does on the worker side of a broadcast (celery-protocol.md §6). */
import { isPlainObject } from './config/checks.js';
import { setLongTimeout } from './long-timeout.js';
import type { ControlCommand, ControlReply } from './ports.js';

/** Whether a request field is absent (kombu's `body.get(...)` reads None) or passes `check`. */
export function absentOr<T>(value: unknown, check: (v: unknown) => v is T): value is T | null | undefined {
  return value === undefined || value === null || check(value);
}

export const isString = (v: unknown): v is string => typeof v === 'string';

const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/**
 * The command in a control request read from the wire, which anyone who can publish there writes:
 * a request whose method, arguments, destination or ticket is not what Celery sends throws, so
 * the channel drops it (kombu drops, and Celery logs, a request it cannot dispatch).
 */
export function readControlCommand(body: unknown): ControlCommand {
  if (!isPlainObject(body)) throw new Error('the request is not an object');
  const { method, arguments: args, destination, ticket } = body;
  if (!isString(method)) throw new Error('its method is not a string');
  if (!absentOr(args, isPlainObject)) throw new Error('its arguments are not an object');
  if (!absentOr(destination, isStringList)) throw new Error('its destination is not a list of node names');
  if (!absentOr(ticket, isString)) throw new Error('its ticket is not a string');
  return { method, arguments: args ?? {}, destination: destination ?? null, ...(ticket ? { ticket } : {}) };
}

/** A node runs a command when no destination is given or its name is in the list (§6). */
export function isAddressedTo(destination: readonly string[] | null | undefined, hostname: string): boolean {
  return !destination || destination.length === 0 || destination.includes(hostname);
}

/** Run a command and shape the node's reply; a failing handler answers `{error}` as Celery's does (§6). */
export async function answerCommand(
  hostname: string,
  command: ControlCommand,
  onCommand: (c: ControlCommand) => Promise<unknown>,
): Promise<ControlReply> {
  try {
    return { [hostname]: await onCommand(command) };
  } catch (err) {
    return { [hostname]: { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) } };
  }
}

/** Collects replies until `limit` arrived or `timeoutMs` passed (Celery's client-side collection, §6). */
export class ReplyCollector {
  readonly replies: ControlReply[] = [];
  readonly done: Promise<ControlReply[]>;
  #finish!: () => void;

  constructor(
    timeoutMs: number,
    private readonly limit: number | undefined,
  ) {
    this.done = new Promise((resolve) => {
      const timer = setLongTimeout(() => this.#finish(), timeoutMs);
      this.#finish = () => {
        timer.clear();
        resolve(this.replies);
      };
    });
    if (limit !== undefined && limit <= 0) this.#finish();
  }

  add(reply: ControlReply): void {
    this.replies.push(reply);
    if (this.limit !== undefined && this.replies.length >= this.limit) this.#finish();
  }
}
