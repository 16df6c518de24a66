/**
 * A built Lambda handler, invoked as Lambda invokes it: with an event and a context whose
 * remaining time counts down to the function timeout.
 *
 * - `inProcessFunction`: the bundle imported into the test's own process (the bench, and tests
 *   that look inside the handler's app).
 * - `containerFunctions`: each invocation in a child process ("container") that imports the
 *   bundle once and serves one invocation at a time; a container that exits or overruns the
 *   timeout fails its invocation and is replaced, as Lambda replaces a crashed runtime.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import type { SqsBatchResponse, SqsEvent } from '../../deploy/aws/lambda-types.js';

export type Invocation = { ok: true; response: SqsBatchResponse | undefined } | { ok: false; error: string };

export interface LambdaFunction {
  invoke(event: SqsEvent): Promise<Invocation>;
  stop(): Promise<void>;
}

type Handler = (event: SqsEvent, context: unknown) => Promise<SqsBatchResponse | undefined>;

const context = (timeoutMs: number, id: number) => {
  const deadline = Date.now() + timeoutMs;
  return { functionName: 'celeriac-test', awsRequestId: String(id), getRemainingTimeInMillis: () => deadline - Date.now() };
};

export async function inProcessFunction(
  handlerFile: string,
  timeoutMs: number,
): Promise<LambdaFunction & { module: Record<string, unknown> }> {
  const module = (await import(pathToFileURL(handlerFile).href)) as Record<string, unknown>;
  const handler = module.handler as Handler;
  let n = 0;
  return {
    module,
    async invoke(event) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<Invocation>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, error: `timed out after ${timeoutMs} ms` }), timeoutMs);
      });
      try {
        return await Promise.race([
          handler(event, context(timeoutMs, ++n)).then(
            (response): Invocation => ({ ok: true, response }),
            (err: unknown): Invocation => ({ ok: false, error: String((err as Error)?.stack ?? err) }),
          ),
          timedOut,
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop() {},
  };
}

// The runtime inside a container: import the bundle (the init phase, not timed), then serve invocations.
const RUNTIME = `
const mod = await import(process.env.CELERIAC_TEST_HANDLER);
process.on('message', async ({ id, event, timeoutMs }) => {
  const deadline = Date.now() + timeoutMs;
  const context = { functionName: 'celeriac-test', awsRequestId: String(id), getRemainingTimeInMillis: () => deadline - Date.now() };
  try {
    process.send({ id, ok: true, response: await mod.handler(event, context) });
  } catch (err) {
    process.send({ id, ok: false, error: String(err && err.stack || err) });
  }
});
process.send({ ready: true });
`;

interface Container {
  child: ChildProcess;
  ready: Promise<void>;
}

export function containerFunctions(
  handlerFile: string,
  timeoutMs: number,
  env: NodeJS.ProcessEnv = {},
): LambdaFunction & { crashes: number } {
  const idle: Container[] = [];
  const all = new Set<Container>();
  let n = 0;
  const start = (): Container => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', RUNTIME], {
      env: { ...process.env, ...env, CELERIAC_TEST_HANDLER: pathToFileURL(handlerFile).href },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`the function's init failed (exit code ${code})`)));
    });
    const container = { child, ready };
    all.add(container);
    child.once('exit', () => all.delete(container));
    return container;
  };
  const fn = {
    crashes: 0,
    async invoke(event: SqsEvent): Promise<Invocation> {
      const container = idle.pop() ?? start();
      const id = ++n;
      try {
        await container.ready;
      } catch (err) {
        return { ok: false, error: String(err) };
      }
      const outcome = await new Promise<Invocation & { keep: boolean }>((resolve) => {
        const done = (result: Invocation & { keep: boolean }) => {
          clearTimeout(timer);
          container.child.off('message', onMessage);
          container.child.off('exit', onExit);
          resolve(result);
        };
        const onMessage = (m: { id: number } & Invocation) => {
          if (m.id === id) done(m.ok ? { ok: true, response: m.response, keep: true } : { ok: false, error: m.error, keep: true });
        };
        const onExit = (code: number | null) => {
          fn.crashes++;
          done({ ok: false, error: `the function's process exited (code ${code}) mid-invocation`, keep: false });
        };
        const timer = setTimeout(() => {
          container.child.kill('SIGKILL');
          done({ ok: false, error: `timed out after ${timeoutMs} ms`, keep: false });
        }, timeoutMs);
        container.child.on('message', onMessage);
        container.child.once('exit', onExit);
        container.child.send({ id, event, timeoutMs });
      });
      if (outcome.keep) idle.push(container);
      const { keep: _, ...invocation } = outcome;
      return invocation;
    },
    async stop() {
      await Promise.all(
        [...all].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.child.exitCode !== null || c.child.signalCode !== null) return resolve();
              c.child.once('exit', () => resolve());
              c.child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
  return fn;
}
