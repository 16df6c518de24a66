/**
 * Remote control, client side (Celery's app.control / inspect, §6): commands broadcast over the
 * broker's control channel, replies collected until the timeout.
 *
 * A broker without a control channel (SQS, Pub/Sub) cannot reach workers, but revoke and
 * rate_limit still work there: they are written to the result store, where every executor
 * reads them before running a task (core/overrides.ts). The reply then comes from the store,
 * as one node named STORE_NODE: `[{ "celeriac@store": { "ok": "new rate limit set successfully" } }]`,
 * or `{ "error": "unknown task" }` for a task the app does not define, as a worker answers.
 */
import { rateLimitReply, revokeReply, unknownTaskReply } from './control-replies.js';
import { type Check, checkOptions, is, number, showValue } from './config/checks.js';
import { ConfigError } from './errors.js';
import { KeyValueResultBackend } from './kv-result-backend.js';
import { OverrideWriter } from './overrides.js';
import { parseRate } from './rate-limit.js';
import type { Broker, ControlChannel, ControlReply, ResultBackend } from './ports.js';
import { redact } from './registry.js';

/** The node name of replies from the result store (brokers without a control channel). */
export const STORE_NODE = 'celeriac@store';

/** What `inspect` may ask (each answered by core/worker/control-handlers.ts). */
export const INSPECT_METHODS = [
  'ping',
  'active',
  'registered',
  'stats',
  'reserved',
  'scheduled',
  'revoked',
  'active_queues',
  'conf',
] as const;
export type InspectMethod = (typeof INSPECT_METHODS)[number];

export interface ControlOptions {
  /** How long to collect replies, in milliseconds as get()'s timeout (default 1000, Celery's 1 s). */
  timeout?: number;
  /** Only these workers (e.g. ['worker1@host']). */
  destination?: string[];
}

const controlOptionChecks: Record<keyof ControlOptions, Check> = {
  timeout: number((n) => n >= 0, 'expected milliseconds >= 0'),
  destination: is(
    (v) => Array.isArray(v) && v.every((d) => typeof d === 'string' && d !== ''),
    "expected a list of worker names such as ['worker1@host']",
  ),
};

/** A misspelled option (timeoutMs, destinations) would otherwise be ignored without a word. */
function checkControlOptions(method: string, opts: unknown): ControlOptions {
  checkOptions(`app.control.${method}(options)`, opts, controlOptionChecks, { kind: 'an option', example: '{ timeout: 1000 }' });
  return opts as ControlOptions;
}

const DEFAULT_TIMEOUT_MS = 1000;

export class Control {
  /** `tasks`: the names of the tasks the app defines; empty when it defines none (a producer). */
  constructor(
    private readonly broker: () => Promise<Broker>,
    private readonly backend?: () => Promise<ResultBackend>,
    private readonly tasks: () => ReadonlyMap<string, unknown> = () => new Map(),
  ) {}

  async ping(opts: ControlOptions = {}): Promise<ControlReply[]> {
    return this.#broadcast('ping', {}, checkControlOptions('ping', opts));
  }

  async inspect(method: InspectMethod, opts: ControlOptions = {}): Promise<ControlReply[]> {
    return this.#broadcast(method, method === 'active' ? { safe: null } : {}, checkControlOptions('inspect', opts));
  }

  /** Set (or with null/0 disable) a task's rate limit on every worker, e.g. rateLimit('tasks.add', '10/m'). */
  async rateLimit(taskName: string, rate: string | number | null, opts: ControlOptions = {}): Promise<ControlReply[]> {
    checkTaskName('rateLimit', taskName);
    checkControlOptions('rateLimit', opts);
    // A bad rate fails here, with the accepted forms, before anything is sent.
    const disabled = parseRate(rate) === null;
    if (!(await this.broker()).control) {
      return this.stored(async (w) => {
        // A worker refuses a task it does not define; so does an app that defines tasks (one
        // without, a producer or the CLI without -A, cannot tell, and writes it).
        const tasks = this.tasks();
        if (tasks.size > 0 && !tasks.has(taskName)) return unknownTaskReply();
        await w.setRateLimit(taskName, rate);
        return { ok: rateLimitReply(disabled) };
      });
    }
    return this.#broadcast('rate_limit', { task_name: taskName, rate_limit: rate }, opts);
  }

  /** Change a task's time limits (seconds; null = the app's default) on every running worker, as `celery control time_limit`. */
  async timeLimit(
    taskName: string,
    limits: { soft?: number | null; hard?: number | null },
    opts: ControlOptions = {},
  ): Promise<ControlReply[]> {
    checkTaskName('timeLimit', taskName);
    checkControlOptions('timeLimit', opts);
    for (const [name, value] of Object.entries(limits ?? {})) {
      if (value !== null && value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
        throw new ConfigError(`timeLimit('${taskName}'): ${name} must be seconds >= 0 or null, got ${showValue(value)}`);
      }
    }
    return this.#broadcast('time_limit', { task_name: taskName, soft: limits.soft ?? null, hard: limits.hard ?? null }, opts);
  }

  /** Flag task ids as revoked on every running worker: they are discarded (REVOKED) instead of run. */
  async revoke(taskId: string | string[], opts: ControlOptions = {}): Promise<ControlReply[]> {
    checkControlOptions('revoke', opts);
    const ids: unknown[] = Array.isArray(taskId) ? taskId : [taskId];
    if (ids.length === 0 || ids.some((id) => typeof id !== 'string' || id === '')) {
      throw new ConfigError(`revoke(taskId): expected a task id or a list of task ids, got ${showValue(taskId)}`);
    }
    if (!(await this.broker()).control) {
      return this.stored(async (w) => {
        await w.revoke(ids as string[]);
        return { ok: revokeReply(ids as string[]) };
      });
    }
    return this.#broadcast('revoke', { task_id: taskId, terminate: false, signal: 'SIGTERM' }, opts);
  }

  async broadcast(method: string, args: Record<string, unknown>, opts: ControlOptions = {}): Promise<ControlReply[]> {
    return this.#broadcast(method, args, checkControlOptions('broadcast', opts));
  }

  async #broadcast(method: string, args: Record<string, unknown>, opts: ControlOptions): Promise<ControlReply[]> {
    const channel = await this.channel();
    return channel.broadcast(
      { method, arguments: args },
      { destination: opts.destination, timeoutMs: opts.timeout ?? DEFAULT_TIMEOUT_MS, reply: true, limit: opts.destination?.length },
    );
  }

  /** Write an override to the result store; its reply is the store's, as one node. */
  private async stored(write: (writer: OverrideWriter) => Promise<{ ok: string } | { error: string }>): Promise<ControlReply[]> {
    const backend = await this.backend?.();
    if (!(backend instanceof KeyValueResultBackend)) {
      const broker = await this.broker();
      throw new ConfigError(
        `The broker ${redact(broker.url)} has no remote-control channel, so revoke and rate_limit are kept in the result store, and none is configured. Set result_backend (e.g. dynamodb://TABLE with sqs://).`,
      );
    }
    return [{ [STORE_NODE]: await write(new OverrideWriter(backend.kv)) }];
  }

  private async channel(): Promise<ControlChannel> {
    const broker = await this.broker();
    if (!broker.control) {
      throw new ConfigError(
        `The broker ${redact(broker.url)} has no remote-control channel, so ping, inspect and status cannot reach workers ` +
          '(revoke and rate_limit still do, through the result store). Use local://, memory:// or redis:// for those.',
      );
    }
    return broker.control;
  }
}

/** A control command naming no task would reach every worker and be refused by each ("unknown task"). */
function checkTaskName(method: string, taskName: unknown): void {
  if (typeof taskName !== 'string' || taskName === '') {
    throw new ConfigError(`${method}(taskName, ...): expected a task name such as 'tasks.add', got ${showValue(taskName)}`);
  }
}
