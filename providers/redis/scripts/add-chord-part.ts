import { LuaScript } from '../script.js';

/**
 * One finished chord header task, as Celery's Redis backend records it (on_chord_part_return,
 * §4.1): ZADD its part to the group's `.j` set, scored by its place in the header, and refresh
 * the keys' expiry. When the set then holds the size the client stored in `.s` (adjusted by
 * `.t`), the chord is complete and every part is returned in header order. One script, so two
 * workers finishing the last two parts at once cannot both miss (or both see) completion. A task
 * has one part: one that ran again (its ack lost) finds its first part among those of its score
 * and leaves it, whatever it returned this time, so the count still meets the size. A `.j` list
 * (Celery's result_chord_ordered=False) is appended to instead, as Celery does: results in
 * finishing order, one per task there too.
 * KEYS: parts (.j), size (.s), extra (.t). ARGV: member, score ('+inf' without an index), ttl ms ('' = keep), task id.
 * Returns the parts when complete, else nil.
 */
export const addChordPart = new LuaScript(
  'add-chord-part',
  `
-- A task's part, whoever wrote it: '[1, "<id>", ...' (Python's json) or '[1,"<id>",...' (celeriac's),
-- found by the quoted id at the head of the member (no decoding of the result behind it).
local quoted = '"' .. ARGV[4] .. '"'
local function known(members)
  for _, member in ipairs(members) do
    if string.find(string.sub(member, 1, #quoted + 8), quoted, 1, true) then return true end
  end
  return false
end
-- Celery with result_chord_ordered off keeps the parts in a list (in finishing order): join it.
local list = redis.call('TYPE', KEYS[1]).ok == 'list'
local count
if list then
  if known(redis.call('LRANGE', KEYS[1], 0, -1)) then
    count = redis.call('LLEN', KEYS[1])
  else
    count = redis.call('RPUSH', KEYS[1], ARGV[1])
  end
else
  -- Parts of one score are one task's (its group index): only those are looked at.
  if not known(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[2])) then redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) end
  count = redis.call('ZCARD', KEYS[1])
end
local ttl = tonumber(ARGV[3])
if ttl then
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
local size = tonumber(redis.call('GET', KEYS[2]) or '')
if not size or count ~= size + (tonumber(redis.call('GET', KEYS[3]) or '') or 0) then return false end
if list then return redis.call('LRANGE', KEYS[1], 0, -1) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
`,
);
