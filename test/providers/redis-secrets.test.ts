/**
 * Passwords in redis:// URLs, against a server of the test's own with ACL users: any password
 * redis-py accepts connects, and none reaches an error, its cause or a dead-letter reason.
 */
import type { ChildProcess } from 'node:child_process';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../core/index.js';
import { redisStore } from '../../providers/redis/index.js';
import { CLAIM_CHECK_ATTRIBUTE, resolveBody } from '../../providers/sqs/claim-check.js';
import { freePort, startRedisServer } from '../support/redis-server.js';

let server: ChildProcess | undefined;
let port = 0;

beforeAll(async () => {
  port = await freePort();
  server = await startRedisServer([
    '--port',
    String(port),
    '--requirepass',
    'Def4ultPw',
    // carol's password holds a '%' that starts no escape; dave is disabled (his password is right).
    '--user',
    'carol',
    'on',
    '>100%pure',
    '~*',
    '&*',
    '+@all',
    '--user',
    'dave',
    'off',
    '>dav3Real',
    '~*',
    '+@all',
  ]);
});

afterAll(() => {
  server?.kill('SIGKILL');
});

describe('redis:// passwords', () => {
  it("connects with a password holding a '%' written as it is, as redis-py and kombu do", async () => {
    const store = redisStore(`redis://carol:100%pure@127.0.0.1:${port}/0`);
    await store.put('celeriac-secrets-k', 'v', { ready: true, keepReady: false });
    expect(await store.get('celeriac-secrets-k')).toBe('v');
    await store.close();
  });

  it("keeps a refused login's password out of the producer's error and its cause", async () => {
    const app = createApp('secrets', { broker: `redis://dave:dav3Real@127.0.0.1:${port}/0` });
    app.conf.broker_connection_timeout = 1;
    const add = app.task('secrets.add', (x: number, y: number) => x + y);
    const err = await add.delay(1, 2).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/Could not reach Redis at redis:\/\/dave:\*\*@127\.0\.0\.1:\d+\/0 within 1 s \(WRONGPASS/);
    expect(inspect(err, { depth: 10 })).not.toContain('dav3Real');
    expect(JSON.stringify((err as Error).cause)).not.toContain('dav3Real');
    await app.close();
  });

  it('names a claim-check store in a dead-letter reason without its password', async () => {
    const store = redisStore(`redis://:Def4ultPw@127.0.0.1:${port}/0`);
    const resolved = await resolveBody('{}', { [CLAIM_CHECK_ATTRIBUTE]: { stringValue: 'celeriac-claim-check-gone' } }, store);
    expect(resolved).toMatchObject({ malformed: expect.stringMatching(/is not in redis:\/\/:\*\*@127\.0\.0\.1:\d+\/0 \(expired/) });
    expect(JSON.stringify(resolved)).not.toContain('Def4ultPw');
    await store.close();
  });
});
