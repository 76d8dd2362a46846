-- check.lua (wrk): gate mode's check as a reverse proxy asks it, one admitted fan after
-- another (steady state: each pass verified once, then cached).
--
--   wrk -t2 -c64 -d10s --latency -s check.lua http://127.0.0.1:18081/v1/gate/check -- <passes> <event>
--
-- Reads the passes (one per line) from <passes>; each request carries the next fan's
-- pass in the `anteroom_pass` cookie, the event in `X-Anteroom-Event`, the original
-- URI in `X-Original-URI` (as nginx's auth_request sends it) and the fan's own address
-- in `X-Forwarded-For` (as status.lua), so per-pass and per-IP limits see real fans.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local passes, n, event = {}, 0, nil

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      passes[#passes + 1] = line
    end
  end
  assert(#passes > 0, "no passes in " .. args[1])
  event = args[2]
  n = (tid - 1) * math.floor(#passes / 2)
end

function request()
  n = n + 1
  local i = n % #passes
  local ip = string.format("10.%d.%d.%d", 200 + math.floor(i / 65536) % 56,
    math.floor(i / 256) % 256, i % 256)
  return wrk.format("GET", nil, {
    ["Cookie"] = "anteroom_pass=" .. passes[i + 1],
    ["X-Anteroom-Event"] = event,
    ["X-Original-URI"] = "/tickets/seat-map?section=A",
    ["X-Forwarded-For"] = ip,
  }, nil)
end
