/**
 * Result meta as Celery's backends write it (§4.1), for one task run. When results are ignored
 * (task option, header or task_ignore_result) no result or STARTED is written; errors follow the
 * task's own setting, and progress states are written regardless.
 */
import { unstorable } from '../errors.js';
import { encodeException } from '../exception-codec.js';
import type { ResultBackend } from '../ports.js';
import { routeOf } from '../message.js';
import type { ResultMeta } from '../result-meta.js';
import { RETRY, isReady } from '../states.js';
import type { ParsedCall } from './parse.js';

export class ResultWriter {
  constructor(
    private readonly backend: ResultBackend,
    private readonly call: ParsedCall,
    private readonly ignore: boolean,
    private readonly extended: { worker: string } | null,
    /**
     * Whether the task itself (its option, or task_ignore_result) ignores results, not just this
     * call's header: Celery's store_errors, which decides whether a failure is stored for the
     * rest of the chain (celery/app/trace.py).
     */
    readonly taskIgnores = ignore,
  ) {}

  get ignored(): boolean {
    return this.ignore;
  }

  /**
   * Store a state with a plain result (SUCCESS value, STARTED {pid, hostname}) unless results are ignored;
   * `children`: what the task sent on (Celery's result tuples), as its meta records them.
   */
  state(status: string, result: unknown, children: unknown[] = []): Promise<void> {
    return this.ignore ? DONE : this.write(status, result, null, children);
  }

  /**
   * Store a progress state the task reports (ctx.updateState) whatever ignore_result says, as
   * Celery's Task.update_state calls backend.store_result unconditionally (celery/app/task.py).
   */
  progress(status: string, meta: unknown): Promise<void> {
    return this.write(status, meta, null);
  }

  /**
   * Store a state whose result is an exception (FAILURE, RETRY, REVOKED): unless the task itself
   * ignores results, also for a call that asked for none, as Celery stores errors (store_errors).
   */
  exception(status: string, error: unknown): Promise<void> {
    if (this.taskIgnores) return DONE;
    const { info, traceback } = encodeException(error);
    const written = this.write(status, info, traceback);
    // The call result_extended adds may be what the store cannot hold (args too large, or nested
    // too deeply for JSON): the error state is stored without it rather than not at all.
    if (!this.extended) return written;
    return written.catch((err) => (unstorable(err) ? this.write(status, info, traceback, [], false) : Promise.reject(err)));
  }

  /** RETRY, with the error the retry was given; none given, Celery stores None as its result. */
  retrying(exc: unknown): Promise<void> {
    if (exc !== undefined) return this.exception(RETRY, exc);
    return this.taskIgnores ? DONE : this.write(RETRY, null, null);
  }

  // Not async: the backend's promise is handed on as it is (one promise less per task).
  private write(status: string, result: unknown, traceback: string | null, children: unknown[] = [], extended = true): Promise<void> {
    const h = this.call.message.headers;
    const meta = celeryMeta(h.id, status, result, traceback);
    if (children.length > 0) meta.children = children;
    if (h.group) meta.group_id = h.group;
    if (h.parent_id) meta.parent_id = h.parent_id;
    // result_extended adds who ran what, where (§4.1).
    if (this.extended && extended) {
      meta.name = h.task;
      meta.args = this.call.args;
      meta.kwargs = this.call.kwargs;
      meta.worker = this.extended.worker;
      meta.retries = h.retries;
      // Celery stores the routing key the message came by (its delivery_info), not the queue it reached.
      meta.queue = routeOf(this.call.message).routingKey;
    }
    return this.backend.store(h.id, meta);
  }
}

const DONE = Promise.resolve();

/** The fields every Celery result meta has (§4.1); date_done once the state is ready. */
export function celeryMeta(taskId: string, status: string, result: unknown, traceback: string | null): ResultMeta {
  return { status, result, traceback, children: [], date_done: isReady(status) ? naiveUtcNow() : null, task_id: taskId };
}

/** Celery writes date_done as naive UTC with microseconds: 2026-11-23T23:05:32.631000 (§4.1). */
export function naiveUtcNow(): string {
  // Formatted once per millisecond: a busy worker finishes many tasks within one.
  const now = Date.now();
  if (now !== lastNow) {
    lastNow = now;
    lastText = `${new Date(now).toISOString().slice(0, -1)}000`;
  }
  return lastText;
}

let lastNow = 0;
let lastText = '';
