/**
 * A fixture script run in child processes that print one JSON line per event: bundled once by
 * esbuild (packages external, so native modules resolve from the repo), killed after the suite.
 * Call inside a describe block.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll } from 'vitest';
import { eventually } from '../conformance/index.js';

export type ChildEvent = Record<string, unknown>;
/** What useChildScript returns: starts one child with the given arguments. */
export type ChildScript = ReturnType<typeof useChildScript>;

export function useChildScript(fixture: string, outName: string) {
  const outDir = resolve('node_modules/.cache/celeriac-test');
  const script = join(outDir, outName);
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    mkdirSync(outDir, { recursive: true });
    await build({
      entryPoints: [resolve(fixture)],
      outfile: script,
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      logLevel: 'silent',
    });
  });
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  /** Start a child; `events` fills with its JSON lines. */
  return function child(...args: string[]) {
    const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(proc);
    const events: ChildEvent[] = [];
    let stderr = '';
    let buffered = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line) events.push(JSON.parse(line));
    });
    proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const wait = (what: string, match: (e: ChildEvent) => boolean, timeoutMs = 15_000) =>
      eventually(`${what} (child stderr: ${stderr.slice(0, 500)})`, () => events.find(match), timeoutMs);
    const killed = () =>
      new Promise<void>((done) => (proc.exitCode !== null || proc.signalCode !== null ? done() : proc.once('exit', () => done())));
    return { proc, events, wait, killed };
  };
}
