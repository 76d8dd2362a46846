-- shuffle.lua: at opens_at, the pre-queue of event E goes ahead of every later arrival
-- in lottery order (DESIGN.md, "Pre-queue"). Runs once: the first replica to call it wins;
-- every replica computes the same order from the revealed seed.
--
-- KEYS[1] waiting ZSET   KEYS[2] prequeue ZSET   KEYS[3] shuffled STRING
-- ARGV[1] ticket key prefix   ARGV[2] marker TTL, s   ARGV[3..] tickets in lottery order
--
-- Tickets that joined the pre-queue after the caller read it go last, by arrival.
-- Scores are rank - total - 1 (all negative), so they precede arrival numbers (>= 1).
-- Returns the number of tickets moved, or -1 if already shuffled.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return -1
end
local order = {}
local listed = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if not listed[id] and redis.call('ZSCORE', KEYS[2], id) then
    order[#order + 1] = id
    listed[id] = true
  end
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if not listed[id] then
    order[#order + 1] = id
  end
end
local total = #order
local moved = 0
for i, id in ipairs(order) do
  local key = ARGV[1] .. id
  if redis.call('EXISTS', key) == 1 then
    local score = i - total - 1
    redis.call('ZADD', KEYS[1], score, id)
    redis.call('HSET', key, 'state', 'waiting', 'score', score)
    moved = moved + 1
  end
end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[3], '1', 'EX', tonumber(ARGV[2]))
return moved
