/**
 * redis:// remote control: the shared ControlChannel conformance on a real Redis, plus what is
 * special to kombu's pidbox on Redis (§2.5, §6): the keys and channels a Python peer looks at.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisControl } from '../../providers/redis/control.js';
import { redisBroker } from '../../providers/redis/index.js';
import { createApp } from '../../core/index.js';
import { silentLogger } from '../../core/log.js';
import { decodeKombuMessage } from '../../providers/redis/pidbox-envelope.js';
import { matchesGlob } from '../../providers/redis/pidbox-match.js';
import { controlConformance, eventually } from '../conformance/index.js';

const DB = 14;
const URL = `redis://127.0.0.1:6379/${DB}`;
const connect = () => new Redis(URL, { lazyConnect: false });

// Through the broker, as the worker and app.control reach it.
controlConformance('redis', async () => {
  const broker = redisBroker(URL);
  return { channel: broker.control, close: () => broker.close() };
});

describe('redis control: the pidbox as kombu lays it out', () => {
  const peer = connect();
  afterAll(() => peer.quit());

  // A raw request, as any Redis client (a kombu one, or anyone else) can publish it.
  const publishRequest = (body: unknown) =>
    peer.publish(
      `/${DB}.celery.pidbox`,
      JSON.stringify({
        body: Buffer.from(JSON.stringify(body)).toString('base64'),
        'content-type': 'application/json',
        'content-encoding': 'utf-8',
        headers: { clock: 1, expires: 0 },
        properties: {
          body_encoding: 'base64',
          delivery_tag: 'x',
          delivery_info: { exchange: 'celery.pidbox', routing_key: '' },
        },
      }),
    );

  it('a listening worker is bound in _kombu.binding.celery.pidbox until it stops', async () => {
    const control = new RedisControl({ connect, db: DB });
    const stop = await control.listen({ hostname: 'bound@test', queues: ['celery'] }, async () => ({ ok: 'pong' }));
    expect(await peer.smembers('_kombu.binding.celery.pidbox')).toContain('\x06\x16\x06\x16bound@test.celery.pidbox');
    await stop();
    expect(await peer.smembers('_kombu.binding.celery.pidbox')).not.toContain('\x06\x16\x06\x16bound@test.celery.pidbox');
    await control.close();
  });

  it('a request is a kombu envelope published on /{db}.celery.pidbox, with its reply binding in place first', async () => {
    const control = new RedisControl({ connect, db: DB });
    const sub = connect();
    const seen: string[] = [];
    sub.on('message', (_channel: string, raw: string) => seen.push(raw));
    await sub.subscribe(`/${DB}.celery.pidbox`);
    const replies = control.broadcast({ method: 'ping', arguments: {} }, { timeoutMs: 300 });
    const raw = await eventually('the request on the fanout channel', () => seen[0]);
    expect(await peer.smembers('_kombu.binding.reply.celery.pidbox')).toContain(
      `${control.oid}\x06\x16\x06\x16${control.oid}.reply.celery.pidbox`,
    );
    const envelope = JSON.parse(raw);
    expect(envelope.properties).toMatchObject({
      delivery_info: { exchange: 'celery.pidbox', routing_key: '' },
      body_encoding: 'base64',
    });
    expect(typeof envelope.properties.delivery_tag).toBe('string');
    const message = decodeKombuMessage(raw);
    expect(message?.headers).toMatchObject({
      clock: expect.any(Number),
      expires: expect.any(Number),
    });
    expect(message?.body).toMatchObject({
      method: 'ping',
      arguments: {},
      destination: null,
      ticket: expect.any(String),
      reply_to: { exchange: 'reply.celery.pidbox', routing_key: control.oid },
    });
    expect(await replies).toEqual([]);
    await control.close();
    expect(await peer.smembers('_kombu.binding.reply.celery.pidbox')).not.toContain(
      `${control.oid}\x06\x16\x06\x16${control.oid}.reply.celery.pidbox`,
    );
    await sub.quit();
  });

  it('a client whose reply binding Redis lost (a restart without persistence, a failover, FLUSHDB) gets replies on its next broadcast', async () => {
    const worker = new RedisControl({ connect, db: DB });
    const client = new RedisControl({ connect, db: DB });
    await worker.listen({ hostname: 'rebind@test', queues: [] }, async () => ({ ok: 'pong' }));
    const ping = () => client.broadcast({ method: 'ping', arguments: {} }, { destination: ['rebind@test'], timeoutMs: 3000 });
    expect(await ping()).toEqual([{ 'rebind@test': { ok: 'pong' } }]);
    // Workers route replies through the binding: gone, every reply would be dropped.
    await peer.srem('_kombu.binding.reply.celery.pidbox', `${client.oid}\x06\x16\x06\x16${client.oid}.reply.celery.pidbox`);
    expect(await ping()).toEqual([{ 'rebind@test': { ok: 'pong' } }]);
    await Promise.all([worker.close(), client.close()]);
  });

  it("a 'glob' pattern matches the whole node name, as fnmatch does", () => {
    const glob = (p: string) => matchesGlob('ts@hunt', p);
    expect(['ts@*', '*@hunt', 'ts@', '*', 't?@h*', '*t', '*h*t', 'ts@hun', 'ts@hunt?'].map(glob)).toEqual([
      true,
      true,
      false,
      true,
      true,
      true,
      true,
      false,
      false,
    ]);
    expect(['[st]s@*', '[!t]s@*', '[a-z]s@*', '[]t]s@*', '[!]x]s@*', '[ts@*', 'ts[@]*'].map(glob)).toEqual([
      true,
      false,
      true,
      true,
      true,
      false,
      true,
    ]);
    expect(matchesGlob('[ts@hunt', '[ts@*')).toBe(true); // a '[' never closed is itself
  });

  it('a glob from the wire cannot keep the worker backtracking', () => {
    // As a RegExp, this took 0.7 s, each more '*a' multiplying it by about the name's length.
    const started = performance.now();
    expect(matchesGlob('a'.repeat(100), `${'*a'.repeat(5)}X`)).toBe(false);
    expect(matchesGlob('a'.repeat(100), `${'*a'.repeat(5)}*`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('a node addressed by a glob pattern answers, others do not', async () => {
    const control = new RedisControl({ connect, db: DB });
    await control.listen({ hostname: 'alpha@globtest', queues: [] }, async () => ({ ok: 'pong' }));
    await control.listen({ hostname: 'beta@globtest', queues: [] }, async () => ({ ok: 'pong' }));
    // A raw request as a kombu client with pattern/matcher would send it (no destination).
    const client = new RedisControl({ connect, db: DB });
    await peer.sadd('_kombu.binding.reply.celery.pidbox', `${client.oid}\x06\x16\x06\x16${client.oid}.reply.celery.pidbox`);
    const body = {
      method: 'ping',
      arguments: {},
      destination: null,
      pattern: 'a*@glob*',
      matcher: 'glob',
      ticket: 't1',
      reply_to: { exchange: 'reply.celery.pidbox', routing_key: client.oid },
    };
    await publishRequest(body);
    const popped = await peer.brpop(client.replyList, 3);
    expect(decodeKombuMessage(popped?.[1] ?? '')).toMatchObject({
      body: { 'alpha@globtest': { ok: 'pong' } },
      headers: { ticket: 't1' },
    });
    expect(await peer.llen(client.replyList)).toBe(0);
    await Promise.all([control.close(), client.close()]);
  });

  it('a request with a field Celery never sends is logged and dropped; the node keeps answering', async () => {
    const warnings: string[] = [];
    const log = { ...silentLogger, warning: (m: string) => warnings.push(m) };
    const control = new RedisControl({ connect, db: DB });
    const seen: unknown[] = [];
    await control.listen({ hostname: 'strict@test', queues: [], log }, async (c) => seen.push(c.arguments));
    const client = new RedisControl({ connect, db: DB });
    await peer.sadd('_kombu.binding.reply.celery.pidbox', `${client.oid}\x06\x16\x06\x16${client.oid}.reply.celery.pidbox`);
    const replyTo = { exchange: 'reply.celery.pidbox', routing_key: client.oid };
    const malformed = [
      ['ping'],
      { method: 1 },
      { method: 'ping', destination: { length: 1 } }, // .includes on it threw out of the 'message' handler
      { method: 'ping', destination: ['strict@test', 1] },
      { method: 'ping', arguments: 'x' },
      { method: 'ping', arguments: [] },
      { method: 'ping', pattern: 5, matcher: 'glob' },
      { method: 'ping', pattern: '*', matcher: ['glob'] },
      { method: 'ping', pattern: '(.*)*X', matcher: 'pcre' }, // a RegExp that backtracks for minutes
      { method: 'ping', ticket: { id: 1 }, reply_to: replyTo },
      { method: 'ping', ticket: 't0', reply_to: 'x' },
      { method: 'ping', ticket: 't0', reply_to: { exchange: 'reply.celery.pidbox', routing_key: 7 } },
    ];
    for (const body of malformed) await publishRequest(body);
    await publishRequest({ method: 'ping', arguments: { n: 1 }, destination: ['strict@test'], ticket: 't1', reply_to: replyTo });
    const popped = await peer.brpop(client.replyList, 3);
    expect(decodeKombuMessage(popped?.[1] ?? '')).toMatchObject({ headers: { ticket: 't1' } });
    // A destination wins over a pattern (kombu): a pcre one beside it is never used, so not refused.
    await publishRequest({ method: 'ping', arguments: { n: 2 }, destination: ['strict@test'], pattern: '(.*)*X', matcher: 'pcre' });
    await eventually('the addressed request', () => seen.length === 2);
    expect(seen).toEqual([{ n: 1 }, { n: 2 }]);
    expect(warnings).toHaveLength(malformed.length);
    expect(warnings[2]).toBe('Ignored a control request: its destination is not a list of node names');
    await Promise.all([control.close(), client.close()]);
  });

  it('a worker stopped while it mingles stops cleanly, without consuming on closed connections', async () => {
    // A node that no longer answers (killed outright) keeps mingle waiting for its reply.
    const stale = `\x06\x16\x06\x16gone@mingle.celery.pidbox`;
    await peer.sadd('_kombu.binding.celery.pidbox', stale);
    const app = createApp('mingle', { broker: URL, backend: URL, task_default_queue: `mingle-${Date.now()}` });
    const worker = await app.worker({ hostname: 'stopped@mingle', concurrency: 1 });
    const starting = worker.start();
    await eventually(
      'the worker to listen on the pidbox',
      async () => (await peer.sismember('_kombu.binding.celery.pidbox', `\x06\x16\x06\x16stopped@mingle.celery.pidbox`)) === 1,
    );
    await worker.stop();
    await app.close();
    await expect(starting).resolves.toBeUndefined();
    await peer.srem('_kombu.binding.celery.pidbox', stale);
  });
});
