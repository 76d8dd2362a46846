-- shuffle.lua: step 2 of the pre-queue lottery of event E (`docs/LOTTERY.md`): the frozen
-- pre-queue goes ahead of every later arrival in the lottery order the caller computed
-- from the revealed seed. Runs once: the first replica to call it wins; every replica
-- computes the same order, and the order is kept as the public record.
--
-- KEYS[1] waiting ZSET   KEYS[2] prequeue ZSET (frozen)   KEYS[3] shuffled STRING
-- KEYS[4] stats HASH     KEYS[5] lottery LIST (the order, rank 1 first)
-- ARGV[1] ticket key prefix   ARGV[2] TTL of the record, s
-- ARGV[3..] the frozen pre-queue in lottery order
--
-- Scores are rank - total - 1 (all negative), so they precede arrival numbers (>= 1);
-- each ticket's record gets `line` = rank. A ticket that left since the freeze keeps its
-- rank in the record but is not queued.
-- Returns the number of tickets queued; -1 if already done; -2 if the pre-queue is not
-- frozen or ARGV is not exactly the frozen list (nothing is written then).
local m = redis.call('GET', KEYS[3])
if m == 'done' then
  return -1
end
if m ~= 'frozen' then
  return -2
end
local total = #ARGV - 2
if total ~= redis.call('ZCARD', KEYS[2]) then
  return -2
end
local listed = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if listed[id] or not redis.call('ZSCORE', KEYS[2], id) then
    return -2
  end
  listed[id] = true
end
local ttl = tonumber(ARGV[2])
local moved = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local rank = i - 2
  local key = ARGV[1] .. id
  if redis.call('EXISTS', key) == 1 then
    local score = rank - total - 1
    redis.call('ZADD', KEYS[1], score, id)
    redis.call('HSET', key, 'state', 'waiting', 'score', score, 'line', rank)
    moved = moved + 1
  end
  redis.call('RPUSH', KEYS[5], id)
end
redis.call('SET', KEYS[3], 'done', 'EX', ttl)
redis.call('HSET', KEYS[4], 'lottery_total', total)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('EXPIRE', KEYS[5], ttl)
return moved
