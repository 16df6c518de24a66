/**
 * Running the real `celeriac` bin (dist/core/cli/bin.js) as child processes against a temp
 * project: the fixture app, a node_modules/celeriac link to this repo, a local:// store inside.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, statSync, symlinkSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'dist/core/cli/bin.js');
const FIXTURES = join(ROOT, 'test/fixtures/cli');

/** Build dist/ once for all CLI test files: skipped when it is newer than every source, serialised by a lock. */
export async function ensureBuilt(): Promise<void> {
  const lock = join(tmpdir(), `celeriac-build-${Buffer.from(ROOT).toString('hex').slice(-24)}.lock`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`build lock ${lock} held for 3 minutes: remove it if no build is running`);
      await delay(200);
    }
  }
  try {
    if (!isFresh()) {
      const out = await exec('npm', ['run', 'build'], { cwd: ROOT, timeoutMs: 170_000 });
      if (out.code !== 0) throw new Error(`npm run build failed:\n${out.stdout}${out.stderr}`);
    }
  } finally {
    rmdirSync(lock);
  }
}

function isFresh(): boolean {
  if (!existsSync(BIN)) return false;
  const built = statSync(BIN).mtimeMs;
  return ['core', 'providers', 'deploy'].every((dir) => newestSource(join(ROOT, dir)) <= built);
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** A temp project holding the fixtures, where `import 'celeriac'` resolves to this repo. */
export function makeProject(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-cli-'));
  for (const file of readdirSync(FIXTURES)) copyFileSync(join(FIXTURES, file), join(dir, file));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules/celeriac'), 'dir');
  mkdirSync(join(dir, 'markers'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function exec(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<Outcome> {
  return new Promise((resolvePromise) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs, env: opts.env ?? process.env, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
        resolvePromise({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
      },
    );
  });
}

/** Run one `celeriac` command to completion. */
export function celeriac(cwd: string, args: string[], timeoutMs = 60_000): Promise<Outcome> {
  return exec(process.execPath, [BIN, ...args], { cwd, timeoutMs, env: cleanEnv() });
}

/** The test runner's own CELERIAC_* settings must not leak into the child. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CELERIAC_')));
}

/** A long-running `celeriac worker` whose output can be awaited. */
export class WorkerProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  private readonly exited: Promise<Outcome>;

  constructor(cwd: string, args: string[]) {
    this.child = spawn(process.execPath, [BIN, 'worker', ...args], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (b: Buffer) => {
      this.stdout += b.toString();
    });
    this.child.stderr?.on('data', (b: Buffer) => {
      this.stderr += b.toString();
    });
    this.exited = new Promise((resolvePromise) => {
      this.child.on('close', (code, signal) => resolvePromise({ code, signal, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  get output(): string {
    return this.stdout + this.stderr;
  }

  /** Wait until the output matches, or fail with what was printed so far. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return poll(
      () => this.output.match(pattern) ?? undefined,
      timeoutMs,
      () => `worker output never matched ${pattern}:\n${this.output}`,
      () => this.child.exitCode !== null || this.child.signalCode !== null,
    );
  }

  /** The worker is consuming: its "ready" line is logged after start(). */
  ready(timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return this.waitFor(/ ready\./, timeoutMs);
  }

  exit(timeoutMs = 30_000): Promise<Outcome> {
    return Promise.race([
      this.exited,
      delay(timeoutMs).then(() => {
        throw new Error(`worker did not exit within ${timeoutMs} ms:\n${this.output}`);
      }),
    ]);
  }

  /** Close the reading end of the worker's stdout and stderr, as a dying `| tee log` would: its writes fail with EPIPE. */
  closeOutput(): void {
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Poll `check` until it returns a value; fail after the deadline (or at once when `gaveUp` says it never will). */
export async function poll<T>(check: () => T | undefined, timeoutMs: number, describe: () => string, gaveUp?: () => boolean): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const over = Date.now() > deadline || gaveUp?.() === true;
    const value = check(); // after `over`, so output that arrived with the exit still counts
    if (value !== undefined) return value;
    if (over) throw new Error(describe());
    await delay(50);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
