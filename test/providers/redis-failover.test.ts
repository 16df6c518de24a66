/**
 * redis:// across a failover behind one address (a DNS name or a proxy that moves to the promoted
 * server): the old primary, demoted to a replica, keeps its connections open and answers every
 * write on them READONLY. Two private redis-servers and a proxy whose target switches.
 */
import type { ChildProcess } from 'node:child_process';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../core/index.js';
import { eventually, taskMessage } from '../conformance/index.js';
import { freePort, startRedisServer } from '../support/redis-server.js';

const servers: ChildProcess[] = [];
let proxy: Server | undefined;

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL');
  await new Promise((resolve) => (proxy ? proxy.close(resolve) : resolve(undefined)));
});

/** A proxy that sends each new connection to `target()`; open ones stay where they are. */
async function switchingProxy(target: () => number): Promise<{ server: Server; port: number }> {
  const server = createServer((client: Socket) => {
    const upstream = createConnection({ port: target(), host: '127.0.0.1' });
    client.pipe(upstream).pipe(client);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('redis:// failover', () => {
  it('a worker and a producer whose server was demoted to a replica reconnect to the new primary and go on', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    // The demoted server syncs from the new one at once (by default the sender waits 5 s for
    // company), in memory (by default the receiver writes dump.rdb into the working directory).
    const fastSync = ['--repl-diskless-sync-delay', '0', '--repl-diskless-load', 'swapdb'];
    servers.push(
      await startRedisServer(['--port', String(portA), ...fastSync]),
      await startRedisServer(['--port', String(portB), ...fastSync]),
    );
    let target = portA;
    const switching = await switchingProxy(() => target);
    proxy = switching.server;
    const url = `redis://127.0.0.1:${switching.port}/0`;
    const app = createApp('failover', { broker: url, backend: url });
    const a = new Redis({ port: portA });
    const b = new Redis({ port: portB });
    try {
      const add = app.task('failover.add', (x: number, y: number) => x + y);
      const worker = await app.worker({ concurrency: 1 });
      await worker.start();
      expect(await (await add.delay(1, 2)).get({ timeout: 10_000 })).toBe(3);
      // B is promoted, A follows it, and the address now leads to B.
      await a.replicaof('127.0.0.1', String(portB));
      target = portB;
      await eventually('A to answer READONLY', async () => (await a.set('probe', '1').catch((e: Error) => e.message)) !== 'OK');
      expect(await (await add.delay(20, 22)).get({ timeout: 15_000 })).toBe(42);
      // A batch (one MULTI) from the producer's kept connection lands on B too.
      const broker = await app.broker();
      await broker.publish('failover-batch', [taskMessage('failover-batch', [1]), taskMessage('failover-batch', [2])]);
      expect(await b.llen('failover-batch')).toBe(2);
      await worker.stop();
    } finally {
      a.disconnect();
      b.disconnect();
      await app.close();
    }
  });
});
