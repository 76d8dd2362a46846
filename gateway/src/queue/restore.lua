-- restore.lua: a fan presents a valid queue token whose ticket the queue of event E no
-- longer knows. If the ticket was made before this incarnation of the queue's keys began
-- (KEYS[8] epoch: Redis restarted without persistence, a failover to an empty or lagging
-- replica), its keys were lost and the signed token is the fan's claim: the ticket goes
-- back at its arrival number, and the arrival counter is raised to at least that number,
-- so a fan who joins afterwards queues behind. A ticket made in this incarnation that is
-- unknown left or expired: it stays gone.
--
-- KEYS[1] seq       STRING  arrival counter
-- KEYS[2] waiting   ZSET    ticket -> score
-- KEYS[3] prequeue  ZSET    ticket -> arrival number, until the freeze
-- KEYS[4] shuffled  STRING  lottery marker ('frozen', then 'done')
-- KEYS[5] ticket    HASH    the ticket's record
-- KEYS[6] active    ZSET    admitted ticket -> pass expiry (Unix ms)
-- KEYS[7] stats     HASH    head_line (line of the furthest ticket passed)
-- KEYS[8] epoch     STRING  Unix ms at which this incarnation of the queue's keys began
-- KEYS[9] restoring STRING  while present, admission passes nobody (admit.lua)
-- KEYS[10] lost     STRING  placeholders left in KEYS[6] for passes not yet presented
-- KEYS[11] used     SET     tickets whose pass an order used up (the worker writes it
--                           when it rewrites its mirror after a loss)
-- ARGV[1] ticket id   ARGV[2] arrival number (the token's seq)
-- ARGV[3] Unix ms at which the ticket was made (its UUIDv7 time)
-- ARGV[4] place: 'waiting', 'prequeue' (joined before opens_at, lottery not known) or
--         'lottery' (a shuffled pre-queue ticket)
-- ARGV[5] waiting score for 'lottery' (also used for 'prequeue' once frozen)
-- ARGV[6] line for 'lottery' (its rank), or '' if unknown
-- ARGV[7] admitted_ms of a live pass the fan presented, or ''   ARGV[8] its expiry, ms
-- ARGV[9] ticket record TTL, s   ARGV[10] admission pause after a restore, ms
--
-- Returns 'known' (the ticket is there: nothing done), 'gone' (made in this
-- incarnation: not restored), or the state restored: 'admitted' (a live pass was
-- presented: the pass is counted in KEYS[6] again, in place of a placeholder if there
-- are any),
-- 'prequeue', 'waiting', or 'abandoned' (its line is at or before head_line: admission
-- had passed it, and it shows no live pass).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id = ARGV[1]
if redis.call('EXISTS', KEYS[5]) == 1 or redis.call('ZSCORE', KEYS[2], id) then
  return 'known'
end
local epoch = tonumber(redis.call('GET', KEYS[8]))
if epoch and tonumber(ARGV[3]) >= epoch then
  return 'gone'
end
if not epoch then
  redis.call('SET', KEYS[8], now)
end
local seq = tonumber(ARGV[2])
if (tonumber(redis.call('GET', KEYS[1])) or 0) < seq then
  redis.call('SET', KEYS[1], seq)
end
local grace = tonumber(ARGV[10])
if grace > 0 then
  redis.call('SET', KEYS[9], now + grace, 'PX', grace, 'NX')
end
local ttl = tonumber(ARGV[9])

local exp = tonumber(ARGV[8])
if exp and exp > now then
  redis.call('HSET', KEYS[5], 'state', 'admitted', 'seq', seq, 'admitted_ms', ARGV[7],
    'pass_exp_ms', exp, 'last_seen_ms', now)
  if ARGV[4] ~= 'waiting' then
    -- A pre-queue ticket's line is its lottery rank, not its arrival number (0: unknown,
    -- so replicas do not take it for the head line).
    redis.call('HSET', KEYS[5], 'line', tonumber(ARGV[6]) or 0)
  end
  redis.call('EXPIRE', KEYS[5], ttl)
  if redis.call('SISMEMBER', KEYS[11], id) == 0 and not redis.call('ZSCORE', KEYS[6], id) then
    -- With placeholders (restore_event.lua counted the live passes), the pass takes one
    -- (none left: every live pass is counted already, e.g. this one was used up);
    -- without, it is counted itself.
    local n = tonumber(redis.call('GET', KEYS[10]))
    if not n then
      redis.call('ZADD', KEYS[6], exp, id)
    elseif n > 0 then
      redis.call('ZREM', KEYS[6], 'lost:' .. n)
      redis.call('SET', KEYS[10], n - 1, 'KEEPTTL')
      redis.call('ZADD', KEYS[6], exp, id)
    end
  end
  return 'admitted'
end

local place = ARGV[4]
if place == 'prequeue' and redis.call('EXISTS', KEYS[4]) == 1 then
  place = 'lottery'
end
if place == 'prequeue' then
  redis.call('ZADD', KEYS[3], seq, id)
  redis.call('HSET', KEYS[5], 'seq', seq, 'state', 'prequeue', 'last_seen_ms', now)
  redis.call('EXPIRE', KEYS[5], ttl)
  return 'prequeue'
end
local line = seq
if place == 'lottery' then
  line = tonumber(ARGV[6])
end
local head = tonumber(redis.call('HGET', KEYS[7], 'head_line')) or 0
if line and line <= head then
  redis.call('HSET', KEYS[5], 'seq', seq, 'state', 'abandoned')
  redis.call('EXPIRE', KEYS[5], ttl)
  return 'abandoned'
end
if place == 'lottery' then
  local score = ARGV[5]
  redis.call('ZADD', KEYS[2], score, id)
  redis.call('HSET', KEYS[5], 'seq', seq, 'state', 'waiting', 'score', score,
    'last_seen_ms', now)
  if line then
    redis.call('HSET', KEYS[5], 'line', line)
  end
else
  redis.call('ZADD', KEYS[2], seq, id)
  redis.call('HSET', KEYS[5], 'seq', seq, 'state', 'waiting', 'last_seen_ms', now)
end
redis.call('EXPIRE', KEYS[5], ttl)
return 'waiting'
