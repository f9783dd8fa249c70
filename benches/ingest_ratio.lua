-- wrk script for benches/ingest_ratio.sh: one fix per request, spread
-- round-robin over many live activities, each with its own bearer token.
-- `accounts.lua` (written by the shell script) defines `accounts`, a list
-- of {id, token}. Arguments: the accounts file and the first fix time (s).
-- Each wrk thread takes every nth activity, so no two threads send to the
-- same one, and every activity's fixes advance by 1 s per round, in order.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  dofile(args[1])
  start_s = tonumber(args[2])
  nthreads = tonumber(args[3])
  mine = {}
  for i = tid + 1, #accounts, nthreads do
    local a = accounts[i]
    table.insert(mine, {
      path = "/api/v1/activities/" .. a[1] .. "/routes",
      headers = {
        ["Authorization"] = "Bearer " .. a[2],
        ["Content-Type"] = "application/json",
      },
      lat = 51.45 + (i % 180) * 0.001,
      lng = -0.2 + (i % 280) * 0.001,
    })
  end
  next_slot = 0
  round = 0
end

function request()
  next_slot = next_slot + 1
  if next_slot > #mine then
    next_slot = 1
    round = round + 1
  end
  local s = mine[next_slot]
  -- About 3 m north per second: a runner.
  local body = string.format(
    '{"location":{"lat":%.7f,"lng":%.7f,"t":%d000,"accuracy":5}}',
    s.lat + round * 0.000027, s.lng, start_s + round)
  return wrk.format("POST", s.path, s.headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d status_errors=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
