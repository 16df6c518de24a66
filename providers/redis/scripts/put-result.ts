import { LuaScript } from '../script.js';

/**
 * Store a result value and PUBLISH it on the key's channel in one step, as Celery's Redis backend
 * does with MULTI/SETEX/PUBLISH (§4.1). With keepReady the write is skipped when the stored value
 * is ready: a Celery meta whose status is SUCCESS/FAILURE/REVOKED (or a bare status string).
 * KEYS: the key. ARGV: value, ttl ms ('' = keep forever), keepReady ('1'/'0').
 * Returns 1 when written, 0 when skipped.
 */
export const putResult = new LuaScript(
  'put-result',
  `
if ARGV[3] == '1' then
  local current = redis.call('GET', KEYS[1])
  if current then
    local status = current
    local ok, meta = pcall(cjson.decode, current)
    if ok and type(meta) == 'table' and type(meta.status) == 'string' then status = meta.status end
    if status == 'SUCCESS' or status == 'FAILURE' or status == 'REVOKED' then return 0 end
  end
end
local ttl = tonumber(ARGV[2])
if not ttl then
  redis.call('SET', KEYS[1], ARGV[1])
elseif ttl % 1000 == 0 then
  redis.call('SETEX', KEYS[1], ttl / 1000, ARGV[1])
else
  redis.call('PSETEX', KEYS[1], math.max(1, math.floor(ttl)), ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
`,
);
