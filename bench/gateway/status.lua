-- status.lua (wrk): status polls of many waiting fans (steady state), round robin.
--
--   wrk -t2 -c64 -d10s --latency -s status.lua http://127.0.0.1:18081/v1/events/<id>/queue -- <tokens>
--
-- Reads the queue tokens (one per line) from <tokens>; each request polls as the next
-- fan: `Authorization: Bearer <token>` and that fan's own client address in
-- `X-Forwarded-For` (10.200+.x.y), so per-token and per-IP limits see what they would
-- see from real fans. Against the probe's small-JSON route the same requests are sent
-- (and ignored), so the load generator's cost per request is the same on both sides.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local tokens, n = {}, 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      tokens[#tokens + 1] = line
    end
  end
  assert(#tokens > 0, "no tokens in " .. args[1])
  -- Threads start at different places in the list.
  n = (tid - 1) * math.floor(#tokens / 2)
end

function request()
  n = n + 1
  local i = n % #tokens
  local ip = string.format("10.%d.%d.%d", 200 + math.floor(i / 65536) % 56,
    math.floor(i / 256) % 256, i % 256)
  return wrk.format("GET", nil, {
    ["Authorization"] = "Bearer " .. tokens[i + 1],
    ["X-Forwarded-For"] = ip,
  }, nil)
end
