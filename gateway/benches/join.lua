-- join.lua (wrk): POST joins, each from its own client address.
--
--   wrk -t2 -c64 -d10s --latency -s join.lua http://127.0.0.1:18081/v1/events/<id>/queue
--
-- Every request carries `X-Forwarded-For: 10.<thread+1>.<n / 256 % 256>.<n % 256>`, so
-- the gateway (with `ANTEROOM_TRUSTED_PROXY_HEADER=X-Forwarded-For`) sees up to 65,536
-- distinct fans per thread and its per-IP limits stay out of the way of a spike of
-- distinct fans, as in production. The probe ignores the header; it gets the same
-- requests so the load generator pays the same per request on both sides.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0

function request()
  n = n + 1
  local ip = string.format("10.%d.%d.%d", tid % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", nil, { ["X-Forwarded-For"] = ip }, nil)
end
