/**
 * One pub/sub connection per store, multiplexing every watched key: Celery's backend publishes
 * each result on a channel named like its key (§4.1), so a waiting get() is woken by the write
 * instead of polling, and the published value spares it a read. After a reconnect every watcher
 * is told to re-read, since messages published while the connection was down are gone.
 *
 * Every write to a socket costs a system call, so the commands of one tick go out together:
 * the SUBSCRIBE of new watchers, the UNSUBSCRIBE of finished ones (held back briefly so they can
 * join the next SUBSCRIBE) and, on RESP3 connections (Redis 6+), the GET of a watched key — sent
 * on this same connection behind its SUBSCRIBE, so no publish can fall between the two and the
 * reader need not wait for the subscription to be confirmed. On RESP2 a subscribed connection
 * takes no GET: the read waits for the confirmation and goes to the store's main connection.
 *
 * Redis closes a subscribed connection whose unread output passes client-output-buffer-limit
 * pubsub (32 MB at once, or 8 MB for 60 s, by default): a PUBLISH or a GET of a result that big
 * drops it. So what a dropped connection left unanswered is never re-sent on it (a GET re-sent
 * would drop every new connection in turn, and every watcher with it): its reads go to the main
 * connection, its SUBSCRIBE and UNSUBSCRIBE are queued again, and its watchers re-read on reconnect.
 *
 * Nothing is written while the connection is down: what is asked for meanwhile waits here and goes
 * out in one write once it is back, instead of piling up in ioredis's offline queue once per
 * reconnect attempt. A read meanwhile waits for the server at most broker_connection_timeout.
 */
import type { Redis } from 'ioredis';
import { type Reachability, closeClient, createClient, explained, reachable } from './connection.js';
import type { RedisConnectionOptions } from './options.js';
import { type Deferred, deferred } from '../../core/deferred.js';

/** How long a finished watcher's UNSUBSCRIBE waits for company (the next SUBSCRIBE) before going alone. */
const UNSUBSCRIBE_DELAY_MS = 20;

interface Read {
  key: string;
  /** The same read on the store's main connection. */
  elsewhere(): Promise<string | null>;
  resolve(value: string | null): void;
  reject(err: unknown): void;
}

/** What one flush sent, until its replies come or its connection drops. */
interface Flush {
  left: Map<string, Deferred>;
  subscribe: string[];
  confirmation: Deferred | undefined;
  reads: Read[];
}

export class KeySubscriber {
  #client: Redis | undefined;
  /** Watched channels and their listeners. */
  readonly #channels = new Map<string, Set<(value?: string) => void>>();
  /** Channels subscribed on the connection, or about to be, with the confirmation of their SUBSCRIBE. */
  readonly #subscribed = new Map<string, Promise<void>>();
  /** Channels whose SUBSCRIBE goes out with the next flush. */
  #toSubscribe = new Set<string>();
  /** Channels left by their last watcher, with what their unwatch() waits for. */
  #toUnsubscribe = new Map<string, Deferred>();
  #reads: Read[] = [];
  /** Flushes sent and not answered yet. */
  readonly #inFlight = new Set<Flush>();
  /** Settles when the SUBSCRIBE of the next flush is confirmed (or refused). */
  #nextConfirmation: Deferred | undefined;
  #flushing = false;
  #unsubscribeTimer: NodeJS.Timeout | undefined;
  /** Whether the connection speaks RESP3 (reads allowed while subscribed); known after the first subscription. */
  #resp3: boolean | undefined;

  constructor(
    private readonly connection: RedisConnectionOptions,
    private readonly reachability: Reachability,
  ) {}

  #connect(): Redis {
    if (this.#client) return this.#client;
    const client = createClient(this.connection, {
      name: 'celeriac-results-sub',
      resendUnanswered: false,
    });
    let connectedBefore = false;
    client.on('close', () => this.#dropped());
    client.on('ready', () => {
      this.#schedule();
      if (connectedBefore) for (const listeners of this.#channels.values()) for (const fn of listeners) fn();
      connectedBefore = true;
    });
    // The message is the value written (Celery publishes the meta itself, §4.1): passed on, it spares a GET.
    client.on('message', (channel: string, message: string) => {
      for (const fn of this.#channels.get(channel) ?? []) fn(message);
    });
    this.#client = client;
    return client;
  }

  /** Resolves once the subscription is confirmed: a write made after that, from anywhere, is reported. */
  async watch(channel: string, onChange: (value?: string) => void): Promise<() => Promise<void>> {
    // Everything up to the first await is synchronous: a read() right after watch() is ordered behind this SUBSCRIBE.
    const client = this.#connect();
    let listeners = this.#channels.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.#channels.set(channel, listeners);
    }
    // A wrapper, so the same callback watched twice unsubscribes once per watch.
    const entry = (value?: string): void => onChange(value);
    listeners.add(entry);
    // Still subscribed when its last watcher has just left and the UNSUBSCRIBE has not gone out yet.
    this.#toUnsubscribe.get(channel)?.resolve();
    this.#toUnsubscribe.delete(channel);
    let confirmed = this.#subscribed.get(channel);
    if (!confirmed) {
      this.#nextConfirmation ??= deferred();
      confirmed = this.#nextConfirmation.promise;
      this.#subscribed.set(channel, confirmed);
      this.#toSubscribe.add(channel);
      this.#schedule();
    }
    // Resolves once the UNSUBSCRIBE is confirmed (or made moot by a new watcher): a waiter that
    // got its result need not wait, one that must see no more notifications does.
    const unwatch = (): Promise<void> => {
      listeners.delete(entry);
      if (listeners.size > 0 || this.#channels.get(channel) !== listeners) return Promise.resolve();
      this.#channels.delete(channel);
      // Its SUBSCRIBE has not gone out (the connection is down): it is dropped, as an UNSUBSCRIBE
      // would go out before it, and leave the channel subscribed for good.
      if (this.#toSubscribe.delete(channel)) {
        this.#subscribed.delete(channel);
        return Promise.resolve();
      }
      const left = deferred();
      this.#toUnsubscribe.set(channel, left);
      this.#unsubscribeTimer ??= setTimeout(() => {
        this.#unsubscribeTimer = undefined;
        this.#schedule();
      }, UNSUBSCRIBE_DELAY_MS).unref();
      return left.promise;
    };
    try {
      // An unreachable server fails the watch after broker_connection_timeout instead of never confirming it.
      await Promise.all([confirmed, reachable(client, this.reachability)]);
    } catch (err) {
      void unwatch().catch(() => undefined);
      throw explained(client, err);
    }
    this.#resp3 ??= client.mode === 'normal';
    return unwatch;
  }

  /**
   * Read a key so that a write after its watch() call is seen here or reported to the watcher,
   * even before watch() has resolved. `elsewhere` reads on the store's main connection.
   */
  async read(key: string, elsewhere: () => Promise<string | null>): Promise<string | null> {
    const subscribed = this.#channels.has(key) ? this.#subscribed.get(key) : undefined;
    if (!subscribed || !this.#client) return elsewhere();
    if (this.#resp3 !== true || this.#client.status !== 'ready') {
      // RESP2 (or not known yet): only once the subscription is confirmed may another connection
      // read; a connection that is down reads once it is back. Not forever: an unreachable server
      // fails the read after broker_connection_timeout.
      const client = this.#client;
      await Promise.all([subscribed, reachable(client, this.reachability)]).catch((err: unknown) => {
        throw explained(client, err);
      });
      this.#resp3 ??= client.mode === 'normal';
      if (this.#resp3 !== true) return elsewhere();
    }
    return new Promise((resolve, reject) => {
      this.#reads.push({ key, elsewhere, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    // After this tick's microtasks: a watcher's SUBSCRIBE and its first GET go out in one write.
    process.nextTick(() => this.#flush());
  }

  #flush(): void {
    this.#flushing = false;
    const client = this.#client;
    // Down: everything stays pending until 'ready' flushes it.
    if (client?.status !== 'ready') return;
    clearTimeout(this.#unsubscribeTimer);
    this.#unsubscribeTimer = undefined;
    const left = this.#toUnsubscribe;
    const unsubscribe = [...left.keys()];
    const subscribe = [...this.#toSubscribe];
    const reads = this.#reads;
    const confirmation = this.#nextConfirmation;
    this.#toUnsubscribe = new Map();
    this.#toSubscribe = new Set();
    this.#reads = [];
    this.#nextConfirmation = undefined;
    for (const channel of unsubscribe) this.#subscribed.delete(channel);
    if (unsubscribe.length + subscribe.length + reads.length === 0) return;
    const flush: Flush = { left, subscribe, confirmation, reads };
    this.#inFlight.add(flush);
    const pipeline = client.pipeline();
    if (unsubscribe.length > 0) pipeline.unsubscribe(...unsubscribe);
    if (subscribe.length > 0) pipeline.subscribe(...subscribe);
    for (const r of reads) pipeline.get(r.key);
    pipeline.exec().then(
      (results) => {
        if (!this.#inFlight.delete(flush)) return; // its connection dropped: settled by #dropped()
        const offset = (unsubscribe.length > 0 ? 1 : 0) + (subscribe.length > 0 ? 1 : 0);
        const unsubscribed = unsubscribe.length > 0 ? results?.[0]?.[0] : null;
        for (const d of left.values()) {
          if (unsubscribed) d.reject(unsubscribed);
          else d.resolve();
        }
        const refused = subscribe.length > 0 ? results?.[offset - 1]?.[0] : null;
        if (refused) this.#refused(subscribe, confirmation, refused);
        else confirmation?.resolve();
        reads.forEach((r, i) => {
          const [err, value] = results?.[offset + i] ?? [new Error(`no reply to GET ${r.key}`)];
          if (err) readElsewhere(r);
          else r.resolve(value as string | null);
        });
      },
      (err) => {
        if (!this.#inFlight.delete(flush)) return;
        for (const d of left.values()) d.reject(err);
        this.#refused(subscribe, confirmation, err);
        for (const r of reads) readElsewhere(r);
      },
    );
  }

  /** The connection dropped: what it left unanswered is not re-sent on it (see the top of this file). */
  #dropped(): void {
    const flushes = [...this.#inFlight];
    this.#inFlight.clear();
    for (const { left, subscribe, confirmation, reads } of flushes) {
      for (const [channel, d] of left) {
        // Watched again since it was left: it stays subscribed.
        if (this.#channels.has(channel)) d.resolve();
        else this.#toUnsubscribe.set(channel, d);
      }
      const watched = subscribe.filter((channel) => this.#channels.has(channel));
      if (watched.length > 0) {
        this.#nextConfirmation ??= deferred();
        const next = this.#nextConfirmation;
        if (confirmation) next.promise.then(confirmation.resolve, confirmation.reject);
        for (const channel of watched) this.#subscribed.set(channel, next.promise);
        for (const channel of watched) this.#toSubscribe.add(channel);
      } else confirmation?.resolve();
      for (const r of reads) readElsewhere(r);
    }
  }

  /** A SUBSCRIBE that failed: its watchers are told, and a later watch of the channel tries again. */
  #refused(channels: string[], confirmation: Deferred | undefined, err: unknown): void {
    for (const channel of channels) {
      if (this.#subscribed.get(channel) === confirmation?.promise) this.#subscribed.delete(channel);
    }
    confirmation?.reject(err);
  }

  async close(): Promise<void> {
    clearTimeout(this.#unsubscribeTimer);
    for (const d of this.#toUnsubscribe.values()) d.resolve();
    this.#nextConfirmation?.reject(new Error('the result store was closed'));
    this.#channels.clear();
    if (this.#client) await closeClient(this.#client);
  }
}

/** A read the subscribed connection could not answer (dropped, or refused): the main connection answers it. */
function readElsewhere(r: Read): void {
  r.elsewhere().then(r.resolve, r.reject);
}
