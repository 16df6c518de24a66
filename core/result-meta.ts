import type { State } from './states.js';

/** An exception as Celery's JSON result backends store it (celery-protocol.md §4.1). */
export interface ExceptionInfo {
  exc_type: string;
  exc_message: unknown[] | string;
  exc_module: string;
}

/** Celery's result meta, stored per task id by every result backend. */
export interface ResultMeta {
  status: State;
  /** Return value; an ExceptionInfo for FAILURE/RETRY/REVOKED; {pid, hostname} for STARTED; progress meta for custom states. */
  result: unknown;
  traceback: string | null;
  children: unknown[];
  /** Naive UTC ISO timestamp (no offset) for ready states, else null — as Celery writes it. */
  date_done: string | null;
  task_id: string;
  group_id?: string;
  parent_id?: string;
  name?: string;
  args?: unknown[];
  kwargs?: Record<string, unknown>;
  worker?: string;
  retries?: number;
  queue?: string;
}
