-- collect.lua (wrk): joins that keep their queue tokens, for the status bench.
--
--   wrk -t2 -c16 -d60s -s collect.lua http://127.0.0.1:18081/v1/events/<id>/queue -- <file> <n>
--
-- Each thread writes the `queue_token` of its `201` answers, one per line, to
-- `<file>.<thread>` and stops after `<n>` of them. Client addresses as in join.lua, with
-- a different second octet (100 + thread) so they never collide with the join bench.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n, kept, want, out = 0, 0, 0, nil

function init(args)
  out = assert(io.open(args[1] .. "." .. tid, "w"))
  want = tonumber(args[2])
end

function request()
  n = n + 1
  local ip = string.format("10.%d.%d.%d", 100 + tid, math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", nil, { ["X-Forwarded-For"] = ip }, nil)
end

function response(status, headers, body)
  if status == 201 then
    local token = string.match(body, '"queue_token":"([^"]+)"')
    if token then
      out:write(token, "\n")
      kept = kept + 1
    end
  end
  if kept >= want then
    out:flush()
    wrk.thread:stop()
  end
end
