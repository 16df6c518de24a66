/**
 * bench/redis-peers.ts [--redis redis://127.0.0.1:6379/11] [--tasks 20000] [--samples 200]
 *   [--concurrency 32,128,512]
 *
 * On one Redis: enqueue and drain N no-op tasks with results stored, for celeriac, BullMQ and
 * bee-queue (each at its best concurrency), and idle send → result latency over S samples; then a
 * Celery 5.2 worker draining, when /usr/bin/python3 has celery. One JSON line per figure, then the
 * ratios issue 3 sets as targets. Run: npm run build && node bench/run.mjs bench/redis-peers.ts
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import BeeQueue from 'bee-queue';
import { Queue as BullQueue, QueueEvents, Worker as BullWorker } from 'bullmq';
import { createApp } from 'celeriac';
import { Redis } from 'ioredis';

const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379/11' },
    tasks: { type: 'string', default: '20000' },
    samples: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '32,128,512' },
  },
});
const redisUrl = values.redis as string;
const n = Number(values.tasks);
const samples = Number(values.samples);
const concurrencies = (values.concurrency as string).split(',').map(Number);
const db = Number(new URL(redisUrl).pathname.slice(1) || 0);
const connection = {
  host: new URL(redisUrl).hostname,
  port: Number(new URL(redisUrl).port || 6379),
  db,
};

interface Figures {
  enqueuePerS: number;
  drainPerS: number;
  drainConcurrency: number;
  p50Ms: number;
  p99Ms: number;
}
const print = (figure: Record<string, unknown>) => console.log(JSON.stringify(figure));
const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);
const percentile = (sorted: number[], p: number) =>
  Number((sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(3));

async function flush(): Promise<void> {
  const r = new Redis(connection);
  await r.flushdb();
  r.disconnect();
}

/** Enqueue + drain at each concurrency (best kept), then latency; `run` supplies the system's three operations. */
async function measure(
  system: string,
  run: {
    enqueue(count: number): Promise<void>;
    drain(count: number, concurrency: number): Promise<void>;
    latency(samples: number): Promise<number[]>;
  },
): Promise<Figures> {
  const best0 = { enqueuePerS: 0, drainPerS: 0, drainConcurrency: 0 };
  let best = best0;
  for (const c of concurrencies) {
    await flush();
    const t0 = performance.now();
    await run.enqueue(n);
    const enqueuePerS = rate(n, performance.now() - t0);
    const t1 = performance.now();
    await run.drain(n, c);
    const drainPerS = rate(n, performance.now() - t1);
    print({
      system,
      figure: 'enqueue+drain',
      tasks: n,
      concurrency: c,
      enqueue_per_s: enqueuePerS,
      drain_per_s: drainPerS,
    });
    best.enqueuePerS = Math.max(best.enqueuePerS, enqueuePerS);
    if (drainPerS > best.drainPerS) best = { ...best, drainPerS, drainConcurrency: c };
  }
  await flush();
  const times = (await run.latency(samples)).sort((a, b) => a - b);
  const figures = {
    ...best,
    p50Ms: percentile(times, 0.5),
    p99Ms: percentile(times, 0.99),
  };
  print({ system, figure: 'best', ...figures, latency_samples: times.length });
  return figures;
}

async function celeriac(): Promise<Figures> {
  const app = createApp('bench', {
    broker: redisUrl,
    backend: redisUrl,
    task_default_queue: 'bench',
  });
  const noop = app.task('bench.noop', (i: number) => i);
  try {
    return await measure('celeriac', {
      async enqueue(count) {
        // applyMany, 5000 at a time as addBulk below: one LPUSH per chunk.
        for (let i = 0; i < count; i += 5000) {
          await noop.applyMany(Array.from({ length: Math.min(5000, count - i) }, (_, j) => [i + j] as [number]));
        }
      },
      async drain(count, concurrency) {
        const worker = await app.worker({
          concurrency,
          hostname: `bench-${concurrency}@local`,
        });
        let done = 0;
        const finished = new Promise<void>((resolve) => worker.on('succeeded', () => ++done === count && resolve()));
        await worker.start();
        await finished;
        await worker.stop();
      },
      async latency(count) {
        const worker = await app.worker({
          concurrency: 8,
          hostname: 'bench-latency@local',
        });
        await worker.start();
        const times: number[] = [];
        for (let i = 0; i < count; i++) {
          const t0 = performance.now();
          await (await noop.delay(i)).get({ timeout: 10_000 });
          times.push(performance.now() - t0);
        }
        await worker.stop();
        return times;
      },
    });
  } finally {
    await app.close();
  }
}

async function bullmq(): Promise<Figures> {
  const queue = new BullQueue('bench', { connection });
  try {
    return await measure('bullmq', {
      async enqueue(count) {
        for (let i = 0; i < count; i += 5000) {
          await queue.addBulk(
            Array.from({ length: Math.min(5000, count - i) }, (_, j) => ({
              name: 'noop',
              data: { i: i + j },
            })),
          );
        }
      },
      async drain(count, concurrency) {
        let done = 0;
        let resolve!: () => void;
        const finished = new Promise<void>((r) => (resolve = r));
        const worker = new BullWorker('bench', async (job) => job.data.i, {
          connection,
          concurrency,
        });
        worker.on('completed', () => ++done === count && resolve());
        await finished;
        await worker.close();
      },
      async latency(count) {
        const events = new QueueEvents('bench', { connection });
        await events.waitUntilReady();
        const worker = new BullWorker('bench', async (job) => job.data.i, {
          connection,
          concurrency: 8,
        });
        await worker.waitUntilReady();
        const times: number[] = [];
        for (let i = 0; i < count; i++) {
          const t0 = performance.now();
          const job = await queue.add('noop', { i });
          await job.waitUntilFinished(events, 10_000);
          times.push(performance.now() - t0);
        }
        await worker.close();
        await events.close();
        return times;
      },
    });
  } finally {
    await queue.close();
  }
}

async function beeQueue(): Promise<Figures> {
  const settings = {
    redis: connection,
    removeOnSuccess: false,
    storeJobs: true,
    sendEvents: true,
    getEvents: true,
  };
  const queue = new BeeQueue('bench', settings);
  await queue.ready();
  try {
    return await measure('bee-queue', {
      async enqueue(count) {
        for (let i = 0; i < count; i += 5000) {
          await queue.saveAll(Array.from({ length: Math.min(5000, count - i) }, (_, j) => queue.createJob({ i: i + j })));
        }
      },
      async drain(count, concurrency) {
        const worker = new BeeQueue('bench', {
          ...settings,
          isWorker: true,
          getEvents: false,
        });
        let done = 0;
        const finished = new Promise<void>((resolve) => worker.on('succeeded', () => ++done === count && resolve()));
        worker.process(concurrency, async (job: BeeQueue.Job<{ i: number }>) => job.data.i);
        await finished;
        await worker.close();
      },
      async latency(count) {
        const worker = new BeeQueue('bench', {
          ...settings,
          isWorker: true,
          getEvents: false,
        });
        worker.process(8, async (job: BeeQueue.Job<{ i: number }>) => job.data.i);
        await worker.ready();
        const times: number[] = [];
        for (let i = 0; i < count; i++) {
          const t0 = performance.now();
          const job = queue.createJob({ i });
          const done = new Promise<void>((resolve) => job.on('succeeded', () => resolve()));
          await job.save();
          await done;
          times.push(performance.now() - t0);
        }
        await worker.close();
        return times;
      },
    });
  } finally {
    await queue.close();
  }
}

/** Celery 5.2 draining the same number of tasks, when Debian's python3-celery is installed. */
function celery(): void {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import celery; print(celery.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    print({
      system: 'celery',
      figure: 'skipped',
      note: '/usr/bin/python3 has no celery module (install python3-celery to compare)',
    });
    return;
  }
  print({
    system: 'celery',
    figure: 'skipped',
    version: probe.stdout.trim(),
    note: 'Celery drain timing is not implemented in this bench yet',
  });
}

const c = await celeriac();
const b = await bullmq();
const q = await beeQueue();
celery();
const faster = b.drainPerS >= q.drainPerS ? { name: 'bullmq', drain: b.drainPerS } : { name: 'bee-queue', drain: q.drainPerS };
const ratio = (x: number, y: number) => Number((x / y).toFixed(2));
print({
  figure: 'ratios',
  drain_vs_faster_peer: ratio(c.drainPerS, faster.drain),
  faster_peer: faster.name,
  enqueue_vs_bullmq_addBulk: ratio(c.enqueuePerS, b.enqueuePerS),
  p50_vs_bee_queue: ratio(c.p50Ms, q.p50Ms),
  targets: { drain: '>= 2', enqueue: '>= 2', p50: '<= 1' },
});
await flush();
process.exit(0);
