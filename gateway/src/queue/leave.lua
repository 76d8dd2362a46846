-- leave.lua: a fan gives up their place (or their pass) in event E.
--
-- KEYS[1] ticket HASH   KEYS[2] waiting ZSET   KEYS[3] prequeue ZSET   KEYS[4] active ZSET
-- KEYS[5] shuffled STRING (lottery marker)
-- ARGV[1] ticket id
--
-- Once the pre-queue is frozen for the lottery its ZSET is the published record of who
-- took part, so it is left alone; the ticket leaves the waiting set instead.
-- Returns 1 if the ticket existed, else 0 (leaving twice is not an error).
-- A waiting ticket may have no record yet (join_group.lua's lazy records): it existed if
-- it had a record or a place in any of the sets.
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
