/**
 * Remote control, client side (Celery's app.control / inspect, §6): commands broadcast over the
 * broker's control channel, replies collected until the timeout.
 */
import { ConfigError } from './errors.js';
import type { Broker, ControlChannel, ControlReply } from './ports.js';
import { redact } from './registry.js';

export type InspectMethod = 'ping' | 'active' | 'registered' | 'stats' | 'revoked' | 'scheduled' | 'reserved';

export interface ControlOptions {
  /** How long to collect replies (default 1000 ms, as Celery). */
  timeoutMs?: number;
  /** Only these workers (e.g. ['worker1@host']). */
  destination?: string[];
}

const DEFAULT_TIMEOUT_MS = 1000;

export class Control {
  constructor(private readonly broker: () => Promise<Broker>) {}

  ping(opts: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('ping', {}, opts);
  }

  inspect(method: InspectMethod, opts: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast(method, method === 'active' ? { safe: null } : {}, opts);
  }

  /** Set (or with null/0 disable) a task's rate limit on every worker, e.g. rateLimit('tasks.add', '10/m'). */
  rateLimit(taskName: string, rate: string | number | null, opts: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('rate_limit', { task_name: taskName, rate_limit: rate }, opts);
  }

  /** Flag task ids as revoked on every running worker: they are discarded (REVOKED) instead of run. */
  revoke(taskId: string | string[], opts: ControlOptions = {}): Promise<ControlReply[]> {
    return this.broadcast('revoke', { task_id: taskId, terminate: false, signal: 'SIGTERM' }, opts);
  }

  async broadcast(method: string, args: Record<string, unknown>, opts: ControlOptions = {}): Promise<ControlReply[]> {
    const channel = await this.channel();
    return channel.broadcast(
      { method, arguments: args },
      { destination: opts.destination, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, reply: true, limit: opts.destination?.length },
    );
  }

  private async channel(): Promise<ControlChannel> {
    const broker = await this.broker();
    if (!broker.control) {
      throw new ConfigError(
        `The broker ${redact(broker.url)} has no remote-control channel, so ping/inspect/rate_limit/revoke cannot reach workers. ` +
          'Use a broker that has one (local://, memory://, redis://, amqp://).',
      );
    }
    return broker.control;
  }
}
