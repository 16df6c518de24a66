import { LuaScript } from '../script.js';
import { HELD } from './guard.js';

/**
 * Keep a held message hidden longer: move its unacked_index score forward, so restore (which
 * takes scores older than now − visibility timeout) leaves it alone until the new time. A call
 * re-sent after a lost reply (ioredis does so on reconnect) finds the new score already there:
 * that is its own move, so it still says moved, and the holder keeps settling under the new score.
 * KEYS: unacked, unacked_index. ARGV: tag, score, new score.
 */
export const extendLease = new LuaScript(
  'extend-lease',
  `${HELD}
if held(ARGV[1], ARGV[3]) then return 1 end
if not held(ARGV[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
return 1
`,
);
