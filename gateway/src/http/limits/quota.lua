-- quota.lua: per-client-IP join quota shared by every gateway replica (fixed window).
--
-- KEYS[1] counter  STRING  joins of one client IP in the current window
-- ARGV[1] window length, ms
--
-- Returns {joins in this window including this one, ms until the window ends}. The
-- first join of a window starts it (INCR then PEXPIRE); a counter that lost its TTL is
-- given one again, so a key can never count forever.
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {n, ttl}
