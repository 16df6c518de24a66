/**
 * Running Debian's python3-celery next to celeriac: a check that it is there (CI installs it;
 * a missing peer fails the suite, never skips it), long-running processes whose output can be
 * awaited, and one-shot commands.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { poll } from '../cli/harness.js';

/** Debian's interpreter: a pyenv or venv `python3` first on PATH usually lacks Celery. */
export const PYTHON = process.env.INTEROP_PYTHON ?? '/usr/bin/python3';
export const FIXTURES = join(resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/interop'));

/** Throws a clear message when the Python peer cannot run. */
export function requireCelery(): string {
  const probe = spawnSync(PYTHON, ['-c', 'import celery, redis; print(celery.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(
      `The Redis interop suite needs Python Celery 5.2 and redis-py under ${PYTHON} (Debian: apt-get install python3-celery python3-redis; ` +
        `.ci/run installs them; INTEROP_PYTHON picks another interpreter). It could not import them:\n${probe.stderr || probe.error?.message}`,
    );
  }
  return probe.stdout.trim();
}

/** `extra`: more variables for the Python side (pytasks.py reads INTEROP_TRANSPORT_OPTIONS). */
function pythonEnv(redisUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...extra,
    INTEROP_REDIS_URL: redisUrl,
    PYTHONUNBUFFERED: '1',
    PYTHONDONTWRITEBYTECODE: '1',
  };
}

/** A long-running Python process (a Celery worker, `celery events --dump`). */
export class PythonProcess {
  readonly child: ChildProcess;
  output = '';
  readonly #exited: Promise<void>;

  constructor(args: string[], redisUrl: string, env: Record<string, string> = {}) {
    this.child = spawn(PYTHON, args, {
      cwd: FIXTURES,
      env: pythonEnv(redisUrl, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (b: Buffer): void => {
      this.output += b.toString();
    };
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    this.#exited = new Promise((r) => this.child.on('close', () => r()));
  }

  waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return poll(
      () => this.output.match(pattern) ?? undefined,
      timeoutMs,
      () => `${this.child.spawnargs.join(' ')}: output never matched ${pattern}:\n${this.output}`,
      () => this.child.exitCode !== null || this.child.signalCode !== null,
    );
  }

  /** SIGTERM by pid (a Celery worker's warm shutdown), SIGKILL if it lingers. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    process.kill(this.child.pid, 'SIGTERM');
    const timer = setTimeout(() => this.child.pid !== undefined && process.kill(this.child.pid, 'SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }
}

export interface PythonOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a Python command to completion in the fixtures folder. */
export function runPython(args: string[], redisUrl: string, timeoutMs = 60_000, env: Record<string, string> = {}): Promise<PythonOutcome> {
  return new Promise((resolvePromise) => {
    execFile(
      PYTHON,
      args,
      {
        cwd: FIXTURES,
        env: pythonEnv(redisUrl, env),
        timeout: timeoutMs,
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}
