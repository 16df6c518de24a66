import { SLICES } from './slices.js';

/**
 * Lua: ack the held tags among ARGV[from..] (tag, score pairs): ZREM + HDEL, as kombu's ack
 * (§2.3), each command taking all the tags at once. A tag is held when its unacked_index score is
 * still the one its holder wrote (the guard of guard.ts, read with one ZMSCORE on Redis 6.2+).
 * KEYS[1], KEYS[2]: unacked, unacked_index. Returns the number acked.
 */
export const ACK_HELD = `${SLICES}
local function ackHeld(from)
  local tags, scores = {}, {}
  for i = from, #ARGV, 2 do
    tags[#tags + 1] = ARGV[i]
    scores[#scores + 1] = ARGV[i + 1]
  end
  local held = {}
  slices(#tags, function (i, j)
    local ok, current = pcall(redis.call, 'ZMSCORE', KEYS[2], unpack(tags, i, j))
    for k = i, j do
      local score
      if ok then score = current[k - i + 1] else score = redis.call('ZSCORE', KEYS[2], tags[k]) end
      if score and tonumber(score) == tonumber(scores[k]) then held[#held + 1] = tags[k] end
    end
  end)
  slices(#held, function (i, j)
    redis.call('ZREM', KEYS[2], unpack(held, i, j))
    redis.call('HDEL', KEYS[1], unpack(held, i, j))
  end)
  return #held
end
`;
