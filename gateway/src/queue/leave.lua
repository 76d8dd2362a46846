-- leave.lua: a fan gives up their place (or their pass) in event E.
--
-- KEYS[1] ticket HASH   KEYS[2] waiting ZSET   KEYS[3] prequeue ZSET   KEYS[4] active ZSET
-- KEYS[5] shuffled STRING (lottery marker)   KEYS[6] revoked ZSET
-- ARGV[1] ticket id
--
-- Once the pre-queue is frozen for the lottery its ZSET is the published record of who
-- took part, so it is left alone; the ticket leaves the waiting set instead.
--
-- A ticket that holds a live pass gives it up: it leaves the active set (its
-- `max_active` slot is free for the next fan at once) and is added to the revoked set,
-- scored by its pass expiry (Unix ms), so that a hold or confirm with that pass is
-- refused by every replica (`http/auth.rs` `LivePass`). Entries past their expiry are trimmed
-- here (the pass is refused by its `exp` then), and the set expires with its last pass.
--
-- Returns 1 if the ticket existed, else 0 (leaving twice is not an error).
-- A waiting ticket may have no record yet (join_group.lua's lazy records): it existed if
-- it had a record or a place in any of the sets.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pass_exp = tonumber(redis.call('ZSCORE', KEYS[4], ARGV[1]))
if redis.call('HGET', KEYS[1], 'state') == 'admitted' then
  local recorded = tonumber(redis.call('HGET', KEYS[1], 'pass_exp_ms'))
  if recorded and (not pass_exp or recorded > pass_exp) then
    pass_exp = recorded
  end
end
if pass_exp and pass_exp > now then
  redis.call('ZADD', KEYS[6], pass_exp, ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
local last = redis.call('ZRANGE', KEYS[6], -1, -1, 'WITHSCORES')
if #last == 2 then
  redis.call('PEXPIREAT', KEYS[6], math.floor(tonumber(last[2])) + 1000)
end

local existed = redis.call('EXISTS', KEYS[1])
existed = existed + redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[5]) == 0 then
  existed = existed + redis.call('ZREM', KEYS[3], ARGV[1])
end
existed = existed + redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[1])
if existed > 0 then
  return 1
end
return 0
