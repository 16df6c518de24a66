/**
 * A redis-server of a test's own, on a free loopback port, for what the shared one cannot show
 * (TLS, a server with fewer databases): started with `args`, ready when it says so.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { eventually } from '../conformance/index.js';

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function startRedisServer(args: string[]): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stdout?.on('data', (d) => (output += d));
  await eventually('the Redis server to accept connections', () => output.includes('Ready to accept connections'), 10_000);
  return server;
}
