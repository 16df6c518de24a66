import { LuaScript } from '../script.js';
import { HELD } from './guard.js';

/**
 * Move a held message from unacked to its queue's dead-letter list.
 * KEYS: unacked, unacked_index, dead list. ARGV: tag, score, entry JSON {reason, raw, at}.
 */
export const deadLetterMessage = new LuaScript(
  'dead-letter-message',
  `${HELD}
if not held(ARGV[1], ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[3])
return 1
`,
);
