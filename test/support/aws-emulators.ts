/**
 * The AWS emulators the sqs:// and dynamodb:// tests talk to (shared/reference/emulators.md):
 * fauxqs 1.9.2 for SQS and dynalite 4 for DynamoDB, each in its own child process on a free
 * loopback port (so their event loops do not share the test's), stopped by pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type Socket, createServer } from 'node:net';

export interface Emulator {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Credentials the emulators accept; set so the SDK never looks further (e.g. an instance metadata server). */
export const EMULATOR_CREDENTIALS = {
  accessKeyId: 'test',
  secretAccessKey: 'test',
};
export const EMULATOR_REGION = 'us-east-1';

// fauxqs binds 0.0.0.0 from its CLI and builds queue URLs with a host name that does not resolve;
// started from code on loopback with an empty store host, its queue URLs use the request's host.
const FAUXQS = `
import { buildApp } from 'fauxqs';
const dist = new URL('.', import.meta.resolve('fauxqs')).href;
const { SqsStore } = await import(dist + 'sqs/sqsStore.js');
const sqsStore = new SqsStore(); sqsStore.host = '';
const app = buildApp({ logger: false, stores: { sqsStore } });
await app.listen({ port: 0, host: '127.0.0.1' });
console.log(JSON.stringify({ port: app.server.address().port }));
`;

const DYNALITE = `
const server = require('dynalite')({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
`;

export function startFauxqs(): Promise<Emulator> {
  return startChild('fauxqs', ['--input-type=module', '-e', FAUXQS]);
}

export function startDynalite(): Promise<Emulator> {
  return startChild('dynalite', ['-e', DYNALITE]);
}

async function startChild(name: string, args: string[], timeoutMs = 30_000): Promise<Emulator> {
  const child = spawn(process.execPath, args, {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`${name} did not start within ${timeoutMs} ms: ${stderr.slice(0, 500)}`)), timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('exit', (code) => fail(new Error(`${name} exited with code ${code} before it was ready: ${stderr.slice(0, 500)}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/**
 * Dummy credentials and region in the environment, so clients made from URLs (as the app makes
 * them) sign requests for the emulators and never search further for real ones.
 */
export function useEmulatorEnvironment(): void {
  process.env.AWS_ACCESS_KEY_ID = EMULATOR_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = EMULATOR_CREDENTIALS.secretAccessKey;
  process.env.AWS_REGION = EMULATOR_REGION;
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
}

/** An endpoint that accepts connections and never answers: a service that is stuck (test/providers/dynamodb.test.ts). */
export async function startStallingEndpoint(): Promise<Emulator> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    pid: process.pid,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
