-- get.lua (wrk): GETs of one path as many fans, round robin over their credentials.
--
--   wrk -t1 -c8 -d8s --latency -s get.lua http://127.0.0.1:18181/v1/events/<id>/seats -- <tokens> <accept-encoding>
--
-- Reads the credentials (passes or queue tokens, one per line) from <tokens>; each
-- request is the next fan's: `Authorization: Bearer <token>`, that fan's own address in
-- `X-Forwarded-For` (10.210+.x.y), and `Accept-Encoding: <accept-encoding>` unless it is
-- `none` (a client that does not accept compression). Counts the answers that are not
-- 200 and the body bytes, printed at the end as `bench: non200=N body_bytes=B` (wrk's
-- own "read" figure includes the headers).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local tokens, n, accept = {}, 0, nil
non200, body_bytes = 0, 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      tokens[#tokens + 1] = line
    end
  end
  assert(#tokens > 0, "no tokens in " .. args[1])
  accept = args[2] or "none"
  n = (tid - 1) * 7919
end

function request()
  n = n + 1
  local i = n % #tokens
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[i + 1],
    ["X-Forwarded-For"] = string.format("10.%d.%d.%d", 210 + tid, math.floor(i / 256) % 256, i % 256),
  }
  if accept ~= "none" then
    headers["Accept-Encoding"] = accept
  end
  return wrk.format("GET", nil, headers, nil)
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
  end
  body_bytes = body_bytes + #body
end

function done(summary, latency, requests)
  local bad, bytes = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("non200")
    bytes = bytes + t:get("body_bytes")
  end
  io.write(string.format("bench: non200=%d body_bytes=%d\n", bad, bytes))
end
