/**
 * The ports every provider implements (DESIGN.md "Ports"). Providers supply primitives;
 * policy (states, retries, ETA, rate limits, waiting) lives once in core.
 */
import type { TaskOfMessage } from './errors.js';
import type { Logger } from './log.js';
import type { TaskMessage } from './message.js';
import type { ResultMeta } from './result-meta.js';

/** One received message, whatever the transport. Exactly one settle call ends it. */
export interface Delivery {
  /** The decoded message; undefined when the envelope could not be decoded (see `malformed`). */
  readonly message: TaskMessage | undefined;
  /** Why the envelope could not be decoded; the executor dead-letters it with this reason. */
  readonly malformed?: string;
  /** The task a malformed message was for, when its headers could be read (its FAILURE is stored). */
  readonly malformedTask?: TaskOfMessage;
  /** The raw envelope text, kept for dead letters. */
  readonly raw?: string;
  readonly queue: string;
  /** 1 on first delivery, more when the message came back after a lease expiry or requeue. */
  readonly receiveCount: number;
  /** How long the lease (visibility timeout) lasts, so the executor can extend it for long tasks. */
  readonly leaseMs?: number;
  /** Done with the message: remove it for good. */
  ack(): Promise<void>;
  /** Hide it and deliver it again after delayMs (0 = hand it back now), optionally replacing it (retries+1) in the same queue. */
  retryLater(delayMs: number, replacement?: TaskMessage): Promise<void>;
  /** Move it to the dead-letter store with the reason. */
  deadLetter(reason: string): Promise<void>;
  /** Keep it hidden for another `ms` from now while it runs. */
  extendLease(ms: number): Promise<void>;
}

export interface ConsumeOptions {
  /** Most deliveries handed out and not yet settled at once (concurrency × prefetch multiplier). */
  prefetch: number;
  /** Told of each failed fetch (it is retried): the worker logs it, so a broker that keeps failing is not silent. */
  onError?(err: unknown): void;
}

export interface Consumer {
  /** Stop fetching. Deliveries already handed out can still be settled. */
  stop(): Promise<void>;
  /**
   * How long stop() may take with the broker answering, when more than a moment: SQS lets its
   * long polls finish (wait_time_seconds), so that no message is taken by an abandoned one.
   */
  readonly stopWithinMs?: number;
}

export interface DeadLetter {
  queue: string;
  reason: string;
  raw: string;
  at: number;
}

/** A message this process's consumers set aside in the broker until it is due (an ETA, a retry's countdown, a hand-back for a while). */
export interface SetAsideMessage {
  message: TaskMessage;
  /** When it goes back to its queue (epoch ms). */
  dueMs: number;
}

/** A transport. */
export interface Broker {
  readonly url: string;
  /** Publish messages to one queue, as one batch where the service allows; ETA headers delay visibility. */
  publish(queue: string, messages: TaskMessage[]): Promise<void>;
  consume(queues: string[], handler: (d: Delivery) => Promise<void>, opts: ConsumeOptions): Promise<Consumer>;
  /** Remove every waiting message of a queue; returns how many. */
  purge(queue: string): Promise<number>;
  /** Messages waiting (not leased) in a queue, where the service can tell. */
  size?(queue: string): Promise<number>;
  /** Dead letters kept by this broker, newest last. */
  deadLetters?(queue?: string): Promise<DeadLetter[]>;
  /**
   * What this process's consumers set aside until due and is still waiting (`inspect scheduled`),
   * for brokers where a consumer does that; elsewhere the broker itself hides such a message.
   */
  setAside?(): Promise<SetAsideMessage[]>;
  /** Remote control (Celery's pidbox), where the transport has a broadcast. */
  readonly control?: ControlChannel;
  /** Celery events (monitoring: `celery events`, Flower), where the transport has a broadcast. */
  readonly events?: EventChannel;
  /**
   * Resolves once the server is reachable; rejects with an OperationalError saying why not after
   * broker_connection_timeout. For brokers holding a connection (the worker waits on it at start).
   */
  connected?(): Promise<void>;
  /** Call `listener` when the connection drops (with the reason) and when it is back; returns an unsubscribe. */
  onConnection?(listener: (event: { up: boolean; reason?: string }) => void): () => void;
  close(): Promise<void>;
}

export interface StoreOptions {
  ttlMs?: number;
}

/** A result backend. Build one from a KeyValueStore with core's KeyValueResultBackend. */
export interface ResultBackend {
  readonly url: string;
  /** Store a state. Never turns a ready state (SUCCESS/FAILURE/REVOKED) back into a non-ready one. */
  store(taskId: string, meta: ResultMeta, opts?: StoreOptions): Promise<void>;
  get(taskId: string): Promise<ResultMeta | undefined>;
  /** Resolve with the meta once it is ready; rejects with TimeoutError or the signal's reason. */
  waitFor(taskId: string, opts: { timeoutMs?: number; signal?: AbortSignal; intervalMs?: number }): Promise<ResultMeta>;
  forget(taskId: string): Promise<void>;
  /** Atomic counter (chords, global rate limits). */
  incr?(key: string, by: number, ttlMs?: number): Promise<number>;
  /** Celery's chord bookkeeping, kept as Celery's Redis backend keeps it; absent without a result backend. */
  readonly chords?: ChordStore;
  /** Why this backend can never keep a result for `taskId` (an id longer than its keys allow), or undefined. */
  taskIdTooLong?(taskId: string): string | undefined;
  close(): Promise<void>;
}

export interface ChordStore {
  /** Record a chord's header size, before its tasks are sent (Celery's set_chord_size). */
  start(groupId: string, size: number): Promise<void>;
  /**
   * Record a finished header task (Celery's on_chord_part_return). Resolves with every part, in
   * header order, once the last one is in; until then with undefined.
   */
  addPart(part: ChordPart): Promise<ChordPart[] | undefined>;
  /** Drop a chord's record, once its body has been sent. */
  forget(groupId: string): Promise<void>;
}

/** One header task of a chord, finished: its state and result as its meta holds them. */
export interface ChordPart {
  groupId: string;
  taskId: string;
  /** Its place in the header; null when the client did not send one (ordered last). */
  groupIndex: number | null;
  state: string;
  result: unknown;
}

/** How a value is written: its expiry, what it is (for later writes' guards), and its own guard. */
export interface PutOptions {
  ttlMs?: number;
  /** A finished result (SUCCESS, FAILURE, REVOKED). */
  ready: boolean;
  /** A SUCCESS (so also ready). */
  success?: boolean;
  /** Skip the write when the stored value is ready (a late progress state must not hide a result). */
  keepReady: boolean;
  /** Skip the write when the stored value is a success: as in Celery, a late duplicate's FAILURE never replaces a SUCCESS. */
  keepSuccess?: boolean;
  /**
   * Written on a producer's behalf (a claim check): fail once the server has been unreachable for
   * broker_connection_timeout, as publishing does, where a worker's result writes wait for it.
   */
  failWhenUnreachable?: boolean;
}

/** The primitives a key-value result store supplies (Celery's KeyValueStoreBackend idea). */
export interface KeyValueStore {
  readonly url: string;
  /** The longest key it can hold, in UTF-8 bytes (DynamoDB: 2048, a partition key's limit); absent: no limit that matters. */
  readonly maxKeyBytes?: number;
  get(key: string): Promise<string | undefined>;
  /**
   * Write a value. With `keepReady`, the write is skipped (returns false) when the stored
   * value is marked ready; with `keepSuccess`, when it is marked a success — atomically, in
   * one server-side step.
   */
  put(key: string, value: string, opts: PutOptions): Promise<boolean>;
  delete(key: string): Promise<void>;
  incr(key: string, by: number, ttlMs?: number): Promise<number>;
  /**
   * Call `onChange` when the key is written (pub/sub, in-process events); returns an unsubscribe
   * once watching. A write made after the call — even before the promise resolves — is reported,
   * or seen by a get() made after the call (a store orders such reads behind its subscription).
   * A store whose notification carries the written value passes it, sparing the waiter a read.
   * Optional: without it waiting polls.
   */
  watch?(key: string, onChange: (value?: string) => void): Promise<() => Promise<void>>;
  /**
   * True when watch() reports every writer's writes (Redis pub/sub; one process's memory), not
   * only this process's: a waiter then re-reads only as a rare safety net instead of polling.
   */
  readonly watchesEveryWriter?: boolean;
  /**
   * Add the part of a finished header task to the sorted set `keys.parts` under its score, unless
   * that task has a part there already (the first stays), refresh the TTL of the three keys, and
   * when the set then holds as many parts as `keys.size` plus `keys.extra` say, return every member
   * in score order — in one atomic step, so of the header tasks finishing at once exactly one sees
   * the chord complete. A part added again once it is complete (its task ran again, the body
   * perhaps never sent) completes it again: the body goes out at least once (Celery's Redis layout;
   * stores without sorted sets follow core/chord-parts.ts).
   */
  addChordPart(keys: ChordKeys, part: ChordPartInput, ttlMs?: number): Promise<string[] | undefined>;
  close(): Promise<void>;
}

/** A header task's part as a store adds it: the member Celery's Redis backend ZADDs, its score (the group index; null: none), and the task's id. */
export interface ChordPartInput {
  taskId: string;
  member: string;
  score: number | null;
}

/** Where a chord's parts, its size and its size adjustment are kept. */
export interface ChordKeys {
  parts: string;
  size: string;
  extra: string;
}

/** A remote control command (Celery pidbox request body, §6). */
export interface ControlCommand {
  method: string;
  arguments: Record<string, unknown>;
  destination?: string[] | null;
  ticket?: string;
}

/** One node's reply: `{ "worker@host": payload }`. */
export type ControlReply = Record<string, unknown>;

export interface WorkerInfo {
  hostname: string;
  queues: string[];
  /** Where the channel reports requests it drops (malformed ones, from whoever can publish to it). */
  log?: Logger;
}

export interface ControlChannel {
  broadcast(
    command: Omit<ControlCommand, 'ticket' | 'destination'>,
    opts: { destination?: string[]; timeoutMs: number; reply?: boolean; limit?: number },
  ): Promise<ControlReply[]>;
  listen(worker: WorkerInfo, onCommand: (c: ControlCommand) => Promise<unknown>): Promise<() => Promise<void>>;
  /** How many nodes listen (a listener of this process included), where the transport keeps count. */
  nodes?(): Promise<number>;
}

/**
 * Where Celery events go (celery-protocol.md §7). `fields` is the whole event dict except `type`
 * (hostname, timestamp, clock... are filled in by core/events.ts); the provider only publishes it.
 */
export interface EventChannel {
  send(type: string, fields: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/** What a provider module registers for its URL scheme(s). */
export interface ProviderFactories {
  broker?(url: string, options: ProviderContext): Broker | Promise<Broker>;
  store?(url: string, options: ProviderContext): KeyValueStore | Promise<KeyValueStore>;
  /** Its store's KeyValueStore.maxKeyBytes, known without opening it (a producer checks a task id before sending). */
  maxKeyBytes?: number;
}

/** Settings a provider may read (transport options, default visibility timeout...). */
export interface ProviderContext {
  transportOptions: Record<string, unknown>;
  /** broker_connection_timeout in ms: how long a producer waits for an unreachable server before it fails. */
  connectTimeoutMs?: number;
}
