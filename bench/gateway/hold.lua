-- hold.lua (wrk): holds of one best-available seat, each with the next admitted fan's pass.
--
--   wrk -t2 -c16 -d10s -s hold.lua http://127.0.0.1:8080/v1/events/<id>/holds -- <passes> <section>
--
-- Each request carries a pass of <passes> in turn (`Authorization: Bearer`) and its own
-- `Idempotency-Key`, so every one is a new command to the worker: a `201` while seats
-- last, a `409` after. What it measures is the cost of a hold along the whole path
-- (gateway, broker, worker, PostgreSQL, Redis), not the latency of a fan.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local passes, n, body = {}, 0, nil

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      passes[#passes + 1] = line
    end
  end
  assert(#passes > 0, "no passes in " .. args[1])
  body = string.format('{"section":"%s","quantity":1}', args[2])
end

function request()
  n = n + 1
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. passes[(n % #passes) + 1],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("wrk-%d-%d", tid, n),
  }, body)
end
