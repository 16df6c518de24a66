/**
 * The lease guard every settle script starts with: the tag is still in unacked_index with the
 * score this holder wrote. After a restore and a redelivery the score differs, so a holder whose
 * lease expired cannot settle the new holder's message.
 */
export const HELD = `
local function held(tag, score)
  local current = redis.call('ZSCORE', KEYS[2], tag)
  return current and tonumber(current) == tonumber(score)
end
`;
