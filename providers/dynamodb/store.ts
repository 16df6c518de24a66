/**
 * dynamodb:// key-value store: the result backend's primitives (core/kv-result-backend.ts).
 * One item per key:
 *
 *   pk (S)          the key, e.g. celery-task-meta-<id>
 *   value (S)       the result meta JSON (put)            | counter (N)  a counter (incr)
 *   ready (BOOL)    the value is a ready state
 *   expires_at (N)  epoch seconds, rounded up: the table's TTL attribute. DynamoDB deletes expired
 *                   items late (hours to days), so every read treats an item past it as gone.
 *
 *   done (NS)       on a chord's parts key: the header places of the parts in (addChordPart)
 *   part (S)        on `<parts key>#<place>`: that header task's part, the member Celery's backend ZADDs
 *
 * Each transition is one request: a put that must not hide a ready result is a conditional
 * PutItem; incr is an UpdateItem ADD. There is no watch: waiting polls (core's waitFor).
 *
 * Read cost: every get() is one strongly consistent GetItem = 1 read capacity unit per 4 KB of
 * item (twice an eventually consistent read) — a result arrives as soon as it is written, at
 * that price. KeyValueResultBackend.waitFor polls from 2 ms, ×1.5 per empty read, up to every
 * 100 ms: about 18 reads in the first second, then 10 per second, so `get({ timeout })` on a
 * task that takes T seconds costs about 10·T + 8 reads (measured against dynalite: 18 for 1 s,
 * about 105 for 10 s; one more when it times out). With AsyncResult.get's `interval` it reads once
 * per interval instead (Celery's meaning): pass one where results are awaited for long.
 */
import {
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { type ChordPartEntry, chordComplete, inHeaderOrder } from '../../core/chord-parts.js';
import { CeleriacError, ChordError, ConfigError, OperationalError, ResultTooLarge } from '../../core/errors.js';
import type { ChordKeys, ChordPartInput, KeyValueStore, PutOptions } from '../../core/ports.js';
import { awsClient } from '../../core/provider-options.js';
import type { DynamoDbOptions } from './options.js';
import type { TimeToLive } from './create-table.js';
import { MAX_KEY_BYTES, TTL_ATTRIBUTE, isMissingTable, isWrongKeySchema, missingTable, wrongKeySchema } from './table.js';

type Item = Record<string, AttributeValue>;

/** Attribute names go through placeholders: `value` is a DynamoDB reserved word. */
const NAMES = {
  '#pk': 'pk',
  '#v': 'value',
  '#c': 'counter',
  '#r': 'ready',
  '#s': 'success',
  '#e': TTL_ATTRIBUTE,
};

const isConditionFailed = (err: unknown): boolean =>
  err instanceof ConditionalCheckFailedException || (err as Error)?.name === 'ConditionalCheckFailedException';

const nowSeconds = (): number => Date.now() / 1000;
/** Rounded up, so an item never expires before its ttl. */
const expiry = (ttlMs: number): string => String(Math.ceil((Date.now() + ttlMs) / 1000));
/** The item for a key, with its expiry when it has a ttl. */
const itemOf = (key: string, attributes: Item, ttlMs: number | undefined): Item => ({
  pk: { S: key },
  ...attributes,
  ...(ttlMs ? { [TTL_ATTRIBUTE]: { N: expiry(ttlMs) } } : {}),
});
/** What a key holds: a value (put) or a counter (incr). */
const heldValue = (item: Item): string | undefined => item.value?.S ?? item.counter?.N;
const expired = (item: Item): boolean => item[TTL_ATTRIBUTE]?.N !== undefined && Number(item[TTL_ATTRIBUTE].N) <= nowSeconds();

/**
 * One request (a single item, 400 KB at most) answers in milliseconds; one that takes 5 s is
 * stuck, and is better tried again on a fresh connection (the SDK retries it).
 */
const REQUEST_TIMEOUT_MS = 5000;

/** The most keys one BatchGetItem may ask for. */
const BATCH_GET_KEYS = 100;
/** How often keys DynamoDB left unprocessed are asked for again before the read fails (for the moment). */
const UNPROCESSED_ATTEMPTS = 8;

/** Waits before asking again for unprocessed keys: 50 ms doubling to 1 s, jittered; past the last attempt, fails. */
async function unprocessedBackoff(attempt: number, what: string): Promise<void> {
  if (attempt >= UNPROCESSED_ATTEMPTS) {
    throw new OperationalError(
      `DynamoDB kept leaving the parts of chord ${what} unread (throttled ${attempt} times): the task will be tried again`,
    );
  }
  const ms = Math.min(1000, 50 * 2 ** (attempt - 1));
  await new Promise((resolve) => setTimeout(resolve, ms / 2 + Math.random() * (ms / 2)));
}

/** DynamoDB's item size limit: attribute names and values, UTF-8. */
const MAX_ITEM_BYTES = 400 * 1024;
/** Room for the other attributes of an item (names, ready flag, expires_at). */
const ITEM_OVERHEAD_BYTES = 64;

/** Refused here, with the reason, rather than by DynamoDB with a ValidationException the executor would retry. */
function checkItemSize(key: string, value: string): void {
  const bytes = Buffer.byteLength(key) + Buffer.byteLength(value) + ITEM_OVERHEAD_BYTES;
  if (bytes > MAX_ITEM_BYTES) {
    throw new ResultTooLarge(
      `${key} would be a ${bytes}-byte DynamoDB item, over its limit of ${MAX_ITEM_BYTES} bytes: keep large data elsewhere (e.g. S3) and return or pass its key`,
    );
  }
}

/** Refused here, naming the limit, rather than by DynamoDB with a bare ValidationException. */
function checkKeySize(key: string): void {
  const bytes = Buffer.byteLength(key);
  if (bytes > MAX_KEY_BYTES) {
    throw new ConfigError(
      `The key '${key.slice(0, 60)}...' is ${bytes} bytes, over DynamoDB's limit of ${MAX_KEY_BYTES} bytes for a partition key`,
    );
  }
}

export class DynamoDbStore implements KeyValueStore {
  readonly client: DynamoDBClient;
  readonly maxKeyBytes = MAX_KEY_BYTES;
  /** Whether the table's TTL could be turned on (only known when this store created or checked the table). */
  timeToLive: TimeToLive | undefined;
  readonly #ownsClient: boolean;
  readonly #table: string;
  #ready: Promise<void> | undefined;
  #closed = false;

  constructor(
    readonly url: string,
    private readonly options: DynamoDbOptions,
    client?: DynamoDBClient,
  ) {
    this.#ownsClient = !client;
    this.#table = options.table;
    this.client = client ?? awsClient(DynamoDBClient, url, options, 'DynamoDB', REQUEST_TIMEOUT_MS);
  }

  async get(key: string): Promise<string | undefined> {
    checkKeySize(key);
    const out = await this.#send(() =>
      this.client.send(
        new GetItemCommand({
          TableName: this.#table,
          Key: { pk: { S: key } },
          ConsistentRead: true,
          ProjectionExpression: '#v, #c, #e',
          ExpressionAttributeNames: {
            '#v': NAMES['#v'],
            '#c': NAMES['#c'],
            '#e': NAMES['#e'],
          },
        }),
      ),
    );
    const item = out.Item;
    if (!item || expired(item)) return undefined;
    return heldValue(item);
  }

  async put(key: string, value: string, opts: PutOptions): Promise<boolean> {
    checkKeySize(key);
    checkItemSize(key, value);
    const item = itemOf(key, { value: { S: value }, ready: { BOOL: opts.ready }, success: { BOOL: opts.success === true } }, opts.ttlMs);
    // Written only where no live value the guard keeps is (ready, or a success) — checked and written in one step.
    return this.#putWhere(item, opts.keepReady ? '#r' : opts.keepSuccess ? '#s' : 'always');
  }

  async delete(key: string): Promise<void> {
    checkKeySize(key);
    await this.#send(() =>
      this.client.send(
        new DeleteItemCommand({
          TableName: this.#table,
          Key: { pk: { S: key } },
        }),
      ),
    );
  }

  async incr(key: string, by: number, ttlMs?: number): Promise<number> {
    checkKeySize(key);
    // ADD starts a missing counter at 0.
    const item = await this.#updateLive(
      key,
      { add: '#c :by', names: { '#c': NAMES['#c'] }, values: { ':by': { N: String(by) } } },
      { counter: { N: String(by) }, ready: { BOOL: false } },
      ttlMs,
    );
    const n = item.counter?.N;
    if (n === undefined) throw new CeleriacError(`DynamoDB returned no counter for '${key}'`);
    return Number(n);
  }

  /**
   * A chord's parts are items of their own, `<parts key>#<place in the header>`, each created only
   * if missing (a task run again keeps its first part); the parts key's item counts them as a set
   * of places (ADD to a number set: adding a place twice is one), so a worker dying between the two
   * writes is made good when the task runs again. The header size is then read with its TTL
   * refreshed (an UpdateItem, as Redis's script refreshes it) and the adjustment with a GetItem. Per
   * header task: 3 writes and 1 read; the last one also reads every part, 100 per BatchGetItem. The
   * part's write is billed by its size, the count's by the set of places (it grows with the header:
   * ~1 unit a task up to a few hundred tasks, ~4 on average for 2,500); the rest are small. Parts stay until their TTL (result_expires) once
   * the chord is done. A header task without a place (no group index, which only a client other
   * than celeriac or Celery would send) cannot be kept: ConfigError.
   */
  async addChordPart(keys: ChordKeys, part: ChordPartInput, ttlMs?: number): Promise<string[] | undefined> {
    const place = part.score;
    if (place === null || !Number.isInteger(place) || place < 0) {
      throw new ConfigError(
        `task ${part.taskId} is a header task of chord ${keys.parts} without a group index: dynamodb:// keeps a chord's parts by their place in the header (celeriac's and Celery's clients send it)`,
      );
    }
    const partKey = `${keys.parts}#${place}`;
    checkKeySize(partKey);
    checkItemSize(partKey, part.member);
    await this.#createIfMissing(itemOf(partKey, { part: { S: part.member } }, ttlMs));
    const counted = await this.#updateLive(
      keys.parts,
      { add: '#d :p', names: { '#d': 'done' }, values: { ':p': { NS: [String(place)] } } },
      { done: { NS: [String(place)] } },
      ttlMs,
    );
    const [size, extra] = await Promise.all([this.#touch(keys.size, ttlMs), this.get(keys.extra)]);
    if (!chordComplete(counted.done?.NS?.length ?? 0, size, extra)) return undefined;
    return inHeaderOrder(await this.#readParts(keys.parts, counted.done?.NS ?? []));
  }

  /** Put `item` unless a live one has its key; whether it was put. */
  #createIfMissing(item: Item): Promise<boolean> {
    return this.#putWhere(item, 'missing');
  }

  /**
   * Put `item`, in one conditional step: 'always'; 'missing', where no live item has its key; or
   * with a guard attribute ('#r' ready, '#s' success), also where the live one's guard is false.
   * Whether it was put.
   */
  async #putWhere(item: Item, where: 'always' | 'missing' | '#r' | '#s'): Promise<boolean> {
    const guard = where === '#r' || where === '#s' ? where : undefined;
    const condition =
      where === 'always'
        ? {}
        : {
            ConditionExpression: `attribute_not_exists(#pk) OR ${guard ? `attribute_not_exists(${guard}) OR ${guard} = :no OR ` : ''}#e <= :now`,
            ExpressionAttributeNames: { '#pk': NAMES['#pk'], '#e': NAMES['#e'], ...(guard ? { [guard]: NAMES[guard] } : {}) },
            ExpressionAttributeValues: { ':now': { N: String(nowSeconds()) }, ...(guard ? { ':no': { BOOL: false } } : {}) },
          };
    try {
      await this.#send(() => this.client.send(new PutItemCommand({ TableName: this.#table, Item: item, ...condition })));
      return true;
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      return false;
    }
  }

  /**
   * The parts at these places (strongly consistent, 100 keys per request). A part past its own
   * expiry still counts while its chord's count lives (a header that took longer than
   * result_expires); one DynamoDB has deleted since fails the chord (ChordError), its body unable to run.
   */
  async #readParts(partsKey: string, places: string[]): Promise<ChordPartEntry[]> {
    const parts: ChordPartEntry[] = [];
    for (let i = 0; i < places.length; i += BATCH_GET_KEYS) {
      let keys: Item[] | undefined = places.slice(i, i + BATCH_GET_KEYS).map((place) => ({ pk: { S: `${partsKey}#${place}` } }));
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        // DynamoDB answers part of a batch when it is throttled: the rest is asked again, backing off as AWS asks.
        if (attempt > 0) await unprocessedBackoff(attempt, partsKey);
        const request: Item[] = keys;
        const out: BatchGetItemCommandOutput = await this.#send(() =>
          this.client.send(
            new BatchGetItemCommand({
              RequestItems: {
                [this.#table]: {
                  Keys: request,
                  ConsistentRead: true,
                  ProjectionExpression: '#pk, #p',
                  ExpressionAttributeNames: { '#pk': 'pk', '#p': 'part' },
                },
              },
            }),
          ),
        );
        for (const item of out.Responses?.[this.#table] ?? []) {
          if (item.part?.S !== undefined) parts.push([Number(item.pk?.S?.slice(partsKey.length + 1)), item.part.S]);
        }
        keys = out.UnprocessedKeys?.[this.#table]?.Keys;
      }
    }
    if (parts.length < places.length) {
      throw new ChordError(
        `${places.length - parts.length} of the ${places.length} parts of chord ${partsKey} are gone: DynamoDB deleted them after their expiry (result_expires), before the last header task finished`,
      );
    }
    return parts;
  }

  /** The value of a live key, its expiry renewed when `ttlMs` is given; undefined when there is none. */
  async #touch(key: string, ttlMs: number | undefined): Promise<string | undefined> {
    if (!ttlMs) return this.get(key);
    checkKeySize(key);
    try {
      const out = await this.#send(() =>
        this.client.send(
          new UpdateItemCommand({
            TableName: this.#table,
            Key: { pk: { S: key } },
            UpdateExpression: 'SET #e = :exp',
            ConditionExpression: 'attribute_exists(#pk) AND (attribute_not_exists(#e) OR #e > :now)',
            ExpressionAttributeNames: { '#pk': NAMES['#pk'], '#e': NAMES['#e'] },
            ExpressionAttributeValues: { ':exp': { N: expiry(ttlMs) }, ':now': { N: String(nowSeconds()) } },
            ReturnValues: 'ALL_NEW',
          }),
        ),
      );
      return out.Attributes && heldValue(out.Attributes);
    } catch (err) {
      if (isConditionFailed(err)) return undefined;
      throw err;
    }
  }

  /**
   * Apply `update` to the item of `key` (its expiry set when `ttlMs` is given) and answer with the
   * whole item. An item past its expiry that DynamoDB has not deleted yet counts as gone: it is
   * replaced by `fresh` (with the key and the expiry), unless someone else already did.
   */
  async #updateLive(
    key: string,
    update: { add: string; names: Record<string, string>; values: Item },
    fresh: Item,
    ttlMs: number | undefined,
  ): Promise<Item> {
    const expression = `ADD ${update.add}${ttlMs ? ' SET #e = :exp' : ''}`;
    for (;;) {
      const now = String(nowSeconds());
      try {
        const out = await this.#send(() =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.#table,
              Key: { pk: { S: key } },
              UpdateExpression: expression,
              ConditionExpression: 'attribute_not_exists(#e) OR #e > :now',
              ExpressionAttributeNames: { ...update.names, '#e': NAMES['#e'] },
              ExpressionAttributeValues: { ...update.values, ':now': { N: now }, ...(ttlMs ? { ':exp': { N: expiry(ttlMs) } } : {}) },
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return out.Attributes ?? {};
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
      }
      const item = itemOf(key, fresh, ttlMs);
      if (await this.#createIfMissing(item)) return item;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) this.client.destroy();
  }

  /** Run one request; the first one (with create=true) makes sure the table exists. A missing table is a ConfigError. */
  async #send<T>(request: () => Promise<T>): Promise<T> {
    if (this.options.create) {
      this.#ready ??= import('./create-table.js')
        .then(({ ensureTable }) => ensureTable(this.client, this.#table, this.options.endpoint))
        .then(
          (ttl) => {
            this.timeToLive = ttl;
          },
          (err) => {
            this.#ready = undefined;
            throw err;
          },
        );
      await this.#ready;
    }
    try {
      return await request();
    } catch (err) {
      if (isMissingTable(err)) throw missingTable(this.#table, this.options.endpoint, err);
      if (isWrongKeySchema(err)) throw wrongKeySchema(this.#table, this.options.endpoint, err);
      throw err;
    }
  }
}
