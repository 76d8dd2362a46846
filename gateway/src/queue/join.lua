-- join.lua: a fan joins the queue of event E (or rejoins with a valid queue token).
--
-- KEYS[1] seq       STRING  arrival counter (= new tickets so far: the joins total)
-- KEYS[2] waiting   ZSET    ticket -> score (arrival number; negative = pre-queue lottery rank)
-- KEYS[3] prequeue  ZSET    ticket -> arrival number, until the shuffle at opens_at
-- KEYS[4] shuffled  STRING  lottery marker: 'frozen', then 'done' (absent before)
-- KEYS[5] ticket    HASH    record of the new ticket (ARGV[2])
-- KEYS[6] existing  HASH    record of the rejoining ticket (ARGV[3]; = KEYS[5] if none),
--                           made here if the ticket waits without one (join_group.lua)
-- KEYS[7] epoch     STRING  Unix ms at which this incarnation of the queue's keys began
-- KEYS[8] restoring STRING  while present, admission passes nobody (admit.lua)
-- ARGV[1] mode: "open" or "prequeue"
-- ARGV[2] new ticket id   ARGV[3] rejoining ticket id or ""   ARGV[4] ticket record TTL, s
-- ARGV[5] floor: the highest arrival number this replica knows was issued (0: none)
-- ARGV[6] admission pause after a detected loss, ms
--
-- Returns {created (0|1), ticket id, arrival number, state}. A rejoin keeps ticket and
-- place while the ticket still waits or holds a live pass; otherwise a new ticket is made,
-- as join_group.lua makes new tickets for joins without a queue token.
-- A ticket joins the pre-queue only while it is not frozen (KEYS[4] absent: see
-- freeze.lua); after that every join goes to the waiting set. A new ticket's arrival
-- number is above the floor, as in join_group.lua (which explains the floor and KEYS[7]).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[4])

if ARGV[3] ~= '' then
  local r = redis.call('HMGET', KEYS[6], 'state', 'seq', 'pass_exp_ms')
  local state = r[1]
  if not state then
    -- No record yet (join_group.lua's lazy records): still waiting if in the waiting set.
    local score = redis.call('ZSCORE', KEYS[2], ARGV[3])
    if score then
      state = 'waiting'
      r[2] = score
      redis.call('HSET', KEYS[6], 'seq', score, 'state', state)
    end
  end
  local live = state == 'waiting' or state == 'prequeue'
    or (state == 'admitted' and r[3] and tonumber(r[3]) > now)
  if live then
    redis.call('HSET', KEYS[6], 'last_seen_ms', now)
    redis.call('EXPIRE', KEYS[6], ttl)
    return {0, ARGV[3], tonumber(r[2]), state}
  end
end

local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[5])
local fresh = seq == 1
if seq <= floor then
  fresh = true
  seq = floor + 1
  redis.call('SET', KEYS[1], seq)
  local grace = tonumber(ARGV[6])
  if grace > 0 then
    redis.call('SET', KEYS[8], 'lost', 'PX', grace, 'NX')
  end
end
if fresh then
  local id = ARGV[2]
  local ms = tonumber(string.sub(id, 1, 8) .. string.sub(id, 10, 13), 16) or 0
  redis.call('SET', KEYS[7], ms, 'NX')
end
local state = 'waiting'
if ARGV[1] == 'prequeue' and redis.call('EXISTS', KEYS[4]) == 0 then
  state = 'prequeue'
  redis.call('ZADD', KEYS[3], seq, ARGV[2])
else
  redis.call('ZADD', KEYS[2], seq, ARGV[2])
end
redis.call('HSET', KEYS[5], 'seq', seq, 'state', state, 'last_seen_ms', now)
redis.call('EXPIRE', KEYS[5], ttl)
return {1, ARGV[2], seq, state}
