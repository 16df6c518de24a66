/**
 * bench/redis-peers.ts [--redis redis://127.0.0.1:6379/6] [--tasks 20000] [--samples 200]
 *   [--concurrency 32,128,512] [--celery-tasks 2000] [--celery-samples 50]
 *   [--systems celeriac,bullmq,bee-queue,celery] [--warmup 0]
 *
 * On one Redis: enqueue and drain N no-op tasks with results stored, for celeriac, BullMQ and
 * bee-queue (each at its best concurrency), and idle send → result latency over S samples; then the
 * same for Python Celery 5.2 (fewer tasks and samples: it drains ~1k/s) when Debian's /usr/bin/python3
 * has celery, through bench/celery_peer.py. One JSON line per figure, then the ratios issue 3 sets as
 * targets (Celery's as information only). --warmup N runs N untimed cycles before each latency
 * round of the JS systems: information on steady state once V8 has optimised the code (the
 * target is measured with 0, as the issue states it; Python has no JIT to warm). Run: npm run build && node bench/run.mjs bench/redis-peers.ts
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import BeeQueue from 'bee-queue';
import { Queue as BullQueue, QueueEvents, Worker as BullWorker } from 'bullmq';
import { createApp } from 'celeriac';
import { Redis } from 'ioredis';

const SYSTEMS = ['celeriac', 'bullmq', 'bee-queue', 'celery'];
const { values } = parseArgs({
  options: {
    redis: { type: 'string', default: 'redis://127.0.0.1:6379/6' },
    tasks: { type: 'string', default: '20000' },
    samples: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '32,128,512' },
    'celery-tasks': { type: 'string', default: '2000' },
    'celery-samples': { type: 'string', default: '50' },
    systems: { type: 'string', default: SYSTEMS.join(',') },
    warmup: { type: 'string', default: '0' },
  },
});
const redisUrl = values.redis as string;
const n = Number(values.tasks);
const samples = Number(values.samples);
const concurrencies = (values.concurrency as string).split(',').map(Number);
const celeryTasks = Number(values['celery-tasks']);
const celerySamples = Number(values['celery-samples']);
const systems = new Set((values.systems as string).split(','));
const warmup = Number(values.warmup);
for (const s of systems) if (!SYSTEMS.includes(s)) throw new Error(`--systems: unknown '${s}' (known: ${SYSTEMS.join(', ')})`);
const db = Number(new URL(redisUrl).pathname.slice(1) || 0);
const connection = {
  host: new URL(redisUrl).hostname,
  port: Number(new URL(redisUrl).port || 6379),
  db,
};

interface Figures {
  enqueuePerS: number;
  drainPerS: number;
  drainConcurrency: number | string;
  p50Ms: number;
  p99Ms: number;
}
/** A system's three operations. Enqueue and drain may return their own timing (Celery's, in Python or from worker ready). */
interface Run<C> {
  enqueue(count: number): Promise<number | undefined>;
  drain(count: number, config: C): Promise<{ ms: number; extra: Record<string, number> } | undefined>;
  /** `warmup` untimed cycles first, then `samples` timed ones. */
  latency(samples: number, best: C, warmup: number): Promise<number[]>;
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

/** A system under test, set up: its three operations, and how to tear it down. */
interface System<C> extends Run<C> {
  name: string;
  close(): Promise<void>;
}

/** Latency samples are taken in rounds, the systems in turn, so the machine's drift hits them alike. */
const LATENCY_ROUNDS = 4;

/**
 * Enqueue + drain `tasks` at each config (concurrency or pool; best kept per system), then latency
 * over `samples`. The systems take turns at each step rather than one after the other: on a shared
 * machine whose speed drifts by tens of percent within minutes, ratios are only fair that way.
 */
async function measure<C extends number | string = number>(
  list: System<C>[],
  plan: { tasks: number; configs: C[]; samples: number; warmup: number } = { tasks: n, configs: concurrencies as C[], samples, warmup },
): Promise<Map<string, Figures>> {
  const best = new Map(list.map((sys) => [sys.name, { enqueuePerS: 0, drainPerS: 0, drainConcurrency: plan.configs[0] as C }]));
  for (const c of plan.configs) {
    for (const sys of list) {
      await flush();
      const t0 = performance.now();
      const sentMs = await sys.enqueue(plan.tasks);
      const enqueuePerS = rate(plan.tasks, sentMs ?? performance.now() - t0);
      const t1 = performance.now();
      const drained = await sys.drain(plan.tasks, c);
      const drainPerS = rate(plan.tasks, drained?.ms ?? performance.now() - t1);
      print({
        system: sys.name,
        figure: 'enqueue+drain',
        tasks: plan.tasks,
        concurrency: c,
        enqueue_per_s: enqueuePerS,
        drain_per_s: drainPerS,
        ...drained?.extra,
      });
      const b = best.get(sys.name) as { enqueuePerS: number; drainPerS: number; drainConcurrency: C };
      b.enqueuePerS = Math.max(b.enqueuePerS, enqueuePerS);
      if (drainPerS > b.drainPerS) Object.assign(b, { drainPerS, drainConcurrency: c });
    }
  }
  const rounds = list.length > 1 ? LATENCY_ROUNDS : 1;
  const times = new Map<string, number[]>(list.map((sys) => [sys.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const sys of list) {
      await flush();
      const b = best.get(sys.name) as { drainConcurrency: C };
      times.get(sys.name)?.push(...(await sys.latency(Math.ceil(plan.samples / rounds), b.drainConcurrency, plan.warmup)));
    }
  }
  const figures = new Map<string, Figures>();
  for (const sys of list) {
    const sorted = (times.get(sys.name) ?? []).sort((a, b) => a - b);
    const f: Figures = {
      ...(best.get(sys.name) as Omit<Figures, 'p50Ms' | 'p99Ms'>),
      p50Ms: percentile(sorted, 0.5),
      p99Ms: percentile(sorted, 0.99),
    };
    print({
      system: sys.name,
      figure: 'best',
      tasks: plan.tasks,
      ...f,
      latency_samples: sorted.length,
      ...(plan.warmup > 0 && { latency_warmup_per_round: plan.warmup }),
    });
    figures.set(sys.name, f);
  }
  return figures;
}

function celeriac(): System<number> {
  const app = createApp('bench', {
    broker: redisUrl,
    backend: redisUrl,
    task_default_queue: 'bench',
  });
  const noop = app.task('bench.noop', (i: number) => i);
  return {
    name: 'celeriac',
    close: () => app.close(),
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
    async latency(count, _best, warmup) {
      const worker = await app.worker({
        concurrency: 8,
        hostname: 'bench-latency@local',
      });
      await worker.start();
      const times: number[] = [];
      for (let i = 0; i < warmup + count; i++) {
        const t0 = performance.now();
        await (await noop.delay(i)).get({ timeout: 10_000 });
        if (i >= warmup) times.push(performance.now() - t0);
      }
      await worker.stop();
      return times;
    },
  };
}

function bullmq(): System<number> {
  const queue = new BullQueue('bench', { connection });
  return {
    name: 'bullmq',
    close: () => queue.close(),
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
    async latency(count, _best, warmup) {
      const events = new QueueEvents('bench', { connection });
      await events.waitUntilReady();
      const worker = new BullWorker('bench', async (job) => job.data.i, {
        connection,
        concurrency: 8,
      });
      await worker.waitUntilReady();
      const times: number[] = [];
      for (let i = 0; i < warmup + count; i++) {
        const t0 = performance.now();
        const job = await queue.add('noop', { i });
        await job.waitUntilFinished(events, 10_000);
        if (i >= warmup) times.push(performance.now() - t0);
      }
      await worker.close();
      await events.close();
      return times;
    },
  };
}

async function beeQueue(): Promise<System<number>> {
  const settings = {
    redis: connection,
    removeOnSuccess: false,
    storeJobs: true,
    sendEvents: true,
    getEvents: true,
  };
  const queue = new BeeQueue('bench', settings);
  await queue.ready();
  return {
    name: 'bee-queue',
    close: () => queue.close(),
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
    async latency(count, _best, warmup) {
      const worker = new BeeQueue('bench', {
        ...settings,
        isWorker: true,
        getEvents: false,
      });
      worker.process(8, async (job: BeeQueue.Job<{ i: number }>) => job.data.i);
      await worker.ready();
      const times: number[] = [];
      for (let i = 0; i < warmup + count; i++) {
        const t0 = performance.now();
        const job = queue.createJob({ i });
        const done = new Promise<void>((resolve) => job.on('succeeded', () => resolve()));
        await job.save();
        await done;
        if (i >= warmup) times.push(performance.now() - t0);
      }
      await worker.close();
      return times;
    },
  };
}

const PYTHON = '/usr/bin/python3';
/** A clean environment: Debian's python3 finds only its own packages and bench/celery_peer.py. */
const pythonEnv = {
  PATH: '/usr/bin:/bin',
  LANG: 'C.UTF-8',
  PYTHONPATH: dirname(fileURLToPath(import.meta.url)),
  PYTHONDONTWRITEBYTECODE: '1',
  BENCH_REDIS: redisUrl,
};
/** Python processes started, each leading its own process group; killed with their children however the bench ends. */
const pythons = new Set<ChildProcess>();
const killGroup = (child: ChildProcess) => {
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch {} // already gone
};
process.on('exit', () => pythons.forEach(killGroup));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

/** Starts `/usr/bin/python3 args`; `closed` resolves once it and every child holding its output are gone. */
function python(args: string[]) {
  const child = spawn(PYTHON, args, { env: pythonEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  pythons.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr = (out.stderr + d).slice(-2000)));
  const closed = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      pythons.delete(child);
      resolve(code);
    }),
  );
  return { child, out, closed };
}

/** Runs a celery_peer.py client command and returns the timing it prints. */
async function peer<T>(command: string, count: number): Promise<T> {
  const p = python(['-m', 'celery_peer', command, String(count)]);
  const code = await p.closed;
  if (code !== 0) throw new Error(`celery_peer ${command} exited ${code}: ${p.out.stderr.trim()}`);
  return JSON.parse(p.out.stdout).ms;
}

/** Polls `done` every 10 ms until it holds; throws if the worker exits first or `ms` pass. */
async function until(worker: ReturnType<typeof python>, what: string, ms: number, done: () => Promise<boolean> | boolean) {
  const deadline = performance.now() + ms;
  while (!(await done())) {
    const stopped = worker.child.exitCode !== null || worker.child.signalCode !== null;
    if (stopped || performance.now() > deadline) {
      throw new Error(`celery worker: ${stopped ? 'exited' : `timed out after ${ms} ms`} waiting for ${what}: ${worker.out.stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A Celery worker with `pool` ('solo', 'prefork-2', ...), once it consumes. */
async function celeryWorker(pool: string) {
  const [kind = 'solo', concurrency] = pool.split('-');
  const worker = python([
    ...['-m', 'celery', '-A', 'celery_peer', 'worker', '-n', `bench-${pool}@localhost`, '--pool', kind],
    ...(concurrency ? ['-c', concurrency] : []),
    ...['--without-gossip', '--without-mingle', '--without-heartbeat', '-l', 'WARNING'],
  ]);
  // Warm shutdown, so Celery reaps its own pool; the whole group is killed if that takes over 5 s.
  const stop = async () => {
    worker.child.kill('SIGTERM');
    const timer = setTimeout(() => killGroup(worker.child), 5000);
    await worker.closed;
    clearTimeout(timer);
  };
  try {
    await until(worker, 'ready', 30_000, () => worker.out.stdout.includes('ready'));
  } catch (err) {
    await stop();
    throw err;
  }
  return { worker, stop };
}

/** Python Celery 5.2 (Debian's python3-celery) on the same Redis, through bench/celery_peer.py. */
async function celery(): Promise<Figures | undefined> {
  const probe = spawnSync(PYTHON, ['-c', 'import celery, redis; print(celery.__version__)'], { env: pythonEnv, encoding: 'utf8' });
  if (probe.status !== 0) {
    const reason = probe.error?.message ?? probe.stderr.trim().split('\n').at(-1);
    print({
      system: 'celery',
      figure: 'skipped',
      note: `${PYTHON} cannot import celery and redis (install python3-celery and python3-redis to compare): ${reason}`,
    });
    return undefined;
  }
  print({
    system: 'celery',
    figure: 'version',
    version: probe.stdout.trim(),
    tasks: celeryTasks,
    note: 'fewer tasks than the others: Celery drains ~1k/s',
  });
  const redis = new Redis(connection);
  const stored = async () => Number(await redis.eval("return #redis.call('keys', 'celery-task-meta-*')", 0));
  try {
    const figures = await measure(
      [
        {
          name: 'celery',
          close: async () => undefined,
          // One producer sending each task with apply_async, timed in Python.
          enqueue: (count) => peer<number>('enqueue', count),
          // Timed from the worker's ready signal to the last result stored; its boot is reported apart.
          async drain(count, pool) {
            const t0 = performance.now();
            const { worker, stop } = await celeryWorker(pool);
            const ready = performance.now();
            try {
              await until(worker, `${count} results`, 30_000 + count * 10, async () => (await stored()) >= count);
            } finally {
              await stop();
            }
            const end = performance.now();
            return { ms: end - ready, extra: { boot_ms: Math.round(ready - t0), drain_per_s_incl_boot: rate(count, end - t0) } };
          },
          async latency(count, pool) {
            const { stop } = await celeryWorker(pool);
            try {
              return await peer<number[]>('latency', count);
            } finally {
              await stop();
            }
          },
        },
      ],
      { tasks: celeryTasks, configs: ['solo', 'prefork-2', 'prefork-4'], samples: celerySamples, warmup: 0 },
    );
    return figures.get('celery');
  } finally {
    redis.disconnect();
  }
}

const js: System<number>[] = [];
if (systems.has('celeriac')) js.push(celeriac());
if (systems.has('bullmq')) js.push(bullmq());
if (systems.has('bee-queue')) js.push(await beeQueue());
const figures = js.length > 0 ? await measure(js) : new Map<string, Figures>();
for (const sys of js) await sys.close();
const [c, b, q] = [figures.get('celeriac'), figures.get('bullmq'), figures.get('bee-queue')];
const py = systems.has('celery') ? await celery() : undefined;
const ratio = (x: number, y: number) => Number((x / y).toFixed(2));
const peers = [b && { name: 'bullmq', drain: b.drainPerS }, q && { name: 'bee-queue', drain: q.drainPerS }];
const faster = peers.filter((p) => p !== undefined).sort((x, y) => y.drain - x.drain)[0];
if (c && (b || q || py)) {
  print({
    figure: 'ratios',
    ...(faster && { drain_vs_faster_peer: ratio(c.drainPerS, faster.drain), faster_peer: faster.name }),
    ...(b && { enqueue_vs_bullmq_addBulk: ratio(c.enqueuePerS, b.enqueuePerS) }),
    ...(q && { p50_vs_bee_queue: ratio(c.p50Ms, q.p50Ms) }),
    targets: { drain: '>= 2', enqueue: '>= 2', p50: '<= 1' },
    // Information only, no target: against Python Celery 5.2.
    ...(py && {
      drain_vs_celery: ratio(c.drainPerS, py.drainPerS),
      enqueue_vs_celery: ratio(c.enqueuePerS, py.enqueuePerS),
      p50_vs_celery: ratio(c.p50Ms, py.p50Ms),
    }),
  });
}
await flush();
process.exit(0);
