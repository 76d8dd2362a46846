-- seen.lua: records that waiting fans of event E were seen (status polls and open SSE
-- streams, buffered by a replica and flushed in one call per event every second), so
-- admission does not skip them as abandoned.
--
-- KEYS[1] waiting ZSET: a ticket in it without a record (join_group.lua's lazy records)
--         gets its record here (state waiting, seq = its score)
-- ARGV[1] ticket key prefix ("{ns}:{E}:ticket:")   ARGV[2] ticket record TTL, s
-- ARGV[3] now in Unix ms, or "" for the Redis clock (tests pass a clock)
-- ARGV[4..] ticket ids
--
-- Ticket keys are derived from ARGV[1] (same {E} hash tag, one Cluster slot).
-- Returns {id, state or '', ...} for each ticket that no longer waits (admitted,
-- abandoned, left or expired): the replica then answers it from Redis.
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local ttl = tonumber(ARGV[2])
local out = {}
for i = 4, #ARGV do
  local key = ARGV[1] .. ARGV[i]
  local state = redis.call('HGET', key, 'state')
  local score = nil
  if not state then
    score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  end
  if score then
    redis.call('HSET', key, 'seq', score, 'state', 'waiting', 'last_seen_ms', now)
    redis.call('EXPIRE', key, ttl)
  elseif state == 'waiting' or state == 'prequeue' then
    redis.call('HSET', key, 'last_seen_ms', now)
    redis.call('EXPIRE', key, ttl)
  else
    out[#out + 1] = ARGV[i]
    out[#out + 1] = state or ''
  end
end
return out
