/**
 * A handle on a task's result (Celery's AsyncResult). Reads go to the result backend; the
 * getters (`state`, `result`, `info`, `traceback`, `dateDone`, `name`, `children`...) show the last meta read.
 */
import * as check from './config/checks.js';
import type { ControlOptions } from './control.js';
import { byDeadline } from './deadline.js';
import { decodeException } from './exception-codec.js';
import { type RemoteTaskError, TimeoutError } from './errors.js';
import { GroupResult } from './group-result.js';
import { parseCeleryTime } from './message.js';
import type { ControlReply, ResultBackend } from './ports.js';
import type { ResultMeta } from './result-meta.js';
import { EXCEPTION_STATES, FAILURE, PENDING, PROPAGATE_STATES, SUCCESS, isReady } from './states.js';

/** What the producer knows about a task it sent (used to explain a PENDING timeout). */
export interface SentInfo {
  taskName: string;
  queue: string;
  ignoreResult: boolean;
}

/** Where an AsyncResult reads from; the app supplies it. */
export interface ResultSource {
  backend(): Promise<ResultBackend>;
  /** This client's result backend URL, password hidden. */
  readonly backendUrl: string;
  /** Extra facts for the PENDING diagnosis (e.g. how many messages wait in the queue). */
  pendingFacts?(sent: SentInfo | undefined): Promise<string[]>;
  /** Revoke tasks on every worker (the app's control.revoke). */
  revoke(taskIds: string[], opts: ControlOptions): Promise<ControlReply[]>;
}

export interface GetOptions {
  /** Milliseconds to wait; default: forever. */
  timeout?: number;
  /** Re-throw a failed task's error (default true); false returns the error instead. */
  propagate?: boolean;
  /**
   * Milliseconds between reads on a backend that polls (DynamoDB), as Celery's `interval`: the
   * first read at once, then one per interval. Without it reads start 2 ms apart and back off to
   * every 100 ms. A backend that is told of writes (Redis) reads when told.
   */
  interval?: number;
  signal?: AbortSignal;
}

interface Related {
  meta: ResultMeta | undefined;
  parent: AsyncResult | undefined;
  children: (AsyncResult | GroupResult)[];
}

export class AsyncResult<T = unknown> {
  private meta: ResultMeta | undefined;
  #handles: Related | undefined;

  constructor(
    readonly id: string,
    /** Where it reads (and revokes); handles made from it (parent, children, a group's) share it. */
    readonly source: ResultSource,
    readonly sent?: SentInfo,
  ) {}

  /** The result backend this handle reads, printable (the first-steps troubleshooting check). */
  get backend(): string {
    return this.source.backendUrl;
  }

  /** Last known state (call refresh(), ready() or get() to read it again). */
  get state(): string {
    return this.meta?.status ?? PENDING;
  }

  /** The return value, or the error for a failed task, or the meta of a custom state. */
  get result(): T | Error | unknown {
    const meta = this.meta;
    if (!meta) return null;
    // A RETRY meta holds the exception that caused the retry, as FAILURE and REVOKED hold theirs
    // (Celery: EXCEPTION_STATES); a retry given none holds None.
    return EXCEPTION_STATES.has(meta.status) && meta.result !== null ? decodeException(meta) : meta.result;
  }

  /** Same as `result`: for a custom state such as PROGRESS, the meta given to updateState. */
  get info(): unknown {
    return this.result;
  }

  get traceback(): string | null {
    return this.meta?.traceback ?? null;
  }

  /** When the task finished (stored as naive UTC, read as such); null until it has. */
  get dateDone(): Date | null {
    const text = this.meta?.date_done;
    return text ? new Date(parseCeleryTime(text)) : null;
  }

  // Stored only with result_extended (§4.1); undefined otherwise.
  /** The task's name. */
  get name(): string | undefined {
    return this.meta?.name;
  }

  get args(): unknown[] | undefined {
    return this.meta?.args;
  }

  get kwargs(): Record<string, unknown> | undefined {
    return this.meta?.kwargs;
  }

  /** The node name of the worker that stored the last state. */
  get worker(): string | undefined {
    return this.meta?.worker;
  }

  /** How many times the task had been retried when it stored the last state. */
  get retries(): number | undefined {
    return this.meta?.retries;
  }

  /** The queue (routing key) the task was delivered from. */
  get queue(): string | undefined {
    return this.meta?.queue;
  }

  /** The task that sent this one (a chain's step before it), when its meta records one. */
  get parent(): AsyncResult | undefined {
    return this.#related().parent;
  }

  /** What the task sent on (a chain's next step, a group's members), as its meta records them. */
  get children(): (AsyncResult | GroupResult)[] {
    return this.#related().children;
  }

  /**
   * The parent and children handles of the meta last read. Each read gives the same handles (as
   * Celery's `res.parent`), across re-reads too: a handle for an id already handed out is kept, so
   * one refreshed or awaited through `r.parent` keeps its state.
   */
  #related(): Related {
    const kept = this.#handles;
    if (kept && kept.meta === this.meta) return kept;
    const same = <H extends AsyncResult | GroupResult>(made: H): H =>
      ([kept?.parent, ...(kept?.children ?? [])].find((h) => h?.id === made.id && h.constructor === made.constructor) as H | undefined) ??
      made;
    const id = this.meta?.parent_id;
    const related: Related = {
      meta: this.meta,
      parent: id ? same(new AsyncResult(id, this.source)) : undefined,
      children: (this.meta?.children ?? []).flatMap((tuple) => fromTuple(tuple, this.source) ?? []).map(same),
    };
    this.#handles = related;
    return related;
  }

  async refresh(): Promise<ResultMeta | undefined> {
    const backend = await this.source.backend();
    this.meta = (await backend.get(this.id)) ?? this.meta;
    return this.meta;
  }

  async ready(): Promise<boolean> {
    await this.refresh();
    return isReady(this.state);
  }

  async successful(): Promise<boolean> {
    await this.refresh();
    return this.state === SUCCESS;
  }

  async failed(): Promise<boolean> {
    await this.refresh();
    return this.state === FAILURE;
  }

  async forget(): Promise<void> {
    const backend = await this.source.backend();
    await backend.forget(this.id);
    this.meta = undefined;
  }

  /** Tell every worker to discard this task (app.control.revoke); resolves with their replies. */
  revoke(opts: ControlOptions = {}): Promise<ControlReply[]> {
    return this.source.revoke([this.id], opts);
  }

  /** Wait for the task to finish; returns its value, or throws (or with propagate:false returns) its error. */
  get(opts: GetOptions & { propagate: false }): Promise<T | RemoteTaskError>;
  get(opts?: GetOptions & { propagate?: true }): Promise<T>;
  get(opts?: GetOptions): Promise<T | RemoteTaskError>;
  async get(opts: GetOptions = {}): Promise<T | RemoteTaskError> {
    checkGetOptions(opts);
    const backend = await this.source.backend();
    try {
      this.meta = await backend.waitFor(this.id, { timeoutMs: opts.timeout, intervalMs: opts.interval, signal: opts.signal });
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
      // What the message tells (the state now, the queue's length) is read briefly or left out:
      // with the server gone, reading it would outlast the timeout it explains.
      const diagnosed = Date.now() + DIAGNOSIS_MS;
      const answered = await byDeadline(
        this.refresh().then(() => true),
        diagnosed,
        () => false,
      ).catch(() => false);
      // Done after all (a short timeout ran out while a slow server was still answering): its result, as Celery gives it.
      if (!this.meta || !isReady(this.state)) {
        const storeSilent = !answered && err.storeAnswered === false;
        const message = storeSilent ? this.silentStoreMessage(opts.timeout ?? 0) : await this.timeoutMessage(opts.timeout ?? 0, diagnosed);
        throw new TimeoutError(message, { cause: err });
      }
    }
    if (PROPAGATE_STATES.has(this.state)) {
      const error = decodeException(this.meta);
      if (opts.propagate === false) return error;
      throw error;
    }
    return this.meta.result as T;
  }

  toString(): string {
    return this.id;
  }

  /** No read answered, during the wait or after: the store, not a worker, is what to look at. */
  private silentStoreMessage(timeoutMs: number): string {
    return (
      `Task ${this.sent?.taskName ?? ''}[${this.id}] did not finish within ${timeoutMs} ms: the result store ` +
      `${this.source.backendUrl} did not answer within ${timeoutMs} ms, so the task's state is unknown. ` +
      'Check that the store is up and reachable from here.'
    );
  }

  private async timeoutMessage(timeoutMs: number, diagnosed: number): Promise<string> {
    const head = `Task ${this.sent?.taskName ?? ''}[${this.id}] did not finish within ${timeoutMs} ms`;
    if (this.state !== PENDING) return `${head}: it is ${this.state}.`;
    return [`${head} and is still PENDING (no worker has recorded it).`, ...(await this.pendingReasons(diagnosed))].join('\n');
  }

  /** Celery's first-steps troubleshooting for "tasks stay PENDING", with this call's facts filled in. */
  private async pendingReasons(diagnosed: number): Promise<string[]> {
    const sent = this.sent;
    const queue = sent ? `'${sent.queue}'` : 'the queue it was sent to';
    const reasons = [
      'Tasks stay PENDING when:',
      `  - no worker consumes ${queue}: start one with \`celeriac worker -A <module>${sent && sent.queue !== 'celery' ? ` -Q ${sent.queue}` : ''}\`, or check its -Q list;`,
      sent?.ignoreResult
        ? '  - ignore_result is set for this call or task: no result is ever stored (it is, here);'
        : '  - ignore_result is set (task option, call option or task_ignore_result): no result is ever stored;',
      `  - the worker stores results in another result backend: this client reads ${this.source.backendUrl}; compare with the backend in the worker's banner.`,
    ];
    const facts = this.source.pendingFacts && (await byDeadline(this.source.pendingFacts(sent), diagnosed, () => []).catch(() => []));
    return facts?.length ? [...reasons, ...facts.map((f) => `  ${f}`)] : reasons;
  }
}

/**
 * A result in Celery's tuple form, as a meta's children hold it (celery/result.py
 * result_from_tuple): `[[id, parent], null]` for a task, `[[id, parent], [members...]]` for a
 * group. Anything else (a record this client cannot read) gives undefined.
 */
function fromTuple(tuple: unknown, source: ResultSource): AsyncResult | GroupResult | undefined {
  if (!Array.isArray(tuple)) return undefined;
  const [head, nodes] = tuple;
  const id = Array.isArray(head) ? head[0] : head;
  if (typeof id !== 'string') return undefined;
  if (!Array.isArray(nodes)) return new AsyncResult(id, source);
  return new GroupResult(
    id,
    nodes.flatMap((node) => {
      const member = fromTuple(node, source);
      return member instanceof AsyncResult ? [member] : [];
    }),
  );
}

/** How long a timed-out get() may spend reading what its error message tells. */
const DIAGNOSIS_MS = 1000;

const getOptionChecks: Record<keyof GetOptions, check.Check> = {
  timeout: check.number((n) => n >= 0, 'expected milliseconds >= 0'),
  propagate: check.boolean(),
  interval: check.number((n) => n > 0, 'expected milliseconds > 0'),
  // Duck-typed: a signal from another realm or a polyfill is not an instance of this one's AbortSignal.
  signal: check.is(
    (v) => typeof (v as AbortSignal)?.aborted === 'boolean' && typeof (v as AbortSignal).addEventListener === 'function',
    'expected an AbortSignal',
  ),
};

/** A misspelled or mistyped option (timeout: '5') would otherwise mean waiting forever. */
function checkGetOptions(opts: unknown): void {
  check.checkOptions('get(options)', opts, getOptionChecks, { kind: 'an option', example: '{ timeout: 10000 }' });
}
