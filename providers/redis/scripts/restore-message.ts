import { LuaScript } from '../script.js';

/**
 * Restore one expired unacked message (§2.4): only if its record is unchanged and its score is
 * still past the cutoff (another restorer or a late ack may have won), drop it from unacked and
 * push the redelivered envelope to the front of each queue its exchange routes it to, as kombu's
 * RPUSH does. KEYS: unacked, unacked_index, the target lists. ARGV: tag, record as read, cutoff (s), envelope.
 */
export const restoreMessage = new LuaScript(
  'restore-message',
  `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if score and tonumber(score) > tonumber(ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 3, #KEYS do redis.call('RPUSH', KEYS[i], ARGV[4]) end
return 1
`,
);
