/**
 * redis:// against the real Redis on 127.0.0.1:6379 (DB 8–11 only, flushed here; never DB 0).
 * The shared conformance suite, then what is Redis's own: kombu's exact keys and envelope, restore
 * after a SIGKILL, a connection cut, the §10 corpus, ETA held in the delayed set.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../core/app.js';
import { encodeEnvelope } from '../../core/envelope.js';
import { KeyValueResultBackend } from '../../core/kv-result-backend.js';
import type { Delivery } from '../../core/ports.js';
import { redact } from '../../core/registry.js';
import type { TaskContext } from '../../core/task-context.js';
import { type RedisBroker, parseBrokerSettings, redisBroker, redisStore } from '../../providers/redis/index.js';
import { topicMatches } from '../../providers/redis/bound-queues.js';
import { parseConnection, parseStoreConnection } from '../../providers/redis/options.js';
import { extendLease } from '../../providers/redis/scripts/extend-lease.js';
import { fetchAndLease } from '../../providers/redis/scripts/fetch-and-lease.js';
import {
  Recorder,
  backendConformance,
  brokerConformance,
  eventually,
  meta,
  storeConformance,
  taskMessage,
  uniqueQueue,
} from '../conformance/index.js';
import { startCutProxy } from '../fixtures/redis/cut-proxy.js';
import { expectHeirRunsKilledConsumersMessageOnce, useConsumerChild } from '../support/consumer-child.js';

const BROKER_DB = 8;
const STORE_DB = 9;
const OWN_DB = 10;
const CUT_DB = 11;
const url = (db: number, query = '', port = 6379) => `redis://127.0.0.1:${port}/${db}${query}`;
const SEP = '\x06\x16';

beforeAll(async () => {
  for (const db of [BROKER_DB, STORE_DB, OWN_DB, CUT_DB]) {
    const r = new Redis({ db });
    await r.flushdb();
    r.disconnect();
  }
});

brokerConformance('redis', ({ visibilityTimeoutMs }) => {
  const broker = redisBroker(url(BROKER_DB, `?visibility_timeout=${visibilityTimeoutMs / 1000}`));
  return {
    broker,
    priorityOrder: 'lower-first',
    publishRaw: (queue, raw) => broker.publishRaw(queue, [raw]),
    close: () => broker.close(),
  };
});
storeConformance('redis', () => redisStore(url(STORE_DB)));
backendConformance('redis', ({ resultExpires }) => new KeyValueResultBackend(redisStore(url(STORE_DB)), { resultExpires }));

describe('redis:// URLs and options', () => {
  it('reads host, port, password, db and TLS from the URL, options from the query or transport options', () => {
    const s = parseBrokerSettings('rediss://:s%40cret@cache.example:6380/3?visibility_timeout=30', { global_keyprefix: 'app:' });
    expect(s.connection).toMatchObject({
      host: 'cache.example',
      port: 6380,
      db: 3,
      password: 's@cret',
      tls: true,
    });
    expect(s.visibilityTimeoutMs).toBe(30_000);
    expect(s.keyPrefix).toBe('app:');
    expect(parseBrokerSettings('redis://localhost').connection).toMatchObject({
      port: 6379,
      db: 0,
      tls: false,
    });
    expect(parseBrokerSettings('redis://h/0').visibilityTimeoutMs).toBe(3_600_000);
    expect(() => parseBrokerSettings('redis://h/0?visibilty_timeout=1')).toThrow(/Unknown option 'visibilty_timeout'/);
    expect(() => parseBrokerSettings('redis://h/x')).toThrow(/database/);
    expect(() => parseBrokerSettings('redis://h/0', { max_message_size: -1 })).toThrow(
      "Redis transport option max_message_size in 'redis://h/0' must be a whole number of bytes > 0, got -1",
    );
    expect(() => parseBrokerSettings('redis://h/0?max_message_size=abc')).toThrow(
      /max_message_size .* must be a whole number of bytes > 0, got "abc"/,
    );
    expect(() => parseBrokerSettings('redis://h/0?unacked_mutex_expire=0')).toThrow(
      /unacked_mutex_expire .* must be a positive number of seconds/,
    );
    expect(() => parseBrokerSettings('redis://h/0', { global_keyprefix: 5 })).toThrow(/global_keyprefix .* must be a string, got 5/);
    const fromQuery = parseBrokerSettings('redis://h/0?max_message_size=4096&unacked_mutex_expire=2', { max_message_size: 1 });
    expect([fromQuery.maxMessageBytes, fromQuery.mutexExpireMs]).toEqual([4096, 2000]);
  });

  it("reads a '%' that starts no escape in a password as itself, as redis-py and kombu do", () => {
    expect(parseConnection('redis://carol:100%pure@h/0')).toMatchObject({ username: 'carol', password: '100%pure' });
    expect(parseConnection('redis://:100%25pure%C3%A9@h/0').password).toBe('100%pureé');
  });

  it("hides the whole password in what it shows, up to the user info's last '@' as the URL is read", () => {
    const url = 'redis://:hunter2@prod-secret@127.0.0.1:6379/3';
    expect(parseConnection(url)).toMatchObject({ password: 'hunter2@prod-secret', host: '127.0.0.1' });
    expect(redact(url)).toBe('redis://:**@127.0.0.1:6379/3');
  });

  it('refuses broker_transport_options it does not read instead of dropping them: a typo, kombu options it does not support', () => {
    const opened = (options: Record<string, unknown>) => () => parseBrokerSettings('redis://:pw@h/0', options);
    expect(opened({ visiblity_timeout: 43200 })).toThrow(
      "broker_transport_options for 'redis://:**@h/0': 'visiblity_timeout' is not an option of the Redis broker. Did you mean 'visibility_timeout'? Options: visibility_timeout, global_keyprefix, max_message_size, unacked_mutex_expire, priority_steps, sep, queue_order_strategy.",
    );
    // Renamed keys would part celeriac's workers from Celery's; connection tuning is the client's own.
    expect(opened({ unacked_key: 'mine' })).toThrow(/'unacked_key' is a kombu Redis option celeriac does not support: Celery and celeriac/);
    expect(opened({ socket_timeout: 5 })).toThrow(/'socket_timeout' is a kombu Redis option celeriac does not support: the Redis client/);
    expect(opened({ fanout_prefix: false })).toThrow(/'fanout_prefix' is a kombu Redis option celeriac does not support/);
    // What celeriac does anyway (configs written for Celery 4 spell these out), and what it reads, pass.
    expect(opened({ fanout_prefix: true, fanout_patterns: true, visibility_timeout: 60 })().visibilityTimeoutMs).toBe(60_000);
  });
});

describe('redis:// as kombu', () => {
  const raw = new Redis({ db: OWN_DB });
  const open: Array<RedisBroker | Recorder> = [];
  const broker = (query = '') => {
    const b = redisBroker(url(OWN_DB, query));
    open.push(b);
    return b;
  };
  const record = async (b: RedisBroker, q: string, onDelivery?: (d: Delivery) => void, prefetch = 10) => {
    const r = await Recorder.start(b, [q], { prefetch }, onDelivery);
    open.unshift(r);
    return r;
  };
  afterEach(async () => {
    for (const x of open.splice(0)) await (x instanceof Recorder ? x.stop() : x.close());
  });
  afterAll(() => raw.disconnect());
  /** The unacked tag holding task `id`, when its unacked_index score is `score` (±1 ms), else false. */
  const heldTag = async (id: string, score: number): Promise<string | false> => {
    for (const [tag, record] of Object.entries(await raw.hgetall('unacked'))) {
      if (JSON.parse(record)[0]?.headers?.id !== id) continue;
      return Math.abs(Number(await raw.zscore('unacked_index', tag)) - score) < 0.002 && tag;
    }
    return false;
  };

  it('writes the envelope, lists, priority sub-lists and binding exactly as kombu 5.2.4', async () => {
    const b = broker();
    const q = uniqueQueue('kombu');
    const m0 = taskMessage(q, [0]);
    const m5 = taskMessage(q, [5], { priority: 5 });
    const m9 = taskMessage(q, [9], { priority: 9 });
    await b.publish(q, [m0, m5, m9]);
    expect((await raw.keys(`*${q}*`)).sort()).toEqual([`_kombu.binding.${q}`, q, `${q}${SEP}3`, `${q}${SEP}9`].sort());
    expect(await raw.smembers(`_kombu.binding.${q}`)).toEqual([`${q}${SEP}${SEP}${q}`]);
    const [text] = await raw.lrange(q, 0, -1);
    const env = JSON.parse(text as string);
    expect(Object.keys(env).sort()).toEqual(['body', 'content-encoding', 'content-type', 'headers', 'properties']);
    expect(Object.keys(env.properties).sort()).toEqual(
      ['body_encoding', 'correlation_id', 'delivery_info', 'delivery_mode', 'delivery_tag', 'priority', 'reply_to'].sort(),
    );
    expect(env.properties).toMatchObject({
      body_encoding: 'base64',
      delivery_info: { exchange: '', routing_key: q },
      priority: 0,
    });
    expect(env.properties.delivery_tag).toMatch(/^[0-9a-f-]{36}$/);
    expect(env.headers).toEqual(m0.headers);
    expect(Buffer.from(env.body, 'base64').toString('utf8')).toBe(m0.body);
    expect(JSON.parse((await raw.lrange(`${q}${SEP}3`, 0, -1))[0] as string).properties.priority).toBe(5);

    // Served as kombu serves them on Redis: the lower priority number first (§2.3).
    const r = await record(b, q);
    await r.waitFor(3);
    expect(r.ids()).toEqual([m0, m5, m9].map((m) => m.headers.id));
    // Each fetched message sits in unacked as [envelope, exchange, routing_key], indexed by fetch time.
    const tags = await raw.zrange('unacked_index', '0', '-1', 'WITHSCORES');
    expect(tags).toHaveLength(6);
    expect(Math.abs(Number(tags[1]) - Date.now() / 1000)).toBeLessThan(5);
    const record0 = JSON.parse((await raw.hget('unacked', env.properties.delivery_tag)) as string);
    expect(record0).toEqual([env, '', q]);
    await Promise.all(r.received.map((x) => x.delivery.ack()));
    await eventually('the acks', async () => (await raw.hlen('unacked')) === 0 && (await raw.zcard('unacked_index')) === 0);
  });

  it("Celery's priority recipe (priority_steps 0–9, sep ':', queue_order_strategy priority) lays out, serves and purges the lists as kombu does", async () => {
    const recipe = { priority_steps: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], sep: ':', queue_order_strategy: 'priority' };
    const b = redisBroker(url(OWN_DB), { transportOptions: recipe });
    open.push(b);
    const [qa, qb] = [uniqueQueue('recipe-a'), uniqueQueue('recipe-b')];
    const a0 = taskMessage(qa, ['a0']);
    const a0b = taskMessage(qa, ['a0b']);
    const a9 = taskMessage(qa, ['a9'], { priority: 9 });
    const b0 = taskMessage(qb, ['b0']);
    const b5 = taskMessage(qb, ['b5'], { priority: 5 });
    await b.publish(qa, [a0, a0b, a9]);
    await b.publish(qb, [b0, b5]);
    // kombu's _q_for_pri: `<queue><sep><step>`, the bare name for step 0; bindings joined with sep too.
    expect((await raw.keys(`*recipe-*`)).sort()).toEqual(
      [qa, `${qa}:9`, qb, `${qb}:5`, `_kombu.binding.${qa}`, `_kombu.binding.${qb}`].sort(),
    );
    expect(await raw.smembers(`_kombu.binding.${qa}`)).toEqual([`${qa}::${qa}`]);
    expect(await b.size(qb)).toBe(2);
    // One message a fetch: every queue's step 0 before any step 5, and within a step the queues
    // in the order given (round_robin would alternate: a0, b0, a0b).
    const r = await Recorder.start(b, [qa, qb], { prefetch: 1 }, (d) => void d.ack());
    open.unshift(r);
    await r.waitFor(5);
    expect(r.ids()).toEqual([a0, a0b, b0, b5, a9].map((m) => m.headers.id));
    await r.stop();
    await b.publish(qa, [a9, a0]);
    expect(await b.purge(qa)).toBe(2);
    expect(await raw.exists(`${qa}:9`)).toBe(0);
  });

  it("checks a result backend URL's query: the TLS settings are taken, a typo, a broker option or a Celery option celeriac ignores is refused with why", async () => {
    expect(parseStoreConnection('rediss://h/3?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem')).toMatchObject({
      db: 3,
      rejectUnauthorized: false,
      caFile: '/ca.pem',
    });
    expect(() => parseStoreConnection('redis://h/3?ssl_cert_req=none')).toThrow(
      "Unknown option 'ssl_cert_req' in 'redis://h/3?ssl_cert_req=none'. Known options: ssl_cert_reqs, ssl_ca_certs.",
    );
    expect(() => parseStoreConnection('redis://h/3?visibility_timeout=10')).toThrow(
      "'visibility_timeout' in the result backend URL 'redis://h/3?visibility_timeout=10' is a broker option: give it in the broker's URL. " +
        "The result backend's URL takes ssl_cert_reqs and ssl_ca_certs.",
    );
    expect(() => parseStoreConnection('rediss://h/3?ssl_certfile=/c.pem&ssl_keyfile=/c.key')).toThrow(
      "'ssl_certfile' in 'rediss://h/3?ssl_certfile=/c.pem&ssl_keyfile=/c.key' is a Redis option celeriac does not support: celeriac sends no client certificate",
    );
    expect(() => parseBrokerSettings('redis://h/3?socket_timeout=5')).toThrow(
      "'socket_timeout' in 'redis://h/3?socket_timeout=5' is a Redis option celeriac does not support: the Redis client keeps its connections",
    );
    const app = createApp('store-query', { broker: 'memory://store-query', backend: url(STORE_DB, '?ssl_cert_req=none') });
    await expect(app.backend()).rejects.toThrow("Unknown option 'ssl_cert_req'");
    await app.close();
  });

  it('refuses priority_steps, sep and queue_order_strategy values kombu would mis-serve', () => {
    const refused = (options: Record<string, unknown>) => () => parseBrokerSettings('redis://h/0', options);
    expect(refused({ priority_steps: [3, 6, 9] })).toThrow(
      "Redis transport option priority_steps in 'redis://h/0' must be a list of ascending whole numbers starting at 0, such as [0, 3, 6, 9], got [3,6,9]",
    );
    expect(refused({ priority_steps: [0, 6, 3] })).toThrow(/priority_steps .* ascending/);
    expect(refused({ priority_steps: [0, 2.5] })).toThrow(/priority_steps .* whole numbers/);
    expect(refused({ sep: '' })).toThrow(/sep .* must be a non-empty string, got ""/);
    expect(refused({ queue_order_strategy: 'kombu.utils.scheduling.FairCycle' })).toThrow(
      /queue_order_strategy .* must be one of round_robin, priority, sorted/,
    );
    const s = parseBrokerSettings('redis://h/0', { queue_order_strategy: 'sorted', sep: ':', priority_steps: [0, 5] });
    expect([s.queueOrder, s.sep, s.prioritySteps]).toEqual(['sorted', ':', [0, 5]]);
  });

  it('restores a message a dead worker left in unacked: to the front of its queue, marked redelivered, delivered again', async () => {
    const b = broker('?visibility_timeout=1');
    const q = uniqueQueue('restore');
    const lost = taskMessage(q, ['lost']);
    const behind = taskMessage(q, ['behind']);
    await b.publish(q, [lost, behind]);
    // What a Python (or celeriac) worker leaves behind when SIGKILLed after a fetch (§2.3).
    const text = (await raw.rpop(q)) as string;
    const tag = JSON.parse(text).properties.delivery_tag as string;
    await raw.hset('unacked', tag, JSON.stringify([JSON.parse(text), '', q]));
    await raw.zadd('unacked_index', Date.now() / 1000 - 5, tag);

    expect(await b.restorer.restore()).toBe(1);
    expect(await raw.hexists('unacked', tag)).toBe(0);
    const restored = JSON.parse((await raw.lindex(q, -1)) as string);
    expect(restored.headers.redelivered).toBe(true);
    expect(restored.properties.delivery_info.redelivered).toBe(true);
    expect(restored.properties.delivery_tag).toBe(tag);

    const r = await record(b, q, (d) => void d.ack());
    await r.waitFor(2);
    expect(r.ids()).toEqual([lost.headers.id, behind.headers.id]);
    expect(r.received[0]?.delivery.receiveCount).toBe(2);
    expect(r.received[0]?.delivery.message).toEqual(lost);
  });

  it('a record whose envelope cannot be written again (a header nested 10,000 deep) is dead-lettered by restore, and the others are restored', async () => {
    const b = broker('?visibility_timeout=1');
    const q = uniqueQueue('restore-deep');
    const lost = taskMessage(q, ['lost']);
    const text = encodeEnvelope(lost, { routingKey: q, deliveryTag: 'deep-ok' });
    const deepText = encodeEnvelope(taskMessage(q, ['deep']), { routingKey: q, deliveryTag: 'deep-bad' }).replace(
      '"lang":',
      `"x": ${'['.repeat(10_000)}${']'.repeat(10_000)}, "lang":`,
    );
    const score = Date.now() / 1000 - 5;
    // One sent through an exchange whose binding routes key 'rk' to the queue: its dead letter goes there too.
    const exchange = `${q}-ex`;
    await raw.sadd(`_kombu.binding.${exchange}`, `rk${SEP}${SEP}${q}`);
    await raw.hset('unacked', 'deep-ok', `[${text},"","${q}"]`, 'deep-bad', `[${deepText},"","${q}"]`);
    await raw.hset('unacked', 'deep-routed', `[${deepText},"${exchange}","rk"]`);
    await raw.zadd('unacked_index', score, 'deep-ok', score, 'deep-bad', score, 'deep-routed');
    expect(await b.restorer.restore()).toBe(1);
    expect(JSON.parse((await raw.lindex(q, -1)) as string).headers.id).toBe(lost.headers.id);
    const dead = await b.deadLetters(q);
    expect(dead).toHaveLength(2);
    for (const d of dead) {
      expect(d.reason).toMatch(/^restore could not write its envelope again: Cannot write the envelope as JSON: Maximum call stack/);
      expect(d.raw).toBe(deepText);
    }
    expect(await raw.hlen('unacked')).toBe(0);
  });

  it('restores a message sent through a topic exchange to every queue whose binding matches, as kombu does; one no binding matches is dead-lettered with why', async () => {
    const b = broker('?visibility_timeout=1');
    const [qa, qb, qc] = [uniqueQueue('topic-a'), uniqueQueue('topic-b'), uniqueQueue('topic-c')];
    // Celery's routing recipe: Queue(qa, Exchange('tasks', type='topic'), routing_key='task.#'),
    // bound as kombu binds to a topic exchange: key, its pattern, queue.
    const exchange = `${qa}-tasks`;
    await raw.sadd(
      `_kombu.binding.${exchange}`,
      `task.#${SEP}^task\\..*?$${SEP}${qa}`,
      `*.add${SEP}^.*?[^\\.]\\.add$${SEP}${qb}`,
      `other.#${SEP}^other\\..*?$${SEP}${qc}`,
    );
    const sent = taskMessage(qa, ['sent']);
    const stray = taskMessage(qa, ['stray']);
    const strayText = encodeEnvelope(stray, { routingKey: 'nothing.bound', exchange, deliveryTag: 'topic-stray' });
    const score = Date.now() / 1000 - 5;
    await raw.hset(
      'unacked',
      'topic-sent',
      JSON.stringify([
        JSON.parse(encodeEnvelope(sent, { routingKey: 'task.add', exchange, deliveryTag: 'topic-sent' })),
        exchange,
        'task.add',
      ]),
      'topic-stray',
      `[${strayText},"${exchange}","nothing.bound"]`,
    );
    await raw.zadd('unacked_index', score, 'topic-sent', score, 'topic-stray');
    expect(await b.restorer.restore()).toBe(1);
    for (const q of [qa, qb]) expect(JSON.parse((await raw.lindex(q, 0)) as string).headers.id).toBe(sent.headers.id);
    expect(await raw.llen(qc)).toBe(0);
    expect(await raw.exists('task.add', 'nothing.bound')).toBe(0);
    const [dead] = await b.deadLetters('nothing.bound');
    expect(dead?.reason).toBe(
      `restore found no queue bound to exchange '${exchange}' that matches routing key 'nothing.bound': ` +
        'declare a queue bound to the exchange with a key that matches, then publish the message again',
    );
    expect(dead?.raw).toBe(strayText);
    expect(await raw.hlen('unacked')).toBe(0);
  });

  it("matches a topic binding's key word by word as kombu does: '#' any text, '*' any text ending in a non-dot", () => {
    const cases: Array<[string, string, boolean]> = [
      ['task.#', 'task.add', true],
      ['task.#', 'task.a.b', true],
      ['task.#', 'task.', true],
      ['task.#', 'task', false],
      ['task.*', 'task.add', true],
      ['task.*', 'task.', false],
      ['*.add', 'x.add', true],
      ['*.add', 'a.b.add', true],
      ['a.*.c', 'a..c', false],
      ['#', '', true],
      ['a*.b', 'aaa.b', true],
      ['a+b.c', 'a+b.c', true],
      ['a+b.c', 'aab.c', false],
      ['*a', 'xa', false],
    ];
    for (const [key, routingKey, expected] of cases)
      expect([key, routingKey, topicMatches(key, routingKey)]).toEqual([key, routingKey, expected]);
  });

  it('restores every due record in one pass, thousands at once (a bulk of ETA tasks due together)', async () => {
    const b = broker('?visibility_timeout=1');
    const q = uniqueQueue('bulk');
    const multi = raw.multi();
    for (let i = 0; i < 2500; i++) {
      const m = taskMessage(q, [i]);
      const tag = `bulk-${i}`;
      multi.hset('unacked', tag, JSON.stringify([JSON.parse(encodeEnvelope(m, { routingKey: q, deliveryTag: tag })), '', q]));
      multi.zadd('unacked_index', Date.now() / 1000 - 5, tag);
    }
    // One record nobody can read stays, and does not hold up the rest.
    multi.hset('unacked', 'bulk-garbage', 'not a record');
    multi.zadd('unacked_index', Date.now() / 1000 - 5, 'bulk-garbage');
    await multi.exec();
    expect(await b.restorer.restore()).toBe(2500);
    expect(await raw.llen(q)).toBe(2500);
    await raw.hdel('unacked', 'bulk-garbage');
    await raw.zrem('unacked_index', 'bulk-garbage');
  });

  it('dead-letters every §10 defect, invalid JSON, wrong types and an oversized message with its reason, and keeps consuming', async () => {
    const b = broker('?max_message_size=4096');
    const q = uniqueQueue('corpus');
    const valid = () => JSON.parse(encodeEnvelope(taskMessage(q, ['x']), { routingKey: q }));
    const corpus: Array<[string, RegExp]> = [];
    const add = (mutate: (e: ReturnType<typeof valid>) => void, reason: RegExp) => {
      const e = valid();
      mutate(e);
      corpus.push([JSON.stringify(e), reason]);
    };
    add((e) => delete e.properties.delivery_info, /delivery_info/); // §10 case 1
    add((e) => delete e.properties.delivery_info.exchange, /exchange/); // §10 case 1
    add((e) => delete e.properties.delivery_tag, /delivery_tag/); // §10 case 2
    add((e) => (e.properties.body_encoding = 'utf-8'), /body_encoding/); // §10 case 3
    add((e) => (e.body = Buffer.from('[[1], {}]').toString('base64')), /3-element/); // §10 case 4
    add((e) => delete e['content-type'], /content-type/); // §10 case 5
    add((e) => (e.headers.retries = 'twice'), /retries/);
    add((e) => (e.headers = ['not', 'an', 'object']), /headers/);
    add((e) => (e.body = 12), /body/);
    add((e) => (e.headers.argsrepr = 'x'.repeat(5000)), /over the limit of 4096 bytes/);
    corpus.push(['{"body": "W10=", "headers"', /not JSON/]);
    corpus.push(['"just a string"', /object/]);
    await b.publishRaw(
      q,
      corpus.map(([text]) => text),
    );
    const good = taskMessage(q, ['good']);
    await b.publish(q, [good]);

    const told = new Map<string, Delivery['malformedTask']>();
    const r = await record(b, q, (d) => {
      if (d.malformed) told.set(d.raw ?? '', d.malformedTask);
      void (d.malformed ? d.deadLetter(d.malformed) : d.ack());
    });
    await r.waitFor(corpus.length + 1);
    // Too large to decode, yet its headers name the task: the executor stores its FAILURE from this.
    const [oversized] = corpus.find(([, reason]) => reason.source.includes('over the limit')) as [string, RegExp];
    expect(told.get(oversized)).toEqual({ id: JSON.parse(oversized).headers.id, name: 'tests.echo' });
    expect(r.ids().at(-1)).toBe(good.headers.id);
    const dead = await eventually(`every dead letter`, async () => {
      const all = await b.deadLetters(q);
      return all.length === corpus.length && all;
    });
    dead.forEach((d, i) => {
      const [text, reason] = corpus[i] as [string, RegExp];
      expect(d.raw).toBe(text);
      expect(d.reason).toMatch(reason);
      expect(d.queue).toBe(q);
    });
    expect((await raw.lrange(`${q}.celeriac.dead`, 0, 0)).map((t) => Object.keys(JSON.parse(t)).sort())).toEqual([['at', 'raw', 'reason']]);
    expect((await b.deadLetters()).filter((d) => d.queue === q)).toHaveLength(corpus.length);
    await eventually('unacked to be empty', async () => (await raw.hlen('unacked')) === 0);
    await expect(b.publish(q, [taskMessage(q, ['y'.repeat(5000)])])).rejects.toThrow(/over the limit of 4096 bytes/);
  });

  it('holds a message with a future ETA in unacked, held by nobody, under the score kombu restores it at when due, and delivers it then', async () => {
    const b = broker('?visibility_timeout=0.3');
    const q = uniqueQueue('eta');
    const eta = Date.now() + 1200;
    const later = taskMessage(q, ['later'], {
      eta: new Date(eta).toISOString(),
    });
    await b.publish(q, [later]);
    const r = await record(b, q, (d) => void d.ack());
    // Restore (kombu's or ours) takes scores up to now − visibility timeout: this one at the ETA, not before.
    const tag = await eventually('the message held in unacked', () => heldTag(later.headers.id, (eta - 300) / 1000));
    const [message, exchange, routingKey] = JSON.parse((await raw.hget('unacked', tag)) as string);
    expect([message.headers.id, exchange, routingKey]).toEqual([later.headers.id, '', q]);
    expect(await raw.llen(q)).toBe(0);
    // What `inspect scheduled` lists for this worker meanwhile, and no longer once it is due.
    expect(await b.setAside()).toEqual([{ message: later, dueMs: eta }]);
    await r.waitFor(1, 5000);
    expect(await b.setAside()).toEqual([]);
    expect(r.received[0]?.at).toBeGreaterThanOrEqual(eta);
    expect(r.received[0]?.delivery.message).toEqual(later);
    // Held, not lost: its early delivery is not counted as one.
    expect(r.received[0]?.delivery.receiveCount).toBe(1);
    await eventually('unacked to be empty', async () => (await raw.hlen('unacked')) === 0);
    expect(r.received).toHaveLength(1);
  });

  it('a message whose envelope cannot be marked and written again (a header nested 10,000 deep) is dead-lettered on its own; those fetched with it are delivered', async () => {
    const b = broker();
    const q = uniqueQueue('deep');
    const deep = (over: Record<string, unknown>, marks: Record<string, unknown>) => {
      const e = JSON.parse(encodeEnvelope(taskMessage(q, ['deep'], over), { routingKey: q }));
      Object.assign(e.properties, marks);
      return JSON.stringify(e).replace('"lang":', `"x": ${'['.repeat(10_000)}${']'.repeat(10_000)}, "lang":`);
    };
    // To be held until its ETA, and leased after a delivery (its count taken out): each is written again.
    const held = deep({ eta: new Date(Date.now() + 60_000).toISOString() }, {});
    const redelivered = deep({}, { celeriac_receive_count: 1 });
    const [first, last] = [taskMessage(q, ['first']), taskMessage(q, ['last'])];
    await b.publishRaw(q, [encodeEnvelope(first, { routingKey: q }), held, redelivered, encodeEnvelope(last, { routingKey: q })]);
    const r = await record(b, q, (d) => void d.ack());
    await r.waitFor(2);
    expect(r.ids().sort()).toEqual([first.headers.id, last.headers.id].sort());
    const dead = await eventually('both dead letters', async () => {
      const all = await b.deadLetters(q);
      return all.length === 2 && all;
    });
    expect(dead.map((d) => d.raw).sort()).toEqual([held, redelivered].sort());
    for (const d of dead) {
      expect(d.reason).toMatch(
        /^its envelope cannot be marked and written again: Cannot write the envelope as JSON: Maximum call stack size exceeded/,
      );
    }
    await eventually('unacked to be empty', async () => (await raw.hlen('unacked')) === 0);
  });

  it('retryLater keeps the replacement in unacked under its own tag until due; it comes back then', async () => {
    const b = broker('?visibility_timeout=0.3');
    const q = uniqueQueue('retry');
    const m = taskMessage(q, ['v1']);
    await b.publish(q, [m]);
    const r = await record(b, q);
    const [d] = await r.waitFor(1);
    const replacement = taskMessage(q, ['v2'], {
      id: m.headers.id,
      retries: 1,
    });
    const due = Date.now() + 1000;
    await d?.retryLater(1000, replacement);
    const tag = await heldTag(m.headers.id, (due - 300) / 1000);
    expect(tag).not.toBe(JSON.parse(d?.raw ?? '{}').properties.delivery_tag); // a new message, a new tag
    expect(JSON.parse((await raw.hget('unacked', tag as string)) as string)[0].headers.retries).toBe(1);
    const [, again] = await r.waitFor(2, 5000);
    expect(r.received[1]?.at).toBeGreaterThanOrEqual(due);
    expect(again?.message).toEqual(replacement);
    await again?.ack();
    await eventually('unacked to be empty', async () => (await raw.hlen('unacked')) === 0);
  });

  it('a retry due now is published to the back of its priority list, as Celery re-publishes it; a hand-back goes to the front', async () => {
    const b = broker();
    const q = uniqueQueue('retry-now');
    const m = taskMessage(q, ['v1'], { priority: 9 });
    const first = taskMessage(q, ['first']);
    await b.publish(q, [m, first]);
    const r = await record(b, q, undefined, 2);
    const got = await r.waitFor(2);
    const [retried, handedBack] = [m, first].map((x) => got.find((d) => d.message?.body === x.body));
    await r.stop(); // nothing more is fetched; the two deliveries stay held
    const [w1, w2] = [taskMessage(q, ['w1'], { priority: 9 }), taskMessage(q, ['w2'], { priority: 9 })];
    const behind = taskMessage(q, ['behind']);
    await b.publish(q, [w1, w2, behind]);
    const bodies = async (list: string) =>
      (await raw.lrange(list, 0, -1)).map((e) => Buffer.from(JSON.parse(e).body, 'base64').toString('utf8'));
    const replacement = taskMessage(q, ['v2'], { id: m.headers.id, retries: 1, priority: 9 });
    await retried?.retryLater(0, replacement);
    // LPUSH to `q\x06\x169`: served after w1 and w2 (RPOP takes from the right), not before everything.
    expect(await bodies(`${q}${SEP}9`)).toEqual([replacement.body, w2.body, w1.body]);
    // Handed back unchanged (a worker stopping), a message goes to the front of the bare list, as kombu restores it.
    await handedBack?.retryLater(0);
    expect(await bodies(q)).toEqual([behind.body, first.body]);
  });

  it('a retry due in 50 ms comes back in time under the default one-hour visibility timeout (not at the next periodic restore)', async () => {
    const b = broker();
    const q = uniqueQueue('soon');
    const m = taskMessage(q, ['v1']);
    await b.publish(q, [m]);
    const r = await record(b, q);
    const [d] = await r.waitFor(1);
    const replacement = taskMessage(q, ['v2'], { id: m.headers.id, retries: 1 });
    await d?.retryLater(50, replacement);
    // The periodic restore runs every 10 s at this timeout: the restorer runs a pass when it is due
    // (within its 1 s idle check; the deadline leaves a loaded machine room, still short of 10 s).
    const [, again] = await r.waitFor(2, 8000);
    expect(again?.message).toEqual(replacement);
    await again?.ack();
    await eventually('unacked to be empty', async () => (await raw.hlen('unacked')) === 0);
  });

  it('ETA tasks a consumer set aside go back to their queue on time while its every slot is busy, for any worker to take', async () => {
    const b = broker(); // one-hour visibility timeout: the periodic restore runs every 10 s
    const q = uniqueQueue('busy-eta');
    const start = Date.now();
    const eta = (ms: number) => taskMessage(q, [ms], { eta: new Date(start + ms).toISOString() });
    const busy = taskMessage(q, ['busy']);
    await b.publish(q, [eta(1500), eta(3000), busy]);
    // One slot, taken by `busy` (never settled) once both ETA messages are set aside.
    const r = await record(b, q, undefined, 1);
    await r.waitFor(1);
    expect(r.ids()).toEqual([busy.headers.id]);
    expect(await raw.llen(q)).toBe(0);
    const back = async (n: number) => {
      await eventually(`${n} back in the queue`, async () => (await raw.llen(q)) === n, 8000);
      return Date.now() - start;
    };
    // Each at its ETA, long before the next periodic restore; the second with no fetch in between.
    const [at1, at2] = [await back(1), await back(2)];
    expect(at1).toBeGreaterThanOrEqual(1500);
    expect(at1).toBeLessThan(3000);
    expect(at2).toBeGreaterThanOrEqual(3000);
    expect(at2).toBeLessThan(5000);
    await b.purge(q);
    await r.received[0]?.delivery.ack();
    await eventually('unacked to be empty', async () => (await raw.hlen('unacked')) === 0);
  });

  it('a message with a legacy delayed-set entry (celeriac 0.1) is still delivered when due', async () => {
    const b = broker();
    const q = uniqueQueue('legacy');
    const m = taskMessage(q, ['old']);
    await raw.zadd(`${q}.celeriac.delayed`, Date.now() + 300, encodeEnvelope(m, { routingKey: q }));
    const r = await record(b, q, (d) => void d.ack());
    const [d] = await r.waitFor(1, 5000);
    expect(d?.message).toEqual(m);
    expect(await raw.zcard(`${q}.celeriac.delayed`)).toBe(0);
    await eventually('unacked to be empty', async () => (await raw.hlen('unacked')) === 0);
  });

  it('copies of an envelope (one delivery tag) are each held under a tag of their own and acked apart', async () => {
    const b = broker();
    const q = uniqueQueue('dup');
    const envelope = encodeEnvelope(taskMessage(q, ['twin']), { routingKey: q, deliveryTag: 'twin-tag' });
    await b.publishRaw(q, [envelope, envelope]);
    const r = await record(b, q);
    const [first, second] = await r.waitFor(2);
    expect(await raw.hlen('unacked')).toBe(2);
    expect(await raw.hexists('unacked', 'twin-tag')).toBe(1);
    await first?.ack();
    await eventually('the first ack', async () => (await raw.hlen('unacked')) === 1);
    await second?.ack();
    await eventually('the second ack', async () => (await raw.zcard('unacked_index')) === 0 && (await raw.hlen('unacked')) === 0);
  });

  it('a fractional visibility timeout is fine: fetches keep their receipt for whole milliseconds', async () => {
    const b = broker('?visibility_timeout=2.01');
    const q = uniqueQueue('fraction');
    const m = taskMessage(q, ['x']);
    await b.publish(q, [m]);
    const r = await record(b, q, (d) => void d.ack());
    await r.waitFor(1);
    expect(r.ids()).toEqual([m.headers.id]);
  });

  it('an ack right behind a lease extension still goes through: a finished task does not come back after the visibility timeout', async () => {
    const b = broker();
    const q = uniqueQueue('extend-ack');
    await b.publish(q, [taskMessage(q, ['x'])]);
    let d: Delivery | undefined;
    const r = await record(b, q, (delivery) => {
      d = delivery;
    });
    await r.waitFor(1);
    const [tag] = (await raw.hkeys('unacked')).filter((t) => t !== 'unacked');
    // The lease keeper's timer fires as the task ends: the extension is in flight when the ack is made.
    const extending = d?.extendLease(60_000);
    await d?.ack();
    await extending;
    await eventually('the message to be acked', async () => (await raw.hexists('unacked', tag as string)) === 0);
  });

  it('a lease found restored (its holder blocked past the visibility timeout) is reported once, saying what to do', async () => {
    const b = broker('?visibility_timeout=30');
    const q = uniqueQueue('lost');
    await b.publish(q, [taskMessage(q, [1])]);
    const r = await record(b, q);
    const [d] = await r.waitFor(1);
    // What a restore leaves: the record gone from unacked (back in its queue).
    const [tag] = await raw.zrange('unacked_index', '0', '-1');
    await raw
      .multi()
      .zrem('unacked_index', tag as string)
      .hdel('unacked', tag as string)
      .exec();
    await expect(d?.extendLease(60_000)).rejects.toThrow(
      /^its lease was lost: it was not renewed within the visibility timeout \(30s\), .* \(await at least every 10s: .*\), or raise broker_transport_options visibility_timeout$/,
    );
    await d?.extendLease(60_000);
  });

  it('extendLease moves the unacked_index score forward', async () => {
    const b = broker('?visibility_timeout=10');
    const q = uniqueQueue('extend');
    await b.publish(q, [taskMessage(q, [1])]);
    const r = await record(b, q);
    const [d] = await r.waitFor(1);
    const [tag, before] = await raw.zrange('unacked_index', '0', '-1', 'WITHSCORES');
    await d?.extendLease(60_000);
    const after = Number(await raw.zscore('unacked_index', tag as string));
    expect(after - Number(before)).toBeGreaterThan(45);
    await d?.ack();
  });
});

/** Child processes run test/fixtures/providers/consumer-child.ts, bundled once by esbuild. */
describe('redis:// waiting for results', () => {
  it('waiting get()s wait on pub/sub without re-reading the key, and still see the write at once', async () => {
    const store = redisStore(url(STORE_DB));
    const backend = new KeyValueResultBackend(store);
    const reads = vi.spyOn(store, 'get');
    const ids = Array.from({ length: 20 }, () => uniqueQueue('waiting'));
    const waiting = ids.map((id) => backend.waitFor(id, { timeoutMs: 30_000 }));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // One read each when the wait began; polling (up to every 100 ms) would have made hundreds.
    expect(reads.mock.calls.length).toBe(ids.length);
    const writer = new KeyValueResultBackend(redisStore(url(STORE_DB)));
    const started = Date.now();
    await Promise.all(ids.map((id) => writer.store(id, meta(id, 'SUCCESS', id))));
    expect((await Promise.all(waiting)).map((m) => m.result)).toEqual(ids);
    expect(Date.now() - started).toBeLessThan(1000);
    await writer.close();
    await backend.close();
  });
});

describe('redis:// messages that cannot be written again', () => {
  it('a task retrying a message whose header is nested 10,000 deep fails once with SerializationError, not runs again forever', async () => {
    const q = uniqueQueue('deep-retry');
    const app = createApp('deep', { broker: url(OWN_DB), backend: url(OWN_DB), task_default_queue: q });
    let runs = 0;
    app.task('tasks.flaky', (ctx: TaskContext) => {
      runs++;
      ctx.retry({ countdown: 0.1 });
    });
    const m = taskMessage(q);
    m.headers.task = 'tasks.flaky';
    const deep = encodeEnvelope(m, { routingKey: q }).replace('"lang":', `"x": ${'['.repeat(10_000)}${']'.repeat(10_000)}, "lang":`);
    await ((await app.broker()) as RedisBroker).publishRaw(q, [deep]);
    const worker = await app.worker({ concurrency: 1 });
    await worker.start();
    const failed = (await app
      .AsyncResult(m.headers.id)
      .get({ timeout: 10_000 })
      .catch((e: unknown) => e)) as Error;
    expect([failed.name, runs]).toEqual(['SerializationError', 1]);
    expect(failed.message).toMatch(/^Cannot write the envelope as JSON: Maximum call stack size exceeded/);
    await worker.stop();
    await app.close();
  });
});

describe('redis:// across processes and connection loss', () => {
  const startConsumer = useConsumerChild();

  it('a consumer SIGKILLed mid-lease loses nothing: the message is restored after the visibility timeout and delivered once more', async () => {
    await expectHeirRunsKilledConsumersMessageOnce(startConsumer, {
      // A short restore lock too, in case the killed consumer held it.
      brokerUrl: url(OWN_DB, '?visibility_timeout=1&unacked_mutex_expire=1'),
      storeUrl: url(STORE_DB),
      openBroker: redisBroker,
      openStore: redisStore,
    });
  });

  it('a client waiting through a cut connection still gets a result published while it was down', async () => {
    const proxy = await startCutProxy(6379);
    const waiting = new KeyValueResultBackend(redisStore(url(CUT_DB, '', proxy.port)));
    const direct = new KeyValueResultBackend(redisStore(url(CUT_DB)));
    const meta = (id: string) => ({ status: 'SUCCESS', result: id, traceback: null, children: [], date_done: null, task_id: id });
    // A first wait settles which protocol the subscribing connection speaks; the second is the one cut.
    const warm = waiting.waitFor('cut-warm', { timeoutMs: 10_000 });
    await direct.store('cut-warm', meta('cut-warm'));
    expect((await warm).result).toBe('cut-warm');
    const result = waiting.waitFor('cut-wait', { timeoutMs: 20_000 });
    await eventually('the waiter to subscribe', async () => {
      const r = new Redis({ db: CUT_DB });
      const [, subscribers] = (await r.pubsub('NUMSUB', 'celery-task-meta-cut-wait')) as [string, number];
      r.disconnect();
      return subscribers > 0;
    });
    proxy.cut(300);
    await direct.store('cut-wait', meta('cut-wait'));
    expect((await result).result).toBe('cut-wait');
    expect(proxy.cuts).toBeGreaterThan(0);
    await waiting.close();
    await direct.close();
    await proxy.close();
  });

  it('connections cut mid-run are retried: every task sent completes, none is lost', async () => {
    const proxy = await startCutProxy(6379);
    const through = url(CUT_DB, '?visibility_timeout=2&unacked_mutex_expire=2', proxy.port);
    const broker = redisBroker(through);
    const backend = new KeyValueResultBackend(redisStore(url(CUT_DB, '', proxy.port)));
    const direct = new KeyValueResultBackend(redisStore(url(CUT_DB)));
    const q = uniqueQueue('cut');
    const total = 600;
    const deliveries = new Map<string, number>();
    let stored = 0;
    const consumer = await broker.consume(
      [q],
      async (d) => {
        const id = d.message?.headers.id as string;
        deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
        await backend.store(id, {
          status: 'SUCCESS',
          result: 1,
          traceback: null,
          children: [],
          date_done: null,
          task_id: id,
        });
        stored++;
        await d.ack();
      },
      { prefetch: 20 },
    );
    const ids: string[] = [];
    const cutsAt = [100, 250, 400];
    for (let batch = 0; batch < total / 20; batch++) {
      const msgs = Array.from({ length: 20 }, (_, i) => taskMessage(q, [batch, i]));
      ids.push(...msgs.map((m) => m.headers.id));
      await broker.publish(q, msgs);
      if (cutsAt.length && ids.length >= (cutsAt[0] as number)) {
        cutsAt.shift();
        proxy.cut(150);
      }
    }
    proxy.cut(150);
    for (const id of ids) expect((await direct.waitFor(id, { timeoutMs: 30_000 })).status).toBe('SUCCESS');
    expect(proxy.cuts).toBeGreaterThan(4);
    expect(ids.every((id) => (deliveries.get(id) ?? 0) >= 1)).toBe(true);
    // A store whose reply was lost in a cut is re-sent on reconnect: its handler may still be waiting
    // for that reply although the result is already readable directly.
    await eventually('every handler to see its result stored', async () => stored >= total, 15_000);
    await consumer.stop();
    await eventually('the queue and unacked to empty', async () => (await broker.size(q)) === 0);
    await broker.close();
    await backend.close();
    await direct.close();
    await proxy.close();
  });
});

/** Commands whose reply a cut lost are re-sent by ioredis on reconnect: each must do no harm run twice. */
describe('redis:// commands re-sent after a lost reply', () => {
  const raw = new Redis({ db: CUT_DB });
  const closing: Array<() => Promise<void>> = [];
  beforeEach(async () => {
    await raw.flushdb();
    // Loaded first: the swallowed reply is then the script's own, not a NOSCRIPT error.
    for (const script of [fetchAndLease, extendLease]) await raw.script('LOAD', script.source);
  });
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
  });
  afterAll(() => raw.disconnect());

  /** A broker through a fresh proxy (the default one-hour visibility timeout unless `query` says otherwise), and a queue. */
  async function throughProxy(query = '') {
    const proxy = await startCutProxy(6379);
    const broker = redisBroker(url(CUT_DB, query, proxy.port));
    closing.push(() => broker.close().then(() => proxy.close()));
    return { proxy, broker, q: uniqueQueue('lost-reply') };
  }

  it('a fetch whose reply was lost answers the re-sent call with what it took: nothing is left held by nobody', async () => {
    const { proxy, broker, q } = await throughProxy();
    const msgs = Array.from({ length: 5 }, (_, i) => taskMessage(q, [i]));
    await raw.lpush(q, ...msgs.map((m) => encodeEnvelope(m, { routingKey: q })));
    const swallowed = proxy.swallowRepliesAfter(fetchAndLease.sha);
    const r = await Recorder.start(broker, [q], { prefetch: 10 }, (d) => void d.ack());
    closing.unshift(() => r.stop());
    await swallowed;
    // The first fetch took some; its reply is lost with the connection.
    await eventually('the fetch to take messages', async () => (await raw.hlen('unacked')) > 0);
    proxy.cut();
    await r.waitFor(5, 10_000);
    expect(r.ids().sort()).toEqual(msgs.map((m) => m.headers.id).sort());
    await eventually('unacked to empty', async () => (await raw.hlen('unacked')) === 0);
  });

  it('a lease extension whose reply was lost still counts: later extensions and the ack go through', async () => {
    const { proxy, broker, q } = await throughProxy();
    let delivery: Delivery | undefined;
    const r = await Recorder.start(broker, [q], { prefetch: 1 }, (d) => {
      delivery = d;
    });
    closing.unshift(() => r.stop());
    const m = taskMessage(q, ['long']);
    await broker.publish(q, [m]);
    await r.waitFor(1);
    const [tag] = (await raw.hkeys('unacked')) as [string];
    const before = await raw.zscore('unacked_index', tag);
    const swallowed = proxy.swallowRepliesAfter(extendLease.sha);
    const extended = delivery?.extendLease(60_000);
    await swallowed;
    await eventually('the extension to move the score', async () => (await raw.zscore('unacked_index', tag)) !== before);
    proxy.cut();
    await extended;
    await delivery?.extendLease(120_000);
    await delivery?.ack();
    await eventually('the message to be acked', async () => (await raw.hexists('unacked', tag)) === 0);
  });

  it('a restore whose lock reply was lost still holds the lock, restores, and lets it go', async () => {
    const { proxy, broker, q } = await throughProxy('?visibility_timeout=1');
    const m = taskMessage(q, ['left']);
    const tag = 'lost-lock-tag';
    await raw.hset('unacked', tag, JSON.stringify([JSON.parse(encodeEnvelope(m, { routingKey: q, deliveryTag: tag })), '', q]));
    await raw.zadd('unacked_index', Date.now() / 1000 - 60, tag);
    const swallowed = proxy.swallowRepliesAfter('unacked_mutex');
    const restoring = broker.restorer.restore();
    await swallowed;
    await eventually('the lock to be taken', async () => (await raw.exists('unacked_mutex')) === 1);
    proxy.cut();
    expect(await restoring).toBe(1);
    expect(await raw.llen(q)).toBe(1);
    expect(await raw.exists('unacked_mutex')).toBe(0);
  });
});
