/**
 * Passwords in redis:// URLs, against a server of the test's own: none reaches a dead-letter reason.
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
  server = await startRedisServer(['--port', String(port), '--requirepass', 'Def4ultPw']);
});

afterAll(() => {
  server?.kill('SIGKILL');
});

describe('redis:// passwords', () => {
  it('names a claim-check store in a dead-letter reason without its password', async () => {
    const store = redisStore(`redis://:Def4ultPw@127.0.0.1:${port}/0`);
    const resolved = await resolveBody('{}', { [CLAIM_CHECK_ATTRIBUTE]: { stringValue: 'celeriac-claim-check-gone' } }, store);
    expect(resolved).toMatchObject({ malformed: expect.stringMatching(/is not in redis:\/\/:\*\*@127\.0\.0\.1:\d+\/0 \(expired/) });
    expect(JSON.stringify(resolved)).not.toContain('Def4ultPw');
    await store.close();
  });
});
