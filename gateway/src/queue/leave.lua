-- leave.lua: a fan gives up their place (or their pass) in event E.
--
-- KEYS[1] ticket HASH   KEYS[2] waiting ZSET   KEYS[3] prequeue ZSET   KEYS[4] active ZSET
-- KEYS[5] shuffled STRING (lottery marker)
-- ARGV[1] ticket id
--
-- Once the pre-queue is frozen for the lottery its ZSET is the published record of who
-- took part, so it is left alone; the ticket leaves the waiting set instead.
-- Returns 1 if the ticket existed, else 0 (leaving twice is not an error).
local existed = redis.call('EXISTS', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[1])
return existed
