-- join.lua (wrk): POST joins, each from its own client address.
--
--   wrk -t2 -c64 -d10s --latency -s join.lua http://127.0.0.1:18081/v1/events/<id>/queue [-- <first> [<per second>]]
--
-- With <per second> (a rate per wrk thread), each thread sends its joins on a fixed
-- schedule (`delay()` waits for the next slot, by the monotonic clock through LuaJIT's
-- ffi): an offered rate that does not slow down when answers do, as long as a
-- connection is free (run.sh's join-rate step: 2 threads × 5,000/s on 250
-- connections). A thread that falls more than a second behind drops the missed slots
-- rather than bursting. The achieved rate is what wrk reports.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } anteroom_timespec;
  int clock_gettime(int clock, anteroom_timespec *t);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("anteroom_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local n, first, interval_ms, next_ms = 0, 0, nil, nil

function init(args)
  first = tonumber(args[1] or "0")
  local per_second = tonumber(args[2] or "0")
  if per_second > 0 then
    interval_ms = 1000 / per_second
  end
end

function delay()
  if not interval_ms then
    return 0
  end
  local t = now_ms()
  if not next_ms or next_ms < t - 1000 then
    next_ms = t
  end
  local wait = next_ms - t
  next_ms = next_ms + interval_ms
  return wait > 0 and math.floor(wait) or 0
end

function request()
  local x = (first + n * 8 + tid % 8) % 16777216
  n = n + 1
  local ip = string.format("10.%d.%d.%d", math.floor(x / 65536), math.floor(x / 256) % 256, x % 256)
  return wrk.format("POST", nil, { ["X-Forwarded-For"] = ip }, nil)
end
