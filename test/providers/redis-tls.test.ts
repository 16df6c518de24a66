/**
 * rediss:// against a real TLS Redis: a redis-server started here on a free loopback port, with
 * the test certificate in test/fixtures/tls (a CA and a server certificate for 127.0.0.1 and
 * localhost, valid until 2126; test use only). The certificate is checked against the CA given by
 * ssl_ca_certs, skipped with ssl_cert_reqs=none, and an unverifiable server is a clear error.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, OperationalError, createApp } from '../../core/index.js';
import { freePort, startRedisServer } from '../support/redis-server.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
let server: ChildProcess | undefined;
let port = 0;
let app: App | undefined;

beforeAll(async () => {
  port = await freePort();
  server = await startRedisServer([
    ...['--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'no'],
    ...['--tls-cert-file', fixture('server.pem'), '--tls-key-file', fixture('server-key.pem'), '--tls-ca-cert-file', fixture('ca.pem')],
  ]);
});

afterAll(() => {
  server?.kill('SIGKILL');
});

afterEach(async () => {
  await app?.close();
  app = undefined;
});

function tlsApp(query: string): App {
  const url = `rediss://127.0.0.1:${port}/0?${query}`;
  app = createApp('tls', { broker: url, backend: url, broker_connection_timeout: 2 });
  return app;
}

describe('rediss://', () => {
  it('sends, runs and reads results over TLS, the certificate checked against ssl_ca_certs', async () => {
    const app = tlsApp(`ssl_ca_certs=${fixture('ca.pem')}`);
    const add = app.task('tls.add', (a: number, b: number) => a + b);
    const worker = await app.worker({ concurrency: 1 });
    await worker.start();
    expect(await (await add.delay(2, 3)).get({ timeout: 10_000 })).toBe(5);
    await worker.stop();
  });

  it('ssl_cert_reqs=none skips the check', async () => {
    const app = tlsApp('ssl_cert_reqs=none');
    const add = app.task('tls.add', (a: number, b: number) => a + b);
    await expect(add.delay(1, 1)).resolves.toBeDefined();
  });

  it('a certificate that cannot be verified is a clear error, not a hang', async () => {
    const app = tlsApp('');
    const add = app.task('tls.add', (a: number, b: number) => a + b);
    const err = await add.delay(1, 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationalError);
    expect((err as Error).message).toMatch(/Could not reach Redis at rediss:\/\/127\.0\.0\.1:\d+\/0.*\((self[- ]signed|unable to verify)/i);
  });

  it('ssl_ca_certs naming a missing file, or given without TLS, is refused with the reason', async () => {
    app = createApp('tls', { broker: `rediss://127.0.0.1:${port}/0?ssl_ca_certs=/nonexistent/ca.pem`, backend: 'memory://tls' });
    await expect(app.task('tls.x', () => 1).delay()).rejects.toThrow(
      /Cannot read the CA bundle ssl_ca_certs=\/nonexistent\/ca\.pem: ENOENT/,
    );
    await app.close();
    app = createApp('tls', { broker: 'redis://127.0.0.1:6379/0?ssl_ca_certs=/tmp/ca.pem', backend: 'memory://tls' });
    await expect(app.task('tls.x', () => 1).delay()).rejects.toThrow(/ssl_ca_certs in 'redis:\/\/.*' needs TLS: use rediss:\/\//);
  });
});
