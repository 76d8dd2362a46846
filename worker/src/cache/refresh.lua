-- refresh.lua: the periodic rewrite of one event's mirror, which writes (and announces
-- on the change feed) only what differs from what Redis holds, so that a refresh of a
-- deployment with thousands of idle events costs the gateways nothing.
--
-- KEYS[1] config STRING   KEYS[2] availability STRING
-- ARGV[1] config JSON     ARGV[2] availability JSON ('' if none)
-- ARGV[3] change feed channel   ARGV[4] event id
--
-- Availability documents are compared from their `"total":` field on: the fields before
-- it (event id, as_of, version) change with every snapshot taken, even of the same seats.
-- Returns 1 if anything was written (and announced), else 0.
local function content(doc)
  if not doc then return nil end
  local at = string.find(doc, '"total":', 1, true)
  if at then return string.sub(doc, at) end
  return doc
end
local changed = 0
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
  changed = 1
end
if ARGV[2] ~= '' then
  local old = redis.call('GET', KEYS[2])
  if content(old or nil) ~= content(ARGV[2]) then
    redis.call('SET', KEYS[2], ARGV[2])
    changed = 1
  end
end
if changed == 1 then
  redis.call('PUBLISH', ARGV[3], 'c ' .. ARGV[4])
end
return changed
