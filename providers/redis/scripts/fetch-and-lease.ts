import { LuaScript } from '../script.js';
import { ACK_HELD } from './ack-held.js';

/**
 * Promote due messages of the delayed sets (where celeriac up to 0.1 kept held ETA messages; now
 * they stay in unacked, see delay-message.ts), then pop up to `max` messages in kombu's order (each priority
 * step, each queue — §2.3) and record every one in `unacked` + `unacked_index` in the same step.
 * kombu pops with BRPOP and records afterwards, so a crash in between loses the message; here
 * nothing exists outside Redis's own structures at any moment. The records of a batch are
 * written with one HSET and one ZADD (a redis.call costs far more than its arguments). Acks
 * waiting to be sent are done first, in the same call (acks.ts). A call that took messages
 * leaves its reply as a receipt, for a re-sent call to answer with; the caller's next call
 * deletes it.
 *
 * KEYS: unacked, unacked_index, this call's receipt, the caller's previous receipt (or this one
 *       again), delayed zset per queue (nq), lists in serving order (the first nq are the
 *       queues' bare lists, in the same order as the delayed keys).
 * ARGV: max, score (epoch seconds, kombu's unit), now (epoch ms), tag prefix, nq, restore's
 *       cutoff now (s), the receipt's lifetime (ms), then the queue name of
 *       each list, then the acks as tag, score pairs.
 * Returns: [next delayed due time in ms or '', the first unacked_index score after that cutoff
 *       (the next record to come due for restore: a held ETA, a lease running out) or '',
 *       tag, queue, raw, tag, queue, raw, ...].
 */
export const fetchAndLease = new LuaScript(
  'fetch-and-lease',
  `${ACK_HELD}
-- A call re-sent after its reply was lost (ioredis re-sends on reconnect) answers what its
-- first run took, from the receipt, instead of taking another batch and leaving the first
-- held by nobody until the visibility timeout.
local receipt = redis.call('GET', KEYS[3])
if receipt then return cjson.decode(receipt) end
if KEYS[4] ~= KEYS[3] then redis.call('DEL', KEYS[4]) end
local max = tonumber(ARGV[1])
local nq = tonumber(ARGV[5])
local nlists = #KEYS - 4 - nq
ackHeld(8 + nlists)
local nextDue = ''
for i = 1, nq do
  local delayed = KEYS[4 + i]
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', ARGV[3], 'LIMIT', 0, 1000)
  for _, member in ipairs(due) do
    -- Due messages go to the front of the bare list, as kombu's restore does.
    redis.call('RPUSH', KEYS[4 + nq + i], member)
    redis.call('ZREM', delayed, member)
  end
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  if first[2] and (nextDue == '' or tonumber(first[2]) < tonumber(nextDue)) then nextDue = first[2] end
end
local tags, records, queues, raws = {}, {}, {}, {}
local n = 0
for j = 1, nlists do
  if n >= max then break end
  local queue = ARGV[7 + j]
  local got = redis.call('RPOP', KEYS[4 + nq + j], max - n)
  if got then
    for _, raw in ipairs(got) do
      n = n + 1
      local tag, exchange, rk = nil, '', queue
      local ok, env = pcall(cjson.decode, raw)
      if ok and type(env) == 'table' and type(env.properties) == 'table' then
        local t = env.properties.delivery_tag
        if type(t) == 'string' or type(t) == 'number' then tag = tostring(t) end
        local info = env.properties.delivery_info
        if type(info) == 'table' then
          if type(info.exchange) == 'string' then exchange = info.exchange end
          if type(info.routing_key) == 'string' then rk = info.routing_key end
        end
      end
      if tag then
        records[n] = '[' .. raw .. ',' .. cjson.encode(exchange) .. ',' .. cjson.encode(rk) .. ']'
      else
        -- Undecodable: kept under a made-up tag so the consumer can dead-letter it with its reason.
        tag = ARGV[4] .. n
        records[n] = cjson.encode({ raw, '', queue })
      end
      tags[n], queues[n], raws[n] = tag, queue, raw
    end
  end
end
local nextRestore = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[6], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2] or ''
local out = { nextDue, nextRestore }
if n == 0 then return out end
-- A duplicate delivery tag (a copied envelope, here or already held) must not overwrite the other holder's record.
local held = {}
slices(n, function (i, j)
  local found = redis.call('HMGET', KEYS[1], unpack(tags, i, j))
  for k = i, j do held[k] = found[k - i + 1] end
end)
local seen, hset, zadd = {}, {}, {}
for i = 1, n do
  local tag = tags[i]
  if held[i] or seen[tag] then tag = ARGV[4] .. i end
  seen[tag] = true
  hset[#hset + 1] = tag
  hset[#hset + 1] = records[i]
  zadd[#zadd + 1] = ARGV[2]
  zadd[#zadd + 1] = tag
  out[#out + 1] = tag
  out[#out + 1] = queues[i]
  out[#out + 1] = raws[i]
end
slices(#hset, function (i, j) redis.call('HSET', KEYS[1], unpack(hset, i, j)) end)
slices(#zadd, function (i, j) redis.call('ZADD', KEYS[2], unpack(zadd, i, j)) end)
redis.call('SET', KEYS[3], cjson.encode(out), 'PX', ARGV[7])
return out
`,
);
