/**
 * Celery's log line format: `[2026-11-25 10:00:00,123: INFO/MainProcess] message`, to stderr
 * and optionally appended to a file (`--logfile`).
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40 };

export interface Logger {
  readonly level: LogLevel;
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  close(): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Append lines to this file instead of stderr. */
  file?: string;
  /** Where lines go when no file is given (default: process.stderr, through stdioWriter). */
  write?: (line: string) => void;
  /** Celery prints `MainProcess`; kept configurable for child processes. */
  processName?: string;
}

export function parseLogLevel(value: string): LogLevel {
  const v = value.toLowerCase();
  if (v === 'warn') return 'warning';
  if (v === 'critical' || v === 'fatal') return 'error';
  if (v in RANK) return v as LogLevel;
  throw new Error(`Unknown log level '${value}': use debug, info, warning or error.`);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'warning';
  const processName = opts.processName ?? 'MainProcess';
  let fd: number | undefined = opts.file ? openSync(opts.file, 'a') : undefined;
  const out = opts.write ?? stdioWriter(process.stderr);
  const emit = (lvl: LogLevel, message: string): void => {
    if (RANK[lvl] < RANK[level]) return;
    const line = `[${timestamp(new Date())}: ${lvl.toUpperCase()}/${processName}] ${message}\n`;
    // Synchronous writes: the last lines before a crash must reach the file.
    if (fd !== undefined) writeSync(fd, line);
    else out(line);
  };
  return {
    level,
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warning: (m) => emit('warning', m),
    error: (m) => emit('error', m),
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

const stdioWriters = new Map<NodeJS.WriteStream, (text: string) => void>();

/**
 * Writes to process.stdout/stderr that outlive the stream's reader (`celeriac worker | tee log`
 * and tee dies, a supervisor closes its pipe). Node reports a failed write (EPIPE) as an 'error'
 * event on the stream, an uncaught exception when nobody listens; and as stdio streams cannot be
 * destroyed, every later write fails the same way. As Python's logging drops a record its handler
 * cannot emit, text is dropped from the first error on: a lost reader never comes back. The
 * listener stays on the stream, so no other writer's failure there is fatal either.
 */
export function stdioWriter(stream: NodeJS.WriteStream): (text: string) => void {
  let writer = stdioWriters.get(stream);
  if (!writer) {
    let gone = false;
    stream.on('error', () => {
      gone = true;
    });
    writer = (text) => {
      if (!gone) stream.write(text);
    };
    stdioWriters.set(stream, writer);
  }
  return writer;
}

/** A logger that drops everything (library use, benchmarks). */
export const silentLogger: Logger = { level: 'error', debug() {}, info() {}, warning() {}, error() {}, close() {} };

/** Whether a line at `level` would be written: callers skip formatting lines nobody reads. */
export function logs(log: Logger, level: LogLevel): boolean {
  return log !== silentLogger && RANK[level] >= RANK[log.level];
}

/** Local time with a comma before the milliseconds, as Python's logging prints it. */
function timestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())},${p(d.getMilliseconds(), 3)}`;
}
