-- join.lua (wrk): POST joins, each from its own client address.
--
--   wrk -t2 -c64 -d10s --latency -s join.lua http://127.0.0.1:18081/v1/events/<id>/queue [-- <first> [<pause ms>]]
--
-- With <pause ms>, each connection waits that long after each answer before its next
-- join: C connections offer about C / (pause + latency) joins a second, a fixed rate
-- while the latency is small against the pause (run.sh's join-rate step: 250
-- connections, 22 ms, about 10,000/s; the achieved rate is what wrk reports).
--
-- Every request is a new fan with its own client address in `X-Forwarded-For`:
-- 10.a.b.c = 10.0.0.0 + <first> + 8 n + thread (up to 8 threads), so a run of up to
-- 2 million joins never repeats an address, and runs started with <first> 2 million
-- apart never share one. The gateway (with `ANTEROOM_TRUSTED_PROXY_HEADER=X-Forwarded-For`)
-- then sees what a spike of distinct fans looks like: per-IP limits stay out of the way,
-- and the shared join quota costs no Redis call (each address's first join of the minute
-- is free: `limits/quota.rs`). A repeated address would be a fan joining twice, which is
-- the quota's job to count. The probe ignores the header; it gets the same requests so
-- the load generator pays the same per request on both sides.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n, first, pause = 0, 0, 0

function init(args)
  first = tonumber(args[1] or "0")
  pause = tonumber(args[2] or "0")
end

function delay()
  return pause
end

function request()
  local x = (first + n * 8 + tid % 8) % 16777216
  n = n + 1
  local ip = string.format("10.%d.%d.%d", math.floor(x / 65536), math.floor(x / 256) % 256, x % 256)
  return wrk.format("POST", nil, { ["X-Forwarded-For"] = ip }, nil)
end
