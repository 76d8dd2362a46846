-- claim.lua: one place per identity. Maps a verified user reference of event E to the
-- ticket that user holds, before the join (join.lua) runs with that ticket id.
--
-- KEYS[1] user     STRING  "<ticket id>|<claimed at, Unix ms>"   ({ns}:{E}:user:{hash});
--                           the time becomes 0 once the join ran (CONFIRM_LUA, identity.rs)
-- ARGV[1] ticket record key prefix ("{ns}:{E}:ticket:")
-- ARGV[2] ticket id for a new place   ARGV[3] mapping TTL, s
-- ARGV[4] grace, ms: a claim this recent whose ticket has no record yet is a join in
--         flight (a concurrent request of the same user), not a lost place
--
-- Returns {0, ticket} to keep the user's current ticket (it waits, is in the pre-queue,
-- holds a live pass, or is being joined right now), or {1, ARGV[2]} when the user had
-- no place or lost it (left, abandoned, pass expired): the mapping now names the new
-- ticket. The caller then runs join.lua with rejoin = new = the returned ticket, which
-- keeps a live ticket and creates a missing one exactly once (join.lua is atomic).
-- Ticket keys are derived from ARGV[1]; they share the {E} hash tag with KEYS[1], so the
-- script touches one Cluster slot.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])

local current = redis.call('GET', KEYS[1])
if current then
  local ticket, claimed = string.match(current, '^([^|]+)|(%d+)$')
  if ticket then
    local r = redis.call('HMGET', ARGV[1] .. ticket, 'state', 'pass_exp_ms')
    local state = r[1]
    local live = state == 'waiting' or state == 'prequeue'
      or (state == 'admitted' and r[2] and tonumber(r[2]) > now)
    local in_flight = (not state) and (now - tonumber(claimed) < tonumber(ARGV[4]))
    if live or in_flight then
      redis.call('EXPIRE', KEYS[1], ttl)
      return {0, ticket}
    end
  end
end

redis.call('SET', KEYS[1], ARGV[2] .. '|' .. now, 'EX', ttl)
return {1, ARGV[2]}
