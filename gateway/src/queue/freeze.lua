-- freeze.lua: step 1 of the pre-queue lottery of event E (`docs/LOTTERY.md`). Freezes the
-- pre-queue: from now on every join goes to the waiting set (join.lua checks KEYS[2]) and
-- a leave no longer edits the pre-queue ZSET, so the list read here is final.
--
-- KEYS[1] prequeue ZSET  ticket -> arrival number
-- KEYS[2] shuffled STRING lottery marker: absent, 'frozen', then 'done'
-- ARGV[1] TTL of the marker and the record, s
--
-- Returns {marker} if already 'done', else {'frozen', ticket ids in arrival order...}.
-- Idempotent: every replica may call it; all read the same frozen list.
local m = redis.call('GET', KEYS[2])
if m and m ~= 'frozen' then
  -- 'done' (or the marker of an older gateway, which applied its shuffle in one step)
  return {'done'}
end
if not m then
  redis.call('SET', KEYS[2], 'frozen', 'EX', tonumber(ARGV[1]))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
local out = {'frozen'}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = id
end
return out
