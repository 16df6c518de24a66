import { LuaScript } from '../script.js';
import { HELD } from './guard.js';

/**
 * retryLater: a held message due now goes back to a list: an unchanged one to the front of its
 * bare list (RPUSH, as kombu's restore hands a message back), a replacement (a retry: a new
 * message, as Celery re-publishes it) to the back of its priority's list (LPUSH, a publish). Due
 * later, it stays in kombu's unacked records, held by nobody, under the score that makes it expire
 * at its due time (due − visibility timeout): the restore of either language (kombu's
 * restore_visible or restore.ts) puts it back in its queue then, exactly once. So a long ETA is
 * neither held in a worker's memory past the visibility timeout and run twice (Celery's flaw, §2.4)
 * nor kept anywhere a Python worker cannot reach.
 * KEYS: unacked, unacked_index, the list to push to when due now.
 * ARGV: tag held, its score, the envelope, the score to hold it under ('' = now), the tag to
 * hold it under (a replacement's own), its queue (the record's routing key, default exchange),
 * 'front' to hand it back to the front of the list, else it is published to the back.
 * Returns 1 when moved, 0 when the lease was no longer held.
 */
export const delayMessage = new LuaScript(
  'delay-message',
  `${HELD}
if not held(ARGV[1], ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if ARGV[4] == '' then
  redis.call(ARGV[7] == 'front' and 'RPUSH' or 'LPUSH', KEYS[3], ARGV[3])
else
  redis.call('HSET', KEYS[1], ARGV[5], '[' .. ARGV[3] .. ',"",' .. cjson.encode(ARGV[6]) .. ']')
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
end
return 1
`,
);
