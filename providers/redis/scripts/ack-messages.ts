import { LuaScript } from '../script.js';
import { HELD } from './guard.js';

/**
 * Ack a batch: ZREM + HDEL per held tag, as kombu's ack (§2.3), in one call per tick.
 * KEYS: unacked, unacked_index. ARGV: tag, score, tag, score, ...
 * Returns the number of messages acked.
 */
export const ackMessages = new LuaScript(
  'ack-messages',
  `${HELD}
local n = 0
for i = 1, #ARGV, 2 do
  if held(ARGV[i], ARGV[i + 1]) then
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`,
);
