import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../core/envelope.js';
import { KeyValueResultBackend } from '../../core/kv-result-backend.js';
import { ConfigError } from '../../core/errors.js';
import { silentLogger } from '../../core/log.js';
import { explainOpenError } from '../../providers/local/database.js';
import { ANY_DUE } from '../../providers/local/leases.js';
import { locate, localBroker, localStore } from '../../providers/local/index.js';
import {
  Recorder,
  backendConformance,
  brokerConformance,
  controlConformance,
  eventually,
  storeConformance,
  taskMessage,
  uniqueQueue,
} from '../conformance/index.js';
import { useChildScript } from '../support/child-script.js';
import { expectHeirRunsKilledConsumersMessageOnce, useConsumerChild } from '../support/consumer-child.js';

const root = mkdtempSync(join(tmpdir(), 'celeriac-local-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
/** A fresh database folder as an absolute local:// URL. */
const freshUrl = (query = '') => `local://${join(root, randomUUID())}${query}`;

brokerConformance('local', ({ visibilityTimeoutMs }) => {
  const broker = localBroker(freshUrl(`?visibility_timeout=${visibilityTimeoutMs / 1000}`));
  return {
    broker,
    publishRaw: (queue, raw) => broker.publishRaw(queue, [{ body: raw }]),
    close: () => broker.close(),
  };
});
storeConformance('local', () => localStore(freshUrl()));
backendConformance('local', ({ resultExpires }) => new KeyValueResultBackend(localStore(freshUrl()), { resultExpires }));
describe('local control', () => {
  const url = freshUrl();
  controlConformance('local', async () => {
    const broker = localBroker(url);
    return { channel: broker.control, close: () => broker.close() };
  });
});

describe('local:// URLs', () => {
  it('names a folder relative to the current directory, or an absolute one', () => {
    expect(locate('local://.celeriac', {}, '/srv/app')).toMatchObject({
      folder: '/srv/app/.celeriac',
      file: '/srv/app/.celeriac/celeriac.db',
    });
    expect(locate('local://', {}, '/srv/app').file).toBe('/srv/app/.celeriac/celeriac.db');
    expect(locate('local:///var/lib/q', {}, '/srv/app').file).toBe('/var/lib/q/celeriac.db');
    expect(locate('local://data/jobs.db', {}, '/srv/app').file).toBe('/srv/app/data/jobs.db');
  });

  it('takes the visibility timeout from the URL, else transport options, else 1 h', () => {
    expect(locate('local://x', {}).visibilityTimeoutMs).toBe(3_600_000);
    expect(locate('local://x', { visibility_timeout: 60 }).visibilityTimeoutMs).toBe(60_000);
    expect(locate('local://x?visibility_timeout=2.5', { visibility_timeout: 60 }).visibilityTimeoutMs).toBe(2_500);
    expect(() => locate('local://x?timeout=1')).toThrow(/Unknown option 'timeout'/);
  });

  it('a folder that cannot be made or a database that cannot be opened is a clear error', () => {
    const file = join(root, `a-file-${randomUUID()}`);
    writeFileSync(file, '');
    expect(() => localBroker(`local://${file}`)).toThrow(
      `local:// keeps its database in the folder ${file}, which cannot be made (a file of that name is in the way): name a folder this process can write.`,
    );
    const folder = join(root, `db-is-a-folder-${randomUUID()}`);
    mkdirSync(join(folder, 'celeriac.db'), { recursive: true });
    expect(() => localBroker(`local://${folder}`)).toThrow(
      /^local:\/\/ cannot open its database .*celeriac\.db \(.*\): name a folder this process can write\.$/,
    );
    const garbage = join(root, `garbage-${randomUUID()}`);
    mkdirSync(garbage);
    writeFileSync(join(garbage, 'celeriac.db'), 'not a database, but a file somebody left here\n'.repeat(100));
    expect(() => localBroker(`local://${garbage}`)).toThrow(
      /^local:\/\/ found .*celeriac\.db, which is not a celeriac database \(file is not a database\): move it away, or name another folder\.$/,
    );
  });
});

describe('local:// opening', () => {
  it('a new database another process is creating: this one waits for its lock instead of failing with SQLITE_BUSY', async () => {
    const folder = join(root, `fresh-${randomUUID()}`);
    mkdirSync(folder);
    const file = join(folder, 'celeriac.db');
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    // As a worker starting at the same moment may: the file made, its write lock held a moment.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const D = require(${JSON.stringify(sqlite)}); const db = new D(${JSON.stringify(file)}); db.exec('BEGIN IMMEDIATE'); console.log('locked'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, 500);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => holder.stdout.on('data', (d) => String(d).includes('locked') && resolve()));
    const broker = localBroker(`local://${folder}`);
    const q = uniqueQueue('opened');
    await broker.publish(q, [taskMessage(q, [1])]);
    expect(await broker.size(q)).toBe(1);
    await broker.close();
  });

  it('a database this process cannot write, and a path that is not URL-encoded text, are clear errors', () => {
    const readOnly = Object.assign(new Error('attempt to write a readonly database'), { code: 'SQLITE_READONLY' });
    expect(explainOpenError('/x/celeriac.db', readOnly)).toEqual(
      new ConfigError(
        'local:// cannot write its database /x/celeriac.db (attempt to write a readonly database): name a folder this process can write.',
      ),
    );
    expect(() => localBroker('local:///tmp/50%off')).toThrow(
      "'local:///tmp/50%off': the path is not URL-encoded text (write a '%' in a folder name as %25)",
    );
  });
});

describe('local:// database removed', () => {
  it('a consumer whose database folder is removed says so at its fetches instead of going on, unheard, with the old file', async () => {
    const folder = join(root, `removed-${randomUUID()}`);
    const broker = localBroker(`local://${folder}`);
    const errors: Error[] = [];
    const consumer = await broker.consume([uniqueQueue('removed')], async (d) => void d.ack(), {
      prefetch: 1,
      onError: (err) => errors.push(err as Error),
    });
    rmSync(folder, { recursive: true, force: true });
    const error = await eventually('a fetch error', () => errors[0], 5000);
    expect(error.message).toMatch(/^local:\/\/ database .*celeriac\.db was deleted or replaced while this process had it open/);
    await consumer.stop();
    await broker.close();
  });
});

describe('local:// idle polls', () => {
  it('ask whether anything is due through its own index: a backlog of ETA messages is not walked at every idle poll', () => {
    const url = freshUrl();
    const broker = localBroker(url);
    const db = new Database(locate(url).file);
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${ANY_DUE}`).all({ queue: 'q', now: 0 }) as Array<{ detail: string }>;
    expect(plan.map((row) => row.detail).join(' ')).toMatch(/USING COVERING INDEX messages_due \(queue=\? AND available_at<\?\)/);
    db.close();
    return broker.close();
  });
});

describe('local:// in one process', () => {
  it('a garbage row written into the table is delivered as malformed and dead-lettered, not a crash', async () => {
    const url = freshUrl();
    const broker = localBroker(url);
    const q = uniqueQueue('garbage');
    const other = new Database(locate(url).file);
    other.prepare('INSERT INTO messages (queue, priority, available_at, body) VALUES (?, 0, 0, ?)').run(q, Buffer.from([0xff, 0x00, 0x7b]));
    other.prepare('INSERT INTO messages (queue, priority, available_at, body) VALUES (?, 0, 0, ?)').run(q, '{"body": 1}');
    other.close();
    const r = await Recorder.start(broker, [q], { prefetch: 5 }, (d) => void d.deadLetter(d.malformed ?? 'unexpected'));
    const [a, b] = await r.waitFor(2);
    expect(a?.message).toBeUndefined();
    expect(a?.malformed).toMatch(/not JSON/);
    expect(b?.malformed).toMatch(/'headers' must be an object/);
    await eventually('two dead letters', async () => (await broker.deadLetters(q)).length === 2);
    const good = taskMessage(q, ['ok']);
    await broker.publish(q, [good]);
    const [, , c] = await r.waitFor(3);
    expect(c?.message).toEqual(good);
    await r.stop();
    await broker.close();
  });

  it('control rows another process wrote that are no request or reply are skipped, and the worker keeps polling', async () => {
    const url = freshUrl();
    const broker = localBroker(url);
    const other = new Database(locate(url).file);
    const warnings: string[] = [];
    const log = { ...silentLogger, warning: (m: string) => warnings.push(m) };
    await broker.control.listen({ hostname: 'w@rows', queues: [], log }, async (c) => {
      const badReply = other.prepare('INSERT INTO control_replies (ticket, reply, expires_at) VALUES (?, ?, ?)');
      for (const text of ['{bad', 'null', '[1]']) badReply.run(c.ticket, text, Date.now() + 60_000);
      return { ok: 'pong' };
    });
    const badRequest = other.prepare('INSERT INTO control_requests (ticket, command, reply, expires_at) VALUES (?, ?, 0, ?)');
    for (const text of ['null', '{bad', '{"method": "ping", "destination": {"length": 1}}']) badRequest.run('t', text, Date.now() + 60_000);
    // Read by the listener's timer, as rows from another process are.
    await eventually('the bad rows to be skipped', () => warnings.length === 3);
    expect(warnings[0]).toMatch(/^Ignored control request \d+: the request is not an object$/);
    expect(await broker.control.broadcast({ method: 'ping', arguments: {} }, { timeoutMs: 2000, limit: 1 })).toEqual([
      { 'w@rows': { ok: 'pong' } },
    ]);
    other.close();
    await broker.close();
  });

  it('a holder whose lease was taken over cannot settle the new holder’s message', async () => {
    const broker = localBroker(freshUrl('?visibility_timeout=0.2'));
    const q = uniqueQueue('stale');
    await broker.publish(q, [taskMessage(q, [1])]);
    const r = await Recorder.start(broker, [q], { prefetch: 5 });
    const [stale, current] = await r.waitFor(2);
    await current?.extendLease(60_000);
    await stale?.ack();
    await stale?.deadLetter('late');
    expect((await broker.deadLetters(q)).length).toBe(0);
    await current?.ack();
    await r.stop();
    await broker.close();
  });
});

/** Child processes run the fixtures in test/fixtures/providers/, each bundled once by esbuild. */
describe('local:// across processes', () => {
  const startConsumer = useConsumerChild();
  const startProducer = useChildScript('test/fixtures/providers/local-producer-child.ts', 'local-producer-child.mjs');
  const startListener = useChildScript('test/fixtures/providers/local-listener-child.ts', 'local-listener-child.mjs');

  it('a producer in this process and a worker in another share queues and results', async () => {
    const url = freshUrl();
    const q = uniqueQueue('shared');
    const worker = startConsumer(url, url, q, 'ack');
    await worker.wait('worker ready', (e) => e.event === 'ready');
    const broker = localBroker(url);
    const backend = new KeyValueResultBackend(localStore(url));
    const m = taskMessage(q, [2, 2]);
    await broker.publish(q, [m]);
    const meta = await backend.waitFor(m.headers.id, { timeoutMs: 15_000 });
    expect(meta).toMatchObject({ status: 'SUCCESS', result: worker.proc.pid, task_id: m.headers.id });
    worker.proc.kill('SIGKILL');
    await backend.close();
    await broker.close();
  });

  it('a consumer SIGKILLed while holding a lease loses nothing: another gets the message after the lease', async () => {
    const url = freshUrl('?visibility_timeout=1');
    await expectHeirRunsKilledConsumersMessageOnce(startConsumer, {
      brokerUrl: url,
      storeUrl: url,
      openBroker: localBroker,
      openStore: localStore,
    });
  });

  it('remote control reaches a worker in another process and collects its reply', async () => {
    const url = freshUrl();
    const hostname = `celery@${randomUUID().slice(0, 6)}`;
    const worker = startListener(url, hostname);
    await worker.wait('listener ready', (e) => e.event === 'ready');
    const broker = localBroker(url);
    const replies = await broker.control.broadcast({ method: 'ping', arguments: {} }, { timeoutMs: 5000, limit: 1 });
    expect(replies).toEqual([{ [hostname]: { ok: 'pong', method: 'ping', pid: worker.proc.pid } }]);
    worker.proc.kill('SIGKILL');
    await broker.close();
  });

  it('a producer SIGKILLed mid-way leaves only whole batches, every one decodable, and a sound file', async () => {
    const url = freshUrl();
    const q = uniqueQueue('batches');
    const size = 50;
    const producer = startProducer(url, q, String(size));
    await producer.wait('some batches', (e) => e.event === 'batch' && Number(e.batch) >= 20);
    producer.proc.kill('SIGKILL');
    await producer.killed();

    const db = new Database(locate(url).file, { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = db.prepare('SELECT body FROM messages WHERE queue = ?').all(q) as Array<{ body: string }>;
      expect(rows.length).toBeGreaterThanOrEqual(20 * size);
      expect(rows.length % size).toBe(0);
      const perBatch = new Map<number, number>();
      for (const { body } of rows) {
        const message = decodeEnvelope(body);
        const [[batch]] = JSON.parse(message.body) as [[number]];
        perBatch.set(batch, (perBatch.get(batch) ?? 0) + 1);
      }
      expect([...perBatch.values()].every((n) => n === size)).toBe(true);
    } finally {
      db.close();
    }
  });
});
