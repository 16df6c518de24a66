/**
 * redis:// remote control, as kombu's pidbox works on Redis (celery-protocol.md §2.5, §6), so
 * `celery inspect`/`celery control` reach celeriac workers and `celeriac inspect`/`control` reach
 * Python workers:
 * - a request is PUBLISHed as a kombu envelope on `/{db}.celery.pidbox` (the fanout exchange);
 *   workers SUBSCRIBE to it, run what is addressed to them and register their node queue in
 *   `_kombu.binding.celery.pidbox`, as a Python worker does;
 * - replies are routed through the direct exchange `reply.celery.pidbox`: the answering node looks
 *   the client's routing key (its oid) up in `_kombu.binding.reply.celery.pidbox` and LPUSHes to the
 *   bound list `<oid>.reply.celery.pidbox`. A client must SADD that binding before publishing, or a
 *   Python worker drops its replies; it BRPOPs them, keeping those with its ticket.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { isPlainObject } from '../../core/config/checks.js';
import { ReplyCollector, absentOr, answerCommand, isAddressedTo, isString, readControlCommand } from '../../core/control-node.js';
import type { ControlChannel, ControlCommand, ControlReply, WorkerInfo } from '../../core/ports.js';
import { Abandon, closeClient } from './connection.js';
import { BrokerKeys } from './keys.js';
import { decodeKombuMessage, encodeKombuMessage } from './pidbox-envelope.js';
import { matchesGlob } from './pidbox-match.js';
import { routeReply } from './pidbox-route-reply.js';

export interface RedisControlOptions {
  /** Opens a new connection to the broker's Redis; the channel opens at most three and closes them on close(). */
  connect(): Redis;
  /** The database number: fanout channels are named `/{db}.<exchange>` (§2.2 fanout_prefix). */
  db: number;
  /** kombu's global_keyprefix: prepended to every key and channel name (§2.2). */
  keyPrefix?: string;
  /** kombu's `sep` transport option: binding members are joined with it (§2.2). */
  sep?: string;
  /** Waits for a connection to be up before a request is published, failing when the server stays unreachable. */
  whenReady?(client: Redis): Promise<void> | undefined;
}

const EXCHANGE = 'celery.pidbox';
const REPLY_EXCHANGE = 'reply.celery.pidbox';
// kombu's REPLY_QUEUE_EXPIRES: a reply list nobody reads is not kept (AMQP would drop the queue).
const REPLY_LIST_TTL_MS = 10_000;
// How long one BRPOP for replies blocks before the reader checks whether anyone still waits.
const REPLY_POP_SECONDS = 1;

/** The pidbox request body a Celery client publishes (§6). */
interface PidboxBody {
  method: string;
  arguments?: Record<string, unknown> | null;
  destination?: string[] | null;
  pattern?: string | null;
  matcher?: string | null;
  ticket?: string;
  reply_to?: ReplyTo;
}

interface ReplyTo {
  exchange: string;
  routing_key: string;
}

/** A request as a worker reads it: its command, how it addresses nodes, where the reply goes. */
interface PidboxRequest {
  command: ControlCommand;
  pattern?: string | null;
  matcher?: string | null;
  replyTo?: ReplyTo | null;
}

const isReplyTo = (v: unknown): v is ReplyTo => isPlainObject(v) && isString(v.exchange) && isString(v.routing_key);

/** Check every field of a request from the channel, which any Redis client can publish to; a malformed one throws. */
function readPidboxRequest(body: unknown): PidboxRequest {
  const command = readControlCommand(body);
  const { pattern, matcher, reply_to: replyTo } = body as Record<string, unknown>;
  if (!absentOr(pattern, isString)) throw new Error('its pattern is not a string');
  if (!absentOr(matcher, isString)) throw new Error('its matcher is not a string');
  if (!absentOr(replyTo, isReplyTo)) throw new Error('its reply_to is not an exchange and routing key');
  // A 'pcre' pattern is a regular expression from the wire, that could keep the worker backtracking
  // for minutes (pidbox-match.ts). Only where it would be used: a destination list wins over it (kombu).
  if (pattern && matcher && matcher !== 'glob' && !command.destination?.length)
    throw new Error("its matcher is not 'glob', the only one taken here ('pcre' is refused)");
  return { command, pattern, matcher, replyTo };
}

interface Listener {
  worker: WorkerInfo;
  onCommand: (c: ControlCommand) => Promise<unknown>;
  running: Set<Promise<void>>;
}

export class RedisControl implements ControlChannel {
  // Celery's app.oid: this client's reply routing key (§6).
  readonly oid = randomUUID();
  readonly #opts: RedisControlOptions;
  readonly #prefix: string;
  readonly #keys: BrokerKeys;
  readonly #listeners = new Set<Listener>();
  readonly #pending = new Map<string, ReplyCollector>();
  #commands: Redis | undefined;
  #subscriber: Promise<Redis> | undefined;
  /** The subscriber's connection, from the moment it is opened (before its SUBSCRIBE is confirmed). */
  #subscriberClient: Redis | undefined;
  /** Ends what waits for the server when the channel is closed while it is down. */
  readonly #abandon = new Abandon();
  #popper: Redis | undefined;
  /** Whether a broadcast has bound this client's reply queue (close() removes the binding). */
  #replyBound = false;
  #reading = false;
  #clock = 0;
  #closed = false;

  constructor(opts: RedisControlOptions) {
    this.#opts = opts;
    this.#prefix = opts.keyPrefix ?? '';
    this.#keys = new BrokerKeys(this.#prefix, opts.sep);
  }

  get requestChannel(): string {
    return `${this.#prefix}/${this.#opts.db}.${EXCHANGE}`;
  }

  // A worker's pidbox queue, bound to the fanout exchange with an empty routing key (kombu Mailbox.get_queue).
  #nodeMember(hostname: string): string {
    return this.#keys.bindingMember('', `${hostname}.${EXCHANGE}`);
  }

  // The client's reply queue, bound with its oid as routing key (kombu Mailbox.get_reply_queue).
  get #replyMember(): string {
    return this.#keys.bindingMember(this.oid, `${this.oid}.${REPLY_EXCHANGE}`);
  }

  get replyList(): string {
    return `${this.#prefix}${this.oid}.${REPLY_EXCHANGE}`;
  }

  async broadcast(
    command: Omit<ControlCommand, 'ticket' | 'destination'>,
    opts: {
      destination?: string[];
      timeoutMs: number;
      reply?: boolean;
      limit?: number;
    },
  ): Promise<ControlReply[]> {
    const wantReply = opts.reply ?? true;
    const ticket = randomUUID();
    const request: PidboxBody = {
      method: command.method,
      arguments: command.arguments,
      destination: opts.destination ?? null,
      pattern: null,
      matcher: null,
      ...(wantReply
        ? {
            ticket,
            reply_to: { exchange: REPLY_EXCHANGE, routing_key: this.oid },
          }
        : {}),
    };
    const commands = this.#commandConnection();
    await this.#opts.whenReady?.(commands);
    let collector: ReplyCollector | undefined;
    if (wantReply) {
      this.#replyBound = true;
      collector = new ReplyCollector(opts.timeoutMs, opts.limit ?? opts.destination?.length);
      this.#pending.set(ticket, collector);
    }
    const envelope = encodeKombuMessage(request, {
      exchange: EXCHANGE,
      routingKey: '',
      // Celery: `expires` is the epoch second after which the request is stale, 0 when no reply is awaited.
      headers: {
        clock: this.#tick(),
        expires: wantReply ? (Date.now() + opts.timeoutMs) / 1000 : 0,
      },
      deliveryMode: 2,
    });
    // The reply binding goes with every request that wants replies, as kombu declares its reply
    // queue on every call: a server that lost its data (restarted without persistence, failed over,
    // flushed) has it again. Written first on the same connection, it is there before any worker
    // sees the request.
    const write = commands.pipeline();
    if (wantReply) write.sadd(this.#keys.binding(REPLY_EXCHANGE), this.#replyMember);
    write.publish(this.requestChannel, envelope);
    try {
      const failed = (await write.exec())?.find(([err]) => err);
      if (failed) throw failed[0];
    } catch (err) {
      this.#pending.delete(ticket);
      throw err;
    }
    if (!collector) return [];
    void this.#readReplies();
    try {
      return await collector.done;
    } finally {
      this.#pending.delete(ticket);
    }
  }

  /** Nodes bound to the pidbox exchange, as kombu binds each worker's (Python's too); a worker killed outright stays counted. */
  async nodes(): Promise<number> {
    return this.#commandConnection().scard(this.#keys.binding(EXCHANGE));
  }

  async listen(worker: WorkerInfo, onCommand: (c: ControlCommand) => Promise<unknown>): Promise<() => Promise<void>> {
    const listener: Listener = { worker, onCommand, running: new Set() };
    const binding = this.#keys.binding(EXCHANGE);
    const member = this.#nodeMember(worker.hostname);
    await this.#subscribed();
    await this.#abandon.race(this.#commandConnection().sadd(binding, member));
    this.#listeners.add(listener);
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      this.#listeners.delete(listener);
      await Promise.all(listener.running);
      if (!this.#closed) await this.#commandConnection().srem(binding, member);
    };
  }

  /** Stop listening, remove this client's reply binding and list, and close the connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A SUBSCRIBE or a reply being routed, waiting for a server that is down, is given up.
    this.#abandon.dropIfDown(
      [this.#commands, this.#subscriberClient],
      () => new Error('the Redis control channel was closed while the server was unreachable'),
    );
    await Promise.all([...this.#listeners].map((l) => Promise.all(l.running)));
    const commands = this.#commands;
    // Cleanup is best-effort: against a server that is down it would wait for it forever.
    if (commands?.status === 'ready') {
      const bindings = [...this.#listeners].map((l) => this.#nodeMember(l.worker.hostname));
      const tx = commands.multi();
      if (bindings.length) tx.srem(this.#keys.binding(EXCHANGE), ...bindings);
      if (this.#replyBound) {
        tx.srem(this.#keys.binding(REPLY_EXCHANGE), this.#replyMember);
        tx.del(this.replyList);
      }
      await tx.exec().catch(() => undefined);
    }
    this.#listeners.clear();
    const subscriber = await this.#subscriber?.catch(() => undefined);
    // The blocking reader may sit in BRPOP: drop its connection rather than wait for the pop to time out.
    this.#popper?.disconnect();
    await Promise.all([commands, subscriber].map((c) => c && closeClient(c)));
  }

  #commandConnection(): Redis {
    if (this.#closed) throw new Error('the Redis control channel is closed');
    this.#commands ??= this.#opts.connect();
    return this.#commands;
  }

  #subscribed(): Promise<Redis> {
    this.#subscriber ??= (async () => {
      const sub = this.#opts.connect();
      this.#subscriberClient = sub;
      sub.on('message', (channel: string, raw: string) => {
        if (channel === this.requestChannel) this.#onRequest(raw);
      });
      await this.#abandon.race(sub.subscribe(this.requestChannel));
      return sub;
    })();
    return this.#subscriber;
  }

  #onRequest(raw: string): void {
    // Runs in ioredis's 'message' handler, where a throw would be an uncaught exception ending the
    // worker: a request that cannot be read or run is logged and dropped, as kombu drops it.
    try {
      const message = decodeKombuMessage(raw);
      if (!message) return;
      this.#tick(message.headers.clock);
      const expires = Number(message.headers.expires) || 0;
      if (expires && expires * 1000 < Date.now()) return; // nobody waits for the answer any more
      this.#dispatch(readPidboxRequest(message.body));
    } catch (err) {
      for (const { worker } of this.#listeners) worker.log?.warning(`Ignored a control request: ${(err as Error).message}`);
    }
  }

  #dispatch({ command, pattern, matcher, replyTo }: PidboxRequest): void {
    for (const listener of this.#listeners) {
      const { hostname } = listener.worker;
      // kombu's Node.handle_message: a destination list wins; else a pattern with its matcher; else everyone.
      const addressed = command.destination?.length
        ? isAddressedTo(command.destination, hostname)
        : !pattern || !matcher || matchesGlob(hostname, pattern);
      if (!addressed) continue;
      const job = this.#answer(listener, structuredClone(command), replyTo).finally(() => listener.running.delete(job));
      listener.running.add(job);
    }
  }

  async #answer(listener: Listener, command: ControlCommand, replyTo: ReplyTo | null | undefined): Promise<void> {
    const reply = await answerCommand(listener.worker.hostname, command, listener.onCommand);
    if (!replyTo || this.#closed) return;
    const encode = (body: unknown) =>
      encodeKombuMessage(body, {
        exchange: replyTo.exchange,
        routingKey: replyTo.routing_key,
        headers: { ticket: command.ticket ?? null, clock: this.#tick() },
        deliveryMode: 1,
      });
    let envelope: string;
    try {
      envelope = encode(reply);
    } catch (err) {
      envelope = encode({
        [listener.worker.hostname]: {
          error: `reply could not be serialized: ${(err as Error).message}`,
        },
      });
    }
    await this.#abandon
      .race(
        routeReply.run(
          this.#commandConnection(),
          [this.#keys.binding(replyTo.exchange)],
          [replyTo.routing_key, envelope, this.#prefix, this.#keys.sep, REPLY_LIST_TTL_MS],
        ),
      )
      .catch(() => undefined); // a client that went away is not the worker's problem (kombu ignores it too)
  }

  /** One reader per channel pops replies while any broadcast waits, and hands each to its ticket's collector. */
  async #readReplies(): Promise<void> {
    if (this.#reading) return;
    this.#reading = true;
    this.#popper ??= this.#opts.connect();
    const popper = this.#popper;
    try {
      while (this.#pending.size > 0 && !this.#closed) {
        let popped: [string, string] | null;
        try {
          popped = await popper.brpop(this.replyList, REPLY_POP_SECONDS);
        } catch {
          if (this.#closed) return;
          await new Promise((r) => setTimeout(r, 100)); // the connection is being re-established
          continue;
        }
        const message = popped && decodeKombuMessage(popped[1]);
        if (!message) continue;
        this.#tick(message.headers.clock);
        const collector = this.#pending.get(String(message.headers.ticket));
        if (collector && typeof message.body === 'object' && message.body !== null) collector.add(message.body as ControlReply);
      }
    } finally {
      this.#reading = false;
    }
  }

  /** kombu's Lamport clock: forward on send, jump past what was seen on receive. */
  #tick(seen?: unknown): number {
    const other = Number(seen);
    this.#clock = Math.max(this.#clock, Number.isFinite(other) ? other : 0) + 1;
    return this.#clock;
  }
}
