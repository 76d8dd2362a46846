-- admit.lua: admission for event E (`docs/ARCHITECTURE.md`). Any replica may call it at
-- any moment: the allowance comes from elapsed time on the Redis clock (TIME), kept in a
-- token bucket in Redis, not from who calls or how often, so N replicas never over-admit.
--
-- KEYS[1] waiting  ZSET  ticket -> score (head = lowest)
-- KEYS[2] active   ZSET  admitted ticket -> pass expiry (Unix ms); the worker removes a
--                        ticket whose pass was used up by an order
-- KEYS[3] bucket   HASH  credit (integer, 1/60000 token), last_ms
-- KEYS[4] stats    HASH  admitted_total, abandoned_total, head_line, lottery_total,
--                        first_admit_ms
-- KEYS[5] persec   HASH  Unix second -> tickets admitted in it (last 60 s kept)
-- KEYS[6] availability STRING  the worker's snapshot (JSON): nobody is admitted while it
--                        shows no seat available (sold out, or every seat held), read
--                        here so that an order freeing a pass slot (the worker's ZREM
--                        active) and the snapshot it writes next act together
-- KEYS[7] restoring STRING while present (after Redis lost the queue's keys: restore.lua,
--                        restore_event.lua), nobody is admitted, so fans who come back
--                        with their queue tokens get their places before anyone is passed
-- ARGV[1] rate_per_minute   ARGV[2] max_active   ARGV[3] pass TTL, ms
-- ARGV[4] abandon after, ms ARGV[5] ticket key prefix ("{ns}:{E}:ticket:")
-- ARGV[6] now in Unix ms, or "" for the Redis clock (tests pass a clock)
-- ARGV[7] most waiting tickets examined per call   ARGV[8] ticket record TTL, s
-- ARGV[9] catch-up window, ms (admitter/bucket.rs CATCH_UP_MS)
--
-- Bucket (admitter/bucket.rs is the same algorithm in Rust, with its properties tested):
-- refill rate_per_minute / 60000 tokens per ms, kept as an integer credit in 1/60000 of a
-- token (exact: no drift), EMPTY at the first call (and after admitter's rest, which
-- deletes KEYS[3] when admission stops on purpose: paused, closed, sold out), capacity
-- the catch-up window's worth plus one token (ARGV[9] ms: a loop that runs late still
-- admits what the elapsed time owes). From the first call, the admissions over T ms are
-- exactly floor(rate * T / 60000) when the queue never runs dry, room never binds and
-- calls are less than the catch-up window apart, and never more. Credit is kept only
-- while every whole token could be used: a call that admits fewer than its whole tokens
-- because the queue ran dry or room ran out (max_active, no seat available) keeps only
-- the fraction, so neither an empty queue nor a full house stockpiles a burst.
-- n = min(whole tokens, max_active - active); abandoned tickets (not seen for
-- abandon-after) are dropped without using a token, and a call that stops at
-- ARGV[7] examined tickets keeps its credit (it is owed).

-- head_line: the line number of the furthest ticket passed (admitted or abandoned). A
-- ticket's line is its arrival number, or its lottery rank for the pre-queue (score
-- rank - lottery_total - 1). Replicas derive positions from it without a Redis call.
--
-- Ticket keys are derived from ARGV[5]; they share the {E} hash tag, so the script still
-- touches one Cluster slot.
--
-- Returns {admitted, abandoned, observed admissions in the last 60 s, waiting, active,
-- credit left (string), now_ms, head_line, credit clipped by the cap in this call
-- (string), admitted ticket ids...}.
local now = tonumber(ARGV[6])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local rate = tonumber(ARGV[1])
local max_active = tonumber(ARGV[2])
local pass_ttl = tonumber(ARGV[3])
local abandon_ms = tonumber(ARGV[4])
local prefix = ARGV[5]
local max_scan = tonumber(ARGV[7])
local ticket_ttl = tonumber(ARGV[8])
local catch_up_ms = tonumber(ARGV[9])

local UNIT = 60000
local cap = rate * catch_up_ms + UNIT
local b = redis.call('HMGET', KEYS[3], 'credit', 'last_ms')
local credit = tonumber(b[1])
local last = tonumber(b[2])
local clipped = 0
if not credit or not last then
  credit = 0
  last = now
elseif now > last then
  local refilled = credit + math.min(now - last, 60000) * rate
  credit = math.min(cap, refilled)
  clipped = refilled - credit
  last = now
end
credit = math.min(credit, cap)

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local active = redis.call('ZCARD', KEYS[2])
local tokens = math.floor(credit / UNIT)
local n = math.min(tokens, max_active - active)
local snapshot = redis.call('GETRANGE', KEYS[6], 0, 511)
if tonumber(string.match(snapshot, '"available":(%d+)')) == 0
  or redis.call('EXISTS', KEYS[7]) == 1 then
  n = 0
end

local s = redis.call('HMGET', KEYS[4], 'head_line', 'lottery_total')
local head = tonumber(s[1]) or 0
local head_before = head
local lottery_total = tonumber(s[2]) or 0

local admitted = {}
local abandoned = 0
local scanned = 0
-- The examined tickets are the first `scanned` of the waiting set (the script is atomic:
-- nothing else moves it meanwhile), removed in one ZREMRANGEBYRANK at the end.
while n > #admitted and scanned < max_scan do
  local batch = redis.call('ZRANGE', KEYS[1], scanned,
    scanned + math.min(n - #admitted, max_scan - scanned) - 1, 'WITHSCORES')
  if #batch == 0 then
    break
  end
  for i = 1, #batch, 2 do
    local id = batch[i]
    local score = tonumber(batch[i + 1])
    local line = score
    if score < 0 then
      line = score + lottery_total + 1
    end
    if line > head then
      head = line
    end
    scanned = scanned + 1
    local key = prefix .. id
    local seen = tonumber(redis.call('HGET', key, 'last_seen_ms'))
    if not seen then
      -- No record, or one never seen (join_group.lua's lazy records; or it expired,
      -- ticket TTL after its last sighting): last seen at its join, the Unix ms in its
      -- UUIDv7 id (its first 48 bits).
      seen = tonumber(string.sub(id, 1, 8) .. string.sub(id, 10, 13), 16) or 0
    end
    if now - seen > abandon_ms then
      redis.call('HSET', key, 'state', 'abandoned')
      redis.call('EXPIRE', key, ticket_ttl)
      abandoned = abandoned + 1
    else
      local exp = now + pass_ttl
      if score > 0 then
        -- (a lazy record has no seq yet; a lottery ticket's record has it)
        redis.call('HSET', key, 'state', 'admitted', 'admitted_ms', now, 'pass_exp_ms', exp,
          'seq', score)
      else
        redis.call('HSET', key, 'state', 'admitted', 'admitted_ms', now, 'pass_exp_ms', exp)
      end
      redis.call('EXPIRE', key, ticket_ttl)
      redis.call('ZADD', KEYS[2], exp, id)
      admitted[#admitted + 1] = id
    end
  end
end
if scanned > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, scanned - 1)
end
credit = credit - #admitted * UNIT
local waiting = redis.call('ZCARD', KEYS[1])
if waiting == 0 or n < tokens then
  -- Nobody left to admit, or no room: keep only the fraction, so neither an empty queue
  -- nor a full house stockpiles credit, and the next fans go in at the rate.
  credit = credit % UNIT
end
redis.call('HSET', KEYS[3], 'credit', string.format('%.0f', credit), 'last_ms', last)
if head ~= head_before then
  redis.call('HSET', KEYS[4], 'head_line', head)
end

local sec = math.floor(now / 1000)
if #admitted > 0 then
  redis.call('HINCRBY', KEYS[4], 'admitted_total', #admitted)
  redis.call('HSETNX', KEYS[4], 'first_admit_ms', now)
  redis.call('HINCRBY', KEYS[5], sec, #admitted)
end
if abandoned > 0 then
  redis.call('HINCRBY', KEYS[4], 'abandoned_total', abandoned)
end
local observed = 0
local per = redis.call('HGETALL', KEYS[5])
for i = 1, #per, 2 do
  local ps = tonumber(per[i])
  if ps > sec - 60 then
    observed = observed + tonumber(per[i + 1])
  else
    redis.call('HDEL', KEYS[5], per[i])
  end
end

local out = {#admitted, abandoned, observed, waiting,
  redis.call('ZCARD', KEYS[2]), string.format('%.0f', credit), now, head,
  string.format('%.0f', clipped)}
for _, id in ipairs(admitted) do
  out[#out + 1] = id
end
return out
