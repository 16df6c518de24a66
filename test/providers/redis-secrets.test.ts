/**
 * Passwords in redis:// URLs, against a server of the test's own with ACL users: any password
 * redis-py accepts connects, and none reaches a dead-letter reason.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
    // carol's password holds a '%' that starts no escape.
    '--user',
    'carol',
    'on',
    '>100%pure',
    '~*',
    '&*',
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

  it('names a claim-check store in a dead-letter reason without its password', async () => {
    const store = redisStore(`redis://:Def4ultPw@127.0.0.1:${port}/0`);
    const resolved = await resolveBody('{}', { [CLAIM_CHECK_ATTRIBUTE]: { stringValue: 'celeriac-claim-check-gone' } }, store);
    expect(resolved).toMatchObject({ malformed: expect.stringMatching(/is not in redis:\/\/:\*\*@127\.0\.0\.1:\d+\/0 \(expired/) });
    expect(JSON.stringify(resolved)).not.toContain('Def4ultPw');
    await store.close();
  });
});
