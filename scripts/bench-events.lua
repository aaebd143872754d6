-- wrk script for scripts/bench-tracking.sh: POST /v1/events with batches of
-- BENCH_BATCH (default 100) conversions, every event with an id no other
-- request of the run uses (thread number, request number, position).
-- Environment: BENCH_SDK_KEY, BENCH_EXPERIMENT, BENCH_BATCH, BENCH_RUN.

local sdk_key = os.getenv("BENCH_SDK_KEY") or "dev-sdk-key"
local experiment = os.getenv("BENCH_EXPERIMENT") or "welcome-email"
local batch = tonumber(os.getenv("BENCH_BATCH") or "100")
local run = os.getenv("BENCH_RUN") or tostring(os.time())

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  n = 0
  rejected = 0
  wrk.method = "POST"
  wrk.path = "/v1/events"
  wrk.headers["Authorization"] = "Bearer " .. sdk_key
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local parts = {}
  for j = 1, batch do
    parts[j] = string.format(
      '{"id":"%s-%d-%d-%d","kind":"conversion","experiment":"%s","unit_id":"u%d","value":%d}',
      run, tid, n, j, experiment, (n * batch + j) % 50000, j % 100)
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  if status ~= 202 then
    rejected = rejected + 1
    if rejected <= 3 then
      io.stderr:write("events: status " .. status .. ": " .. string.sub(body, 1, 200) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local rejected_total = 0
  for _, t in ipairs(threads) do
    rejected_total = rejected_total + t:get("rejected")
  end
  io.write(string.format("wrk_requests=%d wrk_not_202=%d\n", summary.requests, rejected_total))
end
