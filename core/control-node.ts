/** What every ControlChannel does on the worker side of a broadcast (celery-protocol.md §6). */
import { setLongTimeout } from './long-timeout.js';
import type { ControlCommand, ControlReply } from './ports.js';

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
