-- admit.lua: admission for event E (DESIGN.md, "Admission"). Any replica may call it at
-- any moment: the allowance comes from elapsed time on the Redis clock (TIME), kept in a
-- token bucket in Redis, not from who calls or how often, so N replicas never over-admit.
--
-- KEYS[1] waiting  ZSET  ticket -> score (head = lowest)
-- KEYS[2] active   ZSET  admitted ticket -> pass expiry (Unix ms); the worker removes a
--                        ticket whose pass was used up by an order
-- KEYS[3] bucket   HASH  tokens (float), last_ms
-- KEYS[4] stats    HASH  admitted_total, abandoned_total
-- KEYS[5] persec   HASH  Unix second -> tickets admitted in it (last 60 s kept)
-- ARGV[1] rate_per_minute   ARGV[2] max_active   ARGV[3] pass TTL, ms
-- ARGV[4] abandon after, ms ARGV[5] ticket key prefix ("{ns}:{E}:ticket:")
-- ARGV[6] now in Unix ms, or "" for the Redis clock (tests pass a clock)
-- ARGV[7] most waiting tickets examined per call   ARGV[8] ticket record TTL, s
--
-- Bucket: refill rate_per_minute / 60000 tokens per ms, capacity max(1, rate/60) (one
-- second's worth). n = min(floor(tokens), max_active - active); abandoned tickets (no
-- poll for abandon-after) are dropped without using a token.
--
-- Ticket keys are derived from ARGV[5]; they share the {E} hash tag, so the script still
-- touches one Cluster slot.
--
-- Returns {admitted, abandoned, observed admissions in the last 60 s, waiting, active,
-- tokens left (string), now_ms, admitted ticket ids...}.
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

local cap = math.max(1, rate / 60)
local b = redis.call('HMGET', KEYS[3], 'tokens', 'last_ms')
local tokens = tonumber(b[1])
local last = tonumber(b[2])
if not tokens or not last then
  tokens = cap
  last = now
elseif now > last then
  tokens = math.min(cap, tokens + (now - last) * rate / 60000)
  last = now
end
tokens = math.min(tokens, cap)

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local active = redis.call('ZCARD', KEYS[2])
local n = math.min(math.floor(tokens), max_active - active)

local admitted = {}
local abandoned = 0
local scanned = 0
while n > #admitted and scanned < max_scan do
  local batch = redis.call('ZRANGE', KEYS[1], 0, math.min(n - #admitted, max_scan - scanned) - 1)
  if #batch == 0 then
    break
  end
  for _, id in ipairs(batch) do
    scanned = scanned + 1
    local key = prefix .. id
    local seen = tonumber(redis.call('HGET', key, 'last_seen_ms'))
    redis.call('ZREM', KEYS[1], id)
    if not seen then
      abandoned = abandoned + 1
    elseif now - seen > abandon_ms then
      redis.call('HSET', key, 'state', 'abandoned')
      abandoned = abandoned + 1
    else
      local exp = now + pass_ttl
      redis.call('HSET', key, 'state', 'admitted', 'admitted_ms', now, 'pass_exp_ms', exp)
      redis.call('EXPIRE', key, ticket_ttl)
      redis.call('ZADD', KEYS[2], exp, id)
      admitted[#admitted + 1] = id
    end
  end
end
tokens = tokens - #admitted
redis.call('HSET', KEYS[3], 'tokens', tostring(tokens), 'last_ms', last)

local sec = math.floor(now / 1000)
if #admitted > 0 then
  redis.call('HINCRBY', KEYS[4], 'admitted_total', #admitted)
  redis.call('HINCRBY', KEYS[5], sec, #admitted)
end
if abandoned > 0 then
  redis.call('HINCRBY', KEYS[4], 'abandoned_total', abandoned)
end
local observed = 0
local per = redis.call('HGETALL', KEYS[5])
for i = 1, #per, 2 do
  local s = tonumber(per[i])
  if s > sec - 60 then
    observed = observed + tonumber(per[i + 1])
  else
    redis.call('HDEL', KEYS[5], per[i])
  end
end

local out = {#admitted, abandoned, observed, redis.call('ZCARD', KEYS[1]),
  redis.call('ZCARD', KEYS[2]), tostring(tokens), now}
for _, id in ipairs(admitted) do
  out[#out + 1] = id
end
return out
