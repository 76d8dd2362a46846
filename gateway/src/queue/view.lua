-- view.lua: what one replica caches about event E, read a few times a second by its
-- watcher (live/watcher.rs) so that most status polls need no Redis call.
--
-- KEYS[1] config STRING (worker)    KEYS[2] availability STRING (worker)
-- KEYS[3] waiting ZSET   KEYS[4] prequeue ZSET   KEYS[5] shuffled STRING (lottery marker)
-- KEYS[6] stats HASH     KEYS[7] active ZSET     KEYS[8] persec HASH
-- KEYS[9] seq STRING (arrival counter)
--
-- Returns {config JSON or false, availability version (-1 absent, -2 unreadable),
-- marker or '', head_line, lottery_total, waiting, prequeue, active, admitted in the last
-- 60 s, first_admit_ms (-1 if none), admitted_total, abandoned_total, now_ms, arrival
-- counter, latest pass expiry in Unix ms (0 if none)}: the watcher remembers the last two
-- and the counters to notice and repair a loss of Redis's data (restore_event.lua).
-- The availability document (up to ~200 KB) is not returned: only its version, read
-- from its first bytes, so the caller fetches it only when it changed.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local config = redis.call('GET', KEYS[1])
local head = redis.call('GETRANGE', KEYS[2], 0, 255)
local version = -1
if head ~= '' then
  version = tonumber(string.match(head, '"version":(%d+)')) or -2
end
local s = redis.call('HMGET', KEYS[6], 'head_line', 'lottery_total', 'first_admit_ms',
  'admitted_total', 'abandoned_total')
local last = redis.call('ZRANGE', KEYS[7], -1, -1, 'WITHSCORES')
local sec = math.floor(now / 1000)
local observed = 0
local per = redis.call('HGETALL', KEYS[8])
for i = 1, #per, 2 do
  local ps = tonumber(per[i])
  if ps > sec - 60 and ps <= sec then
    observed = observed + tonumber(per[i + 1])
  end
end
return {config, version, redis.call('GET', KEYS[5]) or '', tonumber(s[1]) or 0,
  tonumber(s[2]) or 0, redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]),
  redis.call('ZCOUNT', KEYS[7], '(' .. now, '+inf'), observed, tonumber(s[3]) or -1,
  tonumber(s[4]) or 0, tonumber(s[5]) or 0, now,
  tonumber(redis.call('GET', KEYS[9])) or 0, tonumber(last[2]) or 0}
