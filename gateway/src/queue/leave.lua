-- leave.lua: a fan gives up their place (or their pass) in event E.
--
-- KEYS[1] ticket HASH   KEYS[2] waiting ZSET   KEYS[3] prequeue ZSET   KEYS[4] active ZSET
-- ARGV[1] ticket id
--
-- Returns 1 if the ticket existed, else 0 (leaving twice is not an error).
local existed = redis.call('EXISTS', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[1])
return existed
