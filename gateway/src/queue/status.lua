-- status.lua: a fan's place in the queue of event E; refreshes last_seen (a fan who
-- is not seen for abandon_after_seconds is skipped by admission).
--
-- KEYS[1] ticket   HASH  the ticket's record
-- KEYS[2] waiting  ZSET  ticket -> score
-- ARGV[1] ticket record TTL, s   ARGV[2] ticket id
--
-- A ticket in the waiting set without a record (join_group.lua's lazy records) gets its
-- record here.
--
-- Returns nil for an unknown ticket, else {state, ahead (-1 unless waiting), admitted_ms
-- or "", pass_exp_ms or "", seq, now_ms, line} where line is the lottery rank of a
-- shuffled pre-queue ticket, else the arrival number.
local r = redis.call('HMGET', KEYS[1], 'state', 'score', 'admitted_ms', 'pass_exp_ms', 'seq',
  'line')
if not r[1] then
  -- No record yet (join_group.lua's lazy records): still waiting if in the waiting set;
  -- the record is made below.
  local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
  if not score then
    return nil
  end
  r[1], r[5] = 'waiting', score
  redis.call('HSET', KEYS[1], 'seq', score, 'state', 'waiting')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if r[1] == 'waiting' or r[1] == 'prequeue' then
  redis.call('HSET', KEYS[1], 'last_seen_ms', now)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
local ahead = -1
if r[1] == 'waiting' then
  -- score: set by the lottery for a shuffled pre-queue ticket, else the arrival number
  ahead = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. (r[2] or r[5]))
end
return {r[1], ahead, r[3] or '', r[4] or '', r[5] or '0', now, r[6] or r[5] or '0'}
