-- join_group.lua: a group commit of new tickets joining the queue of event E, in the
-- order given (gateway/src/queue/group_commit.rs gathers the joins that arrive while the
-- previous commit is in flight); a commit of n tickets costs one script call instead of
-- n, and its cost per ticket is one ZADD member.
--
-- Lazy ticket records: a ticket that joins the waiting set gets NO record here. Until
-- its fan is first seen (status.lua, seen.lua, a rejoin in join.lua), its membership of
-- the waiting set is its record: state waiting, seq = its score, last seen = its join
-- time, which is the Unix ms in its UUIDv7 id (admit.lua reads it there). So the spike's
-- hot path writes one ZSET member per fan, and the record's HSET + EXPIRE move to the
-- first seen flush, which is batched per event and spread over the polling cadence. A
-- pre-queue ticket gets its record at once, as join.lua makes it: shuffle.lua tells a
-- ticket that left the frozen pre-queue by its missing record.
--
-- KEYS[1] seq       STRING  arrival counter (= new tickets so far: the joins total)
-- KEYS[2] waiting   ZSET    ticket -> score (arrival number)
-- KEYS[3] prequeue  ZSET    ticket -> arrival number, until the shuffle at opens_at
-- KEYS[4] shuffled  STRING  lottery marker: 'frozen', then 'done' (absent before)
-- KEYS[5] epoch     STRING  Unix ms at which this incarnation of the queue's keys began
-- KEYS[6] restoring STRING  while present, admission passes nobody (admit.lua)
-- ARGV[1] mode: "open" or "prequeue"   ARGV[2] ticket key prefix ("{ns}:{E}:ticket:")
-- ARGV[3] ticket record TTL, s
-- ARGV[4] floor: the highest arrival number this replica knows was issued (0: none)
-- ARGV[5] admission pause after a detected loss, ms   ARGV[6..] new ticket ids, in order
--
-- Losing Redis's data: a counter below the floor was lost (counters never go back), so
-- it restarts above the floor and admission pauses (KEYS[6]) while the fans already in
-- line come back with their queue tokens (restore.lua): a newcomer never queues ahead
-- of them. A counter that starts (first ticket 1) or restarts marks a new incarnation of
-- the queue's keys (KEYS[5], the earliest UUIDv7 time of the commit's tickets): tickets made before it
-- were lost, not left. Neither check costs a command when nothing was lost.
--
-- Ticket keys are derived from ARGV[2] (same {E} hash tag, one Cluster slot), as in
-- seen.lua. As in join.lua, a ticket joins the pre-queue only while it is not frozen.
-- Returns {arrival number of the first ticket, state}: the i-th ticket (from 0) gets
-- first + i, all of them the same state ('prequeue' or 'waiting').
local ttl = tonumber(ARGV[3])
local floor = tonumber(ARGV[4])
local n = #ARGV - 5
local first = redis.call('INCRBY', KEYS[1], n) - n + 1
local fresh = first == 1
if first <= floor then
  fresh = true
  first = floor + 1
  redis.call('SET', KEYS[1], floor + n)
  local grace = tonumber(ARGV[5])
  if grace > 0 then
    redis.call('SET', KEYS[6], 'lost', 'PX', grace, 'NX')
  end
end
if fresh then
  local epoch = nil
  for i = 6, #ARGV do
    local id = ARGV[i]
    local ms = tonumber(string.sub(id, 1, 8) .. string.sub(id, 10, 13), 16) or 0
    if not epoch or ms < epoch then
      epoch = ms
    end
  end
  redis.call('SET', KEYS[5], epoch, 'NX')
end
local state, set = 'waiting', KEYS[2]
if ARGV[1] == 'prequeue' and redis.call('EXISTS', KEYS[4]) == 0 then
  state, set = 'prequeue', KEYS[3]
end
local members = {}
for i = 1, n do
  members[2 * i - 1] = first + i - 1
  members[2 * i] = ARGV[5 + i]
end
redis.call('ZADD', set, unpack(members))
if state == 'prequeue' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for i = 1, n do
    local key = ARGV[2] .. ARGV[5 + i]
    redis.call('HSET', key, 'seq', first + i - 1, 'state', state, 'last_seen_ms', now)
    redis.call('EXPIRE', key, ttl)
  end
end
return {first, state}
