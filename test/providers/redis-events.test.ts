/**
 * Celery events from a celeriac worker on redis:// (celery-protocol.md §7): the envelopes and
 * channels Celery's receivers subscribe to, the fields they read, heartbeats always and task
 * events only when asked for. (test/interop/ checks that Celery's own `events --dump` reads them.)
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, type TaskContext, createApp } from '../../core/index.js';
import type { Worker } from '../../core/worker/worker.js';
import { decodeKombuMessage } from '../../providers/redis/pidbox-envelope.js';
import { eventually } from '../conformance/index.js';

const DB = 14;
const URL = `redis://127.0.0.1:6379/${DB}`;
// kombu's global_keyprefix prefixes event channels too; it also keeps these workers apart from the
// pidbox tests sharing DB 14.
const PREFIX = 'events-test:';
const BROKER_URL = `${URL}?global_keyprefix=${PREFIX}`;

interface Seen {
  channel: string;
  envelope: {
    headers: Record<string, unknown>;
    properties: Record<string, unknown>;
  };
  event: Record<string, unknown>;
}

const sub = new Redis(URL);
const seen: Seen[] = [];
sub.on('pmessage', (_pattern: string, channel: string, raw: string) => {
  const message = decodeKombuMessage(raw);
  seen.push({
    channel,
    envelope: JSON.parse(raw),
    event: message?.body as Record<string, unknown>,
  });
});
beforeAll(async () => {
  // What Celery's EventReceiver subscribes to on Redis (routing key '#' → '*').
  await sub.psubscribe(`${PREFIX}/${DB}.celeryev/*`);
});
afterAll(() => sub.quit());

const events = (type: string, hostname?: string) =>
  seen.filter((s) => s.event.type === type && (!hostname || s.event.hostname === hostname)).map((s) => s.event);

function makeApp(): App {
  const app = createApp('events', { broker: BROKER_URL, backend: URL });
  app.task('ev.add', (x: number, y: number) => x + y);
  app.task('ev.long', (n: number) => 'x'.repeat(n));
  app.task('ev.fail', (msg: string) => {
    throw new RangeError(msg);
  });
  app.task('ev.again', (ctx: TaskContext) => (ctx.retries < 1 ? ctx.retry({ countdown: 0.05, exc: new Error('not yet') }) : ctx.retries));
  return app;
}

describe('redis events', () => {
  let app: App;
  let worker: Worker | undefined;
  afterEach(async () => {
    await worker?.stop();
    await app.close();
  });

  it('a worker with task events sends received, started, succeeded, failed, retried and revoked with Celery fields', async () => {
    app = makeApp();
    worker = await app.worker({
      hostname: `ev-${Date.now()}@test`,
      concurrency: 2,
      sendEvents: true,
    });
    const host = worker.hostname;
    await worker.start();
    const ok = await app.sendTask('ev.add', [2, 3]);
    const bad = await app.sendTask('ev.fail', ['too far']);
    const again = await app.sendTask('ev.again', []);
    const late = await app.sendTask('ev.add', [1, 1], {}, { expires: new Date(Date.now() - 1000) });
    await ok.get({ timeout: 5000 });
    await bad.get({ timeout: 5000, propagate: false });
    await again.get({ timeout: 5000 });
    await late.get({ timeout: 5000, propagate: false });
    const succeeded = await eventually('task-succeeded', () => events('task-succeeded', host).find((e) => e.uuid === ok.id));
    expect(succeeded).toMatchObject({
      result: '5',
      runtime: expect.any(Number),
      pid: process.pid,
      clock: expect.any(Number),
    });
    expect(Math.abs((succeeded.timestamp as number) - Date.now() / 1000)).toBeLessThan(5);
    // As Celery's saferepr(result, resultrepr_maxsize=1024): a large result is not sent whole in every event.
    const long = await app.sendTask('ev.long', [5000]);
    await long.get({ timeout: 5000 });
    const longEvent = await eventually('task-succeeded of ev.long', () => events('task-succeeded', host).find((e) => e.uuid === long.id));
    expect(longEvent.result).toBe(`'${'x'.repeat(1020)}...`);
    expect(events('task-received', host).find((e) => e.uuid === ok.id)).toMatchObject({
      name: 'ev.add',
      args: '(2, 3)',
      kwargs: '{}',
      retries: 0,
      root_id: ok.id,
      parent_id: null,
      eta: null,
      expires: null,
    });
    expect(events('task-started', host).find((e) => e.uuid === ok.id)).toBeDefined();
    const failed = await eventually('task-failed', () => events('task-failed', host).find((e) => e.uuid === bad.id));
    expect(failed).toMatchObject({
      exception: "RangeError('too far')",
      traceback: expect.stringContaining('too far'),
    });
    const retried = await eventually('task-retried', () => events('task-retried', host).find((e) => e.uuid === again.id));
    expect(retried).toMatchObject({ exception: "Error('not yet')", traceback: expect.stringContaining('not yet') });
    const revoked = await eventually('task-revoked', () => events('task-revoked', host).find((e) => e.uuid === late.id));
    expect(revoked).toMatchObject({ terminated: false, signum: null, expired: true });

    const raw = seen.find((s) => s.event.type === 'task-succeeded' && s.event.uuid === ok.id);
    expect(raw?.channel).toBe(`${PREFIX}/${DB}.celeryev/task.succeeded`);
    expect(raw?.envelope.headers).toEqual({ hostname: host });
    expect(raw?.envelope.properties).toMatchObject({
      delivery_mode: 1,
      delivery_info: { exchange: 'celeryev', routing_key: 'task.succeeded' },
      body_encoding: 'base64',
    });
  });

  it('heartbeats are sent without task events; a heartbeat command gets one at once; enable_events turns task events on', async () => {
    app = makeApp();
    worker = await app.worker({
      hostname: `hb-${Date.now()}@test`,
      concurrency: 1,
    });
    const host = worker.hostname;
    await worker.start();
    const online = await eventually('worker-online', () => events('worker-online', host)[0]);
    expect(online).toMatchObject({
      freq: 2,
      active: 0,
      processed: 0,
      sw_ident: 'celeriac',
      sw_sys: expect.any(String),
    });
    expect(online.loadavg).toHaveLength(3);

    // Celery's event receivers broadcast `heartbeat` when they start: the worker answers with one now, not in 2 s.
    await app.control.broadcast('heartbeat', {}, { timeout: 1000, destination: [host] });
    await eventually('a requested worker-heartbeat', () => events('worker-heartbeat', host)[0], 1500);

    const quiet = await app.sendTask('ev.add', [1, 1]);
    await quiet.get({ timeout: 5000 });
    const [reply] = await app.control.broadcast('enable_events', {}, { timeout: 2000, destination: [host] });
    expect(reply).toEqual({ [host]: { ok: 'task events enabled' } });
    const loud = await app.sendTask('ev.add', [2, 2]);
    await loud.get({ timeout: 5000 });
    await eventually('task-succeeded after enable_events', () => events('task-succeeded', host).find((e) => e.uuid === loud.id));
    expect(events('task-received', host).some((e) => e.uuid === quiet.id)).toBe(false);

    const beat = await eventually(
      'a heartbeat counting the processed tasks',
      () => events('worker-heartbeat', host).find((e) => e.processed === 2),
      4000,
    );
    expect(beat.active).toBe(0);
    await worker.stop();
    await eventually('worker-offline', () => events('worker-offline', host)[0]);
    worker = undefined;
  });
});
