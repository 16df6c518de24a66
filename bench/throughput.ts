/**
 * bench/throughput.ts --broker URL --backend URL [--tasks N] [--concurrency 8,32,128]
 *
 * Enqueues N no-op tasks with applyMany (timed), drains them with results stored at each
 * concurrency (timed, best kept), then measures idle send → result latency over 200 samples.
 * One JSON line per figure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from 'celeriac';

const { values } = parseArgs({
  options: {
    broker: { type: 'string' },
    backend: { type: 'string' },
    tasks: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '16,64,256' },
    samples: { type: 'string', default: '200' },
  },
});
const scratch = mkdtempSync(join(tmpdir(), 'celeriac-bench-'));
const broker = values.broker ?? `local://${scratch}`;
const backend = values.backend ?? broker;
const n = Number(values.tasks);
const queue = `bench-${process.pid}`;

const app = createApp('bench', { broker, backend, task_default_queue: queue });
const noop = app.task('bench.noop', (i: number) => i);

const print = (figure: Record<string, unknown>) => console.log(JSON.stringify({ broker, backend, ...figure }));

async function enqueue(count: number): Promise<number> {
  const t0 = performance.now();
  const batch = 1000;
  for (let i = 0; i < count; i += batch) {
    await noop.applyMany(Array.from({ length: Math.min(batch, count - i) }, (_, j) => [i + j] as [number]));
  }
  return performance.now() - t0;
}

async function drain(count: number, concurrency: number): Promise<number> {
  const worker = await app.worker({ concurrency, hostname: `bench-${concurrency}@local` });
  let done = 0;
  const finished = new Promise<void>((resolve) => {
    worker.on('succeeded', () => {
      if (++done === count) resolve();
    });
  });
  const t0 = performance.now();
  await worker.start();
  await finished;
  const ms = performance.now() - t0;
  await worker.stop();
  return ms;
}

async function latency(samples: number): Promise<number[]> {
  const worker = await app.worker({ concurrency: 8, hostname: 'bench-latency@local' });
  await worker.start();
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const r = await noop.delay(i);
    await r.get({ timeout: 10_000, interval: 1 });
    times.push(performance.now() - t0);
  }
  await worker.stop();
  return times.sort((a, b) => a - b);
}

try {
  const broker_ = await app.broker();
  await broker_.purge(queue);
  let bestDrain = 0;
  for (const c of values.concurrency.split(',').map(Number)) {
    const enqMs = await enqueue(n);
    print({ figure: 'enqueue', tasks: n, ms: Math.round(enqMs), per_second: Math.round((n / enqMs) * 1000) });
    const drainMs = await drain(n, c);
    const rate = Math.round((n / drainMs) * 1000);
    bestDrain = Math.max(bestDrain, rate);
    print({ figure: 'drain', tasks: n, concurrency: c, ms: Math.round(drainMs), per_second: rate, results_stored: true });
  }
  print({ figure: 'drain_best', per_second: bestDrain });
  const times = await latency(Number(values.samples));
  const pct = (p: number) => Number(times[Math.min(times.length - 1, Math.floor(p * times.length))]?.toFixed(2));
  print({ figure: 'latency', samples: times.length, p50_ms: pct(0.5), p99_ms: pct(0.99) });
} finally {
  await app.close();
  rmSync(scratch, { recursive: true, force: true });
}
