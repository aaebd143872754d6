-- wrk script of scripts/bench-assign.sh: POST /v1/assign with a fresh unit
-- id on every request, half of them in the pro-trial segment of the
-- example experiment. The same requests go to the baseline server.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("SPLITCAST_SDK_KEY") or "dev-sdk-key")

-- BENCH_EXPERIMENT picks the experiment (the traits variant of the example
-- has the same segments, its first chosen by the unit's traits).
local experiment = os.getenv("BENCH_EXPERIMENT") or "welcome-email"
local n = 0
local thread_id = 0

setup = function(thread)
  thread:set("id", thread_id)
  thread_id = thread_id + 1
end

-- BENCH_POOL=N draws the unit from ct-0 .. ct-(N-1), the units whose
-- orders bench-assign.sh tracked (unit k: k % 4 orders of 60 in the last 30
-- days), in the first segment's region; with BENCH_ORDER_ATTRS=1 the
-- request also carries those orders' figures as attributes.
local pool = tonumber(os.getenv("BENCH_POOL") or "0")
local order_attrs = os.getenv("BENCH_ORDER_ATTRS") == "1"

local function pooled()
  local k = math.random(0, pool - 1)
  local attrs = '{"plan":"pro_trial","country":"FR"}'
  if order_attrs then
    attrs = string.format('{"plan":"pro_trial","country":"FR","orders_30d":%d,"revenue_90d":%d}', k % 4, 60 * (k % 4))
  end
  return wrk.format(nil, "/v1/assign", nil, string.format(
    '{"experiment":"%s","unit_id":"ct-%d","attributes":%s,"channel":"email"}', experiment, k, attrs))
end

request = function()
  if pool > 0 then
    return pooled()
  end
  n = n + 1
  local attrs = '{"plan":"free","country":"US"}'
  if n % 2 == 0 then
    attrs = '{"plan":"pro_trial","country":"FR"}'
  end
  local body = string.format(
    '{"experiment":"%s","unit_id":"user-%d-%d-%d","attributes":%s,"channel":"email"}',
    experiment, id or 0, n, math.random(1, 1000000000), attrs)
  return wrk.format(nil, "/v1/assign", nil, body)
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.0f p99_ms=%.2f requests=%d errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
    summary.requests, errors, summary.errors.status))
end
