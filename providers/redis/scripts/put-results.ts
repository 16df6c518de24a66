import { LuaScript } from '../script.js';

/**
 * Store result values and PUBLISH each on its key's channel, as Celery's Redis backend does with
 * MULTI/SETEX/PUBLISH (§4.1); every write of one tick goes in one call. A write is skipped when
 * the stored value is what its guard keeps: 'ready', a Celery meta whose status is
 * SUCCESS/FAILURE/REVOKED (or a bare status string); 'success', one whose status is SUCCESS.
 * KEYS: one key per write. ARGV: per write, value, ttl ms ('' = keep forever), guard ('ready', 'success' or '').
 * Returns one 1 (written) or 0 (skipped) per write.
 */
export const putResults = new LuaScript(
  'put-results',
  `
local out = {}
for i = 1, #KEYS do
  local key, value, ttl, keep = KEYS[i], ARGV[3 * i - 2], tonumber(ARGV[3 * i - 1]), ARGV[3 * i]
  local skip = false
  if keep ~= '' then
    local current = redis.call('GET', key)
    if current then
      local status = current
      local ok, meta = pcall(cjson.decode, current)
      if ok and type(meta) == 'table' and type(meta.status) == 'string' then status = meta.status end
      skip = status == 'SUCCESS' or (keep == 'ready' and (status == 'FAILURE' or status == 'REVOKED'))
    end
  end
  if skip then
    out[i] = 0
  else
    if not ttl then
      redis.call('SET', key, value)
    elseif ttl % 1000 == 0 then
      redis.call('SETEX', key, ttl / 1000, value)
    else
      redis.call('PSETEX', key, math.max(1, math.floor(ttl)), value)
    end
    redis.call('PUBLISH', key, value)
    out[i] = 1
  end
end
return out
`,
);
