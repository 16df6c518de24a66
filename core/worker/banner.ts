/**
 * The worker's start-up banner, in the spirit of Celery's: who is running, against which
 * transport and result store (passwords hidden), how wide, which queues, which tasks.
 */
import { arch, platform, release } from 'node:os';
import { redact } from '../registry.js';

export interface BannerInfo {
  hostname: string;
  version: string;
  app: string;
  transport: string;
  results: string;
  concurrency: number;
  prefetchMultiplier?: number;
  queues: readonly string[];
  tasks: readonly string[];
  /** Shown in the header; defaults to now. */
  startedAt?: Date;
}

export function renderBanner(info: BannerInfo): string {
  const when = (info.startedAt ?? new Date()).toISOString().replace('T', ' ').slice(0, 19);
  const field = (label: string, value: string | number): string => `.> ${`${label}:`.padEnd(13)}${value}`;
  const multiplier = info.prefetchMultiplier;
  const prefetch =
    multiplier === undefined
      ? []
      : [field('prefetch', multiplier === 0 ? 'no limit (multiplier 0)' : `${info.concurrency * multiplier} (${multiplier} per slot)`)];
  const tasks = [...info.tasks].sort();
  return [
    ` -------------- ${info.hostname} v${info.version} (celeriac)`,
    ` -- ********** - ${platform()}-${release()}-${arch()}, node ${process.version}, ${when} UTC`,
    '',
    '[config]',
    field('app', info.app),
    field('transport', redact(info.transport)),
    field('results', redact(info.results)),
    field('concurrency', info.concurrency),
    ...prefetch,
    '',
    '[queues]',
    ...info.queues.map((q) => `.> ${q}`),
    '',
    '[tasks]',
    ...(tasks.length ? tasks.map((t) => `  . ${t}`) : ['  (none registered: does the -A module define its tasks with app.task?)']),
    '',
  ].join('\n');
}
