/**
 * A pidbox reply published to a direct exchange, as kombu's virtual transport routes it (§2.3):
 * the queues bound in `_kombu.binding.<exchange>` with the reply's routing key get it LPUSHed.
 * One script, so a client removing its binding and list cannot race a reply into a fresh list.
 * KEYS[1] binding set; ARGV: routing key, envelope, key prefix, binding separator, list TTL (ms).
 */
import { LuaScript } from './script.js';

export const routeReply = new LuaScript(
  'route-reply',
  `
local sep, n = ARGV[4], 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local i = string.find(member, sep, 1, true)
  local j = i and string.find(member, sep, i + #sep, true)
  if j and string.sub(member, 1, i - 1) == ARGV[1] then
    local list = ARGV[3] .. string.sub(member, j + #sep)
    redis.call('LPUSH', list, ARGV[2])
    redis.call('PEXPIRE', list, ARGV[5])
    n = n + 1
  end
end
return n`,
);
