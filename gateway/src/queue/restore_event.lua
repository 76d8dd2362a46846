-- restore_event.lua: a replica's watcher saw the queue of event E go back (its arrival
-- counter or admitted count below what it read before: Redis lost its keys) and writes
-- back what it remembers, never lowering anything a newer write has set:
-- the arrival counter (so newcomers queue behind every ticket issued before), the
-- counters and head line, the lottery record, and one placeholder pass per live pass it
-- last counted (so admission keeps `max_active` until the real passes are presented
-- again, restore.lua, or the placeholders expire with the last of them). Admission then
-- pauses for a grace period, time for the fans in line to poll and be put back
-- (restore.lua) before anyone is passed.
--
-- KEYS[1] seq  KEYS[2] stats  KEYS[3] shuffled  KEYS[4] prequeue  KEYS[5] lottery
-- KEYS[6] active  KEYS[7] epoch  KEYS[8] restoring  KEYS[9] lost (placeholder count)
-- ARGV[1] arrival counter  ARGV[2] head_line  ARGV[3] admitted_total
-- ARGV[4] abandoned_total  ARGV[5] first_admit_ms (-1: none)  ARGV[6] lottery_total
-- ARGV[7] live passes  ARGV[8] latest pass expiry, Unix ms  ARGV[9] grace, ms
-- ARGV[10] lottery record TTL, s  ARGV[11] n: tickets of the lottery record (0: none)
-- ARGV[12 .. 11+n] the record's tickets in arrival order, then n tickets in lottery order
--
-- Returns the number of fields raised (0: another replica had already restored them).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local raised = 0
local seq = tonumber(ARGV[1])
if (tonumber(redis.call('GET', KEYS[1])) or 0) < seq then
  redis.call('SET', KEYS[1], seq)
  raised = raised + 1
end
local fields = {'head_line', 'admitted_total', 'abandoned_total', 'lottery_total'}
local values = {ARGV[2], ARGV[3], ARGV[4], ARGV[6]}
for i = 1, #fields do
  local v = tonumber(values[i])
  if v > 0 and (tonumber(redis.call('HGET', KEYS[2], fields[i])) or 0) < v then
    redis.call('HSET', KEYS[2], fields[i], v)
    raised = raised + 1
  end
end
if tonumber(ARGV[5]) >= 0 then
  redis.call('HSETNX', KEYS[2], 'first_admit_ms', ARGV[5])
end
local n = tonumber(ARGV[11])
if n > 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  local ttl = tonumber(ARGV[10])
  for i = 1, n do
    redis.call('ZADD', KEYS[4], i, ARGV[11 + i])
    redis.call('RPUSH', KEYS[5], ARGV[11 + n + i])
  end
  redis.call('SET', KEYS[3], 'done', 'EX', ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
  redis.call('EXPIRE', KEYS[5], ttl)
  raised = raised + 1
end
local until_ms = tonumber(ARGV[8])
if until_ms > now then
  local live = redis.call('ZCOUNT', KEYS[6], '(' .. now, '+inf')
  local missing = tonumber(ARGV[7]) - live
  if missing > 0 then
    local have = tonumber(redis.call('GET', KEYS[9])) or 0
    for i = have + 1, have + missing do
      redis.call('ZADD', KEYS[6], until_ms, 'lost:' .. i)
    end
    redis.call('SET', KEYS[9], have + missing, 'PX', until_ms - now)
    raised = raised + 1
  end
end
if raised > 0 then
  redis.call('SET', KEYS[7], now, 'NX')
  local grace = tonumber(ARGV[9])
  if grace > 0 then
    redis.call('SET', KEYS[8], now + grace, 'PX', grace, 'NX')
  end
end
return raised
