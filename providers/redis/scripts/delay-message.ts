import { LuaScript } from '../script.js';
import { HELD } from './guard.js';

/**
 * retryLater: move a held message out of unacked into the queue's delayed set (score = due ms),
 * or, with no delay, to the front of its bare list. A long ETA therefore never sits in unacked
 * past the visibility timeout, so it is never restored and run twice (Celery's flaw, §2.4).
 * KEYS: unacked, unacked_index, delayed zset, bare list.
 * ARGV: tag, score, envelope to keep, due ms ('' = now).
 * Returns 1 when moved, 0 when the lease was no longer held.
 */
export const delayMessage = new LuaScript(
  'delay-message',
  `${HELD}
if not held(ARGV[1], ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[4] == '' then
  redis.call('RPUSH', KEYS[4], ARGV[3])
else
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
end
return 1
`,
);
