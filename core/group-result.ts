/**
 * The results of a group (Celery's GroupResult, celery/result.py): its members' AsyncResults in
 * the order of its signatures, and what Celery's ResultSet answers about them. Every method reads
 * the members again; nothing is cached between calls.
 */
import type { AsyncResult, GetOptions } from './async-result.js';
import type { ControlOptions } from './control.js';
import type { RemoteTaskError } from './errors.js';
import type { ControlReply } from './ports.js';
import { FAILURE, SUCCESS, isReady } from './states.js';
import { onAbort } from './shared-abort.js';

/** A group's results as get({ propagate: false }) gives them: each a value or its task's error. */
type OrFailed<R extends unknown[]> = { [K in keyof R]: R[K] | RemoteTaskError };

export class GroupResult<R extends unknown[] = unknown[]> {
  constructor(
    readonly id: string,
    readonly results: AsyncResult[],
  ) {}

  /**
   * Every result, waiting for each (the first failure rejects, as Celery's join does; with
   * propagate:false, failures are in the list). Once one rejects, the other members' waits stop.
   */
  get(options: GetOptions & { propagate: false }): Promise<OrFailed<R>>;
  get(options?: GetOptions & { propagate?: true }): Promise<R>;
  get(options?: GetOptions): Promise<OrFailed<R>>;
  async get(options: GetOptions = {}): Promise<OrFailed<R>> {
    // Left running, a member that never finishes would keep its wait (and its subscription) until
    // its timeout, or for ever without one, after the caller already has its answer.
    // The caller's signal is passed on through shared-abort (AbortSignal.any needs Node 20.3; one
    // listener per signal however many groups a request waits for).
    const stop = new AbortController();
    const caller = options.signal;
    if (caller?.aborted) stop.abort(caller.reason);
    const unlisten = caller && !caller.aborted ? onAbort(caller, () => stop.abort(caller.reason)) : undefined;
    try {
      return (await Promise.all(this.results.map((r) => r.get({ ...options, signal: stop.signal })))) as OrFailed<R>;
    } finally {
      unlisten?.();
      stop.abort();
    }
  }

  /** Celery's name for get(). */
  join(options: GetOptions & { propagate: false }): Promise<OrFailed<R>>;
  join(options?: GetOptions & { propagate?: true }): Promise<R>;
  join(options?: GetOptions): Promise<OrFailed<R>>;
  join(options?: GetOptions): Promise<OrFailed<R>> {
    return this.get(options);
  }

  /** How many members succeeded (Celery's completed_count: a failure is not counted). */
  async completedCount(): Promise<number> {
    return (await this.#states()).filter((s) => s === SUCCESS).length;
  }

  /** Whether every member has finished, successfully or not. */
  async ready(): Promise<boolean> {
    return (await this.#states()).every(isReady);
  }

  /** Whether some member has not finished yet. */
  async waiting(): Promise<boolean> {
    return !(await this.ready());
  }

  /** Whether every member succeeded. */
  async successful(): Promise<boolean> {
    return (await this.#states()).every((s) => s === SUCCESS);
  }

  /** Whether some member failed. */
  async failed(): Promise<boolean> {
    return (await this.#states()).some((s) => s === FAILURE);
  }

  /** Remove every member's stored result. */
  async forget(): Promise<void> {
    await Promise.all(this.results.map((r) => r.forget()));
  }

  /** Revoke every member in one broadcast, as Celery's ResultSet.revoke; resolves with the workers' replies. */
  async revoke(opts: ControlOptions = {}): Promise<ControlReply[]> {
    const [first] = this.results;
    return first ? first.source.revoke(this.results.map(String), opts) : [];
  }

  #states(): Promise<string[]> {
    return Promise.all(this.results.map((r) => r.refresh().then(() => r.state)));
  }
}
