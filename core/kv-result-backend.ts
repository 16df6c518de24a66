/**
 * A ResultBackend over any KeyValueStore (Celery's KeyValueStoreBackend idea, STYLE.md §1):
 * stores only supply get/put/delete/incr(/watch); keys, meta encoding, the ready-state guard
 * and waiting live here once.
 */
import { isPlainObject, showValue } from './config/checks.js';
import { byDeadline } from './deadline.js';
import { AppClosedError, MalformedMessage, TimeoutError } from './errors.js';
import type { ChordPart, ChordStore, KeyValueStore, ResultBackend, StoreOptions } from './ports.js';
import { redact } from './registry.js';
import type { ResultMeta } from './result-meta.js';
import { FAILURE, SUCCESS, isReady } from './states.js';
import { parseJson, stringify, unsafeIntegerError, unsafeIntegerLiteral } from './serialization.js';
import { onAbort } from './shared-abort.js';

export interface KeyValueResultBackendOptions {
  /** Celery's result_expires in seconds (default 86400 = 1 day); 0 or null keeps results forever (§4.1). */
  resultExpires?: number | null;
}

/** Polling when the store cannot tell us about writes: start fast for low latency, back off to spare the store. */
const POLL_START_MS = 2;
const POLL_GROWTH = 1.5;
const POLL_CAP_MS = 100;
/** A store that reports every write is re-read this seldom, should a notification be lost (its reconnects re-read already). */
const SAFETY_NET_MS = 5000;

const nothing = (): void => undefined;

/** Celery's key for a task's meta (§4.1), so results read the same from Python. */
export const resultKey = (taskId: string): string => `celery-task-meta-${taskId}`;

/**
 * Why a store whose keys hold at most `maxKeyBytes` can never keep a result for `taskId` (its
 * key is celery-task-meta-<id>; a revoke's, celeriac-revoked-<id>, is as long), or undefined.
 */
export function taskIdTooLong(taskId: string, maxKeyBytes: number | undefined, storeUrl: string): string | undefined {
  if (maxKeyBytes === undefined) return undefined;
  const max = maxKeyBytes - Buffer.byteLength(resultKey(''));
  const bytes = Buffer.byteLength(taskId);
  if (bytes <= max) return undefined;
  return `the task id '${taskId.slice(0, 40)}...' is ${bytes} bytes: the result store ${redact(storeUrl)} keys a result as celery-task-meta-<id> in at most ${maxKeyBytes} bytes, so a task id may be at most ${max} bytes`;
}

/** Celery's Redis chord keys (celery/backends/redis.py): the parts, the header size the client set, and its adjustment. */
const chordKeys = (groupId: string) => {
  const group = `celery-taskset-meta-${groupId}`;
  return { parts: `${group}.j`, size: `${group}.s`, extra: `${group}.t` };
};
/** How long the sender key lives when results never expire (it outlives the chord, for late reruns). */
const SENDER_KEPT_MS = 86_400_000;
/** celeriac's own: the header task that sends a complete chord's body (not in Celery's layout). */
const chordSenderKey = (groupId: string) => `celery-taskset-meta-${groupId}.c`;

export class KeyValueResultBackend implements ResultBackend {
  readonly url: string;
  readonly #ttlMs: number | undefined;
  readonly chords: ChordStore;
  /** What ends each waitFor() when the backend closes. */
  readonly #waiters = new Set<() => void>();
  #closed = false;

  constructor(
    readonly kv: KeyValueStore,
    opts: KeyValueResultBackendOptions = {},
  ) {
    this.url = kv.url;
    const expires = opts.resultExpires === undefined ? 86400 : opts.resultExpires;
    this.#ttlMs = expires ? expires * 1000 : undefined;
    this.chords = this.#chordStore();
  }

  /** Chords in Celery's Redis layout, over the store's atomic addChordPart. */
  #chordStore(): ChordStore {
    const ttlMs = this.#ttlMs;
    return {
      // Celery's set_chord_size is its backend's set: the value, with result_expires, published.
      start: async (groupId, size) => {
        await this.kv.put(chordKeys(groupId).size, String(size), { ttlMs, ready: false, keepReady: false });
      },
      // Celery's part: `[1, task id, state, result]`, scored by its place in the header.
      addPart: async (part) => {
        const member = JSON.stringify([1, part.taskId, part.state, part.result]);
        const all = await this.kv.addChordPart(chordKeys(part.groupId), { taskId: part.taskId, member, score: part.groupIndex }, ttlMs);
        if (!all || !(await this.#sendsBody(part.groupId, part.taskId, ttlMs))) return undefined;
        return all.map((text, i) => readChordPart(part.groupId, i, text));
      },
      forget: async (groupId) => {
        const keys = chordKeys(groupId);
        // The sender key stays to its expiry: a rerun still on its way must find it taken.
        await Promise.all([keys.parts, keys.size, keys.extra].map((key) => this.kv.delete(key)));
      },
    };
  }

  /**
   * Whether this header task sends the body of its complete chord. A chord is complete again for
   * every header task that runs again (its ack lost), and a worker killed after its parts went in
   * brings back all its unacked tasks at once: the first to see the chord complete becomes its
   * sender (a write only where none is), and only it sends the body, again when it runs again
   * (it may have died before sending). So the body goes out once per completion, not once per rerun.
   * The key outlives the chord (forget leaves it to its expiry) for reruns still on their way.
   */
  async #sendsBody(groupId: string, taskId: string, ttlMs: number | undefined): Promise<boolean> {
    const key = chordSenderKey(groupId);
    // Written as a finished meta, which every store's keepReady guard knows (Redis's reads the status).
    const sender = JSON.stringify({ status: SUCCESS, result: taskId });
    const kept = { ttlMs: ttlMs ?? SENDER_KEPT_MS, ready: true, success: true, keepReady: true };
    if (await this.kv.put(key, sender, kept)) return true;
    return (await this.kv.get(key)) === sender;
  }

  // Not async (one promise less per task); a value JSON refuses (a SerializationError) still rejects rather than throws.
  store(taskId: string, meta: ResultMeta, opts?: StoreOptions): Promise<void> {
    let text: string;
    try {
      text = stringify(meta, `the result of task ${taskId}`);
    } catch (err) {
      return Promise.reject(err);
    }
    const ready = isReady(meta.status);
    // A late STARTED/RETRY/progress write (a duplicate delivery, a slow updateState) must not hide a
    // finished result, nor a late duplicate's result a SUCCESS (§4.1 write guard; Celery's _store_result).
    const success = meta.status === SUCCESS;
    return this.kv
      .put(resultKey(taskId), text, { ttlMs: opts?.ttlMs ?? this.#ttlMs, ready, success, keepReady: !ready, keepSuccess: ready })
      .then(nothing);
  }

  taskIdTooLong(taskId: string): string | undefined {
    return taskIdTooLong(taskId, this.kv.maxKeyBytes, this.url);
  }

  async get(taskId: string): Promise<ResultMeta | undefined> {
    const text = await this.kv.get(resultKey(taskId));
    return text === undefined ? undefined : parseMeta(taskId, text);
  }

  /** A ready meta from a write notification's value; anything else (unreadable, not ready) means "read it". */
  #readyFrom(taskId: string, value: string | undefined): ResultMeta | undefined {
    if (value === undefined) return undefined;
    try {
      const meta = parseMeta(taskId, value);
      return meta && typeof meta === 'object' && isReady(meta.status) ? meta : undefined;
    } catch {
      return undefined;
    }
  }

  async waitFor(taskId: string, opts: { timeoutMs?: number; signal?: AbortSignal; intervalMs?: number } = {}): Promise<ResultMeta> {
    const { signal, timeoutMs } = opts;
    signal?.throwIfAborted();
    const closed = (): AppClosedError =>
      new AppClosedError(`The result backend was closed (app.close()) while waiting for the result of task ${taskId}`);
    if (this.#closed) throw closed();
    const watchesAll = this.kv.watchesEveryWriter === true;
    const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
    let wake: (() => void) | undefined;
    // Closing, or the caller's signal, ends the wait at once, even in the middle of a read (a closed connection would fail it, or never answer).
    let ended: { reason: unknown } | undefined;
    let abandon: ((reason: unknown) => void) | undefined;
    const end = (reason: unknown): void => {
      ended ??= { reason };
      abandon?.(ended.reason);
    };
    const unlessEnded = <T>(step: Promise<T>): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        abandon = reject;
        step.then(resolve, reject);
      });
    const stop = (): void => end(closed());
    const unlisten = signal && onAbort(signal, () => end(signal.reason));
    let changed = false;
    let published: ResultMeta | undefined;
    const onChange = (value?: string): void => {
      published ??= this.#readyFrom(taskId, value);
      changed = true;
      wake?.();
    };
    // Subscribe before the first read so a write landing in between is not missed (Celery does the same, §4.1).
    // The read need not wait for the subscription: the store orders it behind (Redis sends both in one write).
    const watching = this.kv.watch?.(resultKey(taskId), onChange);
    watching?.catch(() => undefined); // awaited below; meanwhile a failure must not count as unhandled
    let storeAnswered = false;
    const timedOut = (): never => {
      throw Object.assign(new TimeoutError(`Timed out after ${timeoutMs} ms waiting for the result of task ${taskId}`), { storeAnswered });
    };
    this.#waiters.add(stop);
    try {
      // A store that reports every writer's writes is re-read only as a safety net (Celery's Redis
      // backend ignores `interval` too); else Celery's `interval`, a fixed wait between reads, or
      // a fast start backing off.
      let delay = watchesAll ? SAFETY_NET_MS : (opts.intervalMs ?? POLL_START_MS);
      for (;;) {
        if (ended) throw ended.reason; // between two steps: no read on a closed store
        changed = false;
        // The notification carried the ready meta (Redis publishes the value): no read needed.
        const meta = published ?? (await unlessEnded(byDeadline(this.get(taskId), deadline, timedOut)));
        storeAnswered = true;
        if (meta && isReady(meta.status)) return meta;
        if (watching) await unlessEnded(byDeadline(watching, deadline, timedOut)); // a subscription that failed fails the wait
        const left = deadline - Date.now();
        if (left <= 0) timedOut();
        if (changed) continue;
        await new Promise<void>((resolve, reject) => {
          const cleanup = (): void => {
            clearTimeout(timer);
            wake = undefined;
          };
          const timer = setTimeout(
            () => {
              cleanup();
              resolve();
            },
            Math.min(delay, left),
          );
          wake = () => {
            cleanup();
            resolve();
          };
          abandon = (reason) => {
            cleanup(); // its timer must not keep the process alive
            reject(reason);
          };
          if (ended) abandon(ended.reason);
        });
        if (!watchesAll && opts.intervalMs === undefined) delay = Math.min(POLL_CAP_MS, delay * POLL_GROWTH);
      }
    } finally {
      this.#waiters.delete(stop);
      unlisten?.();
      // Not awaited: the caller has its result; unsubscribing is the store's housekeeping.
      watching?.then((unwatch) => unwatch()).catch(() => undefined);
    }
  }

  async forget(taskId: string): Promise<void> {
    await this.kv.delete(resultKey(taskId));
  }

  incr(key: string, by: number, ttlMs?: number): Promise<number> {
    return this.kv.incr(key, by, ttlMs);
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const stop of this.#waiters) stop();
    return this.kv.close();
  }
}

/** A part as Celery writes it; one that cannot be read counts as failed (the chord then fails saying so, rather than never ending). */
function readChordPart(groupId: string, groupIndex: number, text: string): ChordPart {
  try {
    const [, taskId, state, result] = parseJson(text) as unknown[];
    if (typeof taskId === 'string' && typeof state === 'string') return { groupId, taskId, groupIndex, state, result };
  } catch {
    // reported below
  }
  return { groupId, taskId: `#${groupIndex}`, groupIndex, state: FAILURE, result: `an unreadable chord part: ${text.slice(0, 200)}` };
}

/** A stored result meta; one a Python task wrote with an int beyond 2^53 is refused rather than read rounded. */
function parseMeta(taskId: string, text: string): ResultMeta {
  let meta: ResultMeta;
  try {
    meta = parseJson(text) as ResultMeta;
  } catch (err) {
    throw new MalformedMessage(`The stored result of task ${taskId} is not JSON (${(err as Error).message})`);
  }
  // Something else under the key (a stray write, another program): said so, not waited on as PENDING.
  if (!isPlainObject(meta) || typeof meta.status !== 'string') {
    throw new MalformedMessage(
      `The stored result of task ${taskId} is not a Celery result meta with a status: ${showValue(meta).slice(0, 200)}`,
    );
  }
  const unsafe = unsafeIntegerLiteral(text);
  if (unsafe) throw unsafeIntegerError(`the result of task ${taskId}`, unsafe, 'have the task return it as a string');
  return meta;
}
