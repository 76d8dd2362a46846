-- passes.lua (wrk): the passes of admitted fans, for the gate check bench.
--
--   wrk -t2 -c16 -d5s -s passes.lua http://127.0.0.1:18081/v1/events/<id>/queue -- <tokens> <file> <n>
--
-- Polls the status of each queue token of <tokens> in turn (`Authorization: Bearer`,
-- the fan's own address in `X-Forwarded-For`, as status.lua) and writes the `pass` of
-- each admitted fan's answer, once per pass, to `<file>.<thread>`; a thread stops after
-- <n> passes.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local tokens, n, seen, kept, want, out = {}, 0, {}, 0, 0, nil

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      tokens[#tokens + 1] = line
    end
  end
  assert(#tokens > 0, "no tokens in " .. args[1])
  out = assert(io.open(args[2] .. "." .. tid, "w"))
  want = tonumber(args[3])
  -- Each thread takes its own half of the list.
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

function response(status, headers, body)
  if status == 200 then
    local pass = string.match(body, '"pass":"([^"]+)"')
    if pass and not seen[pass] then
      seen[pass] = true
      out:write(pass, "\n")
      kept = kept + 1
    end
  end
  if kept >= want then
    out:flush()
    wrk.thread:stop()
  end
end
